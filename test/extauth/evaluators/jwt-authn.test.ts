import { create, type JsonObject } from "@bufbuild/protobuf";
import { describe, expect, it } from "vitest";
import { RequestContext } from "../../../src/extauth/context.js";
import { createJwtAuthnEvaluator, jwtAuthnNamespace } from "../../../src/extauth/evaluators/jwt-authn.js";
import { CheckRequestSchema } from "../../../src/gen/envoy/service/auth/v3/external_auth_pb.js";
import { JwtAuthnResultSchema } from "../../../src/gen/gantry/extauth/v1/auth_config_pb.js";
import { ManualClock } from "../../../src/lib/index.js";
import { quietLogger } from "../helpers.js";

const deps = { clock: new ManualClock(), logger: quietLogger, redis: undefined, baseDir: "." };

/** A request as Envoy sends it after jwt_authn verified a token (payload_in_metadata: "idp"). */
function withPayload(payload: JsonObject | undefined): RequestContext {
  return new RequestContext(
    create(CheckRequestSchema, {
      attributes: {
        request: { http: { method: "GET", path: "/", headers: {} } },
        metadataContext: { filterMetadata: payload ? { [jwtAuthnNamespace]: { idp: payload } } : {} },
      },
    }),
    1_000,
    deps.clock,
  );
}

describe("jwtAuthn (Envoy's jwt_authn result)", () => {
  const evaluator = createJwtAuthnEvaluator(
    create(JwtAuthnResultSchema, {
      payloadInMetadata: "idp",
      requiredScopes: ["read"],
      claimsToHeaders: { sub: "X-User" },
      claimsToMetadata: { tenant: "tenant" },
    }),
    deps,
    "configs[0].jwtAuthn",
  );

  it("allows a request whose token jwt_authn verified, mapping its claims", () => {
    const context = withPayload({ sub: "u1", scope: "read write", tenant: "t9" });
    expect(evaluator.evaluate(context)).toEqual({
      kind: "allow",
      headers: [{ name: "x-user", value: "u1" }],
      dynamicMetadata: { tenant: "t9" },
    });
    expect(context.state.get("claims")).toMatchObject({ sub: "u1" });
  });

  it("denies without a verified payload, or without the scopes", () => {
    expect(evaluator.evaluate(withPayload(undefined))).toMatchObject({
      kind: "deny",
      status: 401,
      reason: 'no verified JWT payload "idp" from jwt_authn',
    });
    expect(evaluator.evaluate(withPayload({ sub: "u1", scope: "write" }))).toMatchObject({ kind: "deny", status: 403 });
  });

  it("needs the payload's metadata name", () => {
    expect(() => createJwtAuthnEvaluator(create(JwtAuthnResultSchema, {}), deps, "configs[1].jwtAuthn")).toThrow(
      "configs[1].jwtAuthn.payloadInMetadata: is required",
    );
  });
});
