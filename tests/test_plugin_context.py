"""The context an extension receives: scopes, visibility, storage, secrets, jobs and writes."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from core.host import Host
from core.models import AuditEntry, Department, InstallationStorage, OutboxEvent, Ticket
from hostapi import Context, JobSpec, ScopeError, TicketQuery, hookimpl, scopes
from hostapi.testing import InstalledExtension
from tests.factories import ticket_in
from tests.plugin_fixtures import manifest


@pytest.fixture
def deskhost_host(host: Host) -> Host:
    """Run hostapi.testing's fixtures on this run's host (both backends)."""
    return host


class Worker:
    """A plugin with one job."""

    @hookimpl
    def deskhost_jobs(self) -> list[JobSpec]:
        return [JobSpec(name="sync", run=lambda context, payload: None)]


def _manifest(**fields: Any) -> Mapping[str, Any]:
    scopes_requested = fields.pop(
        "scopes", [scopes.TICKETS_READ, scopes.TICKETS_WRITE, scopes.CONTACTS_READ]
    )
    return manifest("worker", scopes=scopes_requested, **fields)


@pytest.fixture
def context(deskhost_installation: Callable[..., InstalledExtension]) -> Context:
    """A context for the ``worker`` plugin installed on Support."""
    return deskhost_installation(Worker(), departments=["Support"], manifest=_manifest()).context()


def test_secret_is_stored_encrypted_and_read_back(context: Context, db: Session) -> None:
    context.secret_set("token", "channel-token-1a2b")
    context.db.commit()

    row = db.scalars(select(InstallationStorage).where(InstallationStorage.is_secret)).one()
    assert "channel-token" not in str(row.value)
    assert context.secret_get("token") == "channel-token-1a2b"


def test_secret_hint_shows_only_the_last_four_characters(context: Context) -> None:
    context.secret_set("token", "channel-token-1a2b")
    assert context.secret_hint("token") == "••••1a2b"


def test_secret_delete_removes_that_secret_only(context: Context) -> None:
    context.secret_set("token", "channel-token-1a2b")
    context.secret_set("other", "other-token-9z9z")

    context.secret_delete("token")
    context.secret_delete("never-set")

    assert (context.secret_get("token"), context.secret_get("other")) == (None, "other-token-9z9z")


def test_storage_round_trips_and_deletes(context: Context) -> None:
    context.storage_set("cursor", {"page": 2})
    assert context.storage_get("cursor") == {"page": 2}
    context.storage_delete("cursor")
    assert context.storage_get("cursor", "none") == "none"


def test_enqueue_writes_a_job_row_to_the_outbox_with_its_delay(
    context: Context, db: Session
) -> None:
    job_id = context.enqueue("sync", {"full": True}, delay=timedelta(minutes=5))
    context.db.commit()

    row = db.scalars(select(OutboxEvent).where(OutboxEvent.id == job_id)).one()
    assert (row.kind, row.name, row.payload, row.installation_id) == (
        "job",
        "sync",
        {"full": True},
        context.installation_id,
    )
    assert row.available_at - row.occurred_at == timedelta(minutes=5)


def test_enqueue_of_an_unknown_job_is_refused(context: Context) -> None:
    with pytest.raises(ValueError, match="no job named 'nope'"):
        context.enqueue("nope")


def test_missing_scope_raises_scope_error(
    deskhost_installation: Callable[..., InstalledExtension],
) -> None:
    installation = deskhost_installation(Worker(), manifest=_manifest(scopes=[scopes.TICKETS_READ]))
    context = installation.context()
    with pytest.raises(ScopeError):
        context.get_contact(1)


def test_ticket_outside_the_installation_departments_is_absent(
    context: Context, db: Session
) -> None:
    inside = ticket_in(db, "Support", "inside")
    outside = ticket_in(db, "Sales", "outside")

    assert context.get_ticket(inside.id) is not None
    assert context.get_ticket(outside.id) is None
    assert [t.subject for t in context.list_tickets(TicketQuery())] == ["inside"]


def test_create_ticket_goes_through_the_service_as_the_extension(
    context: Context, db: Session
) -> None:
    (support_id,) = context.department_ids
    record = context.create_ticket(
        subject="From chat", department_id=support_id, contact_id=None, channel="chat"
    )
    context.db.commit()

    assert db.get(Ticket, record.id).subject == "From chat"
    labels = set(db.scalars(select(AuditEntry.actor_label)))
    assert "extension:worker" in labels


@pytest.mark.parametrize(
    ("given", "family", "order", "locale", "shown"),
    [
        ("花子", "山田", "auto", "en", "山田 花子"),
        ("花子", "山田", "auto", "ja", "山田 花子"),
        ("Hanako", "Yamada", "auto", "en", "Hanako Yamada"),
        ("Hanako", "Yamada", "auto", "ja", "Yamada Hanako"),
        ("Hanako", "Yamada", "given_first", "ja", "Hanako Yamada"),
    ],
)
def test_a_contact_carries_its_name_as_the_context_s_reader_sees_it(
    deskhost_installation: Callable[..., InstalledExtension],
    make_agent: Callable[..., Any],
    make_contact: Callable[..., Any],
    db: Session,
    given: str,
    family: str,
    order: str,
    locale: str,
    shown: str,
) -> None:
    installed = deskhost_installation(Worker(), departments=["Support"], manifest=_manifest())
    support = db.scalar(select(Department).where(Department.name == "Support"))
    reader = make_agent("reader@example.com", departments=[support], locale=locale)
    contact = make_contact(family, first_name=given)
    contact.name_order = order
    db.commit()
    record = installed.context(reader.id).get_contact(contact.id)
    assert record is not None
    assert (record.display_name, record.name_order) == (shown, order)
    assert record.name == f"{given} {family}"  # 1.0's given-first name is unchanged


def test_list_agents_names_the_active_agents_of_the_contexts_departments(
    deskhost_installation: Callable[..., InstalledExtension],
    db: Session,
    make_agent: Callable[..., Any],
    make_department: Callable[..., Department],
) -> None:
    installation = deskhost_installation(
        Worker(),
        departments=["Support", "Billing"],
        manifest=_manifest(scopes=[scopes.AGENTS_READ]),
    )
    context = installation.context()
    support, billing = (
        db.scalars(select(Department).where(Department.name == name)).one()
        for name in ("Support", "Billing")
    )
    sales = make_department("Sales")
    both = make_agent("both@example.com", name="Aoi", departments=[support, sales], locale="ja")
    billing_only = make_agent("billing@example.com", name="Ren", departments=[billing])
    make_agent("sales@example.com", name="Sora", departments=[sales])
    make_agent("gone@example.com", name="Gone", departments=[support]).is_active = False
    db.commit()

    agents = context.list_agents()

    assert [(a.id, a.name, a.email, a.locale) for a in agents] == [
        (both.id, "Aoi", "both@example.com", "ja"),
        (billing_only.id, "Ren", "billing@example.com", None),
    ]
    # An agent's departments are all of theirs, not only the context's.
    assert agents[0].department_ids == tuple(sorted((support.id, sales.id)))
    assert [a.id for a in context.list_agents(department_id=billing.id)] == [billing_only.id]
