// Validation as one step: every Envoy message a translation emits passes here, checked against
// Envoy's (validate.rules) (see validate.ts), before it can reach a snapshot.
import type { DescMessage, MessageShape } from "@bufbuild/protobuf";
import { type EnvoyResource, encode } from "./output.js";
import { type Violation, validateMessage } from "./validate.js";

export type { Violation };

/** An encoded resource and what the validator found wrong with its message. */
export interface CheckedResource {
  resource: EnvoyResource;
  violations: Violation[];
}

/** Violations of one message (empty when Envoy would take it). */
export function check<S extends DescMessage>(schema: S, message: MessageShape<S>): Violation[] {
  return validateMessage(schema, message);
}

/** A message checked, then encoded. */
export function encodeChecked<S extends DescMessage>(
  schema: S,
  name: string,
  message: MessageShape<S>,
): CheckedResource {
  return { resource: encode(schema, name, message), violations: check(schema, message) };
}
