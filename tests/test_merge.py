"""Merging duplicate contacts and accounts: chosen values, what moves, atomicity, events."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from core.errors import Forbidden, ValidationFailed
from core.host import Host
from core.models import (
    Account,
    Activity,
    Agent,
    AuditEntry,
    Contact,
    CustomerComment,
    Follow,
    HappinessRating,
    Notification,
    OutboxEvent,
    Product,
    SpamMessage,
    Thread,
    Ticket,
    TimeEntry,
)
from core.services import activities, customers, fields, merge, tickets
from core.services.base import Actor, Unit
from hostapi import clock, events
from tests.pg_locks import wait_until_a_backend_waits_on_a_lock

UnitFor = Callable[[Agent | None], Unit]


@pytest.fixture
def unit(unit_for: UnitFor) -> Unit:
    return unit_for(None)


@pytest.fixture
def pair(unit: Unit) -> tuple[Contact, Contact]:
    """Two duplicate contacts: the survivor lacks a phone, the other has one."""
    survivor = customers.create_contact(
        unit, last_name="Yamada", first_name="Hanako", email="hanako@example.com", title="Buyer"
    )
    other = customers.create_contact(
        unit,
        last_name="Yamada",
        first_name="Hana",
        email="hanako@example.com",
        phone="03-1234-5678",
        title="Head of purchasing",
        tags=["vip"],
    )
    return survivor, other


def test_default_keeps_the_survivors_values_and_fills_its_blanks(
    unit: Unit, pair: tuple[Contact, Contact]
) -> None:
    survivor, other = pair
    merge.merge_contacts(unit, survivor, [other])
    assert (survivor.first_name, survivor.title) == ("Hanako", "Buyer")
    assert (survivor.phone, survivor.phone_e164) == ("03-1234-5678", "+81312345678")


def test_a_chosen_value_comes_from_the_chosen_record(
    unit: Unit, pair: tuple[Contact, Contact]
) -> None:
    survivor, other = pair
    merge.merge_contacts(unit, survivor, [other], {"title": other.id, "first_name": other.id})
    assert (survivor.first_name, survivor.title) == ("Hana", "Head of purchasing")


def test_an_empty_chosen_value_clears_the_field(unit: Unit, pair: tuple[Contact, Contact]) -> None:
    survivor, other = pair
    other.title = ""
    merge.merge_contacts(unit, survivor, [other], {"title": other.id})
    assert survivor.title == ""


def test_a_chosen_value_is_validated(unit: Unit, pair: tuple[Contact, Contact]) -> None:
    survivor, other = pair
    other.last_name = ""  # a bad value stored before validation existed
    with pytest.raises(ValidationFailed) as failure:
        merge.merge_contacts(unit, survivor, [other], {"last_name": other.id})
    assert list(failure.value.errors) == ["last_name"]


def test_unknown_fields_and_sources_are_refused_by_name(
    unit: Unit, pair: tuple[Contact, Contact]
) -> None:
    survivor, other = pair
    with pytest.raises(ValidationFailed) as failure:
        merge.merge_contacts(unit, survivor, [other], {"shoe_size": other.id, "title": 99999})
    assert failure.value.errors == {
        "choices.shoe_size": ["Unknown field."],
        "choices.title": ["Choose one of the records being merged."],
    }
    assert other.merged_into_id is None


def test_custom_field_values_are_chosen_like_built_in_ones(
    unit: Unit, pair: tuple[Contact, Contact]
) -> None:
    fields.create_field(unit, entity="contact", label="Plan", field_type="text")
    fields.create_field(unit, entity="contact", label="Seats", field_type="number")
    survivor, other = pair
    survivor.custom_fields = {"cf_plan": "Basic"}
    other.custom_fields = {"cf_plan": "Premium", "cf_seats": 20}
    merge.merge_contacts(unit, survivor, [other], {"cf_plan": other.id})
    assert survivor.custom_fields == {"cf_plan": "Premium", "cf_seats": 20}


def test_tags_are_united(unit: Unit, pair: tuple[Contact, Contact]) -> None:
    survivor, other = pair
    customers.set_tags(unit, survivor, ["tokyo"])
    merge.merge_contacts(unit, survivor, [other])
    assert sorted(t.name for t in survivor.tags) == ["tokyo", "vip"]


def test_tickets_and_what_hangs_off_them_move_to_the_survivor(
    db: Session,
    unit: Unit,
    pair: tuple[Contact, Contact],
    make_ticket: Callable[..., Ticket],
) -> None:
    survivor, other = pair
    ticket = make_ticket(contact=other)
    thread = tickets.add_thread(unit, ticket, kind="incoming", body="Help")
    rating = tickets.add_rating(unit, ticket, "good")
    entry = tickets.add_time_entry(unit, ticket, seconds=60, billable=False)
    merge.merge_contacts(unit, survivor, [other])
    db.commit()
    assert db.get(Ticket, ticket.id).contact_id == survivor.id
    assert db.get(Thread, thread.id).author_contact_id == survivor.id
    assert db.get(HappinessRating, rating.id).contact_id == survivor.id
    assert db.get(TimeEntry, entry.id).ticket_id == ticket.id


def test_the_customers_own_records_move_to_the_survivor(
    db: Session, unit: Unit, pair: tuple[Contact, Contact], admin_agent: Agent
) -> None:
    survivor, other = pair
    now = clock.now()
    activity = activities.create_activity(unit, kind="call", subject="Call", contact_id=other.id)
    comment = CustomerComment(
        contact_id=other.id, body="Met at the fair", created_at=now, updated_at=now
    )
    spam = SpamMessage(
        channel="email", sender="x@example.com", reason="rule", contact_id=other.id, received_at=now
    )
    db.add_all([comment, spam])
    db.flush()
    notice = Notification(
        agent_id=admin_agent.id,
        kind="comment",
        contact_id=other.id,
        comment_id=comment.id,
        summary="New comment",
        created_at=now,
    )
    db.add(notice)
    customers.add_identity(unit, other, channel="line", external_id="U1")
    merge.merge_contacts(unit, survivor, [other])
    db.commit()
    assert db.get(Activity, activity.id).contact_id == survivor.id
    assert db.get(CustomerComment, comment.id).contact_id == survivor.id
    assert db.get(SpamMessage, spam.id).contact_id == survivor.id
    assert db.get(Notification, notice.id).contact_id == survivor.id
    assert customers.find_contact_by_identity(unit, "line", "U1").id == survivor.id


def test_products_and_follows_move_once_each(
    db: Session,
    unit: Unit,
    pair: tuple[Contact, Contact],
    make_agent: Callable[..., Agent],
) -> None:
    survivor, other = pair
    router, modem = (customers.create_product(unit, name=n) for n in ("Router", "Modem"))
    customers.link_product(unit, router, contact=survivor)
    customers.link_product(unit, router, contact=other)
    customers.link_product(unit, modem, contact=other)
    both, only_other = make_agent("a@example.com"), make_agent("b@example.com")
    for agent, contact in ((both, survivor), (both, other), (only_other, other)):
        db.add(Follow(agent_id=agent.id, contact_id=contact.id, created_at=clock.now()))
    db.flush()
    merge.merge_contacts(unit, survivor, [other])
    db.commit()
    linked = customers.list_products(unit, contact_id=survivor.id)
    assert sorted(p.name for p in linked) == ["Modem", "Router"]
    followers = db.scalars(select(Follow.agent_id).where(Follow.contact_id == survivor.id))
    assert sorted(followers) == sorted([both.id, only_other.id])
    assert db.scalars(select(Follow).where(Follow.contact_id == other.id)).all() == []
    assert db.scalar(select(Product.id).where(Product.name == "Modem")) == modem.id


def test_merged_contacts_are_kept_marked_and_left_out_of_lists(
    db: Session, unit: Unit, pair: tuple[Contact, Contact]
) -> None:
    survivor, other = pair
    merge.merge_contacts(unit, survivor, [other])
    db.commit()
    assert db.get(Contact, other.id).merged_into_id == survivor.id
    assert [c.id for c in customers.list_contacts(unit)] == [survivor.id]


def test_a_merged_contact_cannot_be_merged_again(unit: Unit, pair: tuple[Contact, Contact]) -> None:
    survivor, other = pair
    merge.merge_contacts(unit, survivor, [other])
    third = customers.create_contact(unit, last_name="Yamada")
    with pytest.raises(ValidationFailed) as into_merged:
        merge.merge_contacts(unit, other, [third])
    with pytest.raises(ValidationFailed) as merging_merged:
        merge.merge_contacts(unit, third, [other])
    assert list(into_merged.value.errors) == ["survivor_id"]
    assert list(merging_merged.value.errors) == ["merged_ids"]


def test_earlier_merges_point_at_the_new_survivor(
    db: Session, unit: Unit, pair: tuple[Contact, Contact]
) -> None:
    survivor, other = pair
    older = customers.create_contact(unit, last_name="Yamada")
    merge.merge_contacts(unit, other, [older])
    merge.merge_contacts(unit, survivor, [other])
    db.commit()
    assert db.get(Contact, older.id).merged_into_id == survivor.id


def test_merging_a_contact_into_itself_alone_is_refused(
    unit: Unit, pair: tuple[Contact, Contact]
) -> None:
    survivor, _other = pair
    with pytest.raises(ValidationFailed) as failure:
        merge.merge_contacts(unit, survivor, [survivor])
    assert list(failure.value.errors) == ["merged_ids"]


def test_merge_is_audited_with_the_choices_and_what_moved(
    db: Session, unit: Unit, pair: tuple[Contact, Contact], make_ticket: Callable[..., Ticket]
) -> None:
    survivor, other = pair
    ticket = make_ticket(contact=other)
    merge.merge_contacts(unit, survivor, [other], {"title": other.id})
    entry = db.scalars(
        select(AuditEntry).where(
            AuditEntry.sub_action == "merge", AuditEntry.entity_type == "contact"
        )
    ).one()
    assert entry.entity_id == str(survivor.id)
    assert entry.after["merged_contact_ids"] == [other.id]
    assert entry.after["ticket_ids"] == [ticket.id]
    assert entry.after["choices"]["title"] == other.id
    assert entry.after["choices"]["first_name"] == survivor.id
    assert entry.after["moved"]["tickets"] == 1


def test_merge_emits_the_merged_event_with_its_documented_payload(
    db: Session, unit: Unit, pair: tuple[Contact, Contact], make_ticket: Callable[..., Ticket]
) -> None:
    survivor, other = pair
    ticket = make_ticket(contact=other)
    merge.merge_contacts(unit, survivor, [other])
    row = db.scalars(select(OutboxEvent).where(OutboxEvent.name == events.CONTACT_MERGED)).one()
    assert row.payload == {
        "contact_id": survivor.id,
        "merged_contact_ids": [other.id],
        "ticket_ids": [ticket.id],
    }


def test_merge_needs_the_merge_permission(
    make_agent: Callable[..., Agent], unit_for: UnitFor, pair: tuple[Contact, Contact]
) -> None:
    survivor, other = pair
    with pytest.raises(Forbidden):
        merge.merge_contacts(unit_for(make_agent()), survivor, [other])


# ------------------------------------------------------------------------------- atomicity


@pytest.fixture
def failing_follows(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Make the merge fail late: after values, tickets and products have been written."""

    def explode(*_args: object) -> int:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(merge, "_move_follows", explode)
    yield


def test_a_failing_merge_leaves_nothing_half_merged(
    host: Host, db: Session, make_ticket: Callable[..., Ticket], failing_follows: None
) -> None:
    with host.transaction() as session:
        unit = Unit(session, Actor.system("test"), host)
        survivor = customers.create_contact(unit, last_name="Keep")
        other = customers.create_contact(unit, last_name="Dup", phone="03-1234-5678")
        survivor_id, other_id = survivor.id, other.id
    ticket = make_ticket(contact=db.get(Contact, other_id))

    with pytest.raises(RuntimeError), host.transaction() as session:
        unit = Unit(session, Actor.system("test"), host)
        merge.merge_contacts(
            unit, session.get(Contact, survivor_id), [session.get(Contact, other_id)]
        )

    db.expire_all()
    assert db.get(Ticket, ticket.id).contact_id == other_id
    assert db.get(Contact, other_id).merged_into_id is None
    assert db.get(Contact, survivor_id).phone == ""
    assert db.scalars(select(AuditEntry).where(AuditEntry.sub_action == "merge")).all() == []
    assert (
        db.scalars(select(OutboxEvent).where(OutboxEvent.name == events.CONTACT_MERGED)).all() == []
    )


# --------------------------------------------------------------------------------- review


def test_the_review_shows_each_field_per_record_with_its_default(
    unit: Unit, pair: tuple[Contact, Contact], make_ticket: Callable[..., Ticket]
) -> None:
    survivor, other = pair
    make_ticket(contact=other)
    plan = merge.plan_merge(unit, [other, survivor], survivor_id=survivor.id)
    rows = {row.key: row for row in plan.fields}
    assert [r.id for r in plan.records] == [survivor.id, other.id]
    assert rows["title"].shown == {survivor.id: "Buyer", other.id: "Head of purchasing"}
    assert rows["title"].default_source == survivor.id
    assert rows["phone"].default_source == other.id
    assert rows["title"].differs and not rows["email"].differs
    assert plan.moves[other.id]["tickets"] == 1
    assert plan.moves[survivor.id] == {}


def test_the_review_of_an_unknown_survivor_is_refused(
    unit: Unit, pair: tuple[Contact, Contact]
) -> None:
    with pytest.raises(ValidationFailed) as failure:
        merge.plan_merge(unit, list(pair), survivor_id=424242)
    assert list(failure.value.errors) == ["survivor_id"]


# -------------------------------------------------------------------------------- accounts


def test_accounts_merge_with_their_contacts_tickets_and_products(
    db: Session, unit: Unit, make_ticket: Callable[..., Ticket]
) -> None:
    survivor = customers.create_account(unit, name="Acme")
    other = customers.create_account(unit, name="株式会社アクメ", website="https://acme.co.jp")
    member = customers.create_contact(unit, last_name="Sato", account_id=other.id)
    ticket = make_ticket(account_id=other.id)
    product = customers.create_product(unit, name="Router")
    customers.link_product(unit, product, account=other)
    merge.merge_accounts(unit, survivor, [other], {"name": other.id})
    db.commit()
    assert (survivor.name, survivor.website) == ("株式会社アクメ", "https://acme.co.jp")
    assert db.get(Contact, member.id).account_id == survivor.id
    assert db.get(Ticket, ticket.id).account_id == survivor.id
    assert [p.id for p in customers.list_products(unit, account_id=survivor.id)] == [product.id]
    assert db.get(Account, other.id).merged_into_id == survivor.id


def test_account_merge_emits_its_event(
    db: Session, unit: Unit, make_ticket: Callable[..., Ticket]
) -> None:
    survivor = customers.create_account(unit, name="Acme")
    other = customers.create_account(unit, name="Acme Inc.")
    member = customers.create_contact(unit, last_name="Sato", account_id=other.id)
    ticket = make_ticket(account_id=other.id)
    merge.merge_accounts(unit, survivor, [other])
    row = db.scalars(select(OutboxEvent).where(OutboxEvent.name == events.ACCOUNT_MERGED)).one()
    assert row.payload == {
        "account_id": survivor.id,
        "merged_account_ids": [other.id],
        "contact_ids": [member.id],
        "ticket_ids": [ticket.id],
    }


def test_account_merge_needs_its_permission(
    make_agent: Callable[..., Agent], unit_for: UnitFor, unit: Unit
) -> None:
    survivor = customers.create_account(unit, name="Acme")
    other = customers.create_account(unit, name="Acme Inc.")
    with pytest.raises(Forbidden) as failure:
        merge.merge_accounts(unit_for(make_agent()), survivor, [other])
    assert failure.value.permission == "account.merge"


def test_opposite_merges_at_once_leave_no_cycle(host: Host, db: Session, backend_name: str) -> None:
    """One agent merges B into A while another merges A into B: exactly one merge happens."""
    if backend_name != "postgresql":
        pytest.skip("row locks are PostgreSQL's; SQLite runs one writer at a time")
    with host.transaction() as session:
        unit = Unit(session, Actor.system("test"), host)
        a_id = customers.create_contact(unit, last_name="A").id
        b_id = customers.create_contact(unit, last_name="B").id
    outcome: list[BaseException | None] = []

    def merge_a_into_b() -> None:
        try:
            with host.transaction() as session:
                unit = Unit(session, Actor.system("test"), host)
                merge.merge_contacts(unit, session.get(Contact, b_id), [session.get(Contact, a_id)])
        except ValidationFailed as error:
            outcome.append(error)
        else:
            outcome.append(None)

    with host.transaction() as session:
        unit = Unit(session, Actor.system("test"), host)
        merge.merge_contacts(unit, session.get(Contact, a_id), [session.get(Contact, b_id)])
        other = threading.Thread(target=merge_a_into_b)
        other.start()
        wait_until_a_backend_waits_on_a_lock(host, "the second merge")
    other.join(timeout=60)

    assert len(outcome) == 1 and isinstance(outcome[0], ValidationFailed)
    db.expire_all()
    assert db.get(Contact, a_id).merged_into_id is None
    assert db.get(Contact, b_id).merged_into_id == a_id
