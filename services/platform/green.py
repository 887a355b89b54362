"""eventlet, in one place: the monkey patch nameko workers need, and the one filter for
eventlet's deprecation warning. Imports nothing heavy, so it can run first in a process."""

from __future__ import annotations

import contextlib
import warnings


def silence_eventlet_deprecation() -> None:
    """eventlet warns on import that it is deprecated; nameko 3 still needs it."""
    warnings.filterwarnings("ignore", message=r"(?s).*Eventlet is deprecated")


def patch_process() -> None:
    """Make the whole process green. Call before anything opens sockets or threads."""
    silence_eventlet_deprecation()
    import eventlet
    import eventlet.debug

    eventlet.monkey_patch()
    # Exceptions in greenthreads are re-raised where they are waited for and logged there;
    # the hub printing them too would put raw tracebacks on stderr.
    eventlet.debug.hub_exceptions(False)
    try:
        from eventlet.support import psycopg2_patcher
    except ImportError:
        return
    with contextlib.suppress(ImportError):  # no psycopg2: only SQLite is used
        psycopg2_patcher.make_psycopg_green()
