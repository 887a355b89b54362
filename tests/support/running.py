"""A whole node started the way `make run` starts it: `govnet node run` in a subprocess."""

from __future__ import annotations

import contextlib
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field

from tests.support.waiting import wait_for


@dataclass
class RunningNode:
    proc: subprocess.Popen[str]
    env: dict[str, str]
    lines: list[str] = field(default_factory=list)

    def output(self) -> str:
        return "\n".join(self.lines)

    def stop(self, timeout: float = 40) -> int:
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=timeout)


def govnet(
    *args: str, env: Mapping[str, str], timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """Run a govnet command to completion, as a user would in a shell."""
    return subprocess.run(
        [sys.executable, "-m", "services.cli", *args],
        env=dict(env),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@contextlib.contextmanager
def running_node(
    env: Mapping[str, str],
    *extra: str,
    ready: str = "is running",
    command: Sequence[str] = ("node", "run"),
) -> Iterator[RunningNode]:
    """`govnet node run` (or another long-running `command`) until it prints `ready`;
    SIGTERM afterwards if the test did not stop it."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "services.cli", *command, *extra],
        env=dict(env),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    node = RunningNode(proc, dict(env))
    assert proc.stdout is not None

    def read() -> None:
        for line in proc.stdout:  # type: ignore[union-attr]
            node.lines.append(line.rstrip("\n"))

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        wait_for(
            lambda: any(ready in line for line in node.lines) or proc.poll() is not None,
            timeout=90,
            what="the node to start",
        )
        assert proc.poll() is None, f"the node exited while starting:\n{node.output()}"
        yield node
    finally:
        if proc.poll() is None:
            node.stop()
        reader.join(10)


def exit_lines(node: RunningNode) -> Sequence[str]:
    """The supervisor's report, one `<process> exited <status>` per process."""
    return [" ".join(line.split()) for line in node.lines if " exited " in line]
