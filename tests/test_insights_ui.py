"""Customer Insights' ticket panel and Overview tab show the exact figures of a hand-made
history (``tests.insights_helpers.hand_made_history``, whose docstring works them out), in
English and Japanese, to the agents the installation covers and to no one else.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask

from core.host import Host
from core.models import Account, Agent, Contact, Department
from core.web.extensions import panels_for
from hostapi import Location, PanelTarget
from plugins.customer_insights import display, overview
from tests.factories import TEST_PASSWORD
from tests.insights_helpers import PLUGIN, Desk, History, hand_made_history

pytest_plugins = ["tests.insights_fixtures"]


@pytest.fixture
def history(
    host: Host,
    support: Department,
    sales: Department,
    agent: Agent,
    make_contact: Callable[..., Contact],
    make_account: Callable[..., Account],
) -> History:
    return hand_made_history(host, support, sales, agent, make_contact, make_account)


def _shown(
    app: Flask, host: Host, agent: Agent, location: str, target: PanelTarget, query: str = ""
) -> str | None:
    """The extension's panel or tab at ``location`` as ``agent`` sees it (``None``: absent)."""
    with app.test_request_context(f"/?{query}"), host.sessions() as session:
        shown = panels_for(session, host, location, target, session.get(Agent, agent.id))
    html = next((str(p.html) for p in shown if p.plugin_id == PLUGIN), None)
    assert html is None or "panel-error" not in html
    return html


def _metrics(html: str | None) -> dict[str, str]:
    """Every ``data-metric`` value the HTML shows, by name."""
    assert html is not None
    return dict(re.findall(r'data-metric="(\w+)"[^>]*>([^<]*)<', html))


def _panel(app: Flask, host: Host, agent: Agent, ticket_id: int, query: str = "") -> str | None:
    return _shown(
        app, host, agent, Location.TICKET_RIGHT_PANEL, PanelTarget("ticket", ticket_id), query
    )


# ------------------------------------------------------------------------------ the panel


def test_panel_shows_the_contacts_exact_figures(
    app: Flask, host: Host, agent: Agent, history: History
) -> None:
    html = _panel(app, host, agent, history.ticket_a)

    assert _metrics(html) == {
        "open": "1",
        "closed": "1",
        "first_response": "2 h 15 min",
        "response": "1 h 37 min",
        "resolution": "5 h",
        "rated_good": "1",
        "rated_good_percent": "50.0",
        "rated_okay": "1",
        "rated_okay_percent": "50.0",
        "rated_bad": "0",
        "rated_bad_percent": "0.0",
    }
    assert 'aria-label="Open tickets: 1, closed tickets: 1"' in (html or "")
    assert "Good: 1 (50.0%), okay: 1 (50.0%), bad: 0 (0.0%)" in (html or "")


def test_panel_switch_shows_the_contacts_account(
    app: Flask, host: Host, agent: Agent, history: History
) -> None:
    html = _panel(app, host, agent, history.ticket_a, "insights_for=account")

    assert _metrics(html) == {
        "open": "2",
        "closed": "1",
        "first_response": "2 d 3 h",
        "response": "1 d 10 h",
        "resolution": "5 h",
        "rated_good": "2",
        "rated_good_percent": "66.7",
        "rated_okay": "1",
        "rated_okay_percent": "33.3",
        "rated_bad": "0",
        "rated_bad_percent": "0.0",
    }
    assert 'href="?insights_for=contact"' in (html or "")


def test_panel_offers_the_account_switch_as_a_plain_link(
    app: Flask, host: Host, agent: Agent, history: History
) -> None:
    html = _panel(app, host, agent, history.ticket_a) or ""

    assert 'href="?insights_for=account" data-switch="account"' in html
    assert "<script" not in html


def test_panel_explains_each_number(app: Flask, host: Host, agent: Agent, history: History) -> None:
    html = _panel(app, host, agent, history.ticket_a) or ""

    assert "averaged over replies, not tickets" in html
    assert "without the time spent closed before a reopening" in html
    assert "Internal comments and automatic notifications are not replies." in html


def test_japanese_agent_reads_the_panel_in_japanese(
    app: Flask,
    host: Host,
    make_agent: Callable[..., Agent],
    support: Department,
    sales: Department,
    history: History,
) -> None:
    reader = make_agent("ja@example.com", departments=[support, sales], locale="ja")

    html = _panel(app, host, reader, history.ticket_a, "insights_for=account")

    shown = _metrics(html)
    assert (shown["first_response"], shown["response"], shown["resolution"]) == (
        "2日 3時間",
        "1日 10時間",
        "5時間",
    )
    assert "良い：2件（66.7%）、普通：1件（33.3%）、悪い：0件（0.0%）" in (html or "")
    assert "返信ごとに平均します" in (html or "")


def test_nothing_to_average_reads_no_data(
    app: Flask,
    host: Host,
    agent: Agent,
    support: Department,
    make_contact: Callable[..., Contact],
) -> None:
    desk = Desk(host)
    desk.install([support.id])
    ticket = desk.ticket(make_contact("Tanaka"), support.id, 0)

    shown = _metrics(_panel(app, host, agent, ticket))

    assert (shown["first_response"], shown["response"], shown["resolution"]) == (
        "no data",
        "no data",
        "no data",
    )
    assert shown["rated_good_percent"] == "0.0"


def test_panel_says_preparing_while_the_backfill_runs(
    app: Flask,
    host: Host,
    agent: Agent,
    support: Department,
    make_contact: Callable[..., Contact],
) -> None:
    desk = Desk(host)
    ticket = desk.ticket(make_contact("Tanaka"), support.id, 0)
    desk.install([support.id], backfilled=False)

    html = _panel(app, host, agent, ticket) or ""

    assert "Preparing this customer&#39;s figures" in html
    assert "data-metric" not in html


def test_agent_outside_the_installations_departments_gets_no_panel_or_tab(
    app: Flask,
    host: Host,
    make_agent: Callable[..., Agent],
    make_department: Callable[..., Department],
    history: History,
) -> None:
    outsider = make_agent("billing@example.com", departments=[make_department("Billing")])

    assert _panel(app, host, outsider, history.ticket_a) is None
    contact_tab = PanelTarget("contact", history.yamada.id)
    assert _shown(app, host, outsider, Location.CONTACT_SUBTAB, contact_tab) is None
    account_tab = PanelTarget("account", history.acme.id)
    assert _shown(app, host, outsider, Location.ACCOUNT_SUBTAB, account_tab) is None


# --------------------------------------------------------------------------- the Overview


def _overview(
    app: Flask, host: Host, agent: Agent, kind: str, customer_id: int, query: str = ""
) -> str | None:
    location = Location.CONTACT_SUBTAB if kind == "contact" else Location.ACCOUNT_SUBTAB
    return _shown(app, host, agent, location, PanelTarget(kind, customer_id), query)


def test_account_overview_shows_the_exact_figures_of_its_contacts_tickets(
    app: Flask, host: Host, agent: Agent, history: History
) -> None:
    html = _overview(app, host, agent, "account", history.acme.id)

    assert _metrics(html) == {
        "all": "3",
        "open": "2",
        "overdue": "1",
        "public_replies": "3",
        "first_response": "2 d 3 h",
        "response": "1 d 10 h",
        "resolution": "5 h",
        "rated_good": "2",
        "rated_good_percent": "66.7",
        "rated_okay": "1",
        "rated_okay_percent": "33.3",
        "rated_bad": "0",
        "rated_bad_percent": "0.0",
    }
    assert "Open (incl. on hold)" in (html or "")
    assert 'aria-label="Tickets by channel: Email 2, Phone 1"' in (html or "")
    assert dict(re.findall(r'data-channel="(\w+)">(\d+)<', html or "")) == {
        "email": "2",
        "phone": "1",
    }


def test_contact_overview_shows_the_contacts_figures(
    app: Flask, host: Host, agent: Agent, history: History
) -> None:
    shown = _metrics(_overview(app, host, agent, "contact", history.yamada.id))

    assert {k: shown[k] for k in ("all", "open", "overdue", "public_replies", "response")} == {
        "all": "2",
        "open": "1",
        "overdue": "1",
        "public_replies": "2",
        "response": "1 h 37 min",
    }


def test_overview_ticket_tabs_filter_by_status_type(
    app: Flask, host: Host, agent: Agent, history: History
) -> None:
    def listed(tab: str) -> set[int]:
        html = _overview(app, host, agent, "account", history.acme.id, f"tickets={tab}")
        return {int(i) for i in re.findall(r'data-ticket-id="(\d+)"', html or "")}

    assert listed("all") == {history.ticket_a, history.ticket_b, history.ticket_c}
    assert listed("open") == {history.ticket_c}
    assert listed("on_hold") == {history.ticket_b}


def test_overview_ticket_list_pages_by_keyset(
    app: Flask, host: Host, agent: Agent, history: History, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(overview, "PAGE_SIZE", 2)
    seen: list[int] = []
    query = "tickets=all"
    while True:
        html = _overview(app, host, agent, "account", history.acme.id, query) or ""
        seen += [int(i) for i in re.findall(r'data-ticket-id="(\d+)"', html)]
        found = re.search(r'href="\?([^"#]+)#customer-tabs" rel="next"', html)
        if found is None:
            break
        query = found.group(1).replace("&amp;", "&")

    assert sorted(seen) == sorted([history.ticket_a, history.ticket_b, history.ticket_c])
    assert len(seen) == 3


@pytest.fixture
def japanese_account_overview(
    app: Flask,
    host: Host,
    make_agent: Callable[..., Agent],
    support: Department,
    sales: Department,
    history: History,
) -> str:
    """The Overview of the history's account, as an agent reading Japanese sees it."""
    reader = make_agent("ja@example.com", departments=[support, sales], locale="ja")
    return _overview(app, host, reader, "account", history.acme.id) or ""


def test_overview_in_japanese(japanese_account_overview: str) -> None:
    html = japanese_account_overview

    assert "未完了（保留中を含む）" in html
    assert _metrics(html)["first_response"] == "2日 3時間"
    assert 'aria-label="チャネル別の問い合わせ：メール 2件, 電話 1件"' in html


def test_overview_shows_ticket_statuses_as_the_hosts_pages_do(
    japanese_account_overview: str,
) -> None:
    statuses = re.findall(
        r"<td>(On Hold|Closed|Open|保留中|完了|未完了)</td>", japanese_account_overview
    )
    assert {"保留中", "完了", "未完了"} <= set(statuses)
    assert not {"On Hold", "Closed", "Open"} & set(statuses)


def test_contact_page_shows_the_overview_tab(
    app: Flask, host: Host, agent: Agent, history: History
) -> None:
    client = app.test_client()
    login = client.get("/login").get_data(as_text=True)
    token = re.search(r'<meta name="csrf-token" content="([^"]+)"', login)
    assert token is not None
    client.post(
        "/login",
        data={"email": agent.email, "password": TEST_PASSWORD, "csrf_token": token.group(1)},
    )

    tab = f"{PLUGIN}.overview.{history.installation}"
    page = client.get(f"/contacts/{history.yamada.id}?tab={tab}").get_data(as_text=True)

    assert f'role="tabpanel" data-tab="{tab}"' in page
    assert f'href="?tab={tab}&amp;tickets=on_hold#customer-tabs"' in page
    assert _metrics(page)["all"] == "2"


# ------------------------------------------------------------------------------ wording


class _English:
    def gettext(self, message: str, **variables: Any) -> str:
        return message % variables if variables else message


@pytest.mark.parametrize(
    ("seconds", "words"),
    [
        (None, "no data"),
        (0, "0 s"),
        (59.9, "59 s"),
        (61, "1 min 1 s"),
        (2 * 3600 + 15 * 60 + 59, "2 h 15 min"),
        (2 * 3600 + 30, "2 h"),
        (3 * 86400 + 4 * 3600 + 3599, "3 d 4 h"),
    ],
)
def test_durations_read_in_two_units_rounded_down(seconds: float | None, words: str) -> None:
    assert display.humanise(_English(), seconds).text == words  # type: ignore[arg-type]


def test_percentages_have_one_decimal() -> None:
    assert [display.percent(1, 3), display.percent(2, 3), display.percent(0, 0)] == [
        "33.3",
        "66.7",
        "0.0",
    ]
