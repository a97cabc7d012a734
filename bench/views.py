"""Benchmark: the first page of a two-condition view over 1,000,000 contacts, on both backends.

Builds the contacts once per backend and scale, and reuses them on later runs: a SQLite file
under ``instance/bench/`` and a dedicated PostgreSQL database ``deskhost_bench_views_<n>`` on
the server of ``DATABASE_URL`` (default postgresql://postgres@127.0.0.1:5432/test); ``--fresh``
rebuilds, ``--drop`` removes them afterwards. Contacts carry a picklist custom field "Tier"
(ten choices) and one of ten titles, so the view "Tier is Gold and title is Manager" selects
about 1 % of them, newest first.

The first page of 50 is read through ``core.services.views.run_view`` (the call the list page
and the API make) without the count, then counted (informative). Prints ``key=value`` lines:
``<backend>.view_first_page_p50_ms``, ``<backend>.view_count_p50_ms``, ``<backend>.rows``…

    python bench/views.py                 # 1,000,000 contacts
    python bench/views.py --scale small   # 20,000 contacts
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import create_engine, func, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from core.bootstrap import ensure_baseline
from core.config import Settings
from core.host import Host
from core.importer.bulk import sqlite_time
from core.migrate import upgrade_core
from core.models import Agent, Contact, CustomView, PermissionProfile
from core.services import fields, views
from core.services.base import Actor, Unit

SCALES = {"full": 1_000_000, "small": 20_000}
DEFAULT_POSTGRES = "postgresql://postgres@127.0.0.1:5432/test"
REPO = Path(__file__).resolve().parent.parent
TIERS = ["Gold", "Silver", "Bronze", "Iron", "Tin", "Lead", "Zinc", "Nickel", "Cobalt", "Copper"]
TITLES = [
    "Manager",
    "Clerk",
    "Engineer",
    "Director",
    "Analyst",
    "Designer",
    "Buyer",
    "Owner",
    "Consultant",
    "Assistant",
]
COLUMNS = (
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
BATCH = 20_000
FIRST_PAGE_RUNS = 41
COUNT_RUNS = 5


def rows(count: int) -> Iterator[tuple[Any, ...]]:
    """The contacts: one every minute or so over two years, tier and title at random."""
    rng = random.Random(2026)
    start = datetime(2024, 11, 1, tzinfo=UTC)
    step = timedelta(days=730) / count
    for number in range(1, count + 1):
        created = start + step * number
        yield (
            number,
            "Taro",
            f"Contact {number}",
            f"c{number}@example.com",
            "",
            "",
            rng.choice(TITLES),
            "",
            rng.random() < 0.005,  # a few spam contacts the view must leave out
            json.dumps({"cf_tier": rng.choice(TIERS)}),
            created,
            created,
        )


def settings_for(database_url: str, instance: Path) -> Settings:
    """Settings of a bench host on ``database_url``."""
    return Settings.from_env(
        {
            "DESKHOST_INSTANCE_DIR": str(instance),
            "DATABASE_URL": database_url,
            "REDIS_URL": os.environ.get("REDIS_URL", ""),
            "SECRET_KEY": "bench",
        }
    )


def built_scale(host: Host) -> int | None:
    """The number of contacts a previous run built here, or None when it is not a bench copy."""
    try:
        with host.sessions() as session:
            if fields.field_by_key(session, "contact", "cf_tier") is None:
                return None
            return session.scalar(select(func.count()).select_from(Contact))
    except SQLAlchemyError:  # an empty or foreign database: build it
        return None


def build(host: Host, count: int) -> float:
    """Migrate, add the baseline, an agent, the Tier field and ``count`` contacts; seconds."""
    began = time.perf_counter()
    upgrade_core(host.engine)
    with host.transaction() as session:
        ensure_baseline(session)
        profile = session.scalars(
            select(PermissionProfile).where(PermissionProfile.name == "Administrator")
        ).one()
        session.add(
            Agent(
                email="bench@example.com",
                name="Bench",
                password_hash="!",
                profile=profile,
                created_at=datetime.now(UTC),
            )
        )
        fields.create_field(
            Unit(session, Actor.system("bench"), None),
            entity="contact",
            label="Tier",
            field_type="picklist",
            options=TIERS,
        )
    with host.engine.begin() as connection:
        raw = connection.connection.driver_connection
        if connection.dialect.name == "postgresql":
            statement = f"COPY contact ({', '.join(COLUMNS)}) FROM STDIN"
            with raw.cursor() as cursor, cursor.copy(statement) as copy:
                for row in rows(count):
                    copy.write_row(row)
        else:
            marks = ", ".join("?" * len(COLUMNS))
            statement = f"INSERT INTO contact ({', '.join(COLUMNS)}) VALUES ({marks})"
            cursor = raw.cursor()
            batch: list[tuple[Any, ...]] = []
            for row in rows(count):
                batch.append((*row[:-2], sqlite_time(row[-2]), sqlite_time(row[-1])))
                if len(batch) == BATCH:
                    cursor.executemany(statement, batch)
                    batch.clear()
            cursor.executemany(statement, batch)
    with host.engine.connect() as connection:
        connection.execute(text("ANALYZE"))
        connection.commit()
    return time.perf_counter() - began


def measure(host: Host) -> dict[str, float]:
    """Time the view's first page (no count) and its count through the view service."""
    with host.sessions() as session:
        agent = session.scalars(select(Agent).where(Agent.email == "bench@example.com")).one()
        unit = Unit(session, Actor(agent), None)
        view = session.scalar(select(CustomView).where(CustomView.name == "Gold managers"))
        if view is None:
            view = views.create_view(
                unit,
                entity="contact",
                name="Gold managers",
                conditions=[
                    {"field": "cf_tier", "operator": "is", "value": "Gold"},
                    {"field": "title", "operator": "is", "value": "Manager"},
                ],
                sort_field="created_at",
                sort_descending=True,
                columns=["name", "title", "cf_tier", "created_at"],
            )
            session.commit()
        first_page: list[float] = []
        page_rows = 0
        for _ in range(FIRST_PAGE_RUNS):
            began = time.perf_counter()
            spec = views.get_view(unit, "contact", view.id)
            page = views.run_view(unit, spec, limit=50)
            first_page.append((time.perf_counter() - began) * 1000)
            page_rows = len(page.rows)
            session.rollback()  # a new request: no identity map carried over
        counts: list[float] = []
        counted = views.ViewCount(0, False)
        for _ in range(COUNT_RUNS):
            began = time.perf_counter()
            counted = views.count_view(unit, views.get_view(unit, "contact", view.id))
            counts.append((time.perf_counter() - began) * 1000)
            session.rollback()
    return {
        # The first run warms caches (statement compilation, pages); the median is of the rest.
        "view_first_page_p50_ms": statistics.median(first_page[1:]),
        "view_first_page_max_ms": max(first_page[1:]),
        "view_count_p50_ms": statistics.median(counts),
        "page_rows": page_rows,
        "count": counted.count,
        "count_capped": int(counted.capped),
    }


def run_backend(backend: str, database_url: str, instance: Path, count: int, fresh: bool) -> None:
    """Build (or reuse) one backend's contacts, measure, print the figures."""
    host = Host(settings_for(database_url, instance))
    try:
        existing = None if fresh else built_scale(host)
        if existing == count:
            print(f"{backend}.reused=1")
        else:
            if existing is not None or fresh:
                host.dispose()
                reset(backend, database_url)
                host = Host(settings_for(database_url, instance))
            seconds = build(host, count)
            print(f"{backend}.build_s={seconds:.1f}")
        print(f"{backend}.rows={count}")
        for key, value in measure(host).items():
            shown = f"{value:.2f}" if isinstance(value, float) else str(value)
            print(f"{backend}.{key}={shown}")
        sys.stdout.flush()
    finally:
        host.dispose()


def reset(backend: str, database_url: str) -> None:
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
    """Create the bench database if it does not exist."""
    engine, name = _server(database_url)
    with engine.connect() as connection:
        exists = connection.scalar(
            text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": name}
        )
        if not exists:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
    engine.dispose()


def drop_postgres(database_url: str) -> None:
    """Drop the bench database."""
    engine, name = _server(database_url)
    with engine.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    engine.dispose()


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; exit 0."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", choices=sorted(SCALES), default="full")
    parser.add_argument("--contacts", type=int, help="override the scale's contact count")
    parser.add_argument("--only", choices=("sqlite", "postgresql"), help="one backend only")
    parser.add_argument("--fresh", action="store_true", help="rebuild even if already built")
    parser.add_argument("--drop", action="store_true", help="remove the bench data at the end")
    args = parser.parse_args(argv)
    count = args.contacts or SCALES[args.scale]
    instance = REPO / "instance" / "bench"
    instance.mkdir(parents=True, exist_ok=True)
    print(f"contacts={count}")
    if args.only in (None, "sqlite"):
        database = instance / f"views-{count}.db"
        run_backend("sqlite", f"sqlite:///{database}", instance, count, args.fresh)
        if args.drop:
            database.unlink(missing_ok=True)
    if args.only in (None, "postgresql"):
        url = os.environ.get("DATABASE_URL") or DEFAULT_POSTGRES
        if not url.startswith("postgres"):
            url = DEFAULT_POSTGRES
        database_url = (
            make_url(url)
            .set(drivername="postgresql+psycopg", database=f"deskhost_bench_views_{count}")
            .render_as_string(hide_password=False)
        )
        create_postgres(database_url)
        try:
            run_backend("postgresql", database_url, instance, count, args.fresh)
        finally:
            if args.drop:
                drop_postgres(database_url)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
