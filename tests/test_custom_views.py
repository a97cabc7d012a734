"""Custom views: defaults, conditions on built-in and custom fields, keyset pages, counts."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy.orm import Session

from core.errors import Forbidden, NotFound, ValidationFailed
from core.models import Agent, Contact, CustomView, Organisation
from core.services import fields, views
from core.services.base import Unit
from hostapi import clock


@pytest.fixture
def agent(make_agent: Callable[..., Agent]) -> Agent:
    """An agent who lists contacts."""
    return make_agent("viewer@example.com", name="Viewer")


@pytest.fixture
def work(unit_for: Callable[[Agent | None], Unit], agent: Agent) -> Unit:
    """A unit acting as the agent."""
    return unit_for(agent)


@pytest.fixture
def tier(unit_for: Callable[[Agent | None], Unit], admin_agent: Agent, db: Session) -> str:
    """A contact picklist field "Tier" (Gold, Silver); returns its key."""
    field = fields.create_field(
        unit_for(admin_agent),
        entity="contact",
        label="Tier",
        field_type="picklist",
        options=["Gold", "Silver"],
    )
    db.commit()
    return field.key


@pytest.fixture
def seats(unit_for: Callable[[Agent | None], Unit], admin_agent: Agent, db: Session) -> str:
    """A contact number field "Seats"; returns its key."""
    field = fields.create_field(
        unit_for(admin_agent), entity="contact", label="Seats", field_type="number"
    )
    db.commit()
    return field.key


@pytest.fixture
def add(db: Session) -> Callable[..., Contact]:
    """Add a contact with the given columns (created ``age`` minutes ago), committed."""
    base = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)

    def make(last_name: str, *, age: int = 0, **columns: Any) -> Contact:
        columns.setdefault("custom_fields", {})
        at = columns.pop("created_at", base - timedelta(minutes=age))
        contact = Contact(last_name=last_name, created_at=at, updated_at=at, **columns)
        db.add(contact)
        db.commit()
        return contact

    return make


def _names(page: views.ViewPage) -> list[str]:
    return [row.last_name for row in page.rows]


def _saved(work: Unit, db: Session, **settings: Any) -> views.ViewSpec:
    settings.setdefault("name", "Mine")
    view = views.create_view(work, entity="contact", **settings)
    db.commit()
    return views.get_view(work, "contact", view.id)


# ------------------------------------------------------------------------------ defaults


def test_all_lists_newest_first_without_merged_or_spam(
    work: Unit, add: Callable[..., Contact]
) -> None:
    kept = add("Kept", age=1)
    add("Merged", age=2, merged_into_id=kept.id)
    add("Spammer", age=3, is_spam=True)
    add("Newest", age=0)
    page = views.run_view(work, views.get_view(work, "contact", "all"))
    assert _names(page) == ["Newest", "Kept"]


def test_spam_view_lists_only_spam(work: Unit, add: Callable[..., Contact]) -> None:
    add("Fine")
    add("Spammer", is_spam=True)
    assert _names(views.run_view(work, views.get_view(work, "contact", "spam"))) == ["Spammer"]


def test_my_contacts_are_those_i_own(
    work: Unit, agent: Agent, admin_agent: Agent, add: Callable[..., Contact]
) -> None:
    add("Mine", owner_id=agent.id)
    add("Theirs", owner_id=admin_agent.id)
    assert _names(views.run_view(work, views.get_view(work, "contact", "mine"))) == ["Mine"]


def test_created_today_uses_the_organisation_time_zone(
    work: Unit, db: Session, add: Callable[..., Contact], monkeypatch: pytest.MonkeyPatch
) -> None:
    db.query(Organisation).update({"timezone": "Asia/Tokyo"})
    db.commit()
    # 2026-11-23 01:00 in Tokyo is 2026-11-22 16:00 UTC.
    monkeypatch.setattr(clock, "now", lambda: datetime(2026, 11, 22, 16, 0, tzinfo=UTC))
    add("Tokyo morning", created_at=datetime(2026, 11, 22, 15, 30, tzinfo=UTC))
    add("Tokyo yesterday", created_at=datetime(2026, 11, 22, 14, 30, tzinfo=UTC))
    page = views.run_view(work, views.get_view(work, "contact", "today"))
    assert _names(page) == ["Tokyo morning"]


def test_last_30_days_leaves_older_contacts_out(work: Unit, add: Callable[..., Contact]) -> None:
    add("Recent", created_at=clock.now() - timedelta(days=29))
    add("Old", created_at=clock.now() - timedelta(days=31))
    page = views.run_view(work, views.get_view(work, "contact", "last_30_days"))
    assert _names(page) == ["Recent"]


# --------------------------------------------------------------------------- conditions


def test_two_conditions_joined_by_and(
    work: Unit, db: Session, add: Callable[..., Contact], tier: str
) -> None:
    add("GoldManager", title="Manager", custom_fields={tier: "Gold"})
    add("GoldClerk", title="Clerk", custom_fields={tier: "Gold"})
    add("SilverManager", title="Manager", custom_fields={tier: "Silver"})
    spec = _saved(
        work,
        db,
        conditions=[
            {"field": tier, "operator": "is", "value": "Gold"},
            {"field": "title", "operator": "is", "value": "manager"},
        ],
    )
    assert _names(views.run_view(work, spec)) == ["GoldManager"]
    assert views.count_view(work, spec).count == 1


def test_conditions_joined_by_or(
    work: Unit, db: Session, add: Callable[..., Contact], tier: str
) -> None:
    add("Gold", age=1, custom_fields={tier: "Gold"})
    add("Manager", age=2, title="Manager")
    add("Neither", age=3)
    spec = _saved(
        work,
        db,
        match="any",
        conditions=[
            {"field": tier, "operator": "is", "value": "Gold"},
            {"field": "title", "operator": "contains", "value": "anag"},
        ],
    )
    assert _names(views.run_view(work, spec)) == ["Gold", "Manager"]


@pytest.mark.parametrize(
    ("operator", "value", "expected"),
    [
        ("gt", "10", ["Fifty"]),
        ("lt", 10, ["Five"]),
        ("between", ["5", "10"], ["Ten", "Five"]),
        ("empty", None, ["None"]),
        ("not_empty", None, ["Fifty", "Ten", "Five"]),
        ("is_not", 10, ["Fifty", "Five", "None"]),
    ],
)
def test_number_operators(
    work: Unit,
    db: Session,
    add: Callable[..., Contact],
    seats: str,
    operator: str,
    value: Any,
    expected: list[str],
) -> None:
    add("Fifty", age=1, custom_fields={seats: 50})
    add("Ten", age=2, custom_fields={seats: 10})
    add("Five", age=3, custom_fields={seats: 5.0})
    add("None", age=4)
    spec = _saved(work, db, conditions=[{"field": seats, "operator": operator, "value": value}])
    assert _names(views.run_view(work, spec)) == expected


def test_owner_me_means_the_agent_running_the_view(
    work: Unit, db: Session, agent: Agent, add: Callable[..., Contact]
) -> None:
    add("Mine", owner_id=agent.id)
    add("Nobody's")
    spec = _saved(work, db, conditions=[{"field": "owner", "operator": "is", "value": "me"}])
    assert _names(views.run_view(work, spec)) == ["Mine"]


def test_condition_on_is_spam_lists_spam(
    work: Unit, db: Session, add: Callable[..., Contact]
) -> None:
    add("Spammer", is_spam=True)
    add("Fine")
    spec = _saved(work, db, conditions=[{"field": "is_spam", "operator": "is", "value": "yes"}])
    assert _names(views.run_view(work, spec)) == ["Spammer"]


def test_name_contains_matches_first_and_last_name(
    work: Unit, db: Session, add: Callable[..., Contact]
) -> None:
    add("Yamada", first_name="Hanako")
    add("Suzuki", first_name="Ichiro")
    spec = _saved(work, db, conditions=[{"field": "name", "operator": "contains", "value": "hana"}])
    assert _names(views.run_view(work, spec)) == ["Yamada"]


def test_search_box_matches_custom_text_values(
    work: Unit, db: Session, add: Callable[..., Contact], admin_agent: Agent, unit_for: Any
) -> None:
    note = fields.create_field(
        unit_for(admin_agent), entity="contact", label="Note", field_type="text"
    )
    db.commit()
    add("Match", custom_fields={note.key: "大口のお客様"})
    add("Other", custom_fields={note.key: "普通"})
    page = views.run_view(work, views.get_view(work, "contact", "all"), search="大口")
    assert _names(page) == ["Match"]


# ------------------------------------------------------------------------- bad views


@pytest.mark.parametrize(
    ("condition", "error"),
    [
        ({"field": "cf_nope", "operator": "is", "value": "x"}, "conditions.0.field"),
        ({"field": "title", "operator": "gt", "value": "x"}, "conditions.0.operator"),
        ({"field": "created_at", "operator": "is", "value": "soon"}, "conditions.0.value"),
        ({"field": "title", "operator": "is", "value": ""}, "conditions.0.value"),
    ],
)
def test_bad_conditions_are_named_and_nothing_is_saved(
    work: Unit, db: Session, condition: dict[str, Any], error: str
) -> None:
    with pytest.raises(ValidationFailed) as failure:
        views.create_view(work, entity="contact", name="Bad", conditions=[condition])
    assert error in failure.value.errors
    db.rollback()
    assert db.query(CustomView).count() == 0


def test_bad_picklist_value_in_condition_is_refused(work: Unit, tier: str) -> None:
    with pytest.raises(ValidationFailed) as failure:
        views.create_view(
            work,
            entity="contact",
            name="Bad",
            conditions=[{"field": tier, "operator": "is", "value": "Bronze"}],
        )
    assert "conditions.0.value" in failure.value.errors


def test_unknown_column_is_refused(work: Unit) -> None:
    with pytest.raises(ValidationFailed) as failure:
        views.create_view(work, entity="contact", name="Bad", columns=["name", "shoe_size"])
    assert "columns" in failure.value.errors


# ---------------------------------------------------------------------- who sees views


def test_private_view_is_hidden_from_other_agents(
    work: Unit, db: Session, unit_for: Callable[[Agent | None], Unit], admin_agent: Agent
) -> None:
    spec = _saved(work, db, name="Private")
    other = unit_for(admin_agent)
    assert spec.key not in [v.key for v in views.list_views(other, "contact")]
    with pytest.raises(NotFound):
        views.get_view(other, "contact", spec.key)


def test_shared_view_is_listed_for_every_agent(
    work: Unit, db: Session, unit_for: Callable[[Agent | None], Unit], admin_agent: Agent
) -> None:
    spec = _saved(work, db, name="Team", shared=True)
    assert spec.key in [v.key for v in views.list_views(unit_for(admin_agent), "contact")]


def test_only_the_owner_edits_a_shared_view(
    work: Unit, db: Session, unit_for: Callable[[Agent | None], Unit], admin_agent: Agent
) -> None:
    spec = _saved(work, db, name="Team", shared=True)
    assert spec.saved is not None
    with pytest.raises(Forbidden):
        views.update_view(unit_for(admin_agent), spec.saved, name="Mine now")
    with pytest.raises(Forbidden):
        views.delete_view(unit_for(admin_agent), spec.saved)


def test_owner_renames_and_deletes_a_view(work: Unit, db: Session) -> None:
    spec = _saved(work, db, name="Old")
    assert spec.saved is not None
    views.update_view(work, spec.saved, name="New")
    assert spec.saved.name == "New"
    views.delete_view(work, spec.saved)
    db.commit()
    assert db.query(CustomView).count() == 0


# ------------------------------------------------------------------------------- paging


def test_keyset_pages_cover_every_row_once_with_ties(
    work: Unit, add: Callable[..., Contact]
) -> None:
    moment = datetime(2026, 1, 1, tzinfo=UTC)
    for number in range(7):
        add(f"Tied{number}", created_at=moment)
    spec = views.get_view(work, "contact", "all")
    seen: list[str] = []
    cursor = None
    while True:
        page = views.run_view(work, spec, limit=3, cursor=cursor)
        seen += _names(page)
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert sorted(seen) == [f"Tied{n}" for n in range(7)]
    assert len(seen) == 7


def test_previous_page_returns_the_page_before(work: Unit, add: Callable[..., Contact]) -> None:
    for number in range(6):
        add(f"C{number}", age=number)
    spec = views.get_view(work, "contact", "all")
    first = views.run_view(work, spec, limit=2)
    second = views.run_view(work, spec, limit=2, cursor=first.next_cursor)
    assert first.previous_cursor is None
    assert second.previous_cursor is not None
    back = views.run_view(work, spec, limit=2, cursor=second.previous_cursor)
    assert _names(back) == _names(first) == ["C0", "C1"]
    assert back.previous_cursor is None


def test_pages_sorted_by_a_custom_number_field(
    work: Unit, db: Session, add: Callable[..., Contact], seats: str
) -> None:
    for number, value in enumerate([5, 50, None, 10, 10, 1]):
        add(f"C{number}", custom_fields={} if value is None else {seats: value})
    spec = _saved(work, db, sort_field=seats, sort_descending=False)
    seen: list[str] = []
    cursor = None
    while True:
        page = views.run_view(work, spec, limit=2, cursor=cursor)
        seen += _names(page)
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert seen == ["C2", "C5", "C0", "C3", "C4", "C1"]


def test_pages_sorted_by_name(work: Unit, db: Session, add: Callable[..., Contact]) -> None:
    for name in ["b", "a", "d", "c"]:
        add(name)
    spec = _saved(work, db, sort_field="name", sort_descending=False)
    first = views.run_view(work, spec, limit=3)
    second = views.run_view(work, spec, limit=3, cursor=first.next_cursor)
    assert _names(first) + _names(second) == ["a", "b", "c", "d"]


def test_cursor_of_another_sort_is_refused(
    work: Unit, db: Session, add: Callable[..., Contact]
) -> None:
    add("A")
    add("B", age=1)
    by_name = _saved(work, db, sort_field="name")
    page = views.run_view(work, views.get_view(work, "contact", "all"), limit=1)
    with pytest.raises(ValidationFailed):
        views.run_view(work, by_name, cursor=page.next_cursor)


def test_count_is_capped_at_ten_thousand(
    work: Unit, db: Session, monkeypatch: pytest.MonkeyPatch, add: Callable[..., Contact]
) -> None:
    monkeypatch.setattr(views, "COUNT_CAP", 2)
    for number in range(3):
        add(f"C{number}")
    count = views.count_view(work, views.get_view(work, "contact", "all"))
    assert (count.count, count.capped) == (2, True)


def test_count_text_reads_10000_plus() -> None:
    assert views.ViewCount(count=10_000, capped=True).text == "10,000+"
    assert views.ViewCount(count=1234, capped=False).text == "1,234"


def test_account_views_filter_on_account_custom_fields(
    work: Unit, db: Session, unit_for: Callable[[Agent | None], Unit], admin_agent: Agent
) -> None:
    region = fields.create_field(
        unit_for(admin_agent), entity="account", label="Region", field_type="text"
    )
    now = clock.now()
    from core.models import Account

    db.add(
        Account(name="East", custom_fields={region.key: "Kanto"}, created_at=now, updated_at=now)
    )
    db.add(
        Account(name="West", custom_fields={region.key: "Kansai"}, created_at=now, updated_at=now)
    )
    db.commit()
    view = views.create_view(
        work,
        entity="account",
        name="Kanto",
        conditions=[{"field": region.key, "operator": "starts_with", "value": "kan"}],
        columns=["name", region.key],
    )
    db.commit()
    spec = views.get_view(work, "account", view.id)
    page = views.run_view(work, spec)
    assert sorted(a.name for a in page.rows) == ["East", "West"]
    spec2 = views.get_view(
        work,
        "account",
        views.update_view(
            work, view, conditions=[{"field": region.key, "operator": "is", "value": "kanto"}]
        ).id,
    )
    assert [a.name for a in views.run_view(work, spec2).rows] == ["East"]


def test_walk_in_short_stretches_finds_every_matching_row_in_order(
    work: Unit,
    db: Session,
    add: Callable[..., Contact],
    tier: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(views, "WALK_FIRST_CHUNK", 1)
    moment = datetime(2026, 1, 1, tzinfo=UTC)
    for number in range(12):
        value = "Gold" if number % 3 == 0 else "Silver"
        # Pairs share a creation time, so stretches end in the middle of ties.
        add(
            f"C{number:02}",
            created_at=moment + timedelta(minutes=number // 2),
            custom_fields={tier: value},
        )
    spec = _saved(work, db, conditions=[{"field": tier, "operator": "is", "value": "Gold"}])
    first = views.run_view(work, spec, limit=2)
    second = views.run_view(work, spec, limit=2, cursor=first.next_cursor)
    assert _names(first) + _names(second) == ["C09", "C06", "C03", "C00"]
    assert second.next_cursor is None
    back = views.run_view(work, spec, limit=2, cursor=second.previous_cursor)
    assert _names(back) == ["C09", "C06"]


def test_conditions_on_the_account_name_and_tags(
    work: Unit, db: Session, add: Callable[..., Contact], make_account: Callable[..., Any]
) -> None:
    from core.models import Tag

    acme = make_account("Acme Corp")
    vip = Tag(name="vip")
    db.add(vip)
    db.commit()
    tagged = add("Tagged", age=1, account_id=acme.id)
    tagged.tags = [vip]
    add("Untagged", age=2, account_id=acme.id)
    add("Elsewhere", age=3)
    db.commit()
    spec = _saved(
        work,
        db,
        conditions=[
            {"field": "account", "operator": "contains", "value": "acme"},
            {"field": "tags", "operator": "not_contains", "value": "vip"},
        ],
    )
    assert _names(views.run_view(work, spec)) == ["Untagged"]
