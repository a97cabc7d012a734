"""SalesIQ: an administrator links the chat product's account whose email is theirs (another
email is refused), the product is authorized on the desk's consent page, departments are
mapped by name, and the link can be disabled, enabled, unlinked, and stops when the linking
admin is deactivated. All over real HTTP against the stand-in."""

from __future__ import annotations

from collections.abc import Callable

import requests

from core.models import Agent, Department
from plugins.salesiq import link
from tests.salesiq_desk import SalesDesk, hidden_fields

pytest_plugins = ["tests.api_fixtures", "tests.salesiq_desk"]


def test_linking_shows_who_linked_the_portal_and_when(sales_desk: SalesDesk) -> None:
    page = sales_desk.link()

    row = sales_desk.the_link()
    assert row is not None and row.state == link.ACTIVE
    assert (row.portal, row.operator_email, row.linked_by_agent_id) == (
        "acme",
        "admin@example.com",
        sales_desk.admin.id,
    )
    assert "The chat product is authorized" in page.text
    assert "data-portal>acme" in page.text and "Admin on 2026-12-07" in page.text


def test_linking_registers_the_webhook_and_gives_the_product_a_token(
    linked_desk: SalesDesk,
) -> None:
    state = linked_desk.control("GET", "/state")

    [subscription] = state["webhooks"]
    assert subscription["url"] == (
        f"{linked_desk.url}/hooks/salesiq/{linked_desk.installation.id}/events"
    )
    status, body = linked_desk.window(
        "GET", "/options", query={"chat_department_id": linked_desk.chat_department("Support")}
    )
    assert status == 200, body
    assert {"Support", "Sales"} <= {choice["label"] for choice in body["departments"]}


def test_an_account_of_another_email_is_refused_with_the_reason(
    sales_desk: SalesDesk, standin_operator: Callable[[str], str]
) -> None:
    token = standin_operator("someone.else@example.com")

    answer = sales_desk.link(api_token=token)

    assert answer.status_code == 422
    assert "This token belongs to someone.else@example.com" in answer.text
    assert sales_desk.the_link() is None
    assert sales_desk.control("GET", "/state")["webhooks"] == []


def test_a_refused_token_names_the_token_field(sales_desk: SalesDesk) -> None:
    answer = sales_desk.link(api_token="not-a-token")

    assert answer.status_code == 422
    assert 'data-error-for="api_token"' in answer.text
    assert sales_desk.the_link() is None


def test_same_named_departments_map_by_themselves_and_the_rest_is_chosen_each_time(
    linked_desk: SalesDesk,
) -> None:
    support, sales = linked_desk.departments["Support"], linked_desk.departments["Sales"]

    assert linked_desk.mapping() == {
        "Support": ("mapped", support.id),
        "Sales": ("mapped", sales.id),
        "Billing": ("choose", None),
    }


def test_a_new_chat_department_maps_by_name_with_a_notice_that_can_unlink_it(
    linked_desk: SalesDesk, make_department: Callable[..., Department], db: object
) -> None:
    linked_desk.control("POST", "/departments", name="Returns")
    assert linked_desk.mapping()["Returns"] == ("choose", None)  # no desk department of that name

    linked_desk.control(
        "PATCH", f"/departments/{linked_desk.chat_department('Returns')}", name="sales"
    )

    assert linked_desk.mapping()["sales"] == ("choose", None)  # a rename keeps the mapping
    linked_desk.control("POST", "/departments", name="SUPPORT ")
    assert linked_desk.mapping()["SUPPORT "] == ("mapped", linked_desk.departments["Support"].id)
    page = linked_desk.browser.get(linked_desk.integration_url)
    assert "Mapped automatically" in page.text
    row_id = _row_id(page.text, "SUPPORT ")
    answer = linked_desk.browser.post(
        f"{linked_desk.integration_url}departments/{row_id}/unlink",
        data={"csrf_token": _csrf(page.text)},
    )
    assert answer.ok
    assert linked_desk.mapping()["SUPPORT "] == ("choose", None)
    page = linked_desk.browser.get(linked_desk.integration_url)
    assert f'data-notice="{row_id}"' not in page.text


def test_the_admin_maps_a_department_to_a_mode(linked_desk: SalesDesk) -> None:
    linked_desk.set_mode("Billing", "view_only")
    linked_desk.set_mode("Sales", "none")

    mapping = linked_desk.mapping()
    assert (mapping["Billing"], mapping["Sales"]) == (("view_only", None), ("none", None))


def test_a_disabled_link_refuses_events_and_the_window_until_enabled(
    linked_desk: SalesDesk,
) -> None:
    page = linked_desk.browser.get(linked_desk.integration_url)
    linked_desk.browser.post(
        f"{linked_desk.integration_url}disable", data={"csrf_token": _csrf(page.text)}
    )

    linked_desk.control("POST", "/departments", name="Legal")
    [delivery] = linked_desk.control("GET", "/deliveries")["data"][-1:]
    assert delivery["status_code"] == 503
    status, _ = linked_desk.window(
        "GET", "/options", query={"chat_department_id": linked_desk.chat_department("Support")}
    )
    assert status == 409

    page = linked_desk.browser.get(linked_desk.integration_url)
    linked_desk.browser.post(
        f"{linked_desk.integration_url}enable", data={"csrf_token": _csrf(page.text)}
    )
    assert linked_desk.the_link().state == link.ACTIVE  # type: ignore[union-attr]


def test_the_link_stops_when_the_linking_admin_is_deactivated(
    linked_desk: SalesDesk, db: object
) -> None:
    admin = linked_desk.db.get(Agent, linked_desk.admin.id)
    assert admin is not None
    admin.is_active = False
    linked_desk.db.commit()

    linked_desk.work()

    assert linked_desk.the_link().state == link.RELINK  # type: ignore[union-attr]
    linked_desk.control("POST", "/departments", name="Legal")
    assert linked_desk.control("GET", "/deliveries")["data"][-1]["status_code"] == 503


def test_unlinking_removes_the_webhook_and_the_products_access(linked_desk: SalesDesk) -> None:
    page = linked_desk.browser.get(f"{linked_desk.integration_url}unlink")
    answer = linked_desk.browser.post(
        f"{linked_desk.integration_url}unlink", data={"csrf_token": _csrf(page.text)}
    )

    assert answer.ok and 'id="link-form"' in answer.text
    assert linked_desk.the_link() is None
    assert linked_desk.control("GET", "/state")["webhooks"] == []


def _csrf(page: str) -> str:
    return hidden_fields(page)["csrf_token"]


def _row_id(page: str, name: str) -> str:
    import re

    found = re.search(r'<label for="department-(\d+)">' + re.escape(name) + "</label>", page)
    assert found, page
    return found.group(1)


def test_the_products_token_reaches_only_the_extensions_endpoints(
    linked_desk: SalesDesk,
) -> None:
    tokens = linked_desk.standin.state.desk_tokens
    assert tokens is not None
    headers = {"Authorization": f"Bearer {tokens.access_token}"}
    own = f"{linked_desk.url}/api/v1/ext/salesiq/{linked_desk.installation.id}/options"
    chat_department = linked_desk.chat_department("Support")

    inside = requests.get(own, headers=headers, params={"chat_department_id": chat_department})
    outside = requests.get(f"{linked_desk.url}/api/v1/tickets", headers=headers)

    assert inside.status_code == 200, inside.text
    assert outside.status_code == 403 and "linked product" in outside.json()["message"]


def test_a_product_authorized_by_another_admin_is_refused_in_the_chat_window(
    linked_desk: SalesDesk, make_agent: Callable[..., Agent], department: Department
) -> None:
    other = make_agent("other.admin@example.com", profile="Administrator", departments=[department])
    browser = requests.Session()
    linked_desk.sign_in(browser, other.email)
    consent = browser.get(linked_desk.the_link().connect_url)  # type: ignore[union-attr]
    browser.post(
        consent.url.split("?")[0], data={**hidden_fields(consent.text), "decision": "approve"}
    )

    status, body = linked_desk.window(
        "GET", "/options", query={"chat_department_id": linked_desk.chat_department("Support")}
    )

    assert status == 403 and "admin who linked it" in body["message"]


def test_a_delivery_without_a_link_is_not_found_and_a_bad_one_to_a_disabled_link_unsigned(
    sales_desk: SalesDesk,
) -> None:
    url = f"{sales_desk.url}/hooks/salesiq/{sales_desk.installation.id}/events"

    assert requests.post(url, data=b"{}", timeout=30).status_code == 404
    sales_desk.link()
    page = sales_desk.browser.get(sales_desk.integration_url)
    sales_desk.browser.post(
        f"{sales_desk.integration_url}disable", data={"csrf_token": _csrf(page.text)}
    )
    assert requests.post(url, data=b"{}", timeout=30).status_code == 401


def test_linking_another_account_forgets_the_first_ones_mapping(
    linked_desk: SalesDesk,
) -> None:
    linked_desk.set_mode("Billing", "view_only")
    linked_desk.standin.state.portal = "other"  # the same server, another portal's account

    answer = linked_desk.link()

    assert "linked=1" in answer.url
    assert linked_desk.the_link().portal == "other"  # type: ignore[union-attr]
    assert linked_desk.mapping()["Billing"] == ("choose", None)


def test_linking_the_same_account_again_keeps_its_mapping(linked_desk: SalesDesk) -> None:
    linked_desk.set_mode("Billing", "view_only")

    answer = linked_desk.link()

    assert "linked=1" in answer.url
    assert linked_desk.mapping()["Billing"] == ("view_only", None)
