"""Benchmark: the first page of a two-condition view over 1,000,000 contacts, on both backends.

Builds the contacts once per backend and scale and reuses them on later runs (see
``bench/harness.py``: ``--fresh``, ``--drop``, ``--only``). Contacts carry a picklist custom
field "Tier" (ten choices) and one of ten titles, so the view "Tier is Gold and title is
Manager" selects about 1 % of them, newest first.

The first page of 50 is read through ``core.services.views.run_view`` (the call the list page
and the API make) without the count, then counted (informative). Prints ``key=value`` lines:
``<backend>.view_first_page_p50_ms``, ``<backend>.view_count_p50_ms``, ``<backend>.rows``…

    python bench/views.py                 # 1,000,000 contacts
    python bench/views.py --scale small   # 20,000 contacts
"""

from __future__ import annotations

import json
import random
import statistics
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import harness
from sqlalchemy import select

from core.host import Host
from core.models import CustomView
from core.services import fields, views

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


def build(host: Host, count: int) -> None:
    """The Tier field and ``count`` contacts."""
    with host.transaction() as session:
        fields.create_field(
            harness.system_unit(session),
            entity="contact",
            label="Tier",
            field_type="picklist",
            options=TIERS,
        )
    harness.copy_rows(host, "contact", harness.CONTACT_COLUMNS, rows(count))


def measure(host: Host) -> dict[str, float]:
    """Time the view's first page (no count) and its count through the view service."""
    with host.sessions() as session:
        unit = harness.bench_unit(session)
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


BENCHMARK = harness.Benchmark(
    name="views",
    noun="contacts",
    scales={"full": 1_000_000, "small": 20_000},
    built_scale=harness.contacts_marked_by("cf_tier"),
    build=build,
    measure=measure,
)

if __name__ == "__main__":
    raise SystemExit(harness.main(BENCHMARK, __doc__.splitlines()[0]))
