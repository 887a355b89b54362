"""Starts a node's processes, waits until each says it is ready, and stops them all cleanly.

Children run in their own session (Ctrl-C reaches only the supervisor, which then stops them
in order) and die with the supervisor if it is killed: each child arms Linux's
`PR_SET_PDEATHSIG` itself, first thing (`die_with_supervisor`). The supervisor starts them
without a `preexec_fn`, so Python spawns them with vfork and no fork handler of a library
loaded in the supervisor (gRPC's, in a test process) runs in a half-made child.
Readiness: each child is given `GOVNET_READY_FILE` and creates it once it serves.
"""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

READY_ENV = "GOVNET_READY_FILE"
SUPERVISOR_ENV = "GOVNET_SUPERVISOR_PID"


class StartFailed(RuntimeError):
    pass


@dataclass
class Child:
    name: str
    argv: Sequence[str]
    ready_file: Path
    env: Mapping[str, str] = field(default_factory=dict, repr=False)
    """Variables of this child on top of the supervisor's."""
    proc: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def returncode(self) -> int | None:
        return None if self.proc is None else self.proc.poll()


def die_with_supervisor(environ: Mapping[str, str] | None = None) -> None:
    """Called by a child as it starts: be sent SIGTERM when the supervisor that started it
    dies, even by SIGKILL (Linux only; elsewhere a no-op). A child whose supervisor is
    already gone stops at once."""
    supervisor = (os.environ if environ is None else environ).get(SUPERVISOR_ENV)
    if not supervisor or not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except OSError:
        return
    if os.getppid() != int(supervisor):  # it died before the line above
        os.kill(os.getpid(), signal.SIGTERM)


def mark_ready(environ: Mapping[str, str] | None = None) -> None:
    """Called by a child once it serves: creates its readiness file, if it was given one."""
    path = (os.environ if environ is None else environ).get(READY_ENV)
    if path:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_text(str(os.getpid()))


class Supervisor:
    def __init__(
        self, children: Sequence[Child], *, env: Mapping[str, str], grace: float = 5.0
    ) -> None:
        self.children = list(children)
        self.env = dict(env)
        self.grace = grace

    def start(self, timeout: float = 60.0) -> None:
        """Start every child and wait until all are ready; `StartFailed` if one exits or
        does not become ready in time (the others are stopped first)."""
        for child in self.children:
            child.ready_file.unlink(missing_ok=True)
            env = dict(self.env) | dict(child.env)
            env |= {READY_ENV: str(child.ready_file), SUPERVISOR_ENV: str(os.getpid())}
            child.proc = subprocess.Popen(child.argv, env=env, start_new_session=True)
        deadline = time.monotonic() + timeout
        waiting = list(self.children)
        while waiting:
            for child in list(waiting):
                if child.returncode is not None:
                    self.stop()
                    raise StartFailed(
                        f"{child.name} exited with status {child.returncode} while starting "
                        "(its log is above)"
                    )
                if child.ready_file.exists():
                    waiting.remove(child)
            if waiting and time.monotonic() > deadline:
                self.stop()
                names = ", ".join(c.name for c in waiting)
                raise StartFailed(f"{names} did not become ready within {timeout:.0f}s")
            if waiting:
                time.sleep(0.05)

    def first_exit(self) -> Child | None:
        for child in self.children:
            if child.returncode is not None:
                return child
        return None

    def stop(self) -> dict[str, int]:
        """SIGTERM every child, wait for them (grace + margin), SIGKILL what is left."""
        for child in self.children:
            if child.proc is not None and child.proc.poll() is None:
                child.proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + self.grace + 10.0
        codes: dict[str, int] = {}
        for child in self.children:
            if child.proc is None:
                continue
            try:
                codes[child.name] = child.proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                child.proc.kill()
                codes[child.name] = child.proc.wait()
            child.ready_file.unlink(missing_ok=True)
        return codes
