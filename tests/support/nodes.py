"""Start govnet processes for tests the way a user does: `python -m services.cli ...`."""

from __future__ import annotations

import contextlib
import os
import socket
import sys
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

from services.platform.supervisor import Child, Supervisor


def free_port_base(count: int = 4) -> int:
    """A port p such that p .. p+count-1 are free now."""
    for _ in range(50):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            base = probe.getsockname()[1]
        if base + count > 65535:
            continue
        try:
            with contextlib.ExitStack() as stack:
                for port in range(base, base + count):
                    s = stack.enter_context(socket.socket())
                    s.bind(("127.0.0.1", port))
        except OSError:
            continue
        return base
    raise RuntimeError("no free port range")


def node_env(
    *, amqp_uri: str, var_dir: Path, division: str = "320000", **extra: str
) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("GOVNET_") and not k.startswith("OTEL_")
    }
    env.update(
        GOVNET_DIVISION=division,
        GOVNET_AMQP_URI=amqp_uri,
        GOVNET_VAR=str(var_dir),
        GOVNET_GRPC_PORT_BASE=str(free_port_base()),
        GOVNET_LOG_FORMAT="json",
        GOVNET_RELAY_INTERVAL="0.2",
        GOVNET_SHUTDOWN_GRACE="3",
    )
    env.update(extra)
    return env


@contextlib.contextmanager
def processes(
    specs: Sequence[tuple[str, Sequence[str]]], env: Mapping[str, str], run_dir: Path
) -> Iterator[Supervisor]:
    """Start `govnet <kind> <services...>` for each (kind, services) and stop them after.

    The test fails if any process did not exit 0 on SIGTERM.
    """
    children = [
        Child(
            name=f"{kind}-{'+'.join(names)}",
            argv=[sys.executable, "-m", "services.cli", kind, *names],
            ready_file=run_dir / f"{kind}-{'+'.join(names)}.ready",
        )
        for kind, names in specs
    ]
    supervisor = Supervisor(children, env=env, grace=3)
    supervisor.start(timeout=60)
    try:
        yield supervisor
    finally:
        codes = supervisor.stop()
    assert codes == {c.name: 0 for c in children}, f"processes did not stop cleanly: {codes}"
