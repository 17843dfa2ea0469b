import { create, fromBinary, isMessage, toBinary, toJson } from "@bufbuild/protobuf";
import { describe, expect, it } from "vitest";
import type { AllowEffects } from "../../src/extauth/evaluator.js";
import { allowResponse, denyResponse, plainDenials, unknownConfigResponse } from "../../src/extauth/response.js";
import { type CheckResponse, CheckResponseSchema } from "../../src/gen/envoy/service/auth/v3/external_auth_pb.js";

/** What Envoy would read: the response encoded and decoded, as JSON. */
function onTheWire(response: ReturnType<typeof allowResponse>): unknown {
  const message = isMessage(response, CheckResponseSchema) ? response : create(CheckResponseSchema, response);
  return toJson(CheckResponseSchema, fromBinary(CheckResponseSchema, toBinary(CheckResponseSchema, message)));
}

const effects = (): AllowEffects => ({
  headers: [
    { name: "x-user-id", value: "u1" },
    { name: "x-tag", value: "a", append: true },
  ],
  headersToRemove: ["api-key"],
  responseHeaders: [{ name: "x-served-by", value: "gantry" }],
  queryParametersToSet: [{ key: "tenant", value: "t1" }],
  queryParametersToRemove: ["debug"],
  dynamicMetadata: { api_key: { id: "k1", metadata: { plan: "gold" } } },
});

describe("check responses", () => {
  it("answers OK with every effect, merging metadata with later steps winning", () => {
    const wire = onTheWire(
      allowResponse([
        effects(),
        { headers: [{ name: "x-more", value: "2" }], dynamicMetadata: { user: "u1", api_key: "replaced" } },
      ]),
    );
    expect(wire).toEqual({
      status: {},
      okResponse: {
        headers: [
          { header: { key: "x-user-id", value: "u1" }, append: false },
          { header: { key: "x-tag", value: "a" }, append: true },
          { header: { key: "x-more", value: "2" }, append: false },
        ],
        headersToRemove: ["api-key"],
        responseHeadersToAdd: [{ header: { key: "x-served-by", value: "gantry" }, append: false }],
        queryParametersToSet: [{ key: "tenant", value: "t1" }],
        queryParametersToRemove: ["debug"],
      },
      dynamicMetadata: { api_key: "replaced", user: "u1" },
    });
  });

  it("encodes the response to a frozen verdict once, with the same bytes on the wire", () => {
    const frozen = Object.freeze(effects());
    const first = allowResponse([frozen]);
    expect(allowResponse([frozen])).toBe(first);
    expect(onTheWire(first)).toEqual(onTheWire(allowResponse([effects()])));
    expect((onTheWire(first) as { dynamicMetadata: unknown }).dynamicMetadata).toEqual({
      api_key: { id: "k1", metadata: { plan: "gold" } },
    });
  });

  it("denies with the verdict's status and headers, the config's shape, and the reason only in metadata", () => {
    const wire = onTheWire(
      denyResponse(
        "shop",
        {
          kind: "deny",
          step: "users",
          verdict: {
            kind: "deny",
            status: 401,
            reason: "bad password",
            headers: [{ name: "www-authenticate", value: "Basic" }],
          },
        },
        { status: undefined, headers: [{ name: "x-denied", value: "1" }], body: "denied" },
        false,
      ),
    ) as CheckResponse;
    expect(wire).toEqual({
      status: { code: 16 },
      deniedResponse: {
        status: { code: "Unauthorized" },
        headers: [
          { header: { key: "www-authenticate", value: "Basic" }, append: false },
          { header: { key: "x-denied", value: "1" }, append: false },
        ],
        body: "denied",
      },
      dynamicMetadata: { config_id: "shop", step: "users", reason: "bad password" },
    });
  });

  it("redirects, or answers 401 when the config fails on redirect", () => {
    const redirect = {
      kind: "deny",
      step: "login",
      verdict: { kind: "redirect", location: "https://idp/auth", reason: "login" },
    } as const;
    expect(onTheWire(denyResponse("app", redirect, plainDenials, false))).toMatchObject({
      deniedResponse: {
        status: { code: "Found" },
        headers: [{ header: { key: "location", value: "https://idp/auth" } }],
      },
    });
    expect(onTheWire(denyResponse("app", redirect, plainDenials, true))).toMatchObject({
      status: { code: 16 },
      deniedResponse: { status: { code: "Unauthorized" } },
    });
  });

  it("denies backend failures with 403 (or the config's status) and the reason in metadata", () => {
    const failure = { kind: "error", step: "keys", reason: "API key lookup failed: timeout" } as const;
    expect(onTheWire(denyResponse("shop", failure, plainDenials, false))).toMatchObject({
      status: { code: 7 },
      deniedResponse: { status: { code: "Forbidden" } },
      dynamicMetadata: { reason: "API key lookup failed: timeout" },
    });
    expect(onTheWire(denyResponse("shop", failure, { ...plainDenials, status: 404 }, false))).toMatchObject({
      deniedResponse: { status: { code: "NotFound" } },
    });
  });

  it("explains a missing or unknown config", () => {
    expect(onTheWire(unknownConfigResponse(undefined))).toMatchObject({
      deniedResponse: { status: { code: "Forbidden" } },
      dynamicMetadata: { reason: expect.stringContaining("names no auth config (context_extensions.config_id)") },
    });
  });
});
