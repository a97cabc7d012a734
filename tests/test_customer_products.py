"""Products linked to contacts and accounts: shown on their pages, linked by lookup, REST."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from core.models import Account, Agent, Contact, Product
from core.services import customers as customer_service
from core.services.base import Unit
from core.web.i18n import compile_catalogs
from hostapi import scopes

pytest_plugins = ["tests.api_fixtures"]

UnitFor = Callable[[Agent | None], Unit]
#: The ``?tab=`` of a contact's Products tab.
CONTACT_PRODUCTS = "core_customer_products.contact_products"


@pytest.fixture(scope="session", autouse=True)
def _compiled_catalogs() -> None:
    compile_catalogs()


@pytest.fixture
def product(db: Session, unit_for: UnitFor) -> Product:
    made = customer_service.create_product(unit_for(None), name="Printer X200", code="PX-200")
    customer_service.create_product(unit_for(None), name="Scanner S1", code="SC-1")
    db.commit()
    return made


@pytest.fixture
def contact(make_contact: Callable[..., Contact]) -> Contact:
    return make_contact()


@pytest.fixture
def manager_client(
    client: FlaskClient, sign_in_as, support_manager: Agent
) -> tuple[FlaskClient, dict]:
    return client, sign_in_as(support_manager)


def _linked(db: Session, unit_for: UnitFor, **record: int) -> list[str]:
    db.expire_all()
    return [p.name for p in customer_service.list_products(unit_for(None), **record)]


def test_contact_page_shows_its_linked_products(
    db: Session, unit_for: UnitFor, browser, product: Product, contact: Contact
) -> None:
    customer_service.link_product(unit_for(None), product, contact=contact)
    db.commit()
    client, _headers = browser
    page = client.get(f"/contacts/{contact.id}?tab={CONTACT_PRODUCTS}").get_data(as_text=True)
    assert '<span class="product-name">Printer X200</span>' in page
    assert "Scanner S1" not in page
    assert '<span class="tab-count">1</span>' in page


def test_agent_without_product_manage_sees_no_link_form(
    browser, product: Product, contact: Contact
) -> None:
    client, _headers = browser
    page = client.get(f"/contacts/{contact.id}?tab={CONTACT_PRODUCTS}").get_data(as_text=True)
    assert 'id="no-products"' in page
    assert 'id="product-link-form"' not in page


def test_manager_links_a_product_chosen_in_the_lookup(
    db: Session, unit_for: UnitFor, manager_client, product: Product, contact: Contact
) -> None:
    client, headers = manager_client
    answer = client.post(
        f"/contacts/{contact.id}/products",
        data={
            "product": "Printer X200",
            "product_id": str(product.id),
            "csrf_token": headers["X-CSRFToken"],
        },
    )
    assert answer.status_code == 302
    assert answer.location.endswith(f"?tab={CONTACT_PRODUCTS}#customer-tabs")
    assert _linked(db, unit_for, contact_id=contact.id) == ["Printer X200"]


def test_a_product_named_exactly_links_without_the_lookup(
    db: Session, unit_for: UnitFor, manager_client, product: Product, make_account
) -> None:
    client, headers = manager_client
    account: Account = make_account()
    client.post(
        f"/accounts/{account.id}/products",
        data={"product": "SC-1", "csrf_token": headers["X-CSRFToken"]},
    )
    assert _linked(db, unit_for, account_id=account.id) == ["Scanner S1"]


def test_an_unknown_product_is_a_form_error(
    db: Session, unit_for: UnitFor, manager_client, product: Product, contact: Contact
) -> None:
    client, headers = manager_client
    answer = client.post(
        f"/contacts/{contact.id}/products",
        data={"product": "Nope", "csrf_token": headers["X-CSRFToken"]},
    )
    assert answer.status_code == 422
    # The page comes back with the Products tab open on the message.
    assert "Choose a product from the list." in answer.get_data(as_text=True)
    assert _linked(db, unit_for, contact_id=contact.id) == []


def test_manager_unlinks_a_product_from_the_page(
    db: Session, unit_for: UnitFor, manager_client, product: Product, contact: Contact
) -> None:
    customer_service.link_product(unit_for(None), product, contact=contact)
    db.commit()
    client, headers = manager_client
    client.post(
        f"/contacts/{contact.id}/products/{product.id}/unlink",
        data={"csrf_token": headers["X-CSRFToken"]},
    )
    assert _linked(db, unit_for, contact_id=contact.id) == []


def test_agent_without_product_manage_cannot_link(
    db: Session, unit_for: UnitFor, browser, product: Product, contact: Contact
) -> None:
    client, headers = browser
    answer = client.post(
        f"/contacts/{contact.id}/products",
        data={"product_id": str(product.id), "csrf_token": headers["X-CSRFToken"]},
    )
    assert answer.status_code == 403
    assert _linked(db, unit_for, contact_id=contact.id) == []


# --------------------------------------------------------------------------------------- REST


def test_product_lookup_matches_name_or_code(browser, product: Product) -> None:
    client, _headers = browser
    assert [p["name"] for p in client.get("/api/v1/products?search=px-").json["items"]] == [
        "Printer X200"
    ]
    assert [p["name"] for p in client.get("/api/v1/products?search=scan").json["items"]] == [
        "Scanner S1"
    ]


def test_rest_links_lists_and_unlinks_for_a_contact(
    manager_client, product: Product, contact: Contact
) -> None:
    client, headers = manager_client
    path = f"/api/v1/contacts/{contact.id}/products"
    assert client.put(f"{path}/{product.id}", headers=headers).status_code == 204
    assert client.put(f"{path}/{product.id}", headers=headers).status_code == 204
    assert [p["code"] for p in client.get(path).json["items"]] == ["PX-200"]
    assert client.delete(f"{path}/{product.id}", headers=headers).status_code == 204
    assert client.get(path).json["items"] == []


def test_rest_links_for_an_account(manager_client, product: Product, make_account) -> None:
    client, headers = manager_client
    account: Account = make_account()
    path = f"/api/v1/accounts/{account.id}/products"
    client.put(f"{path}/{product.id}", headers=headers)
    assert [p["name"] for p in client.get(path).json["items"]] == ["Printer X200"]


def test_rest_link_without_product_manage_answers_403(
    browser, product: Product, contact: Contact
) -> None:
    client, headers = browser
    answer = client.put(f"/api/v1/contacts/{contact.id}/products/{product.id}", headers=headers)
    assert answer.status_code == 403
    assert answer.json["permission"] == "product.manage"


def test_rest_link_of_an_unknown_product_answers_404(manager_client, contact: Contact) -> None:
    client, headers = manager_client
    answer = client.put(f"/api/v1/contacts/{contact.id}/products/999999", headers=headers)
    assert answer.status_code == 404


def test_token_with_only_the_read_scope_cannot_link(
    client: FlaskClient, bearer_for, support_manager: Agent, product: Product, contact: Contact
) -> None:
    reader = bearer_for(support_manager, [scopes.CONTACTS_READ])
    answer = client.put(f"/api/v1/contacts/{contact.id}/products/{product.id}", headers=reader)
    assert answer.status_code == 403
    assert answer.json["scope"] == scopes.CONTACTS_WRITE
