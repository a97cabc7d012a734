"""Numbers typed into forms and page addresses: anything but ASCII digits in range is refused
with the form shown again (or ignored where the number only picks a page), never a 500.

``str.isdigit`` accepts "²", which ``int`` then refuses; these are the fields that used
to trust it.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from flask.testing import FlaskClient

from core.models import Agent, Contact, Department

pytest_plugins = ["tests.api_fixtures"]

NOT_NUMBERS = ["²", "-1", "99999999999999999999999"]


@pytest.fixture
def admin(
    client: FlaskClient, admin_agent: Agent, sign_in_as: Callable[[Agent], dict[str, str]]
) -> tuple[FlaskClient, dict[str, str]]:
    """The client signed in as an administrator, with the CSRF header for its posts."""
    return client, sign_in_as(admin_agent)


@pytest.mark.parametrize("text", NOT_NUMBERS)
def test_a_week_start_that_is_not_a_day_number_is_refused(
    admin: tuple[FlaskClient, dict[str, str]], text: str
) -> None:
    client, csrf = admin
    answer = client.post(
        "/setup/organisation",
        data={"name": "Acme", "timezone": "Asia/Tokyo", "default_locale": "ja", "week_start": text},
        headers=csrf,
    )
    assert answer.status_code == 422
    assert 'name="week_start"' in answer.get_data(as_text=True)


@pytest.mark.parametrize("text", NOT_NUMBERS)
def test_deactivating_into_a_department_that_is_not_a_number_moves_nothing(
    admin: tuple[FlaskClient, dict[str, str]], department: Department, text: str
) -> None:
    client, csrf = admin
    answer = client.post(
        f"/setup/departments/{department.id}/deactivate",
        data={"move_to_department_id": text},
        headers=csrf,
    )
    assert answer.status_code in (200, 302, 422)


@pytest.mark.parametrize("text", NOT_NUMBERS)
def test_a_status_page_cursor_that_is_not_a_number_starts_at_the_first_page(
    admin: tuple[FlaskClient, dict[str, str]], text: str
) -> None:
    client, _ = admin
    answer = client.get("/setup/statuses", query_string={"after": text})
    assert answer.status_code == 200
    assert "Open" in answer.get_data(as_text=True)


@pytest.mark.parametrize("text", NOT_NUMBERS)
def test_national_holidays_of_a_year_that_is_not_a_number_are_refused(
    admin: tuple[FlaskClient, dict[str, str]], department: Department, text: str
) -> None:
    client, csrf = admin
    answer = client.post(
        f"/admin/sla/business-hours/{department.id}/holidays/national",
        data={"country": "JP", "year": text},
        headers=csrf,
    )
    assert answer.status_code == 422


@pytest.mark.parametrize("text", NOT_NUMBERS)
def test_an_sla_policy_naming_departments_that_are_not_numbers_covers_none_of_them(
    admin: tuple[FlaskClient, dict[str, str]], text: str
) -> None:
    client, csrf = admin
    answer = client.post(
        "/admin/sla/policies/new",
        data={"name": "Gold", "department_ids": text},
        headers=csrf,
    )
    assert answer.status_code in (302, 422)


@pytest.mark.parametrize("text", NOT_NUMBERS)
def test_a_call_lasting_minutes_that_are_not_a_number_is_refused(
    admin: tuple[FlaskClient, dict[str, str]], department: Department, text: str
) -> None:
    client, csrf = admin
    answer = client.post(
        "/tickets/log-call",
        data={
            "phone": "+81312345678",
            "caller_name": "Hanako Yamada",
            "direction": "incoming",
            "subject": "Billing",
            "department_id": str(department.id),
            "minutes": text,
            "seconds": "0",
        },
        headers=csrf,
    )
    assert answer.status_code == 422
    assert "Give whole minutes and seconds." in answer.get_data(as_text=True)


@pytest.mark.parametrize("text", NOT_NUMBERS)
def test_a_field_dropped_at_a_position_that_is_not_a_number_goes_last(
    admin: tuple[FlaskClient, dict[str, str]], text: str
) -> None:
    client, csrf = admin
    answer = client.post(
        "/admin/fields/contact",
        data={"label": "Plan", "field_type": "text", "position": text},
        headers=csrf,
    )
    assert answer.status_code in (302, 303)


@pytest.mark.parametrize("text", NOT_NUMBERS)
def test_a_ticket_list_filtered_by_a_department_that_is_not_a_number_is_unfiltered(
    admin: tuple[FlaskClient, dict[str, str]], text: str
) -> None:
    client, _ = admin
    assert client.get("/tickets", query_string={"department": text}).status_code == 200


@pytest.mark.parametrize("text", NOT_NUMBERS)
def test_linking_a_product_id_that_is_not_a_number_links_nothing(
    admin: tuple[FlaskClient, dict[str, str]], make_contact: Callable[..., Contact], text: str
) -> None:
    client, csrf = admin
    contact = make_contact()
    answer = client.post(
        f"/contacts/{contact.id}/products", data={"product_id": text}, headers=csrf
    )
    assert answer.status_code in (302, 404, 422)


@pytest.mark.parametrize("field", ["account_id", "owner_id"])
@pytest.mark.parametrize("text", NOT_NUMBERS)
def test_a_contact_whose_account_or_owner_is_not_a_number_is_refused(
    admin: tuple[FlaskClient, dict[str, str]], field: str, text: str
) -> None:
    client, csrf = admin
    answer = client.post("/contacts/new", data={"last_name": "Yamada", field: text}, headers=csrf)
    assert answer.status_code == 422
    assert "Choose from the list." in answer.get_data(as_text=True)
