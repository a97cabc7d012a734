"""What the benchmarks over a large bench database share.

Each builds its data once per backend and scale and reuses it on later runs: a SQLite file
``instance/bench/<name>-<count>.db`` and a PostgreSQL database ``deskhost_bench_<name>_<count>``
on the server of ``DATABASE_URL`` (default postgresql://postgres@127.0.0.1:5432/test).
``--fresh`` rebuilds, ``--drop`` removes them afterwards, ``--only`` runs one backend. Figures
are printed as ``key=value`` lines, prefixed by the backend (``sqlite.`` / ``postgresql.``).
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import create_engine, func, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from core.bootstrap import ensure_baseline
from core.config import Settings
from core.demo import DATASET_VERSION, generate
from core.host import Host
from core.importer import run_import
from core.importer.bulk import sqlite_time
from core.migrate import upgrade_core
from core.models import (
    Agent,
    Contact,
    Department,
    Installation,
    PermissionProfile,
    Thread,
    Ticket,
)
from core.services import fields
from core.services.base import Actor, Unit

DEFAULT_POSTGRES = "postgresql://postgres@127.0.0.1:5432/test"
REPO = Path(__file__).resolve().parent.parent
INSTANCE = REPO / "instance" / "bench"
BENCH_AGENT_EMAIL = "bench@example.com"
# Rows per executemany on SQLite (PostgreSQL streams them through COPY).
SQLITE_BATCH = 20_000

Figures = Mapping[str, float | int]

#: The contact columns the benchmarks' row generators fill, in their order.
CONTACT_COLUMNS = (
    "id",
    "first_name",
    "last_name",
    "email",
    "phone",
    "mobile",
    "title",
    "description",
    "is_spam",
    "custom_fields",
    "created_at",
    "updated_at",
)


@dataclass(frozen=True)
class Benchmark:
    """One benchmark: how to recognise, build and measure its bench database."""

    #: Names the bench copies (``<name>-<count>.db``, ``deskhost_bench_<name>_<count>``).
    name: str
    #: What ``count`` counts, printed as the first line (``contacts=100000``).
    noun: str
    #: The named scales: ``--scale full`` (the default) and ``--scale small`` for CI.
    scales: Mapping[str, int]
    #: How many records a previous run built in this database, ``None`` if it is not a copy.
    built_scale: Callable[[Host], int | None]
    #: Adds ``count`` records to a migrated database holding the baseline and the bench agent.
    build: Callable[[Host, int], None]
    #: Times what the benchmark is about; the figures to print.
    measure: Callable[[Host], Figures]


def settings_for(database_url: str) -> Settings:
    """Settings of a bench host on ``database_url``."""
    return Settings.from_env(
        {
            "DESKHOST_INSTANCE_DIR": str(INSTANCE),
            "DATABASE_URL": database_url,
            "REDIS_URL": os.environ.get("REDIS_URL", ""),
            "SECRET_KEY": "bench",
        }
    )


def bench_unit(session: Any) -> Unit:
    """A unit acting as the bench's administrator, as the pages and the API would."""
    agent = session.scalars(select(Agent).where(Agent.email == BENCH_AGENT_EMAIL)).one()
    return Unit(session, Actor(agent), None)


def system_unit(session: Any) -> Unit:
    """A unit acting as the system, for the set-up a benchmark makes before its data."""
    return Unit(session, Actor.system("bench"), None)


def contacts_marked_by(field_key: str) -> Callable[[Host], int | None]:
    """``built_scale`` of a benchmark whose contacts carry the custom field ``field_key``."""

    def built_scale(host: Host) -> int | None:
        try:
            with host.sessions() as session:
                if fields.field_by_key(session, "contact", field_key) is None:
                    return None
                return session.scalar(select(func.count()).select_from(Contact))
        except SQLAlchemyError:  # an empty or foreign database: build it
            return None

    return built_scale


def copy_rows(
    host: Host, table: str, columns: Sequence[str], rows: Iterable[tuple[Any, ...]]
) -> None:
    """Insert ``rows`` into ``table`` past the ORM: COPY on PostgreSQL, batches on SQLite."""
    names = ", ".join(columns)
    with host.engine.begin() as connection:
        raw = connection.connection.driver_connection
        if connection.dialect.name == "postgresql":
            with raw.cursor() as cursor, cursor.copy(f"COPY {table} ({names}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
            return
        statement = f"INSERT INTO {table} ({names}) VALUES ({', '.join('?' * len(columns))})"
        cursor = raw.cursor()
        batch: list[tuple[Any, ...]] = []
        for row in rows:
            batch.append(tuple(sqlite_time(v) if isinstance(v, datetime) else v for v in row))
            if len(batch) == SQLITE_BATCH:
                cursor.executemany(statement, batch)
                batch.clear()
        cursor.executemany(statement, batch)


#: The name of a ticket-history bench copy: built by the demo generator at this version, so a
#: change to what it generates is a new copy, and benchmarks over the same history share one.
TICKET_HISTORY = f"history-v{DATASET_VERSION}"
#: Customers whose tickets the ticket benchmarks read: one with many tickets, one with few.
BUSY_CONTACT_EMAIL = "busy@bench.example"
QUIET_CONTACT_EMAIL = "quiet@bench.example"
BUSY_CONTACT_TICKETS = 10_000
QUIET_CONTACT_TICKETS = 10


def ticket_history_scale(host: Host) -> int | None:
    """``built_scale`` of a ticket-history bench copy: its tickets, once fully built."""
    try:
        with host.sessions() as session:
            if (
                session.scalar(select(Contact.id).where(Contact.email == QUIET_CONTACT_EMAIL))
                is None
            ):
                return None
            return session.scalar(select(func.count()).select_from(Ticket))
    except SQLAlchemyError:
        return None


def build_ticket_history(host: Host, count: int) -> None:
    """``count`` tickets of the demo generator's history (a tenth as many contacts), imported
    through the history import's bulk path; then one contact is given
    :data:`BUSY_CONTACT_TICKETS` of them and another :data:`QUIET_CONTACT_TICKETS`."""
    with tempfile.TemporaryDirectory(prefix="deskhost-bench-") as folder:
        data = Path(folder) / "history.jsonl"
        with data.open("wb") as handle:
            for line in generate(count, seed=7, contacts=max(10, count // 10)):
                handle.write(line)
        run_import(host, data)
    with host.transaction() as session:
        for email, tickets in (
            (BUSY_CONTACT_EMAIL, min(BUSY_CONTACT_TICKETS, count // 2)),
            (QUIET_CONTACT_EMAIL, QUIET_CONTACT_TICKETS),
        ):
            _give_tickets(session, email, tickets)


def _give_tickets(session: Any, email: str, tickets: int) -> None:
    """Make a new contact ``email`` (of no account) the customer of ``tickets`` tickets no bench
    contact has yet, their customer messages included."""
    since = datetime(2020, 1, 1, tzinfo=UTC)
    contact = Contact(
        first_name="Bench", last_name=email, email=email, created_at=since, updated_at=since
    )
    session.add(contact)
    session.flush()
    taken = select(Contact.id).where(Contact.email.like("%@bench.example"))
    # Read first, not a subquery of the updates: before the build's ANALYZE, PostgreSQL may
    # plan ``IN (subquery)`` as a subplan scanned once per thread (hours at a million tickets).
    chosen = list(
        session.scalars(
            select(Ticket.id)
            .where(Ticket.contact_id.not_in(taken))
            .order_by(Ticket.id)
            .limit(tickets)
        )
    )
    session.execute(
        Thread.__table__.update()
        .where(Thread.ticket_id.in_(chosen), Thread.author_contact_id.isnot(None))
        .values(author_contact_id=contact.id)
    )
    session.execute(
        Ticket.__table__.update()
        .where(Ticket.id.in_(chosen))
        .values(contact_id=contact.id, account_id=None)
    )


def _build(benchmark: Benchmark, host: Host, count: int) -> float:
    """Migrate, add the baseline and the bench agent, then the benchmark's data; seconds."""
    began = time.perf_counter()
    upgrade_core(host.engine)
    with host.transaction() as session:
        ensure_baseline(session)
        profile = session.scalars(
            select(PermissionProfile).where(PermissionProfile.name == "Administrator")
        ).one()
        session.add(
            Agent(
                email=BENCH_AGENT_EMAIL,
                name="Bench",
                password_hash="!",
                profile=profile,
                created_at=datetime.now(UTC),
            )
        )
    benchmark.build(host, count)
    with host.engine.connect() as connection:
        connection.execute(text("ANALYZE"))
        connection.commit()
    return time.perf_counter() - began


def _run_backend(
    benchmark: Benchmark, backend: str, database_url: str, count: int, fresh: bool
) -> None:
    """Build (or reuse) one backend's bench copy, measure, print the figures."""
    host = Host(settings_for(database_url))
    try:
        existing = None if fresh else benchmark.built_scale(host)
        if existing == count:
            # A copy built by older code lacks what newer migrations add (a column, an index
            # the code reads through): bring it to the code's schema (nothing when it is).
            upgrade_core(host.engine)
            print(f"{backend}.reused=1")
        else:
            if existing is not None or fresh:
                host.dispose()
                _reset(backend, database_url)
                host = Host(settings_for(database_url))
            print(f"{backend}.build_s={_build(benchmark, host, count):.1f}")
        print(f"{backend}.rows={count}")
        for key, value in benchmark.measure(host).items():
            shown = f"{value:.2f}" if isinstance(value, float) else str(value)
            print(f"{backend}.{key}={shown}")
        sys.stdout.flush()
    finally:
        host.dispose()


def _reset(backend: str, database_url: str) -> None:
    """Remove a previous bench copy so it can be built again."""
    if backend == "sqlite":
        Path(make_url(database_url).database or "").unlink(missing_ok=True)
        return
    drop_postgres(database_url)
    create_postgres(database_url)


def _server(database_url: str) -> Any:
    url = make_url(database_url)
    return create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT"), url.database


def create_postgres(database_url: str) -> None:
    """Create the database of ``database_url`` on its server, unless it exists."""
    engine, name = _server(database_url)
    with engine.connect() as connection:
        exists = connection.scalar(
            text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": name}
        )
        if not exists:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
    engine.dispose()


def drop_postgres(database_url: str) -> None:
    """Drop the database of ``database_url``, whoever is connected to it."""
    engine, name = _server(database_url)
    with engine.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    engine.dispose()


def main(benchmark: Benchmark, description: str, argv: list[str] | None = None) -> int:
    """Parse the common options, run the benchmark on each backend; exit 0."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--scale", choices=sorted(benchmark.scales), default="full")
    parser.add_argument(
        f"--{benchmark.noun}",
        dest="count",
        type=int,
        help=f"override the scale's number of {benchmark.noun}",
    )
    parser.add_argument("--only", choices=("sqlite", "postgresql"), help="one backend only")
    parser.add_argument("--fresh", action="store_true", help="rebuild even if already built")
    parser.add_argument("--drop", action="store_true", help="remove the bench data at the end")
    args = parser.parse_args(argv)
    count = args.count or benchmark.scales[args.scale]
    INSTANCE.mkdir(parents=True, exist_ok=True)
    print(f"{benchmark.noun}={count}")
    if args.only in (None, "sqlite"):
        database = INSTANCE / f"{benchmark.name}-{count}.db"
        _run_backend(benchmark, "sqlite", f"sqlite:///{database}", count, args.fresh)
        if args.drop:
            database.unlink(missing_ok=True)
    if args.only in (None, "postgresql"):
        server = os.environ.get("DATABASE_URL") or DEFAULT_POSTGRES
        if not server.startswith("postgres"):
            server = DEFAULT_POSTGRES
        database_url = (
            make_url(server)
            .set(
                drivername="postgresql+psycopg", database=f"deskhost_bench_{benchmark.name}_{count}"
            )
            .render_as_string(hide_password=False)
        )
        create_postgres(database_url)
        try:
            _run_backend(benchmark, "postgresql", database_url, count, args.fresh)
        finally:
            if args.drop:
                drop_postgres(database_url)
    # ru_maxrss is in kilobytes on Linux: the whole run's peak, over both backends.
    print(f"peak_rss_mb={resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f}")
    return 0


# ---------------------------------------------------------- what the extension benches share


def install_everywhere(host: Host, plugin_id: str) -> int:
    """Install and authorize an extension for every department and profile, through the
    marketplace lifecycle as an admin would; the installation's id."""
    from marketplace_registry import lifecycle

    with host.transaction() as session:
        unit = Unit(session, Actor.system("bench"), host)
        installation = lifecycle.install(
            unit,
            plugin_id,
            department_ids=list(session.scalars(select(Department.id))),
            profile_ids=list(session.scalars(select(PermissionProfile.id))),
            terms_accepted=True,
        )
        lifecycle.grant(unit, installation, host.plugins.manifest(plugin_id).scopes)
        return installation.id


def uninstall_all(host: Host, plugin_id: str) -> None:
    """Purge every installation of an extension (a previous run's too, if it stopped)."""
    from marketplace_registry import lifecycle

    with host.transaction() as session:
        unit = Unit(session, Actor.system("bench"), host)
        for installation in session.scalars(
            select(Installation).where(Installation.plugin_id == plugin_id)
        ):
            lifecycle.uninstall(unit, installation, confirmed=True, keep_data=False)


def context_of(host: Host, session: Any, installation_id: int) -> Any:
    """The installation's own context (no viewing agent: the bench agent is in no
    department, and the installation covers them all)."""
    return host.plugins.context_for(session, session.get(Installation, installation_id), None)


def contact_id(host: Host, email: str) -> int:
    """The id of the contact with this email (the busy or the quiet one)."""
    with host.sessions() as session:
        return session.scalars(select(Contact.id).where(Contact.email == email)).one()


def ticket_ids_of(host: Host, contact: int) -> list[int]:
    """The contact's ticket ids, oldest first."""
    with host.sessions() as session:
        return list(
            session.scalars(
                select(Ticket.id).where(Ticket.contact_id == contact).order_by(Ticket.id)
            )
        )


def timed(runs: int, action: Callable[[], object]) -> list[float]:
    """Milliseconds of ``runs`` calls."""
    timings = []
    for _ in range(runs):
        began = time.perf_counter()
        action()
        timings.append((time.perf_counter() - began) * 1000)
    return timings


def p95(timings: Sequence[float]) -> float:
    """The 95th percentile (nearest rank)."""
    ordered = sorted(timings)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def over_ticket_history(measure: Callable[[Host], Figures]) -> Benchmark:
    """A benchmark measuring ``measure`` over the shared ticket history (1,000,000 tickets;
    10,000 at ``--scale small``), built once per backend and reused by every such bench."""
    return Benchmark(
        name=TICKET_HISTORY,
        noun="tickets",
        scales={"full": 1_000_000, "small": 10_000},
        built_scale=ticket_history_scale,
        build=build_ticket_history,
        measure=measure,
    )
