"""The supervisor's children: started, made ready, and never outliving it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from services.platform.supervisor import Child, Supervisor
from tests.support.waiting import wait_for

CHILD = textwrap.dedent(
    """
    import threading
    from services.platform.supervisor import die_with_supervisor, mark_ready
    die_with_supervisor()
    mark_ready()
    threading.Event().wait()  # until a signal ends it
    """
)


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


def test_children_become_ready_and_stop_on_sigterm(tmp_path: Path) -> None:
    children = [
        Child(name, [sys.executable, "-c", CHILD], tmp_path / f"{name}.ready") for name in "ab"
    ]
    supervisor = Supervisor(children, env=dict(os.environ), grace=2)
    supervisor.start(timeout=30)
    assert all(child.ready_file.exists() for child in children)
    assert supervisor.first_exit() is None
    assert supervisor.stop() == {"a": -signal.SIGTERM, "b": -signal.SIGTERM}
    assert not any(child.ready_file.exists() for child in children)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's")
def test_a_child_dies_with_its_supervisor_even_when_that_is_killed(tmp_path: Path) -> None:
    middle = textwrap.dedent(
        f"""
        import os, sys, threading
        from pathlib import Path
        from services.platform.supervisor import Child, Supervisor
        child = Child("c", [sys.executable, "-c", {CHILD!r}], Path({str(tmp_path)!r}) / "c.ready")
        Supervisor([child], env=dict(os.environ)).start(timeout=30)
        print(child.proc.pid, flush=True)
        threading.Event().wait()
        """
    )
    proc = subprocess.Popen([sys.executable, "-c", middle], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    grandchild = int(proc.stdout.readline())
    assert _alive(grandchild)
    proc.kill()
    proc.wait(timeout=10)
    wait_for(lambda: not _alive(grandchild), timeout=10, what="the orphaned child to stop")
