"""A bare grpcio server that echoes a fixed reply: the baseline for the gRPC API benchmarks.

`Call` answers every call with the same reply; `Stream`, asked `b"COUNT,BYTES"`, streams
COUNT messages of BYTES bytes, built once (the baseline of a replay stream).

Run as a process: `python -m tests.bench.echo_server PORT REPLY_BYTES WORKERS`; it prints
"ready" once it serves and stops on SIGTERM.
"""

from __future__ import annotations

import signal
import sys
import threading
from collections.abc import Iterator
from concurrent import futures

import grpc

METHOD = "/bench.Echo/Call"
STREAM = "/bench.Echo/Stream"


def main() -> None:
    port, reply_size, workers = (int(a) for a in sys.argv[1:4])
    reply = b"x" * reply_size

    def call(request: bytes, context: object) -> bytes:
        return reply

    def stream(request: bytes, context: object) -> Iterator[bytes]:
        count, size = (int(n) for n in request.split(b","))
        message = b"x" * size
        for _ in range(count):
            yield message

    handler = grpc.method_handlers_generic_handler(
        "bench.Echo",
        {
            "Call": grpc.unary_unary_rpc_method_handler(call, lambda b: b, lambda b: b),
            "Stream": grpc.unary_stream_rpc_method_handler(stream, lambda b: b, lambda b: b),
        },
    )
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=workers))
    server.add_generic_rpc_handlers((handler,))
    server.add_insecure_port(f"127.0.0.1:{port}")
    server.start()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    print("ready", flush=True)
    stop.wait()
    server.stop(0).wait()


if __name__ == "__main__":
    main()
