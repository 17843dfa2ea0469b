// Validation as one step: every Envoy message a translation emits passes here, checked against
// Envoy's (validate.rules) by the one validator in src/envoy, before it can reach a snapshot.
import type { DescMessage, MessageShape } from "@bufbuild/protobuf";
import { type XdsResource as EnvoyResource, encodeResource, type Violation, validateMessage } from "../envoy/index.js";

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
  return { resource: encodeResource(schema, message, name), violations: check(schema, message) };
}
