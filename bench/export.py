"""Benchmark: exporting 100,000 contacts with their custom fields as CSV and XLSX, on both
backends.

Builds the contacts once per backend and scale and reuses them on later runs, as
``bench/views.py`` does (whose database helpers this uses): a SQLite file under
``instance/bench/`` and a PostgreSQL database ``deskhost_bench_export_<n>`` on the server of
``DATABASE_URL`` (default postgresql://postgres@127.0.0.1:5432/test); ``--fresh`` rebuilds,
``--drop`` removes them afterwards. Contacts have Japanese names and two custom fields (a
picklist and a number).

Each format is exported once through ``core.services.export.export_view`` (the call the list
page and the API make: keyset batches through the view's pager into a spooled file). Prints
``key=value`` lines: ``<backend>.export_contacts_per_s``, ``<backend>.export_csv_s``,
``<backend>.export_xlsx_s``, ``<backend>.export_csv_bytes``, ``peak_rss_mb``…

    python bench/export.py                 # 100,000 contacts
    python bench/export.py --scale small   # 5,000 contacts
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import random
import resource
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import func, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from core.bootstrap import ensure_baseline
from core.host import Host
from core.importer.bulk import sqlite_time
from core.migrate import upgrade_core
from core.models import Agent, Contact, PermissionProfile
from core.services import export, fields
from core.services.base import Actor, Unit

_spec = importlib.util.spec_from_file_location("bench_views", Path(__file__).with_name("views.py"))
assert _spec is not None and _spec.loader is not None
bench_views = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bench_views)

SCALES = {"full": 100_000, "small": 5_000}
REPO = Path(__file__).resolve().parent.parent
PLANS = ["スタンダード", "プレミアム", "エンタープライズ", "Basic", "=formula"]
FAMILY = ["山田", "佐藤", "鈴木", "高橋", "田中", "渡辺", "伊藤", "中村"]
GIVEN = ["花子", "太郎", "一郎", "陽子", "健", "美咲"]
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


def rows(count: int) -> Iterator[tuple[Any, ...]]:
    """The contacts: Japanese names, a plan and a seat count, over two years."""
    rng = random.Random(2026)
    start = datetime(2024, 11, 1, tzinfo=UTC)
    step = timedelta(days=730) / count
    for number in range(1, count + 1):
        created = start + step * number
        yield (
            number,
            rng.choice(GIVEN),
            rng.choice(FAMILY),
            f"c{number}@example.jp",
            "03-1234-5678",
            "",
            "部長",
            "",
            False,
            json.dumps(
                {"cf_plan": rng.choice(PLANS), "cf_seats": rng.randint(1, 500)},
                ensure_ascii=False,
            ),
            created,
            created,
        )


def built_scale(host: Host) -> int | None:
    """The number of contacts a previous run built here, or None when it is not a bench copy."""
    try:
        with host.sessions() as session:
            if fields.field_by_key(session, "contact", "cf_seats") is None:
                return None
            return session.scalar(select(func.count()).select_from(Contact))
    except SQLAlchemyError:
        return None


def build(host: Host, count: int) -> float:
    """Migrate, add the baseline, an agent, the two fields and ``count`` contacts; seconds."""
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
        unit = Unit(session, Actor.system("bench"), None)
        fields.create_field(
            unit, entity="contact", label="Plan", field_type="picklist", options=PLANS
        )
        fields.create_field(unit, entity="contact", label="Seats", field_type="number")
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
    """Export every contact once as CSV and once as XLSX; seconds, sizes and the rate."""
    figures: dict[str, float] = {}
    with host.sessions() as session:
        agent = session.scalars(select(Agent).where(Agent.email == "bench@example.com")).one()
        unit = Unit(session, Actor(agent), None)
        for file_format in export.FORMATS:
            began = time.perf_counter()
            exported = export.export_view(unit, "contact", "all", file_format=file_format)
            size = exported.stream.seek(0, os.SEEK_END)
            seconds = time.perf_counter() - began
            exported.stream.close()
            session.rollback()  # the audit entry is not kept: the copy stays as built
            figures[f"export_{file_format}_s"] = seconds
            figures[f"export_{file_format}_bytes"] = size
            figures[f"export_{file_format}_rows"] = exported.rows
        figures["export_contacts_per_s"] = figures["export_csv_rows"] / figures["export_csv_s"]
        figures["export_xlsx_contacts_per_s"] = (
            figures["export_xlsx_rows"] / figures["export_xlsx_s"]
        )
    return figures


def run_backend(backend: str, database_url: str, instance: Path, count: int, fresh: bool) -> None:
    """Build (or reuse) one backend's contacts, measure, print the figures."""
    host = Host(bench_views.settings_for(database_url, instance))
    try:
        existing = None if fresh else built_scale(host)
        if existing == count:
            print(f"{backend}.reused=1")
        else:
            if existing is not None or fresh:
                host.dispose()
                bench_views.reset(backend, database_url)
                host = Host(bench_views.settings_for(database_url, instance))
            print(f"{backend}.build_s={build(host, count):.1f}")
        print(f"{backend}.rows={count}")
        for key, value in measure(host).items():
            shown = f"{value:.2f}" if isinstance(value, float) else str(value)
            print(f"{backend}.{key}={shown}")
        sys.stdout.flush()
    finally:
        host.dispose()


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
        database = instance / f"export-{count}.db"
        run_backend("sqlite", f"sqlite:///{database}", instance, count, args.fresh)
        if args.drop:
            database.unlink(missing_ok=True)
    if args.only in (None, "postgresql"):
        url = os.environ.get("DATABASE_URL") or bench_views.DEFAULT_POSTGRES
        if not url.startswith("postgres"):
            url = bench_views.DEFAULT_POSTGRES
        database_url = (
            make_url(url)
            .set(drivername="postgresql+psycopg", database=f"deskhost_bench_export_{count}")
            .render_as_string(hide_password=False)
        )
        bench_views.create_postgres(database_url)
        try:
            run_backend("postgresql", database_url, instance, count, args.fresh)
        finally:
            if args.drop:
                bench_views.drop_postgres(database_url)
    # ru_maxrss is in kilobytes on Linux: the whole run's peak, both backends and formats.
    print(f"peak_rss_mb={resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
