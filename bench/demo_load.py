"""Benchmark: load the demo dataset through the history import's bulk path, on both backends.

Generates the file once (not timed), then imports it into a fresh SQLite file and into a fresh
PostgreSQL database created on the server of ``DATABASE_URL`` (default
postgresql://postgres@127.0.0.1:5432/test) and dropped afterwards. Every record is validated.
Prints ``key=value`` lines: ``<backend>.tickets_per_s``, ``<backend>.threads_per_s``,
``<backend>.load_s``.

    python bench/demo_load.py                 # 200,000 tickets (about 1,000,000 threads)
    python bench/demo_load.py --scale small   # 5,000 tickets
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


from core.config import Settings
from core.db import throwaway_postgres_database
from core.demo import generate
from core.host import Host
from core.importer import ImportReport, run_import
from core.migrate import upgrade_core

SCALES = {"full": 200_000, "small": 5_000}
DEFAULT_POSTGRES = "postgresql://postgres@127.0.0.1:5432/test"


def load(database_url: str, instance: Path, data: Path) -> ImportReport:
    """Migrate a fresh database and import ``data`` into it (only the import is timed)."""
    settings = Settings.from_env(
        {
            "DESKHOST_INSTANCE_DIR": str(instance),
            "DATABASE_URL": database_url,
            "REDIS_URL": os.environ.get("REDIS_URL", ""),
            "SECRET_KEY": "bench",
        }
    )
    host = Host(settings)
    try:
        upgrade_core(host.engine)
        return run_import(host, data)
    finally:
        host.dispose()


def print_figures(backend: str, report: ImportReport) -> None:
    """The figures of one backend as ``key=value`` lines."""
    tickets = report.counts.get("ticket", 0)
    threads = report.counts.get("thread", 0)
    print(f"{backend}.tickets={tickets}")
    print(f"{backend}.threads={threads}")
    print(f"{backend}.load_s={report.seconds:.2f}")
    print(f"{backend}.tickets_per_s={tickets / report.seconds:.0f}")
    print(f"{backend}.threads_per_s={threads / report.seconds:.0f}")
    sys.stdout.flush()


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; exit 0."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", choices=sorted(SCALES), default="full")
    parser.add_argument("--tickets", type=int, help="override the scale's ticket count")
    parser.add_argument("--only", choices=("sqlite", "postgresql"), help="one backend only")
    args = parser.parse_args(argv)
    tickets = args.tickets or SCALES[args.scale]
    with tempfile.TemporaryDirectory(prefix="deskhost-bench-") as folder:
        work = Path(folder)
        data = work / "demo.jsonl"
        with data.open("wb") as handle:
            for line in generate(tickets, seed=7):
                handle.write(line)
        print(f"tickets={tickets}")
        print(f"file_mb={data.stat().st_size / 1e6:.1f}")
        if args.only in (None, "sqlite"):
            instance = work / "sqlite"
            instance.mkdir()
            report = load(f"sqlite:///{instance / 'deskhost.db'}", instance, data)
            print_figures("sqlite", report)
        if args.only in (None, "postgresql"):
            url = os.environ.get("DATABASE_URL") or DEFAULT_POSTGRES
            if not url.startswith("postgres"):
                url = DEFAULT_POSTGRES
            instance = work / "postgresql"
            instance.mkdir()
            with throwaway_postgres_database(url) as database_url:
                report = load(database_url, instance, data)
            print_figures("postgresql", report)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
