"""SalesIQ in a real browser, in English and Japanese: the admin follows the navigation link,
links the stand-in chat product's account, authorizes it on the desk's consent page, sets the
rule "attended chats, when the chat ends, open"; a chat is answered and ended in the product,
and its ticket appears with the transcript. An agent of one department (no marketplace
permission) has no link to the integration and is refused it."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
import requests

from core import worker
from core.host import Host
from core.models import Agent, Department, Installation
from plugins.salesiq.standin.testing import RunningStandin, running_standin
from tests.factories import install_for

pytestmark = pytest.mark.browser

TEXT = {
    "en": {"menu": "SalesIQ integration", "authorized": "The chat product is authorized"},
    "ja": {"menu": "SalesIQ連携", "authorized": "チャットサービスを承認しました"},
}


@pytest.fixture
def installation(host: Host, support: Department) -> Installation:
    with host.transaction() as session:
        installed = install_for(session, host, "salesiq", [support.id])
    return installed


@pytest.fixture
def standin_for() -> Iterator[Callable[[str], RunningStandin]]:
    """``standin_for(email)``: a stand-in whose account's operator has that email, with a
    Support department."""
    with_stack: list[object] = []

    def start(email: str) -> RunningStandin:
        context = running_standin(operator_email=email, operator_name="Admin")
        running = context.__enter__()
        with_stack.append(context)
        requests.post(
            f"{running.base_url}/_control/departments", json={"name": "Support"}, timeout=30
        ).raise_for_status()
        return running

    yield start
    for context in reversed(with_stack):
        context.__exit__(None, None, None)  # type: ignore[attr-defined]


def _control(standin: RunningStandin, path: str, **body: object) -> dict[str, object]:
    answer = requests.post(f"{standin.base_url}/_control{path}", json=body, timeout=30)
    answer.raise_for_status()
    return answer.json()


@pytest.mark.parametrize("locale", ["en", "ja"])
def test_admin_links_sets_the_rule_and_an_ended_chat_becomes_a_ticket_with_its_transcript(
    page: object,
    live_server: str,
    sign_in: Callable[[str], None],
    make_agent: Callable[..., Agent],
    support: Department,
    installation: Installation,
    standin_for: Callable[[str], RunningStandin],
    host: Host,
    locale: str,
) -> None:
    admin = make_agent(
        f"admin-siq-{locale}@example.com",
        profile="Administrator",
        departments=[support],
        locale=locale,
    )
    standin = standin_for(admin.email)
    sign_in(admin.email)

    page.locator("[data-extension-menu]", has_text=TEXT[locale]["menu"]).click()  # type: ignore[attr-defined]
    page.wait_for_url(f"{live_server}/ext/salesiq/{installation.id}/integration/")  # type: ignore[attr-defined]
    page.fill("#link-base_url", standin.base_url)  # type: ignore[attr-defined]
    page.fill("#link-portal", standin.portal)  # type: ignore[attr-defined]
    page.fill("#link-api_token", standin.api_token)  # type: ignore[attr-defined]
    page.click("#link-account")  # type: ignore[attr-defined]
    page.click("#authorize-now")  # type: ignore[attr-defined]
    page.click("#approve-button")  # type: ignore[attr-defined]
    page.wait_for_url("**/integration/?linked=1")  # type: ignore[attr-defined]
    assert TEXT[locale]["authorized"] in page.locator("#link-authorized").text_content()  # type: ignore[attr-defined]
    assert page.locator("[data-link-state]").count() == 1  # type: ignore[attr-defined]

    page.click("#change-rule")  # type: ignore[attr-defined]
    page.select_option("#setting-convert_chats select", "attended")  # type: ignore[attr-defined]
    page.select_option("#setting-convert_when select", "ended")  # type: ignore[attr-defined]
    page.select_option("#setting-ticket_status select", "open")  # type: ignore[attr-defined]
    page.click("#settings-form button[type=submit]")  # type: ignore[attr-defined]
    page.wait_for_load_state()  # type: ignore[attr-defined]

    state = requests.get(f"{standin.base_url}/_control/state", timeout=30).json()
    department_id = state["departments"][0]["id"]
    operator_id = state["operators"][0]["id"]
    chat = _control(
        standin,
        "/chats",
        department_id=department_id,
        visitor={"name": "Hana Visitor", "email": "hana@example.com", "phone": ""},
        question="Where is my order?",
    )
    _control(standin, f"/chats/{chat['id']}/attend", operator_id=operator_id)
    _control(
        standin,
        f"/chats/{chat['id']}/messages",
        sender="operator",
        text="It left the warehouse today.",
        operator_id=operator_id,
    )
    _control(standin, f"/chats/{chat['id']}/end")
    worker.run(host, burst=True, with_scheduler=False)

    page.goto(f"{live_server}/ext/salesiq/{installation.id}/integration/chats")  # type: ignore[attr-defined]
    page.locator(f'[data-chat="{chat["id"]}"] [data-ticket] a').click()  # type: ignore[attr-defined]
    page.wait_for_url(f"{live_server}/tickets/*")  # type: ignore[attr-defined]
    body = page.locator("main").text_content()  # type: ignore[attr-defined]
    assert "Where is my order?" in body
    assert "It left the warehouse today." in body


def test_an_agent_of_one_department_has_no_link_to_the_integration_and_is_refused(
    page: object,
    live_server: str,
    sign_in: Callable[[str], None],
    desk_agent: Agent,
    installation: Installation,
) -> None:
    sign_in(desk_agent.email)

    assert page.locator("[data-extension-menu]", has_text="SalesIQ").count() == 0  # type: ignore[attr-defined]
    answer = page.goto(f"{live_server}/ext/salesiq/{installation.id}/integration/")  # type: ignore[attr-defined]
    assert answer.status in (403, 404)
