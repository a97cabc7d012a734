"""SalesIQ knowledge-base sync: the schedule (04:00 organisation time, daily, weekly on the
first sync's weekday, monthly on its day or the month's last), runs started by the scheduler's
tick and by "sync now", articles upserted once with their visibility and the chosen status,
disabling that leaves them alone, and failures retried then shown. Against the stand-in over
real HTTP, with the desk's clock set by the tests."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.orm import Session

from core.models import Installation, KbArticle, KbCategory, Organisation
from core.services import knowledge_base as kb
from hostapi import clock
from plugins.salesiq import kb_sync, link, schedule
from plugins.salesiq.models import KbSync
from tests.factories import system_unit
from tests.salesiq_desk import SalesDesk, hidden_fields

pytest_plugins = ["tests.api_fixtures", "tests.salesiq_desk"]

TOKYO = "Asia/Tokyo"


def _utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


# ------------------------------------------------------------------------------ the schedule


@pytest.mark.parametrize(
    ("now", "first"),
    [
        ("2027-01-10T18:00", "2027-01-10T19:00"),  # 03:00 in Tokyo: 04:00 the same day
        ("2027-01-10T19:00", "2027-01-11T19:00"),  # 04:00 exactly: the next day's
        ("2027-01-11T02:00", "2027-01-11T19:00"),  # 11:00: the next day's
    ],
)
def test_the_first_sync_is_the_first_0400_after_enabling(now: str, first: str) -> None:
    assert schedule.first_sync(_utc(now), TOKYO) == _utc(first)


def test_a_daily_sync_runs_at_0400_every_day() -> None:
    first = _utc("2027-01-11T19:00")  # Tuesday 12 January, 04:00 in Tokyo

    after_first = schedule.next_sync(first, schedule.DAILY, first, TOKYO)

    assert after_first == _utc("2027-01-12T19:00")
    late = schedule.next_sync(first, schedule.DAILY, _utc("2027-01-15T03:00"), TOKYO)
    assert late == _utc("2027-01-15T19:00")


def test_a_weekly_sync_runs_on_the_weekday_of_the_first() -> None:
    first = _utc("2027-01-11T19:00")  # a Tuesday in Tokyo

    runs = [first]
    for _ in range(3):
        runs.append(schedule.next_sync(first, schedule.WEEKLY, runs[-1], TOKYO))

    assert [run.astimezone(schedule.ZoneInfo(TOKYO)).strftime("%a %d") for run in runs] == [
        "Tue 12",
        "Tue 19",
        "Tue 26",
        "Tue 02",
    ]


def test_a_monthly_sync_from_the_31st_runs_on_the_last_day_of_shorter_months() -> None:
    first = _utc("2027-01-30T19:00")  # 31 January, 04:00 in Tokyo

    runs = [first]
    for _ in range(4):
        runs.append(schedule.next_sync(first, schedule.MONTHLY, runs[-1], TOKYO))

    assert [run.astimezone(schedule.ZoneInfo(TOKYO)).date().isoformat() for run in runs] == [
        "2027-01-31",
        "2027-02-28",
        "2027-03-31",
        "2027-04-30",
        "2027-05-31",
    ]


def test_a_monthly_sync_in_a_leap_year_february_runs_on_the_29th() -> None:
    first = _utc("2028-01-30T19:00")  # 31 January 2028

    second = schedule.next_sync(first, schedule.MONTHLY, first, TOKYO)

    assert second.astimezone(schedule.ZoneInfo(TOKYO)).date().isoformat() == "2028-02-29"


# ------------------------------------------------------------------------------ runs


@pytest.fixture
def kb_desk(linked_desk: SalesDesk, db: Session) -> Iterator[SalesDesk]:
    """The linked desk in Tokyo with a category of Support articles: two published for all
    users, one for registered users, one draft; a Sales category without articles."""
    organisation = db.query(Organisation).one()
    organisation.timezone = TOKYO
    unit = system_unit(db, linked_desk.host)
    support = kb.create_category(
        unit, department_id=linked_desk.departments["Support"].id, name="Orders"
    )
    kb.create_category(unit, department_id=linked_desk.departments["Sales"].id, name="Pricing")
    for title, visibility, status in (
        ("Tracking an order", "all", "published"),
        ("Returns", "all", "published"),
        ("Invoices for members", "registered", "published"),
        ("Unfinished", "all", "draft"),
    ):
        kb.create_article(
            unit,
            category_id=support.id,
            title=title,
            body=f"{title}…",
            visibility=visibility,
            status=status,
        )
    db.commit()
    yield linked_desk


def _save(desk: SalesDesk, **fields: str) -> int:
    page = desk.browser.get(desk.integration_url)
    category = desk.db.query(KbCategory).filter_by(name="Orders").one()
    form = {
        **hidden_fields(page.text),
        "enabled": "true",
        "visibility": "all",
        "article_status": "published",
        "interval": "daily",
        f"categories-{desk.chat_department('Support')}": str(category.id),
        **fields,
    }
    if fields.get("enabled") == "":
        del form["enabled"]
    return desk.browser.post(
        f"{desk.integration_url}kb", data=form, allow_redirects=False
    ).status_code


def _synced(desk: SalesDesk) -> dict[str, dict[str, object]]:
    articles = desk.control("GET", "/state")["articles"]
    return {article["title"]: article for article in articles if article["synced"]}


def _sync(desk: SalesDesk) -> KbSync:
    desk.db.rollback()
    row = desk.db.get(KbSync, desk.installation.id)
    assert row is not None
    return row


def _tick_at(desk: SalesDesk, moment: datetime) -> None:
    clock.freeze(moment)
    desk.job(kb_sync.TICK_JOB)


def test_a_daily_sync_sends_the_published_articles_at_0400_tokyo_time(kb_desk: SalesDesk) -> None:
    clock.freeze(_utc("2027-01-11T02:00"))  # 11:00 in Tokyo
    assert _save(kb_desk) == 303
    assert _sync(kb_desk).next_sync_at == _utc("2027-01-11T19:00")

    _tick_at(kb_desk, _utc("2027-01-11T18:55"))
    assert _synced(kb_desk) == {}

    _tick_at(kb_desk, _utc("2027-01-11T19:00"))
    synced = _synced(kb_desk)
    assert sorted(synced) == ["Returns", "Tracking an order"]
    article = synced["Returns"]
    assert (article["status"], article["visibility"], article["tags"]) == (
        "published",
        "all",
        ["deskhost"],
    )
    assert article["department_id"] == kb_desk.chat_department("Support")
    row = _sync(kb_desk)
    assert (row.state, row.last_result["created"], row.next_sync_at) == (
        "idle",
        2,
        _utc("2027-01-12T19:00"),
    )


def test_a_second_sync_sends_only_what_changed(kb_desk: SalesDesk) -> None:
    clock.freeze(_utc("2027-01-11T02:00"))
    _save(kb_desk)
    _tick_at(kb_desk, _utc("2027-01-11T19:00"))
    article = kb_desk.db.query(KbArticle).filter_by(title="Returns").one()
    kb.update_article(system_unit(kb_desk.db, kb_desk.host), article, body="Within 30 days.")
    kb_desk.db.commit()

    _tick_at(kb_desk, _utc("2027-01-12T19:01"))

    result = _sync(kb_desk).last_result
    assert (result["created"], result["updated"], result["unchanged"]) == (0, 1, 1)
    assert _synced(kb_desk)["Returns"]["content"] == "Within 30 days."
    assert len(_synced(kb_desk)) == 2


def test_registered_only_articles_go_when_chosen_with_their_visibility(
    kb_desk: SalesDesk,
) -> None:
    clock.freeze(_utc("2027-01-11T02:00"))
    _save(kb_desk, visibility="both", article_status="draft")

    page = kb_desk.browser.get(kb_desk.integration_url)
    kb_desk.browser.post(
        f"{kb_desk.integration_url}kb/sync-now",
        data={"csrf_token": hidden_fields(page.text)["csrf_token"]},
    )
    kb_desk.run_jobs()

    synced = _synced(kb_desk)
    assert synced["Invoices for members"]["visibility"] == "registered"
    assert {article["status"] for article in synced.values()} == {"draft"}
    assert "Unfinished" not in synced


def test_a_weekly_sync_waits_a_week_after_the_first(kb_desk: SalesDesk) -> None:
    clock.freeze(_utc("2027-01-11T02:00"))
    _save(kb_desk, interval="weekly")
    _tick_at(kb_desk, _utc("2027-01-11T19:00"))
    first = _sync(kb_desk).finished_at

    _tick_at(kb_desk, _utc("2027-01-17T19:00"))
    assert _sync(kb_desk).finished_at == first

    _tick_at(kb_desk, _utc("2027-01-18T19:05"))
    assert _sync(kb_desk).finished_at == _utc("2027-01-18T19:05")
    assert _sync(kb_desk).next_sync_at == _utc("2027-01-25T19:00")


def test_a_monthly_sync_from_the_31st_runs_on_the_28th_of_february(kb_desk: SalesDesk) -> None:
    clock.freeze(_utc("2027-01-30T12:00"))  # 21:00 on 30 January in Tokyo
    _save(kb_desk, interval="monthly")
    assert _sync(kb_desk).first_sync_at == _utc("2027-01-30T19:00")  # 31 January, 04:00
    _tick_at(kb_desk, _utc("2027-01-30T19:00"))

    _tick_at(kb_desk, _utc("2027-02-26T19:00"))
    assert _sync(kb_desk).finished_at == _utc("2027-01-30T19:00")

    _tick_at(kb_desk, _utc("2027-02-27T19:00"))  # 28 February, 04:00
    assert _sync(kb_desk).finished_at == _utc("2027-02-27T19:00")
    assert _sync(kb_desk).next_sync_at == _utc("2027-03-30T19:00")  # 31 March


def test_changing_the_interval_starts_a_new_series(kb_desk: SalesDesk) -> None:
    clock.freeze(_utc("2027-01-11T02:00"))
    _save(kb_desk, interval="monthly")
    clock.freeze(_utc("2027-01-20T02:00"))

    _save(kb_desk, interval="weekly")

    assert _sync(kb_desk).first_sync_at == _utc("2027-01-20T19:00")


def test_disabling_stops_the_syncs_and_leaves_the_articles(kb_desk: SalesDesk) -> None:
    clock.freeze(_utc("2027-01-11T02:00"))
    _save(kb_desk)
    _tick_at(kb_desk, _utc("2027-01-11T19:00"))

    _save(kb_desk, enabled="")
    _tick_at(kb_desk, _utc("2027-01-12T19:00"))

    row = _sync(kb_desk)
    assert (row.enabled, row.next_sync_at, row.finished_at) == (
        False,
        None,
        _utc("2027-01-11T19:00"),
    )
    assert len(_synced(kb_desk)) == 2


def test_a_category_chosen_for_two_departments_is_refused(kb_desk: SalesDesk) -> None:
    category = kb_desk.db.query(KbCategory).filter_by(name="Orders").one()
    field = f"categories-{kb_desk.chat_department('Sales')}"

    assert _save(kb_desk, **{field: str(category.id)}) == 422
    assert kb_desk.db.get(KbSync, kb_desk.installation.id) is None


def test_a_failing_product_is_retried_then_the_failure_shown(kb_desk: SalesDesk) -> None:
    clock.freeze(_utc("2027-01-11T02:00"))
    _save(kb_desk)
    with kb_desk.host.transaction() as session:
        context = kb_desk.host.plugins.context_for(
            session, session.get(Installation, kb_desk.installation.id)
        )
        context.secret_set(link.API_TOKEN, "revoked-token")
    _tick_at(kb_desk, _utc("2027-01-11T19:00"))
    row = _sync(kb_desk)
    assert (row.state, row.attempts) == ("running", 1)
    assert "refused" in row.last_error

    for minutes in (5, 15, 35):
        clock.freeze(_utc("2027-01-11T19:00") + timedelta(minutes=minutes, seconds=1))
        kb_desk.job(kb_sync.TICK_JOB)

    row = _sync(kb_desk)
    assert (row.state, row.attempts) == ("failed", 3)
    page = kb_desk.browser.get(kb_desk.integration_url)
    assert "Failed at" in page.text


def test_an_article_withdrawn_from_the_desk_is_removed_at_the_next_sync(
    kb_desk: SalesDesk,
) -> None:
    clock.freeze(_utc("2027-01-11T02:00"))
    _save(kb_desk)
    _tick_at(kb_desk, _utc("2027-01-11T19:00"))
    article = kb_desk.db.query(KbArticle).filter_by(title="Returns").one()
    kb.update_article(system_unit(kb_desk.db, kb_desk.host), article, status="draft")
    kb_desk.db.commit()

    _tick_at(kb_desk, _utc("2027-01-12T19:00"))

    assert sorted(_synced(kb_desk)) == ["Tracking an order"]
    result = _sync(kb_desk).last_result
    assert (result["removed"], result["unchanged"]) == (1, 1)


def test_turning_the_sync_off_during_a_run_ends_it(kb_desk: SalesDesk) -> None:
    clock.freeze(_utc("2027-01-11T02:00"))
    _save(kb_desk)
    page = kb_desk.browser.get(kb_desk.integration_url)
    kb_desk.browser.post(
        f"{kb_desk.integration_url}kb/sync-now",
        data={"csrf_token": hidden_fields(page.text)["csrf_token"]},
    )

    _save(kb_desk, enabled="")
    kb_desk.run_jobs()

    assert (_sync(kb_desk).state, _synced(kb_desk)) == ("idle", {})
