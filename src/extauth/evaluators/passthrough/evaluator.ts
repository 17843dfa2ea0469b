import { AuthConfigError, type EvaluatorFactory } from "../../evaluator.js";
import { GrpcPassThrough } from "./grpc.js";
import { HttpPassThrough, httpSettings } from "./http.js";

const defaultTimeoutMs = 1_000;

/** Headers that a client cannot set on an HTTP/1.1 call, or that are HTTP/2 pseudo-headers. */
const unsendableHeaders = new Set([
  "connection",
  "content-length",
  "expect",
  "host",
  "keep-alive",
  "te",
  "transfer-encoding",
  "upgrade",
]);

/** The passThroughAuth factory: a gRPC or an HTTP pass-through, by the settings' oneof. */
export const passThroughAuthFactory: EvaluatorFactory<"passThroughAuth"> = (settings, deps, field) => {
  const timeoutMs = settings.timeoutMs || defaultTimeoutMs;
  const service = settings.service;
  switch (service.case) {
    case "grpc": {
      if (!/^[^\s/]+:\d+$/.test(service.value.address)) {
        throw new AuthConfigError(`${field}.grpc.address`, `"${service.value.address}" is not host:port`);
      }
      return new GrpcPassThrough(service.value.address, timeoutMs);
    }
    case "http": {
      const where = `${field}.http`;
      let url: URL;
      try {
        url = new URL(service.value.url);
      } catch {
        throw new AuthConfigError(`${where}.url`, `"${service.value.url}" is not a URL`);
      }
      if (url.protocol !== "http:" && url.protocol !== "https:") {
        throw new AuthConfigError(`${where}.url`, "must be an http:// or https:// URL");
      }
      const http = httpSettings(service.value, settings.config, timeoutMs);
      for (const [index, name] of http.allowedHeaders.entries()) {
        if (name.startsWith(":") || unsendableHeaders.has(name)) {
          throw new AuthConfigError(`${where}.request.allowedHeaders[${index}]`, `${name} cannot be sent on a call`);
        }
      }
      for (const name of Object.keys(http.headersToAdd)) {
        if (
          name.startsWith(":") ||
          unsendableHeaders.has(name.toLowerCase()) ||
          !/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(name)
        ) {
          throw new AuthConfigError(`${where}.request.headersToAdd.${name}`, `${name} cannot be sent on a call`);
        }
      }
      return new HttpPassThrough(http, deps.clock, deps.logger);
    }
    default:
      throw new AuthConfigError(field, "give grpc or http");
  }
};
