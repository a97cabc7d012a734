"""The demo dataset: deterministic, realistic, and loadable through the history import."""

from __future__ import annotations

from datetime import UTC, datetime

import msgspec
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.demo import ADMIN_EMAIL, generate, load_demo
from core.host import Host
from core.models import Agent, Ticket

NOW = datetime(2026, 1, 15, tzinfo=UTC)


def test_same_seed_gives_the_same_bytes() -> None:
    assert b"".join(generate(300, seed=3, now=NOW)) == b"".join(generate(300, seed=3, now=NOW))


def test_another_seed_gives_another_dataset() -> None:
    assert b"".join(generate(300, seed=3, now=NOW)) != b"".join(generate(300, seed=4, now=NOW))


def test_customers_scale_with_tickets() -> None:
    kinds = [msgspec.json.decode(line)["type"] for line in generate(2_000, now=NOW)]
    assert (kinds.count("ticket"), kinds.count("contact"), kinds.count("account")) == (
        2_000,
        200,
        30,
    )


def test_threads_average_about_five_per_ticket() -> None:
    tickets = [
        r for r in map(msgspec.json.decode, generate(1_000, now=NOW)) if r["type"] == "ticket"
    ]
    average = sum(len(t["threads"]) for t in tickets) / len(tickets)
    assert 4.0 <= average <= 6.0


def test_demo_loads_with_admin_and_history(host: Host, db: Session) -> None:
    report = load_demo(host, tickets=200, seed=7)
    assert report.skipped == []
    assert report.counts["ticket"] == 200
    assert db.scalar(select(func.count()).select_from(Ticket)) == 200
    admin = db.scalars(select(Agent).where(Agent.email == ADMIN_EMAIL)).one()
    assert admin.is_admin
    assert len(admin.departments) == 4
