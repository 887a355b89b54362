"""A node: its services, and how each process of it runs.

Processes are the unit of deployment, not of code (DESIGN.md): `run_worker(["audit"])` runs
one service's nameko worker, `run_worker(SERVICES)` runs all four in one process; the same
for `run_api`.
"""

from __future__ import annotations

import importlib
import logging
import signal
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from services.contract.names import APPLICATIONS, AUDIT, CATALOG, NOTIFICATIONS, SERVICES
from services.contract.schemas import default_registry
from services.platform import amqp, supervisor
from services.platform.errors import Unavailable
from services.platform.logs import setup_logging
from services.platform.outbox import FastPath, start_fast_path
from services.platform.settings import Settings
from services.platform.store import Database
from services.platform.tracing import setup_tracing, shutdown_tracing

if TYPE_CHECKING:  # grpc stays out of worker processes: it does not mix with eventlet
    from services.platform.grpc_server import ApiServer, Registration

log = logging.getLogger(__name__)


def _module(service: str, role: str) -> Any:
    if service not in SERVICES:
        raise KeyError(f"no service called {service!r} (services: {', '.join(SERVICES)})")
    return importlib.import_module(f"services.{service}.{role}")


_STORES = {
    CATALOG: "CatalogStore",
    APPLICATIONS: "ApplicationsStore",
    NOTIFICATIONS: "NotificationsStore",
    AUDIT: "AuditStore",
}
_WORKERS = {
    CATALOG: "CatalogWorker",
    APPLICATIONS: "ApplicationsWorker",
    NOTIFICATIONS: "NotificationsWorker",
    AUDIT: "AuditWorker",
}


def store_class(service: str) -> Callable[[Database], Any]:
    return getattr(_module(service, "store"), _STORES[service])  # type: ignore[no-any-return]


def api_registration(service: str, store: Any) -> Registration:
    return _module(service, "api").registration(store)  # type: ignore[no-any-return]


def worker_class(service: str) -> type:
    """The nameko service class (importing it imports nameko: workers only)."""
    return getattr(_module(service, "worker"), _WORKERS[service])  # type: ignore[no-any-return]


def open_database(settings: Settings, service: str) -> Database:
    return Database(
        settings.database_url_for(service),
        service=service,
        division=settings.division,
        registry=default_registry(),
    )


def open_store(settings: Settings, service: str) -> Any:
    return store_class(service)(open_database(settings, service), settings=settings)


def init_node(settings: Settings) -> dict[str, int]:
    """Prepare a node to start: declare the broker topology, create every store's tables and
    load the catalog seed into an empty catalog. Idempotent. Returns what was seeded."""
    with amqp.connect(settings.amqp_uri) as conn:
        amqp.declare_topology(
            conn,
            delivery_limit=settings.delivery_limit,
            division=settings.division,
            uplink=settings.uplink,
        )
    node_audit_key(settings)
    seeded = {}
    for service in SERVICES:
        store = open_store(settings, service)
        if service == CATALOG:
            report = _seed(store, settings.seed)
            if report is not None:
                seeded[CATALOG] = report.created
        store.db.dispose()
    return seeded


def node_audit_key(settings: Settings) -> str:
    """The verifier key of the node's audit log, making the signing key on first start."""
    from services.audit.notes import Signer, origin_for

    signer = Signer.load_or_create(settings.audit_key_path, origin_for(settings.division))
    return str(signer.verifier)


def _seed(store: Any, seed: str) -> Any:
    from services.catalog.seeding import seed_catalog, seed_records

    if seed == "none" or store.count():
        return None
    _, total = seed_records(seed, store)
    with progress_bar(total, f"loading the {seed} catalog") as advance:
        return seed_catalog(store, seed, advance)


@contextmanager
def progress_bar(total: int | None, description: str) -> Iterator[Callable[[int], None]]:
    """A progress bar on stderr (shown on a terminal only), yielding `advance(n)`."""
    from tqdm import tqdm

    with tqdm(total=total, desc=description, unit=" records", disable=None, file=sys.stderr) as bar:
        yield bar.update


def _role(services: Sequence[str], kind: str) -> str:
    return f"{'+'.join(services) if len(services) < len(SERVICES) else 'all'}-{kind}"


def run_api(services: Sequence[str], settings: Settings) -> int:
    """Serve the gRPC APIs of `services` until SIGTERM/SIGINT. Returns the exit status.

    Each API writes to its own store and publishes what it commits right away (the fast
    path, `outbox.FastPath`); the worker's relay is the guarantee for anything left behind.
    """
    role = _role(services, "api")
    setup_logging(role, settings.division, settings.log_level, settings.log_format)
    setup_tracing(role, settings.division)
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())

    from services.platform.grpc_server import ApiServer

    servers: list[ApiServer] = []
    fast_paths: list[tuple[FastPath, threading.Thread]] = []
    dbs: list[Database] = []
    try:
        with amqp.connect(settings.amqp_uri) as conn:
            amqp.declare_topology(
                conn,
                delivery_limit=settings.delivery_limit,
                division=settings.division,
                uplink=settings.uplink,
            )
        for service in services:
            db = open_database(settings, service)
            dbs.append(db)
            store = store_class(service)(db, settings=settings)
            if db.dialect == "sqlite":  # one writer at a time anyway: batch the writes
                db.enable_group_commit()
            fast = FastPath(db, amqp.ConfirmingPublisher(settings.amqp_uri))
            fast_paths.append((fast, start_fast_path(fast)))
            server = ApiServer(
                settings.grpc_address(service),
                [api_registration(service, store)],
                workers=settings.grpc_workers,
                division=settings.division,
            )
            server.start()
            servers.append(server)
            log.info("serving %s gRPC API on %s", service, server.address)
    except Unavailable as exc:
        log.error("%s", exc)
        for server in servers:
            server.stop(0)
        return 1

    supervisor.mark_ready()
    stop.wait()
    log.info("stopping: refusing new calls, finishing in-flight ones")
    for server in servers:
        server.stop(settings.shutdown_grace)
    for fast, thread in fast_paths:  # the last calls' events go out now
        fast.stop()
        thread.join(timeout=settings.shutdown_grace)
    for db in dbs:
        db.close_group_commit()
        db.dispose()
    shutdown_tracing()
    log.info("stopped")
    return 0


def run_worker(services: Sequence[str], settings: Settings) -> int:
    """Run the nameko workers of `services` until SIGTERM/SIGINT. The caller must have
    applied eventlet's monkey patch before anything else was imported."""
    import errno

    import eventlet
    from nameko import config
    from nameko.runners import ServiceRunner

    from services.platform.worker import nameko_config

    role = _role(services, "worker")
    setup_logging(role, settings.division, settings.log_level, settings.log_format)
    setup_tracing(role, settings.division)
    config.setup(nameko_config(settings))
    runner = ServiceRunner()
    for service in services:
        runner.add_service(worker_class(service))

    def stop_gracefully() -> None:
        log.info("stopping: finishing in-flight messages")
        killer = eventlet.spawn_after(settings.shutdown_grace, runner.kill)
        runner.stop()
        killer.cancel()

    def on_signal(*_: Any) -> None:
        # Signal handlers run on the main loop and cannot use eventlet primitives.
        eventlet.spawn_n(stop_gracefully)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        runner.start()
    except Unavailable as exc:
        log.error("%s", exc)
        runner.kill()
        return 1
    log.info("worker running: %s", ", ".join(services))
    supervisor.mark_ready()
    waiter = eventlet.spawn(runner.wait)
    while True:
        try:
            waiter.wait()
            break
        except OSError as exc:
            if exc.errno != errno.EINTR:
                raise
    shutdown_tracing()
    log.info("stopped")
    return 0


def node_children(settings: Settings, *, combined: bool) -> list[supervisor.Child]:
    """The processes of a node: a worker and an API per service, or one of each for all."""
    run_dir = Path(settings.var_dir) / settings.division / "run"
    groups: list[Sequence[str]] = [SERVICES] if combined else [[s] for s in SERVICES]
    children = []
    for group in groups:
        label = "all" if len(group) > 1 else group[0]
        for kind in ("worker", "api"):
            children.append(
                supervisor.Child(
                    name=f"{label}-{kind}",
                    argv=[sys.executable, "-m", "services.cli", kind, *group],
                    ready_file=run_dir / f"{label}-{kind}.ready",
                )
            )
    return children
