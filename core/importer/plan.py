"""Checks each decoded record against the others and the database, and turns it into rows.

A :class:`Planner` keeps what earlier records (and earlier imports) defined: refs to ids,
emails, ticket numbers, identities. A record that fails any rule raises :class:`RecordError`
before anything of it is added to the batch, so a batch only ever holds whole, valid records.
Rows are plain tuples in the column order of :data:`core.importer.bulk.COLUMNS`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from core.importer.records import (
    AccountRecord,
    AgentRecord,
    ContactRecord,
    DepartmentRecord,
    ProfileRecord,
    TicketRecord,
)
from core.models.tickets import REACTION_THREAD_KINDS, StatusType
from core.services.phones import DEFAULT_REGION, to_e164

_PERMISSION_NAME = re.compile(r"^[a-z0-9_]+(\.[a-z0-9_]+)+$")
_CLOSED = StatusType.CLOSED.value
_AGENT_AUTHORED = frozenset({"outgoing", "comment"})


class RecordError(Exception):
    """One record broke a rule; ``field`` is the path of the offending field."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        self.message = message
        super().__init__(f"{field}: {message}")


@dataclass
class AgentInfo:
    """What tickets need to know about an agent."""

    id: int
    department_ids: frozenset[int]
    is_active: bool


@dataclass
class ContactInfo:
    """What tickets need to know about a contact."""

    id: int
    account_id: int | None
    merged: bool


@dataclass
class Batch:
    """Rows waiting to be written, per table, plus what the import event reports."""

    number: int
    rows: dict[str, list[tuple[Any, ...]]] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)
    ticket_ids: list[int] = field(default_factory=list)
    contact_ids: list[int] = field(default_factory=list)
    department_ids: set[int] = field(default_factory=set)

    def add(self, table: str, row: tuple[Any, ...]) -> None:
        """Queue one row for ``table``."""
        self.rows.setdefault(table, []).append(row)

    def count(self, record_type: str) -> None:
        """Count one imported record of ``record_type``."""
        self.counts[record_type] = self.counts.get(record_type, 0) + 1

    @property
    def tickets(self) -> int:
        """How many tickets this batch holds."""
        return len(self.ticket_ids)

    @property
    def is_empty(self) -> bool:
        """True when nothing was queued."""
        return not self.counts


@dataclass
class Known:
    """What the database holds already, read once under the import's lock."""

    next_ids: dict[str, int]
    departments: dict[str, tuple[int, bool]]
    department_names: set[str]
    profiles: dict[str, int]
    profile_names: dict[str, int]
    agents: dict[str, AgentInfo]
    agent_emails: set[str]
    accounts: dict[str, int]
    contacts: dict[str, ContactInfo]
    tickets: set[str]
    tags: dict[str, int]
    identities: set[tuple[str, str]]
    statuses: dict[str, str]
    channels: frozenset[str]
    next_ticket_number: int
    load_ticket_numbers: Callable[[], set[int]]
    phone_region: str = DEFAULT_REGION


class Planner:
    """Validates records in file order and queues their rows into the current batch."""

    def __init__(self, known: Known, to_db_time: Callable[[datetime], Any], now: datetime) -> None:
        self.known = known
        self._time = to_db_time
        self._now = now
        self._next_ids = dict(known.next_ids)
        self.next_ticket_number = known.next_ticket_number
        self._numbers: set[int] = set()
        self._stored_numbers: set[int] | None = None
        #: refs of records refused earlier in this file, by type: ref -> line
        self.refused: dict[str, dict[str, int]] = {}

    # ------------------------------------------------------------------------------- helpers

    def _new_id(self, table: str) -> int:
        value = self._next_ids[table]
        self._next_ids[table] = value + 1
        return value

    @property
    def last_ids(self) -> dict[str, int]:
        """The highest id allocated per table (for the sequences)."""
        return {table: value - 1 for table, value in self._next_ids.items()}

    def _missing(self, record_type: str, ref: str, field_name: str) -> RecordError:
        line = self.refused.get(record_type, {}).get(ref)
        if line is not None:
            return RecordError(field_name, f"{record_type} {ref!r} was refused (line {line})")
        return RecordError(field_name, f"unknown {record_type} {ref!r}")

    def _unique_ref(self, record_type: str, ref: str, existing: Any) -> None:
        if ref in existing:
            raise RecordError("id", f"{record_type} {ref!r} is already defined")

    def _agent(self, ref: str | None, field_name: str) -> AgentInfo | None:
        if ref is None:
            return None
        agent = self.known.agents.get(ref)
        if agent is None:
            raise self._missing("agent", ref, field_name)
        return agent

    def _account(self, ref: str | None, field_name: str) -> int | None:
        if ref is None:
            return None
        account_id = self.known.accounts.get(ref)
        if account_id is None:
            raise self._missing("account", ref, field_name)
        return account_id

    def refuse(self, record_type: str, ref: str | None, line: int) -> None:
        """Remember a refused record so references to it say why they fail."""
        if ref is not None:
            self.refused.setdefault(record_type, {}).setdefault(ref, line)

    # ------------------------------------------------------------------------------- records

    def department(self, record: DepartmentRecord, batch: Batch) -> None:
        """Check and queue a department."""
        known = self.known
        self._unique_ref("department", record.id, known.departments)
        name = record.name.strip()
        if not name:
            raise RecordError("name", "must not be blank")
        if name in known.department_names:
            raise RecordError("name", f"a department called {name!r} exists already")
        department_id = self._new_id("department")
        batch.add(
            "department",
            (
                department_id,
                name,
                record.description,
                record.is_active,
                record.id,
                self._time(record.created_at or self._now),
            ),
        )
        known.departments[record.id] = (department_id, record.is_active)
        known.department_names.add(name)
        batch.count("department")

    def profile(self, record: ProfileRecord, batch: Batch) -> None:
        """Check and queue a profile; one named like an existing profile is matched to it."""
        known = self.known
        self._unique_ref("profile", record.id, known.profiles)
        existing = known.profile_names.get(record.name)
        if existing is not None:
            known.profiles[record.id] = existing
            batch.count("profile")
            return
        for index, name in enumerate(record.permissions):
            if not _PERMISSION_NAME.match(name):
                raise RecordError(f"permissions[{index}]", f"not a permission name: {name!r}")
        profile_id = self._new_id("permission_profile")
        batch.add(
            "permission_profile",
            (profile_id, record.name, record.description, record.is_admin, record.id),
        )
        for name in sorted(set(record.permissions)):
            batch.add("profile_permission", (profile_id, name))
        known.profiles[record.id] = profile_id
        known.profile_names[record.name] = profile_id
        batch.count("profile")

    def agent(self, record: AgentRecord, batch: Batch) -> None:
        """Check and queue an agent with their departments."""
        known = self.known
        self._unique_ref("agent", record.id, known.agents)
        email = record.email.strip().lower()
        if email in known.agent_emails:
            raise RecordError("email", f"an agent with email {email!r} exists already")
        profile_id = known.profiles.get(record.profile)
        if profile_id is None:
            raise self._missing("profile", record.profile, "profile")
        department_ids: list[int] = []
        for index, ref in enumerate(record.departments):
            department = known.departments.get(ref)
            if department is None:
                raise self._missing("department", ref, f"departments[{index}]")
            department_ids.append(department[0])
        agent_id = self._new_id("agent")
        batch.add(
            "agent",
            (
                agent_id,
                email,
                record.name,
                record.password_hash,
                profile_id,
                record.locale,
                record.status,
                record.is_active,
                record.id,
                self._time(record.created_at or self._now),
            ),
        )
        for department_id in sorted(set(department_ids)):
            batch.add("agent_department", (agent_id, department_id))
        known.agents[record.id] = AgentInfo(agent_id, frozenset(department_ids), record.is_active)
        known.agent_emails.add(email)
        batch.count("agent")

    def account(self, record: AccountRecord, batch: Batch) -> None:
        """Check and queue an account."""
        known = self.known
        self._unique_ref("account", record.id, known.accounts)
        owner = self._agent(record.owner, "owner")
        created = record.created_at or self._now
        updated = record.updated_at or created
        if updated < created:
            raise RecordError("updated_at", "is before created_at")
        account_id = self._new_id("account")
        batch.add(
            "account",
            (
                account_id,
                record.name,
                record.website,
                record.phone,
                to_e164(record.phone, known.phone_region),
                record.industry,
                record.description,
                owner.id if owner else None,
                record.id,
                self._time(created),
                self._time(updated),
            ),
        )
        known.accounts[record.id] = account_id
        batch.count("account")

    def contact(self, record: ContactRecord, batch: Batch) -> None:
        """Check and queue a contact with their tags and channel identities."""
        known = self.known
        self._unique_ref("contact", record.id, known.contacts)
        account_id = self._account(record.account, "account")
        owner = self._agent(record.owner, "owner")
        created = record.created_at or self._now
        updated = record.updated_at or created
        if updated < created:
            raise RecordError("updated_at", "is before created_at")
        keys: list[tuple[str, str]] = []
        for index, identity in enumerate(record.identities):
            key = (identity.channel, identity.external_id)
            if key in known.identities or key in keys:
                raise RecordError(
                    f"identities[{index}].external_id",
                    f"{identity.channel} identity {identity.external_id!r} belongs to another "
                    "contact",
                )
            keys.append(key)
        contact_id = self._new_id("contact")
        batch.add(
            "contact",
            (
                contact_id,
                record.first_name,
                record.last_name,
                record.email,
                record.secondary_email,
                record.phone,
                record.mobile,
                to_e164(record.phone, known.phone_region),
                to_e164(record.mobile, known.phone_region),
                record.title,
                record.description,
                account_id,
                owner.id if owner else None,
                record.is_spam,
                record.id,
                self._time(created),
                self._time(updated),
            ),
        )
        for identity in record.identities:
            batch.add(
                "contact_identity",
                (contact_id, identity.channel, identity.external_id, identity.display_name),
            )
        known.identities.update(keys)
        for name in sorted({tag.strip() for tag in record.tags if tag.strip()}):
            tag_id = known.tags.get(name)
            if tag_id is None:
                tag_id = known.tags[name] = self._new_id("tag")
                batch.add("tag", (tag_id, name))
            batch.add("contact_tag", (contact_id, tag_id))
        known.contacts[record.id] = ContactInfo(contact_id, account_id, merged=False)
        batch.contact_ids.append(contact_id)
        batch.count("contact")

    def ticket(self, record: TicketRecord, batch: Batch) -> None:
        """Check and queue a ticket with its whole history (rules of ``core.services.tickets``)."""
        known = self.known
        if record.id in known.tickets:
            raise RecordError("id", f"ticket {record.id!r} is already defined")
        subject = record.subject.strip()
        if not subject:
            raise RecordError("subject", "must not be blank")
        department = known.departments.get(record.department)
        if department is None:
            raise self._missing("department", record.department, "department")
        department_id, department_active = department
        if not department_active:
            raise RecordError("department", f"department {record.department!r} is inactive")
        if record.channel not in known.channels:
            raise RecordError("channel", f"unknown channel {record.channel!r}")
        contact: ContactInfo | None = None
        if record.contact is not None:
            contact = known.contacts.get(record.contact)
            if contact is None:
                raise self._missing("contact", record.contact, "contact")
            if contact.merged:
                raise RecordError("contact", "this contact was merged into another")
        account_id = self._account(record.account, "account")
        if account_id is None and contact is not None:
            account_id = contact.account_id
        assignee = self._agent(record.assignee, "assignee")
        if assignee is not None:
            if not assignee.is_active:
                raise RecordError("assignee", "this agent is inactive")
            if department_id not in assignee.department_ids:
                raise RecordError("assignee", "this agent is not in the ticket's department")
        created = record.created_at
        last_activity = created
        # The ticket's id is taken (below) only once the whole record passed; its history rows
        # carry it from the start so they need no second pass to add it.
        ticket_id = self._next_ids["ticket"]

        # Status history: the first entry is the status at creation (at created_at); without
        # a history the ticket was created in ``status`` and never changed.
        statuses = known.statuses
        history = record.status_history
        if history:
            if history[0].changed_at != created:
                raise RecordError(
                    "status_history[0].changed_at",
                    "the first entry is the status at creation: give created_at",
                )
            if record.status is not None and record.status != history[-1].to_status:
                raise RecordError("status", "differs from the last entry of status_history")
        elif record.status is None:
            raise RecordError("status", "give the status (or a status_history)")
        change_rows: list[tuple[Any, ...]] = []
        status: str | None = None
        status_type: str | None = None
        closed_at: datetime | None = None
        previous_at = created
        entries = history or ()
        for index, entry in enumerate(entries):
            to_type = statuses.get(entry.to_status)
            if to_type is None:
                raise RecordError(
                    f"status_history[{index}].to_status", f"unknown status {entry.to_status!r}"
                )
            if entry.changed_at < previous_at:
                raise RecordError(
                    f"status_history[{index}].changed_at", "is before the previous entry"
                )
            if entry.to_status == status:
                raise RecordError(
                    f"status_history[{index}].to_status", "does not change the status"
                )
            agent = self._agent(entry.agent, f"status_history[{index}].agent")
            # Same rule as change_status: a close is a change of type into closed, a reopen
            # the change back out; closed -> closed keeps the time of the close.
            if to_type == _CLOSED and status_type != _CLOSED:
                closed_at = entry.changed_at
            elif to_type != _CLOSED:
                closed_at = None
            change_rows.append(
                (
                    ticket_id,
                    status,
                    status_type,
                    entry.to_status,
                    to_type,
                    agent.id if agent else None,
                    self._time(entry.changed_at),
                )
            )
            status, status_type, previous_at = entry.to_status, to_type, entry.changed_at
        if not history:
            status = record.status
            status_type = statuses.get(status) if status is not None else None
            if status is None or status_type is None:
                raise RecordError("status", f"unknown status {record.status!r}")
            closed_at = created if status_type == _CLOSED else None
            change_rows.append(
                (ticket_id, None, None, status, status_type, None, self._time(created))
            )
        last_activity = max(last_activity, previous_at)

        thread_rows: list[tuple[Any, ...]] = []
        contact_id = contact.id if contact else None
        last_reaction: datetime | None = None
        for index, thread in enumerate(record.threads):
            path = f"threads[{index}]"
            if thread.created_at < created:
                raise RecordError(f"{path}.created_at", "is before the ticket's created_at")
            body = thread.body.strip()
            if not body:
                raise RecordError(f"{path}.body", "must not be blank")
            channel = thread.channel or record.channel
            if channel not in known.channels:
                raise RecordError(f"{path}.channel", f"unknown channel {channel!r}")
            author = self._agent(thread.agent, f"{path}.agent")
            author_contact_id: int | None = None
            if thread.contact is not None:
                author_contact = known.contacts.get(thread.contact)
                if author_contact is None:
                    raise self._missing("contact", thread.contact, f"{path}.contact")
                author_contact_id = author_contact.id
            if author is not None and author_contact_id is not None:
                raise RecordError(path, "give agent or contact as the author, not both")
            if thread.kind in _AGENT_AUTHORED and author is None:
                raise RecordError(f"{path}.agent", f"an {thread.kind} thread needs its agent")
            if thread.kind == "incoming" and author is None and author_contact_id is None:
                author_contact_id = contact_id
            thread_rows.append(
                (
                    ticket_id,
                    thread.kind,
                    channel,
                    author.id if author else None,
                    author_contact_id,
                    body,
                    self._time(thread.created_at),
                )
            )
            if thread.created_at > last_activity:
                last_activity = thread.created_at
            if thread.kind in REACTION_THREAD_KINDS and author is not None:
                last_reaction = max(last_reaction or thread.created_at, thread.created_at)

        rating_rows: list[tuple[Any, ...]] = []
        for index, rating in enumerate(record.ratings):
            if rating.created_at < created:
                raise RecordError(
                    f"ratings[{index}].created_at", "is before the ticket's created_at"
                )
            rated = self._agent(rating.agent, f"ratings[{index}].agent") or assignee
            last_reaction = max(last_reaction or rating.created_at, rating.created_at)
            rating_rows.append(
                (
                    ticket_id,
                    contact_id,
                    rated.id if rated else None,
                    rating.rating,
                    rating.feedback.strip(),
                    self._time(rating.created_at),
                )
            )

        time_rows: list[tuple[Any, ...]] = []
        for index, entry in enumerate(record.time_entries):
            if entry.billed and not entry.billable:
                raise RecordError(f"time_entries[{index}].billed", "only billable time is billed")
            if entry.logged_at < created:
                raise RecordError(
                    f"time_entries[{index}].logged_at", "is before the ticket's created_at"
                )
            agent = self._agent(entry.agent, f"time_entries[{index}].agent")
            time_rows.append(
                (
                    ticket_id,
                    agent.id if agent else None,
                    entry.seconds,
                    entry.billable,
                    entry.billed,
                    entry.description.strip(),
                    self._time(entry.logged_at),
                )
            )

        updated = record.updated_at or last_activity
        if updated < created:
            raise RecordError("updated_at", "is before created_at")
        number = self._number(record.number)

        # Everything checked: take the id and queue the rows.
        self._next_ids["ticket"] = ticket_id + 1
        batch.add(
            "ticket",
            (
                ticket_id,
                number,
                subject,
                record.description,
                status,
                status_type,
                record.priority,
                record.channel,
                record.classification,
                department_id,
                contact_id,
                account_id,
                assignee.id if assignee else None,
                record.raised_by,
                self._time(record.due_at) if record.due_at else None,
                self._time(created),
                self._time(updated),
                self._time(closed_at) if closed_at else None,
                record.id,
                self._time(last_reaction) if last_reaction else None,
            ),
        )
        rows = batch.rows
        rows.setdefault("ticket_status_change", []).extend(change_rows)
        if thread_rows:
            rows.setdefault("thread", []).extend(thread_rows)
        if rating_rows:
            rows.setdefault("happiness_rating", []).extend(rating_rows)
        if time_rows:
            rows.setdefault("time_entry", []).extend(time_rows)
        known.tickets.add(record.id)
        batch.ticket_ids.append(ticket_id)
        batch.department_ids.add(department_id)
        counts = batch.counts
        counts["ticket"] = counts.get("ticket", 0) + 1
        counts["thread"] = counts.get("thread", 0) + len(thread_rows)
        counts["status_change"] = counts.get("status_change", 0) + len(change_rows)
        counts["rating"] = counts.get("rating", 0) + len(rating_rows)
        counts["time_entry"] = counts.get("time_entry", 0) + len(time_rows)

    def _number(self, given: int | None) -> int:
        # Invariant: every number in use is below ``next_ticket_number`` (the organisation's
        # counter, advanced past each given number), so an allocated number is always free.
        if given is None:
            number = self.next_ticket_number
            self.next_ticket_number += 1
            self._numbers.add(number)
            return number
        taken = given in self._numbers
        if not taken and given < self.known.next_ticket_number:
            if self._stored_numbers is None:
                self._stored_numbers = self.known.load_ticket_numbers()
            taken = given in self._stored_numbers
        if taken:
            raise RecordError("number", f"ticket number {given} is taken")
        self._numbers.add(given)
        self.next_ticket_number = max(self.next_ticket_number, given + 1)
        return given
