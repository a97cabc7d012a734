"""Customer Insights in a real browser: a known ticket's panel, its account switch and the
account's Overview show the exact figures of the hand-made history, in English and Japanese;
an agent of one department reads the figures of that department's tickets only, beside the
ticket and on the contact's and the account's Overviews, as an admin of every department reads
all of them; an agent outside the installation's departments sees no panel."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from core.host import Host
from core.models import Account, Agent, Contact, Department
from tests.insights_helpers import PLUGIN, Desk, History, hand_made_history

pytestmark = pytest.mark.browser


@pytest.fixture
def sales(make_department: Callable[..., Department]) -> Department:
    return make_department("Sales")


@pytest.fixture
def history(
    host: Host,
    support: Department,
    sales: Department,
    make_agent: Callable[..., Agent],
    make_contact: Callable[..., Contact],
    make_account: Callable[..., Account],
) -> History:
    writer = make_agent("writer@example.com", name="Rin", departments=[support, sales])
    return hand_made_history(host, support, sales, writer, make_contact, make_account)


def _metric(page: object, name: str) -> str:
    return (page.locator(f'[data-metric="{name}"]').first.text_content() or "").strip()  # type: ignore[attr-defined]


def _channel(page: object, channel: str) -> str:
    return (page.locator(f'[data-channel="{channel}"]').first.text_content() or "").strip()  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("locale", "contact_response", "account_first_response", "open_label"),
    [
        ("en", "1 h 37 min", "2 d 3 h", "Open (incl. on hold)"),
        ("ja", "1時間 37分", "2日 3時間", "未完了（保留中を含む）"),
    ],
)
def test_agent_reads_the_exact_figures_beside_a_ticket_and_on_the_overview(
    page: object,
    live_server: str,
    sign_in: Callable[[str], None],
    make_agent: Callable[..., Agent],
    support: Department,
    sales: Department,
    history: History,
    locale: str,
    contact_response: str,
    account_first_response: str,
    open_label: str,
) -> None:
    reader = make_agent(f"reader-{locale}@example.com", departments=[support, sales], locale=locale)
    sign_in(reader.email)

    page.goto(f"{live_server}/tickets/{history.ticket_a}")  # type: ignore[attr-defined]
    assert (_metric(page, "open"), _metric(page, "closed")) == ("1", "1")
    assert _metric(page, "response") == contact_response
    assert _metric(page, "rated_good_percent") == "50.0"

    page.locator('[data-switch="account"]').click()  # type: ignore[attr-defined]
    assert (_metric(page, "open"), _metric(page, "closed")) == ("2", "1")
    assert _metric(page, "first_response") == account_first_response
    assert _metric(page, "rated_good_percent") == "66.7"

    tab = f"{PLUGIN}.account_overview.{history.installation}"
    page.goto(f"{live_server}/accounts/{history.acme.id}?tab={tab}")  # type: ignore[attr-defined]
    assert (_metric(page, "all"), _metric(page, "open"), _metric(page, "overdue")) == (
        "3",
        "2",
        "1",
    )
    assert _metric(page, "public_replies") == "3"
    assert _metric(page, "first_response") == account_first_response
    assert open_label in (page.locator(".insights-counts").text_content() or "")  # type: ignore[attr-defined]
    page.locator('[data-tickets="on_hold"]').click()  # type: ignore[attr-defined]
    page.wait_for_url("**tickets=on_hold*")  # type: ignore[attr-defined]
    page.wait_for_load_state()  # type: ignore[attr-defined]
    listed = page.locator("[data-ticket-id]")  # type: ignore[attr-defined]
    assert [listed.nth(i).get_attribute("data-ticket-id") for i in range(listed.count())] == [
        str(history.ticket_b)
    ]


@pytest.mark.parametrize(
    ("locale", "response", "first_response"),
    [("en", "1 h 37 min", "2 h 15 min"), ("ja", "1時間 37分", "2時間 15分")],
)
def test_agent_of_one_department_reads_the_figures_of_that_department_only(
    page: object,
    live_server: str,
    sign_in: Callable[[str], None],
    make_agent: Callable[..., Agent],
    support: Department,
    history: History,
    locale: str,
    response: str,
    first_response: str,
) -> None:
    # Acme's third ticket (C) is in Sales: a Support agent's account figures leave it out.
    reader = make_agent(f"support-{locale}@example.com", departments=[support], locale=locale)
    sign_in(reader.email)

    page.goto(f"{live_server}/tickets/{history.ticket_a}")  # type: ignore[attr-defined]
    assert (_metric(page, "open"), _metric(page, "closed")) == ("1", "1")
    assert _metric(page, "response") == response
    assert _metric(page, "first_response") == first_response
    assert _metric(page, "rated_good_percent") == "50.0"

    page.locator('[data-switch="account"]').click()  # type: ignore[attr-defined]
    assert (_metric(page, "open"), _metric(page, "closed")) == ("1", "1")
    assert _metric(page, "first_response") == first_response
    assert (_metric(page, "rated_good"), _metric(page, "rated_okay")) == ("1", "1")
    assert _metric(page, "rated_good_percent") == "50.0"


def test_agent_outside_the_installations_departments_sees_no_panel(
    page: object,
    live_server: str,
    sign_in: Callable[[str], None],
    host: Host,
    make_agent: Callable[..., Agent],
    make_department: Callable[..., Department],
    history: History,
) -> None:
    billing = make_department("Billing")
    ticket = Desk(host).ticket(history.yamada, billing.id)
    outsider = make_agent("billing@example.com", departments=[billing])
    sign_in(outsider.email)

    opened = page.goto(f"{live_server}/tickets/{ticket}")  # type: ignore[attr-defined]

    assert opened.status == 200
    assert page.locator(".customer-insights").count() == 0  # type: ignore[attr-defined]
    assert page.get_by_text("Customer Insights").count() == 0  # type: ignore[attr-defined]


#: What each reader sees on Yamada's and Acme's Overviews (English durations): Acme's Sales
#: ticket (C, replied after 4 d 4 h) counts for an admin of both departments only.
_BOTH_DEPARTMENTS_ACME = {"all": "3", "open": "2", "overdue": "1", "public_replies": "3"}
_SUPPORT_ONLY = {"all": "2", "open": "1", "overdue": "1", "public_replies": "2"}
_DURATIONS_JA = {"2 h 15 min": "2時間 15分", "2 d 3 h": "2日 3時間", "5 h": "5時間"}


@pytest.mark.parametrize("locale", ["en", "ja"])
@pytest.mark.parametrize(
    ("role", "acme_counts", "acme_first_response", "acme_good_percent", "acme_email"),
    [
        ("admin", _BOTH_DEPARTMENTS_ACME, "2 d 3 h", "66.7", "2"),
        ("support agent", _SUPPORT_ONLY, "2 h 15 min", "50.0", "1"),
    ],
)
def test_admin_and_one_department_agent_read_the_exact_overviews(
    page: object,
    live_server: str,
    sign_in: Callable[[str], None],
    make_agent: Callable[..., Agent],
    support: Department,
    sales: Department,
    history: History,
    locale: str,
    role: str,
    acme_counts: dict[str, str],
    acme_first_response: str,
    acme_good_percent: str,
    acme_email: str,
) -> None:
    if role == "admin":
        reader = make_agent(
            f"admin-{locale}@example.com",
            profile="Administrator",
            departments=[support, sales],
            locale=locale,
        )
    else:
        reader = make_agent(f"one-{locale}@example.com", departments=[support], locale=locale)
    sign_in(reader.email)

    def duration(english: str) -> str:
        return _DURATIONS_JA[english] if locale == "ja" else english

    # Yamada's tickets (A and B) are both in Support: the same Overview for either reader.
    page.goto(f"{live_server}/contacts/{history.yamada.id}")  # type: ignore[attr-defined]
    page.locator(f'a[href*="tab={PLUGIN}.overview."]').first.click()  # type: ignore[attr-defined]
    page.wait_for_selector(".insights-overview")  # type: ignore[attr-defined]
    assert {name: _metric(page, name) for name in _SUPPORT_ONLY} == _SUPPORT_ONLY
    assert _metric(page, "first_response") == duration("2 h 15 min")
    assert _metric(page, "resolution") == duration("5 h")
    assert (_metric(page, "rated_good_percent"), _metric(page, "rated_okay_percent")) == (
        "50.0",
        "50.0",
    )
    assert _channel(page, "email") == _channel(page, "phone") == "1"

    page.goto(f"{live_server}/accounts/{history.acme.id}")  # type: ignore[attr-defined]
    page.locator(f'a[href*="tab={PLUGIN}.account_overview."]').first.click()  # type: ignore[attr-defined]
    page.wait_for_selector(".insights-overview")  # type: ignore[attr-defined]
    assert {name: _metric(page, name) for name in acme_counts} == acme_counts
    assert _metric(page, "first_response") == duration(acme_first_response)
    assert _metric(page, "rated_good_percent") == acme_good_percent
    assert (_channel(page, "email"), _channel(page, "phone")) == (acme_email, "1")
    listed = page.locator("[data-ticket-id]")  # type: ignore[attr-defined]
    shown = {int(listed.nth(i).get_attribute("data-ticket-id")) for i in range(listed.count())}
    expected = {history.ticket_a, history.ticket_b}
    assert shown == (expected | {history.ticket_c} if role == "admin" else expected)
