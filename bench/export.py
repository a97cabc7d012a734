"""Benchmark: exporting 100,000 contacts with their custom fields as CSV and XLSX, on both
backends.

Builds the contacts once per backend and scale and reuses them on later runs (see
``bench/harness.py``: ``--fresh``, ``--drop``, ``--only``). Contacts have Japanese names and
two custom fields (a picklist and a number).

Each format is exported once through ``core.services.export.export_view`` (the call the list
page and the API make: keyset batches through the view's pager into a spooled file). Prints
``key=value`` lines: ``<backend>.export_contacts_per_s``, ``<backend>.export_csv_s``,
``<backend>.export_xlsx_s``, ``<backend>.export_csv_bytes``, ``peak_rss_mb``…

    python bench/export.py                 # 100,000 contacts
    python bench/export.py --scale small   # 5,000 contacts
"""

from __future__ import annotations

import json
import os
import random
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import harness

from core.host import Host
from core.services import export, fields

PLANS = ["スタンダード", "プレミアム", "エンタープライズ", "Basic", "=formula"]
FAMILY = ["山田", "佐藤", "鈴木", "高橋", "田中", "渡辺", "伊藤", "中村"]
GIVEN = ["花子", "太郎", "一郎", "陽子", "健", "美咲"]


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


def build(host: Host, count: int) -> None:
    """The two custom fields and ``count`` contacts."""
    with host.transaction() as session:
        unit = harness.system_unit(session)
        fields.create_field(
            unit, entity="contact", label="Plan", field_type="picklist", options=PLANS
        )
        fields.create_field(unit, entity="contact", label="Seats", field_type="number")
    harness.copy_rows(host, "contact", harness.CONTACT_COLUMNS, rows(count))


def measure(host: Host) -> dict[str, float]:
    """Export every contact once as CSV and once as XLSX; seconds, sizes and the rate."""
    figures: dict[str, float] = {}
    with host.sessions() as session:
        unit = harness.bench_unit(session)
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


BENCHMARK = harness.Benchmark(
    name="export",
    noun="contacts",
    scales={"full": 100_000, "small": 5_000},
    built_scale=harness.contacts_marked_by("cf_seats"),
    build=build,
    measure=measure,
)

if __name__ == "__main__":
    raise SystemExit(harness.main(BENCHMARK, __doc__.splitlines()[0]))
