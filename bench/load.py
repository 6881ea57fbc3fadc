"""Benchmark: many tenants at once — N web processes × M workers on one PostgreSQL.

Builds `--orgs` organisations (50 by default), each with 1-3 funds of 50-300 investors
(commitments, 4-8 deals, two deals allocated pro rata, two capital calls issued, three LPs of
each paid) — organisations and their calls through the services, the register in bulk SQL.
Then, for each configuration of `--configs` (web processes × workers: 1x1, 2x1, 1x2, 2x2),
starts `prorata web` processes on their own loopback ports and `prorata worker` processes, and
an asyncio client (httpx, pinned to the last CPU when it can be) spreads `--users` concurrent
virtual users over the web processes for `--duration` seconds (at most `--max-requests`
requests), each picking a tenant and an action at random (seeded):

- reads: lists (funds, commitments, allocations, calls, investors), fund metrics, an
  investor's capital account, console pages (a signed-in session cookie);
- writes: allocation PUTs, payments with an Idempotency-Key (one in ten replays its key);
- heavy: CSV imports of a fund's allocations and statement runs (jobs for the workers), at most
  `--heavy-in-flight` waiting at once and `--max-jobs` per configuration.

It prints, per configuration, throughput and p50/p99 per route class, every error (any status
but the expected: must be 0), job throughput (jobs finished per second, queue wait, run time),
and CPU: the web processes' CPU per request, PostgreSQL's per request, the workers' per job, and
the client's — read from /proc. With `--per-class S`, each class then runs alone for S seconds
(1 × 1), which gives the CPU one request of each class costs: the model of docs/scaling.md.
The workers run at `--worker-nice` (0 here: on a shared machine, production's 19 also yields to
every other process, and the job figures would measure those).

    .venv/bin/python -m bench.load [--orgs 50] [--duration 60] [--configs 1x1,2x1,1x2,2x2]
        [--users 16] [--seed 22] [--per-class 20] [--worker-nice 0]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import datetime as dt
import http.cookiejar
import itertools
import os
import random
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections import defaultdict
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import psycopg

import prorata.models  # noqa: F401 - every table, for the ORM's foreign keys
from bench.support import Timer, bench_database, percentile
from prorata import wiring
from prorata.accounts import passwords
from prorata.allocations import service as allocation_service
from prorata.capital_calls import service as call_service
from prorata.capital_calls.models import Purpose
from prorata.capital_calls.schemas import CallCreate, ItemIn, PaymentIn
from prorata.config import Settings
from prorata.http.tenancy import Principal, Role
from prorata.orgs import service as org_service
from prorata.orgs.models import User
from prorata.platform import db

ROOT = Path(__file__).resolve().parent.parent
PASSWORD = "violet harbour engine 47"
TODAY = dt.date.today()
TICK = os.sysconf("SC_CLK_TCK")

# Route classes and their weights in the mix (heavy ones are also capped in flight and count).
MIX = {
    "list": 30,
    "metrics": 12,
    "capital account": 12,
    "page": 12,
    "allocation put": 14,
    "payment": 12,
    "import": 4,
    "statement run": 4,
}
HEAVY = {"import", "statement run"}
IMPORTS = itertools.count(1)  # each import file differs (the same file again is not imported)
EXPECTED = {
    "list": {200},
    "metrics": {200},
    "capital account": {200},
    "page": {200},
    "allocation put": {200},
    "payment": {200, 201},
    "import": {202},
    "statement run": {202},
}


@dataclasses.dataclass
class Fund:
    id: str
    investors: list[str]
    deals: list[str]
    calls: list[str]


@dataclasses.dataclass
class Org:
    id: str
    api_key: str
    email: str
    funds: list[Fund]
    cookie: str | None = None  # the console session's Cookie header


# --- the tenants ------------------------------------------------------------------------------


def build(settings: Settings, count: int, rng: random.Random) -> list[Org]:
    """`count` organisations with their funds; the register in bulk, calls through services."""
    return asyncio.run(_build(settings, count, rng))


async def _build(settings: Settings, count: int, rng: random.Random) -> list[Org]:
    wiring.connect()
    engine = db.create_engine(db.app_url(settings), pool_size=2)
    sessions = db.sessionmaker(engine)
    owner = db.owner_url(settings)
    orgs = []
    password_hash: str | None = None
    try:
        for n in range(count):
            email = f"owner{n}@load.example"
            async with sessions() as session, session.begin():
                made = await org_service.create_org(
                    session, name=f"Load Capital {n:03d}", owner_email=email
                )
                user = await session.get(User, made.user_id)
                assert user is not None
                # One argon2 hash for every owner (the same password): hashing is slow on purpose.
                password_hash = password_hash or await passwords.hash_password(PASSWORD)
                user.password_hash = password_hash
            funds = [_register(owner, made.org_id, rng) for _ in range(rng.randint(1, 3))]
            actor = Principal(
                org_id=made.org_id, user_id=made.user_id, role=Role.owner, credential_id=made.org_id
            )
            for fund in funds:
                async with db.tenant_transaction(sessions, made.org_id) as session:
                    await _history(session, actor, fund, rng)
            orgs.append(Org(str(made.org_id), made.api_key, email, funds))
        with psycopg.connect(owner, autocommit=True) as conn:
            # Issuing the calls queued their notices (a PDF per investor): not what is measured,
            # and ahead of every job of the load in the queue. Dropped, before any worker runs.
            conn.execute(
                "DELETE FROM procrastinate_jobs WHERE status = 'todo' "
                "AND task_name = 'documents.render_call_notices'"
            )
            conn.execute("DELETE FROM tenant_jobs WHERE status = 'queued'")
            conn.execute("VACUUM (ANALYZE)")
    finally:
        await engine.dispose()
    return orgs


def _register(owner_url: str, org_id: uuid.UUID, rng: random.Random) -> Fund:
    """A fund, its investors and commitments, and its deals, in bulk as the owner."""
    investors, deals = rng.randint(50, 300), rng.randint(4, 8)
    with psycopg.connect(owner_url) as conn:
        row = conn.execute(
            "INSERT INTO funds (id, org_id, name, currency, status, management_fee_rate, "
            "management_fee_basis, preferred_return_rate, catch_up_share, carry_share, "
            "waterfall_style, day_count, notice_business_days, notices_need_approval) VALUES "
            "(prorata_uuid7(), %s, 'Load Fund ' || %s, 'USD', 'investing', 0.02, 'committed', "
            "0.08, 1, 0.2, 'european', 'act/365', 10, true) RETURNING id",
            (org_id, rng.randint(1, 99)),
        ).fetchone()
        assert row is not None
        fund_id = row[0]
        investor_ids = [
            str(r[0])
            for r in conn.execute(
                "INSERT INTO investors (id, org_id, name, kind) SELECT prorata_uuid7(), %s, "
                "'Limited Partner ' || n || ' Holdings LLC', 'entity' "
                "FROM generate_series(1, %s) n RETURNING id",
                (org_id, investors),
            )
        ]
        conn.execute(
            "INSERT INTO commitments (id, org_id, fund_id, investor_id, amount, committed_on) "
            "SELECT prorata_uuid7(), %s, %s, id, 250000 * (1 + (random() * 19)::int), "
            "'2025-01-02' FROM unnest(%s::uuid[]) id",
            (org_id, fund_id, investor_ids),
        )
        deal_ids = [
            str(r[0])
            for r in conn.execute(
                "INSERT INTO deals (id, org_id, fund_id, name, company, status) SELECT "
                "prorata_uuid7(), %s, %s, 'Series A round ' || n, 'Portfolio Company ' || n, "
                "'open' FROM generate_series(1, %s) n RETURNING id",
                (org_id, fund_id, deals),
            )
        ]
    return Fund(str(fund_id), investor_ids, deal_ids, [])


async def _history(session: Any, actor: Principal, fund: Fund, rng: random.Random) -> None:
    """Two deals allocated pro rata and called with a fee each quarter; some LPs paid."""
    fund_id = uuid.UUID(fund.id)
    for quarter, notice in enumerate((dt.date(2026, 1, 12), dt.date(2026, 4, 13))):
        deal_id = uuid.UUID(fund.deals[quarter])
        size = Decimal(rng.randint(10, 40) * 100_000)
        await allocation_service.replace_prorata(
            session, actor=actor, fund_id=fund_id, deal_id=deal_id, amount=size
        )
        items = [
            ItemIn(purpose=Purpose.management_fee, amount=Decimal("250000.00")),
            ItemIn(purpose=Purpose.investment, amount=size, deal_id=deal_id),
        ]
        draft = await call_service.create_draft(
            session, actor=actor, fund_id=fund_id, data=CallCreate(notice_date=notice, items=items)
        )
        call = await call_service.issue(session, actor=actor, fund_id=fund_id, call_id=draft.id)
        fund.calls.append(str(call.id))
        view = await call_service.view(session, call=call)
        for line in view.lines[:3]:  # a few paid in full; the rest is paid during the load
            await call_service.record_payment(
                session,
                actor=actor,
                fund_id=fund_id,
                call_id=call.id,
                data=PaymentIn(
                    investor_id=line.investor_id, amount=line.total, received_on=call.due_date
                ),
            )


def _size(settings: Settings) -> str:
    """The database's size and its biggest tables' rows: what a tenant costs in storage."""
    with psycopg.connect(db.owner_url(settings)) as conn:
        size = conn.execute("SELECT pg_database_size(current_database())").fetchone()
        rows = conn.execute(
            "SELECT (SELECT count(*) FROM allocations), (SELECT count(*) FROM capital_call_lines),"
            " (SELECT count(*) FROM capital_ledger), (SELECT count(*) FROM audit_log)"
        ).fetchone()
    assert size is not None
    assert rows is not None
    return (
        f"database {size[0] / 2**20:,.0f} MiB ({rows[0]:,} allocations, {rows[1]:,} call lines, "
        f"{rows[2]:,} ledger rows, {rows[3]:,} audit entries)"
    )


# --- the processes ----------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclasses.dataclass
class Servers:
    ports: list[int]
    webs: list[subprocess.Popen[bytes]]
    workers: list[subprocess.Popen[bytes]]


@contextlib.contextmanager
def servers(
    settings: Settings, data_dir: Path, webs: int, workers: int, worker_nice: int
) -> Iterator[Servers]:
    """`webs` × `prorata web` (each its own port) and `workers` × `prorata worker`, sharing
    the database and the blob directory; stopped with SIGTERM afterwards."""
    base = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "PYTHONPATH": str(ROOT),
        "PRORATA_APP_DATABASE_URL": db.app_url(settings),
        "PRORATA_DATA_DIR": str(data_dir),
        "PRORATA_LOG_LEVEL": "WARNING",
        # Thousands of requests a minute from one key and one address: the limits are not
        # what is measured (with N > 1 they would need Redis to be shared anyway).
        "PRORATA_RATE_LIMIT_API": "10000000/minute",
        "PRORATA_RATE_LIMIT_HEAVY": "10000000/minute",
        "PRORATA_RATE_LIMIT_PUBLIC": "10000000/minute",
        "PRORATA_WORKER_NICE": str(worker_nice),
    }
    logs = data_dir / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    ports = [_free_port() for _ in range(webs)]
    started = Servers(ports, [], [])
    try:
        for n, port in enumerate(ports):
            started.webs.append(_spawn(["web"], {**base, "PRORATA_PORT": str(port)}, logs, n))
        for n in range(workers):
            started.workers.append(_spawn(["worker"], base, logs, n))
        for port in ports:
            _wait_ready(port, logs)
        yield started
    finally:
        for process in [*started.webs, *started.workers]:
            process.send_signal(signal.SIGTERM)
        for process in [*started.webs, *started.workers]:
            try:
                process.wait(60)
            except subprocess.TimeoutExpired:
                process.kill()


def _spawn(command: list[str], env: dict[str, str], logs: Path, n: int) -> subprocess.Popen[bytes]:
    with (logs / f"{command[0]}-{n}.log").open("ab") as sink:
        return subprocess.Popen(
            [sys.executable, "-m", "prorata", *command],
            env=env,
            cwd=ROOT,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )


def _wait_ready(port: int, logs: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"http://127.0.0.1:{port}/api/system/ready", timeout=1).is_success:
                return
        time.sleep(0.2)
    tails = "\n".join(p.read_text()[-1500:] for p in logs.glob("*.log"))
    raise RuntimeError(f"a web process did not become ready:\n{tails}")


# --- CPU accounting ---------------------------------------------------------------------------


def _cpu_seconds(pid: int, *, children: bool = False) -> float:
    """utime + stime of `pid` (and of its children it has waited for), in seconds; 0 once gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    ticks = int(fields[11]) + int(fields[12])
    if children:
        ticks += int(fields[13]) + int(fields[14])
    return ticks / TICK


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                if int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) == pid:
                    found.append(int(entry.name))
    return found


def _postgres_cpu(postmaster: int | None) -> float:
    """PostgreSQL's CPU so far: the postmaster, the backends it has reaped (cutime) and the
    live ones (autovacuum, checkpointer, each connection's backend)."""
    if postmaster is None:
        return float("nan")
    return _cpu_seconds(postmaster, children=True) + sum(
        _cpu_seconds(child) for child in _children(postmaster)
    )


def _postmaster(owner_url: str) -> int | None:
    """The postmaster's pid when the database runs on this machine (the parent of a backend)."""
    with psycopg.connect(owner_url) as conn:
        row = conn.execute("SELECT pg_backend_pid()").fetchone()
        assert row is not None
        try:  # read while the backend lives
            return int(Path(f"/proc/{row[0]}/stat").read_text().rsplit(")", 1)[1].split()[1])
        except OSError:
            return None


def _machine() -> tuple[int, int, int]:
    """(busy, steal, total) CPU ticks of the whole machine so far (/proc/stat)."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    idle = values[3] + values[4]
    return sum(values) - idle, values[7], sum(values)


@dataclasses.dataclass
class Cpu:
    web: float
    workers: float
    postgres: float
    client: float
    machine: tuple[int, int, int]

    @classmethod
    def now(cls, running: Servers, postmaster: int | None) -> Cpu:
        return cls(
            web=sum(_cpu_seconds(p.pid, children=True) for p in running.webs),
            workers=sum(_cpu_seconds(p.pid, children=True) for p in running.workers),
            postgres=_postgres_cpu(postmaster),
            client=time.process_time(),
            machine=_machine(),
        )


# --- the client -------------------------------------------------------------------------------


@dataclasses.dataclass
class Tally:
    latencies: dict[str, list[float]] = dataclasses.field(default_factory=lambda: defaultdict(list))
    errors: list[str] = dataclasses.field(default_factory=list)
    error_count: dict[str, int] = dataclasses.field(default_factory=lambda: defaultdict(int))
    requests: int = 0
    heavy_started: int = 0
    heavy_in_flight: int = 0
    replays: int = 0


Request = tuple[str, str, dict[str, Any]]  # method, path, httpx options


class Load:
    """Virtual users acting for random tenants, spread over the web processes round-robin."""

    def __init__(
        self,
        args: argparse.Namespace,
        orgs: list[Org],
        clients: list[httpx.AsyncClient],
        mix: dict[str, int],
    ):
        self.args, self.orgs, self.clients, self.mix = args, orgs, clients, mix
        self.rng = random.Random(args.seed)
        self.tally = Tally()
        self.turn = 0
        self.last_payment: dict[str, tuple[str, str, dict[str, str]]] = {}
        self.deadline = 0.0

    def _client(self) -> httpx.AsyncClient:
        self.turn += 1
        return self.clients[self.turn % len(self.clients)]

    async def run(self) -> float:
        self.deadline = time.monotonic() + self.args.duration
        with Timer() as wall:
            await asyncio.gather(*(self._user() for _ in range(self.args.users)))
        return wall.seconds

    def _more(self) -> bool:
        return time.monotonic() < self.deadline and self.tally.requests < self.args.max_requests

    async def _user(self) -> None:
        classes, weights = list(self.mix), list(self.mix.values())
        while self._more():
            kind = self.rng.choices(classes, weights)[0]
            if kind in HEAVY and (
                self.tally.heavy_in_flight >= self.args.heavy_in_flight
                or self.tally.heavy_started >= self.args.max_jobs
            ):
                if set(classes) <= HEAVY:  # a heavy class alone, measured by itself
                    if self.tally.heavy_started >= self.args.max_jobs:
                        return
                    await asyncio.sleep(0.01)
                    continue
                kind = "list"
            org = self.rng.choice(self.orgs)
            fund = self.rng.choice(org.funds)
            self.tally.requests += 1
            method, url, options = self._request(kind, org, fund)
            if kind in HEAVY:
                self.tally.heavy_started += 1
                self.tally.heavy_in_flight += 1
            started = time.perf_counter()
            try:
                response = await self._client().request(method, url, **options)
            except httpx.HTTPError as exc:
                self._error(kind, f"{method} {url}: {type(exc).__name__} {exc}")
                continue
            finally:
                if kind in HEAVY:
                    self.tally.heavy_in_flight -= 1
            self.tally.latencies[kind].append(time.perf_counter() - started)
            if kind == "payment" and response.is_success:
                # Replayed only once answered: a replay while the first is still in progress
                # is refused (409, retry shortly), as it must be.
                self.last_payment[org.id] = (
                    url,
                    options["headers"]["Idempotency-Key"],
                    options["json"],
                )
            if response.status_code not in EXPECTED[kind]:
                self._error(kind, f"{method} {url} -> {response.status_code} {response.text[:300]}")

    def _error(self, kind: str, text: str) -> None:
        self.tally.error_count[kind] += 1
        if len(self.tally.errors) < 20:
            self.tally.errors.append(text)

    def _request(self, kind: str, org: Org, fund: Fund) -> Request:
        api = {"Authorization": f"Bearer {org.api_key}"}
        base = f"/api/v1/funds/{fund.id}"
        rng = self.rng
        if kind == "list":
            path = rng.choice(
                [
                    "/api/v1/funds",
                    "/api/v1/investors?limit=50",
                    f"{base}/commitments?limit=50",
                    f"{base}/allocations?limit=50",
                    f"{base}/capital-calls",
                    f"{base}/deals",
                ]
            )
            return "GET", path, {"headers": api}
        if kind == "metrics":
            return "GET", f"{base}/metrics?as_of={TODAY}", {"headers": api}
        if kind == "capital account":
            investor = rng.choice(fund.investors)
            return "GET", f"{base}/investors/{investor}/capital-account", {"headers": api}
        if kind == "page":
            call = rng.choice(fund.calls)
            page = rng.choice(["/", f"/funds/{fund.id}", f"/funds/{fund.id}/calls/{call}"])
            return "GET", page, {"headers": {"Cookie": org.cookie or ""}}
        if kind == "allocation put":
            deal, investor = rng.choice(fund.deals), rng.choice(fund.investors)
            amount = f"{rng.randint(1000, 500000)}.{rng.randint(0, 99):02d}"
            path = f"{base}/deals/{deal}/allocations/{investor}"
            return "PUT", path, {"headers": api, "json": {"amount": amount}}
        if kind == "payment":
            return self._payment(org, fund, api)
        if kind == "import":
            return self._import(fund, api)
        body = {"kind": "capital_account_statement", "as_of": TODAY.isoformat()}
        return "POST", f"{base}/reports", {"headers": api, "json": body}

    def _payment(
        self, org: Org, fund: Fund, api: dict[str, str]
    ) -> tuple[str, str, dict[str, Any]]:
        """A payment with a fresh key, or (one in ten) the last one's key and body again: the
        replay must answer as the first did, recording nothing twice."""
        previous = self.last_payment.pop(org.id, None)
        if previous is not None and self.rng.random() < 0.1:
            self.tally.replays += 1
            path, key, body = previous
        else:
            call = self.rng.choice(fund.calls)
            body = {
                "investor_id": self.rng.choice(fund.investors),
                "amount": f"{self.rng.randint(100, 5000)}.00",
                "received_on": TODAY.isoformat(),
            }
            path, key = f"/api/v1/funds/{fund.id}/capital-calls/{call}/payments", str(uuid.uuid4())
        return "POST", path, {"headers": {**api, "Idempotency-Key": key}, "json": body}

    def _import(self, fund: Fund, api: dict[str, str]) -> Request:
        """The allocations of every investor in two deals (an upsert), amounts new each time
        (the same file twice would be answered with the earlier import)."""
        serial = next(IMPORTS)
        rows = ["investor_id,deal_id,amount"]
        for i, investor in enumerate(fund.investors):
            for deal in fund.deals[2:4]:
                rows.append(f"{investor},{deal},{1000 + (i * 7 + serial) % 90000}.00")
        data = ("\n".join(rows) + "\n").encode()
        files = {"file": ("allocations.csv", data, "text/csv")}
        path = f"/api/v1/funds/{fund.id}/imports?kind=allocations"
        return "POST", path, {"headers": api, "files": files}


class _NoCookies(http.cookiejar.DefaultCookiePolicy):
    """The shared clients keep no cookie: each page request names its tenant's session."""

    def set_ok(self, cookie: http.cookiejar.Cookie, request: Any) -> bool:
        return False


async def _sign_in(base_url: str, org: Org) -> None:
    """The owner's session cookie (a browser of its own, so no other tenant's cookie rides)."""
    async with httpx.AsyncClient(base_url=base_url, timeout=60) as browser:
        form = await browser.get("/login")
        token = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
        assert token, f"{form.status_code} {form.text[:300]}"
        done = await browser.post(
            "/login", data={"email": org.email, "password": PASSWORD, "csrf_token": token.group(1)}
        )
        assert done.status_code == 303, done.text[:300]
        org.cookie = "; ".join(f"{name}={value}" for name, value in browser.cookies.items())


# --- one configuration ------------------------------------------------------------------------


@dataclasses.dataclass
class Result:
    name: str
    wall: float
    tally: Tally
    before: Cpu
    after: Cpu
    drained: Cpu
    jobs: list[tuple[str, str, float | None, float | None]]  # kind, status, wait s, run s
    jobs_span: float


async def _drive(
    args: argparse.Namespace, orgs: list[Org], running: Servers, mix: dict[str, int]
) -> tuple[Load, float]:
    limits = httpx.Limits(max_connections=args.users, max_keepalive_connections=args.users)
    clients = [
        httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{port}",
            timeout=120,
            limits=limits,
            cookies=http.cookiejar.CookieJar(policy=_NoCookies()),
        )
        for port in running.ports
    ]
    try:
        load = Load(args, orgs, clients, mix)
        wall = await load.run()
        return load, wall
    finally:
        for client in clients:
            await client.aclose()


async def _warm_up(orgs: list[Org], running: Servers) -> None:
    """Sign in the owners not signed in yet (sessions live in the database: any process serves
    them), then one request of each read class on every process, outside the measurement: a
    fresh process's first requests import code and compile templates."""
    for n, org in enumerate(orgs):
        if org.cookie is None:
            await _sign_in(f"http://127.0.0.1:{running.ports[n % len(running.ports)]}", org)
    org = orgs[0]
    fund = org.funds[0]
    base = f"/api/v1/funds/{fund.id}"
    api = {"Authorization": f"Bearer {org.api_key}"}
    paths = [
        ("/api/v1/funds", api),
        (f"{base}/commitments?limit=50", api),
        (f"{base}/allocations?limit=50", api),
        (f"{base}/capital-calls", api),
        (f"{base}/metrics?as_of={TODAY}", api),
        (f"{base}/investors/{fund.investors[0]}/capital-account", api),
        ("/", {"Cookie": org.cookie or ""}),
        (f"/funds/{fund.id}", {"Cookie": org.cookie or ""}),
        (f"/funds/{fund.id}/calls/{fund.calls[0]}", {"Cookie": org.cookie or ""}),
    ]
    for port in running.ports:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=120) as client:
            for _ in range(3):
                for path, headers in paths:
                    response = await client.get(path, headers=headers)
                    assert response.status_code == 200, f"{path}: {response.text[:300]}"


def run_config(
    args: argparse.Namespace,
    settings: Settings,
    orgs: list[Org],
    data_dir: Path,
    name: str,
    mix: dict[str, int] = MIX,
) -> Result:
    webs, workers = (int(n) for n in name.split("x"))
    owner = db.owner_url(settings)
    postmaster = _postmaster(owner)
    with servers(settings, data_dir, webs, workers, args.worker_nice) as running:
        with psycopg.connect(owner) as conn:
            row = conn.execute("SELECT now()").fetchone()
        assert row is not None
        window_start = row[0]
        asyncio.run(_warm_up(orgs, running))
        before = Cpu.now(running, postmaster)
        load, wall = asyncio.run(_drive(args, orgs, running, mix))
        after = Cpu.now(running, postmaster)
        _drain(owner, window_start, args.drain)
        drained = Cpu.now(running, postmaster)
    jobs, span = _jobs(owner, window_start)
    return Result(name, wall, load.tally, before, after, drained, jobs, span)


# The jobs queued since a moment: statement runs (tenant_jobs) and imports (their own rows).
JOBS = (
    "SELECT kind, status::text AS status, created_at, started_at, finished_at FROM tenant_jobs "
    "WHERE created_at >= %s UNION ALL SELECT 'import.' || kind::text, status::text, "
    "created_at, started_at, finished_at FROM imports WHERE created_at >= %s"
)


def _drain(owner_url: str, since: dt.datetime, seconds: float) -> None:
    """Wait (at most `seconds`) until every job queued in the window has finished."""
    deadline = time.monotonic() + seconds
    with psycopg.connect(owner_url, autocommit=True) as conn:
        while time.monotonic() < deadline:
            row = conn.execute(
                f"SELECT count(*) FROM ({JOBS}) j WHERE status IN ('queued', 'running')",
                (since, since),
            ).fetchone()
            if row is not None and row[0] == 0:
                return
            time.sleep(0.5)


def _jobs(
    owner_url: str, since: dt.datetime
) -> tuple[list[tuple[str, str, float | None, float | None]], float]:
    with psycopg.connect(owner_url) as conn:
        rows = conn.execute(
            "SELECT kind, status, extract(epoch FROM started_at - created_at)::float8, "
            f"extract(epoch FROM finished_at - started_at)::float8 FROM ({JOBS}) j",
            (since, since),
        ).fetchall()
        span = conn.execute(
            "SELECT extract(epoch FROM max(finished_at) - min(created_at))::float8 "
            f"FROM ({JOBS}) j",
            (since, since),
        ).fetchone()
    return [tuple(r) for r in rows], (span[0] or 0.0) if span else 0.0  # type: ignore[misc]


# --- the report -------------------------------------------------------------------------------


def _ms(samples: list[float], q: float) -> str:
    return f"{percentile(samples, q) * 1000:8.1f}" if samples else "       -"


def report(result: Result) -> dict[str, float]:
    """Print one configuration's figures; return the few the summary table repeats."""
    tally, wall = result.tally, result.wall
    served = sum(len(v) for v in tally.latencies.values())
    errors = sum(tally.error_count.values())
    webs, workers = result.name.split("x")
    print(
        f"\n== {webs} web x {workers} worker: {served:,} requests in {wall:.1f} s = "
        f"{served / wall:,.0f} req/s; errors {errors}; payment replays {tally.replays}"
    )
    print(f"{'class':16} {'n':>7} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7}")
    for kind in MIX:
        samples = tally.latencies.get(kind, [])
        print(
            f"{kind:16} {len(samples):7d} {len(samples) / wall:8.1f} {_ms(samples, 0.5)} "
            f"{_ms(samples, 0.99)} {tally.error_count.get(kind, 0):7d}"
        )
    for text in tally.errors:
        print(f"  ERROR {text}")
    finished = [j for j in result.jobs if j[1] in {"succeeded", "failed"}]
    failed = [j for j in result.jobs if j[1] != "succeeded"]  # errors too: the files are valid
    print(
        f"jobs: {len(result.jobs)} queued, {len(finished)} finished "
        f"({len(failed)} not succeeded) in {result.jobs_span:.1f} s = "
        f"{len(finished) / result.jobs_span if result.jobs_span else 0:.2f} jobs/s"
    )
    for kind in sorted({j[0] for j in result.jobs}):
        waits = [j[2] for j in result.jobs if j[0] == kind and j[2] is not None]
        runs = [j[3] for j in result.jobs if j[0] == kind and j[3] is not None]
        print(
            f"  {kind:34} n {len(runs):4d}  queue wait p50 {_ms(waits, 0.5)} ms "
            f"p99 {_ms(waits, 0.99)} ms   run p50 {_ms(runs, 0.5)} ms p99 {_ms(runs, 0.99)} ms"
        )
    before, after, drained = result.before, result.after, result.drained
    web_cpu = after.web - before.web
    pg_cpu = after.postgres - before.postgres
    worker_cpu = drained.workers - before.workers
    busy = after.machine[0] - before.machine[0]
    steal = after.machine[1] - before.machine[1]
    total = after.machine[2] - before.machine[2]
    cores = os.cpu_count() or 1
    print(
        f"CPU during the load ({wall:.0f} s, {cores} cores): web {web_cpu:.1f} s "
        f"({web_cpu / served * 1000:.2f} ms/request), PostgreSQL {pg_cpu:.1f} s "
        f"({pg_cpu / served * 1000:.2f} ms/request, jobs' queries included), workers "
        f"{after.workers - before.workers:.1f} s, client {after.client - before.client:.1f} s; "
        f"machine busy {100 * busy / max(1, total):.0f} % "
        f"(steal {100 * steal / max(1, total):.1f} %)"
    )
    if finished:
        per_job = worker_cpu / len(finished)
        print(f"workers until drained: {worker_cpu:.1f} s CPU = {per_job:.2f} s/job")
    return {
        "rps": served / wall,
        "errors": errors + len(failed),
        "web_ms": web_cpu / served * 1000,
        "pg_ms": pg_cpu / served * 1000,
        "jobs_s": len(finished) / result.jobs_span if result.jobs_span else 0.0,
        "job_cpu": worker_cpu / len(finished) if finished else float("nan"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orgs", type=int, default=50)
    parser.add_argument("--duration", type=float, default=60, help="seconds per configuration")
    parser.add_argument("--configs", default="1x1,2x1,1x2,2x2", help="webs x workers, ...")
    parser.add_argument("--users", type=int, default=16, help="concurrent virtual users")
    parser.add_argument("--max-requests", type=int, default=200_000)
    parser.add_argument("--max-jobs", type=int, default=60, help="heavy requests per config")
    parser.add_argument("--heavy-in-flight", type=int, default=2)
    parser.add_argument("--drain", type=float, default=300, help="seconds to wait for jobs")
    parser.add_argument("--seed", type=int, default=22)
    parser.add_argument(
        "--worker-nice",
        type=int,
        default=0,
        choices=range(20),
        metavar="0-19",
        help="the workers' niceness (production's default is 19; see docs/scaling.md)",
    )
    parser.add_argument(
        "--per-class", type=float, default=0, help="then each class alone for this many seconds"
    )
    args = parser.parse_args()
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr] # figures as they come
    configs = [c.strip() for c in args.configs.split(",") if c.strip()]
    for name in configs:
        if not re.fullmatch(r"[1-9]\d*x[1-9]\d*", name):
            parser.error(f"--configs: {name!r} is not WEBSxWORKERS")
    if hasattr(os, "sched_setaffinity") and (os.cpu_count() or 1) > 1:
        # The client on the last CPU; servers and PostgreSQL are free to use every CPU.
        os.sched_setaffinity(0, {(os.cpu_count() or 1) - 1})
    print(f"load average before: {' '.join(f'{v:.2f}' for v in os.getloadavg())}", flush=True)
    with bench_database() as settings, tempfile.TemporaryDirectory() as data_dir:
        rng = random.Random(args.seed)
        with Timer() as setup:
            orgs = build(settings, args.orgs, rng)
        funds = [f for o in orgs for f in o.funds]
        investors = sum(len(f.investors) for f in funds)
        print(
            f"{len(orgs)} organisations, {len(funds)} funds, {investors:,} investors with "
            f"commitments, {sum(len(f.deals) for f in funds)} deals, {2 * len(funds)} issued "
            f"calls: built in {setup.seconds:.0f} s; {_size(settings)}",
            flush=True,
        )
        summary = {}
        for name in configs:
            summary[name] = report(run_config(args, settings, orgs, Path(data_dir), name))
        if args.per_class:
            per_class(args, settings, orgs, Path(data_dir))
    print(
        f"\n{'config':8} {'req/s':>8} {'errors':>7} {'web CPU ms/req':>15} "
        f"{'PG CPU ms/req':>14} {'jobs/s':>7} {'worker CPU s/job':>17}"
    )
    for name, figures in summary.items():
        print(
            f"{name:8} {figures['rps']:8.0f} {figures['errors']:7.0f} {figures['web_ms']:15.2f} "
            f"{figures['pg_ms']:14.2f} {figures['jobs_s']:7.2f} {figures['job_cpu']:17.2f}"
        )
    print(f"load average after: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")


def per_class(
    args: argparse.Namespace, settings: Settings, orgs: list[Org], data_dir: Path
) -> None:
    """Each route class alone on 1 web x 1 worker for `--per-class` seconds: the CPU one
    request of that class costs the web process and PostgreSQL (a job class: PostgreSQL and
    the worker until its jobs are done, per job), for the model in docs/scaling.md."""
    alone = argparse.Namespace(
        **{**vars(args), "duration": args.per_class, "max_jobs": min(args.max_jobs, 12)}
    )
    print(
        f"\n== each class alone, 1 web x 1 worker, {args.per_class:.0f} s each\n"
        f"{'class':16} {'n':>6} {'req/s':>7} {'p50 ms':>8} {'p99 ms':>8} {'errors':>6} "
        f"{'web ms/req':>10} {'PG ms/req':>10} {'PG ms/job':>10} {'worker s/job':>12}"
    )
    for kind in MIX:
        result = run_config(alone, settings, orgs, data_dir, "1x1", {kind: 1})
        samples = result.tally.latencies.get(kind, [])
        served = max(1, len(samples))
        finished = [j for j in result.jobs if j[1] in {"succeeded", "failed"}]
        errors = sum(result.tally.error_count.values()) + sum(
            1 for j in result.jobs if j[1] != "succeeded"
        )
        web = (result.after.web - result.before.web) / served * 1000
        pg = (result.after.postgres - result.before.postgres) / served * 1000
        pg_job = worker_job = "-"
        if finished:
            drained_pg = result.drained.postgres - result.before.postgres
            pg_job = f"{drained_pg / len(finished) * 1000:.0f}"
            worker_job = f"{(result.drained.workers - result.before.workers) / len(finished):.2f}"
        print(
            f"{kind:16} {len(samples):6d} {len(samples) / result.wall:7.1f} {_ms(samples, 0.5)} "
            f"{_ms(samples, 0.99)} {errors:6d} {web:10.2f} {pg:10.2f} {pg_job:>10} "
            f"{worker_job:>12}"
        )
        for text in result.tally.errors:
            print(f"  ERROR {text}")


if __name__ == "__main__":
    main()
