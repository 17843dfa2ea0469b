"""A gRPC xDS client (grpcio, gRPC C-core) driven by Gantry's interop tests.

Reads one JSON command per line on stdin, makes the calls it asks for through the xds:/// resolver
(bootstrap from GRPC_XDS_BOOTSTRAP or GRPC_XDS_BOOTSTRAP_CONFIG), and writes one JSON result per line:
which backend answered each call (its "backend" response header) and the gRPC status codes.
"""

import json
import sys
from concurrent.futures import ThreadPoolExecutor

import grpc

HEALTH_CHECK = "/grpc.health.v1.Health/Check"


def main() -> None:
    channels: dict[str, grpc.Channel] = {}
    print("interop client ready", file=sys.stderr, flush=True)
    with ThreadPoolExecutor(max_workers=64) as pool:
        for line in sys.stdin:
            cmd = json.loads(line)
            channel = channels.get(cmd["target"])
            if channel is None:
                channel = grpc.insecure_channel(cmd["target"])
                channels[cmd["target"]] = channel
            print(json.dumps(run(pool, channel, cmd)), flush=True)


def run(pool: ThreadPoolExecutor, channel: grpc.Channel, cmd: dict) -> dict:
    # An empty HealthCheckRequest is zero bytes, so no generated code is needed.
    call = channel.unary_unary(cmd.get("method") or HEALTH_CHECK)
    metadata = list((cmd.get("metadata") or {}).items())
    timeout = max(1, cmd.get("timeoutMs", 1000)) / 1000
    result: dict = {"id": cmd["id"], "backends": {}, "codes": {}, "errors": []}

    def one(_: int) -> tuple[int, str | None, str | None]:
        try:
            _response, outcome = call.with_call(b"", timeout=timeout, metadata=metadata)
            backend = dict(outcome.initial_metadata() or ()).get("backend")
            return 0, backend, None
        except grpc.RpcError as err:  # the status is the answer
            return err.code().value[0], None, f"{err.code().name}: {err.details()}"

    concurrency = max(1, cmd.get("concurrency", 1))
    for start in range(0, cmd["calls"], concurrency):
        batch = range(start, min(cmd["calls"], start + concurrency))
        for code, backend, error in pool.map(one, batch):
            result["codes"][str(code)] = result["codes"].get(str(code), 0) + 1
            if backend is not None:
                result["backends"][backend] = result["backends"].get(backend, 0) + 1
            if error is not None and len(result["errors"]) < 5:
                result["errors"].append(error)
    return result


if __name__ == "__main__":
    main()
