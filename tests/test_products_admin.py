"""Setup › Products: the catalogue is created, edited, deactivated and reactivated, in the
service, the setup pages and REST; an inactive product cannot be newly linked."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from core.errors import Forbidden, ValidationFailed
from core.models import Agent, AuditEntry, Contact, Department, OutboxEvent, Product
from core.services import customers as customer_service
from core.services import products as product_service
from core.services.base import Unit
from core.web.i18n import compile_catalogs
from hostapi import events, scopes

pytest_plugins = ["tests.api_fixtures"]

UnitFor = Callable[[Agent | None], Unit]


@pytest.fixture(scope="session", autouse=True)
def _compiled_catalogs() -> None:
    compile_catalogs()


@pytest.fixture
def printer(db: Session, unit_for: UnitFor) -> Product:
    made = product_service.create_product(unit_for(None), name="Printer X200", code="PX-200")
    db.commit()
    return made


def _make_products(db: Session, unit_for: UnitFor, count: int) -> None:
    for number in range(count):
        product_service.create_product(
            unit_for(None), name=f"Product {number:03d}", code=f"P-{number:03d}"
        )
    db.commit()


# ------------------------------------------------------------------------------- service


def test_create_product_is_audited_and_emits_its_fields(
    db: Session, unit_for: UnitFor, admin_agent: Agent
) -> None:
    product = product_service.create_product(
        unit_for(admin_agent), name=" 複合機 A3 ", code="MFP-A3", unit_price_cents=198000
    )
    db.commit()
    assert product.name == "複合機 A3" and product.is_active
    entry = db.scalars(select(AuditEntry).where(AuditEntry.entity_type == "product")).one()
    assert (entry.action, entry.actor_agent_id) == ("add", admin_agent.id)
    assert entry.after["unit_price_cents"] == 198000
    event = db.scalars(select(OutboxEvent).where(OutboxEvent.name == events.PRODUCT_CREATED)).one()
    assert event.payload["product_id"] == product.id
    assert event.payload["changes"]["name"] == [None, "複合機 A3"]


def test_create_product_gathers_every_bad_field(unit_for: UnitFor, admin_agent: Agent) -> None:
    with pytest.raises(ValidationFailed) as failure:
        product_service.create_product(
            unit_for(admin_agent), name=" ", code="x" * 101, unit_price_cents=-1
        )
    assert set(failure.value.errors) == {"name", "code", "unit_price_cents"}


def test_product_names_are_unique(unit_for: UnitFor, admin_agent: Agent, printer: Product) -> None:
    with pytest.raises(ValidationFailed) as failure:
        product_service.create_product(unit_for(admin_agent), name="Printer X200")
    assert failure.value.errors == {"name": [product_service.NAME_TAKEN]}


def test_renaming_to_another_products_name_is_refused(
    db: Session, unit_for: UnitFor, admin_agent: Agent, printer: Product
) -> None:
    scanner = product_service.create_product(unit_for(admin_agent), name="Scanner")
    with pytest.raises(ValidationFailed) as failure:
        product_service.update_product(unit_for(admin_agent), scanner, name="Printer X200")
    assert "name" in failure.value.errors


def test_update_emits_the_changes_and_audits_before_and_after(
    db: Session, unit_for: UnitFor, admin_agent: Agent, printer: Product
) -> None:
    product_service.update_product(unit_for(admin_agent), printer, code="PX-201")
    db.commit()
    event = db.scalars(select(OutboxEvent).where(OutboxEvent.name == events.PRODUCT_UPDATED)).one()
    assert event.payload == {"product_id": printer.id, "changes": {"code": ["PX-200", "PX-201"]}}
    entry = db.scalars(
        select(AuditEntry).where(AuditEntry.entity_type == "product", AuditEntry.action == "update")
    ).one()
    assert (entry.before, entry.after) == ({"code": "PX-200"}, {"code": "PX-201"})


def test_an_unchanged_update_writes_nothing(
    db: Session, unit_for: UnitFor, admin_agent: Agent, printer: Product
) -> None:
    product_service.update_product(unit_for(admin_agent), printer, name="Printer X200")
    db.commit()
    assert db.scalar(select(OutboxEvent).where(OutboxEvent.name == events.PRODUCT_UPDATED)) is None


def test_agent_without_product_manage_cannot_create(
    unit_for: UnitFor, make_agent: Callable[..., Agent], department: Department
) -> None:
    agent = make_agent(departments=[department])
    with pytest.raises(Forbidden):
        product_service.create_product(unit_for(agent), name="Nope")


def test_deactivated_product_stays_linked_but_cannot_be_linked_again(
    db: Session, unit_for: UnitFor, admin_agent: Agent, printer: Product, make_contact
) -> None:
    owner: Contact = make_contact()
    other: Contact = make_contact("Sato", email="sato@example.com")
    customer_service.link_product(unit_for(admin_agent), printer, contact=owner)
    product_service.set_product_active(unit_for(admin_agent), printer, False)
    db.commit()
    assert customer_service.list_products(unit_for(None), contact_id=owner.id) == [printer]
    with pytest.raises(ValidationFailed) as failure:
        customer_service.link_product(unit_for(admin_agent), printer, contact=other)
    assert failure.value.errors == {"product": [customer_service.INACTIVE_PRODUCT]}
    entry = db.scalars(select(AuditEntry).where(AuditEntry.sub_action == "deactivate")).one()
    assert entry.after == {"is_active": False}


def test_search_pages_by_name_and_narrows_to_active(
    db: Session, unit_for: UnitFor, admin_agent: Agent
) -> None:
    _make_products(db, unit_for, 5)
    first = product_service.search_products(unit_for(admin_agent), limit=3)
    after = product_service.search_products(unit_for(admin_agent), after=first[-1].name, limit=3)
    assert [p.name for p in first + after] == [f"Product {n:03d}" for n in range(5)]
    product_service.set_product_active(unit_for(admin_agent), first[0], False)
    active = product_service.search_products(unit_for(admin_agent), active=True, search="p-00")
    assert [p.name for p in active] == [f"Product {n:03d}" for n in range(1, 5)]


# -------------------------------------------------------------------------------- pages


def test_setup_page_pages_through_more_products_than_one_page(
    db: Session, unit_for: UnitFor, client: FlaskClient, sign_in_as, admin_agent: Agent
) -> None:
    _make_products(db, unit_for, 55)
    sign_in_as(admin_agent)
    first = client.get("/setup/products").get_data(as_text=True)
    assert "Product 049" in first and "Product 050" not in first
    assert 'rel="next"' in first
    cursor = product_service.encode_name_cursor("Product 049")
    second = client.get(f"/setup/products?status=active&after={cursor}").get_data(as_text=True)
    assert "Product 050" in second and "Product 054" in second and "Product 049" not in second
    assert 'rel="next"' not in second


def test_manager_of_one_department_manages_products_in_japanese(
    db: Session,
    client: FlaskClient,
    sign_in_as,
    make_agent: Callable[..., Agent],
    department: Department,
) -> None:
    support_manager = make_agent(
        "mgr-ja@example.com", profile="Support Manager", departments=[department], locale="ja"
    )
    headers = sign_in_as(support_manager)
    page = client.get("/setup/products").get_data(as_text=True)
    assert "新しい商品" in page
    answer = client.post(
        "/setup/products/new",
        data={
            "name": "ルーター R1",
            "code": "R1",
            "unit_price_cents": "12800",
            "csrf_token": headers["X-CSRFToken"],
        },
    )
    assert answer.status_code == 302
    made = db.scalars(select(Product).where(Product.name == "ルーター R1")).one()
    assert made.unit_price_cents == 12800


def test_product_form_names_each_bad_field(
    client: FlaskClient, sign_in_as, admin_agent: Agent, printer: Product
) -> None:
    headers = sign_in_as(admin_agent)
    answer = client.post(
        "/setup/products/new",
        data={
            "name": "Printer X200",
            "unit_price_cents": "twelve",
            "csrf_token": headers["X-CSRFToken"],
        },
    )
    page = answer.get_data(as_text=True)
    assert answer.status_code == 422
    assert "A product with this name exists." in page
    assert "Give a whole number of cents, 0 or more." in page


def test_edit_and_deactivate_from_the_setup_pages(
    db: Session, client: FlaskClient, sign_in_as, admin_agent: Agent, printer: Product
) -> None:
    product_id = printer.id
    token = sign_in_as(admin_agent)["X-CSRFToken"]
    db.commit()  # hold no SQLite snapshot while the app writes
    assert client.get(f"/setup/products/{product_id}/edit").status_code == 200
    edited = client.post(
        f"/setup/products/{product_id}/edit",
        data={"name": "Printer X300", "code": "PX-300", "csrf_token": token},
    )
    assert edited.status_code == 302
    client.post(f"/setup/products/{product_id}/active", data={"active": "0", "csrf_token": token})
    db.expire_all()
    product = db.get(Product, product_id)
    assert product is not None
    assert (product.name, product.is_active) == ("Printer X300", False)
    db.commit()
    listed = client.get("/setup/products").get_data(as_text=True)
    assert "Printer X300" not in listed
    assert "Printer X300" in client.get("/setup/products?status=inactive").get_data(as_text=True)
    client.post(f"/setup/products/{product_id}/active", data={"active": "1", "csrf_token": token})
    db.commit()
    db.expire_all()
    assert db.get(Product, product_id).is_active


def test_agent_without_product_manage_is_refused_the_setup_page(
    client: FlaskClient, sign_in_as, api_agent: Agent
) -> None:
    sign_in_as(api_agent)
    assert client.get("/setup/products").status_code == 403
    assert 'href="/setup/products"' not in client.get("/tickets").get_data(as_text=True)


def test_unknown_product_page_is_404(client: FlaskClient, sign_in_as, admin_agent: Agent) -> None:
    sign_in_as(admin_agent)
    assert client.get("/setup/products/999999/edit").status_code == 404


def test_linking_an_inactive_product_on_the_contact_page_is_a_form_error(
    db: Session,
    unit_for: UnitFor,
    client: FlaskClient,
    sign_in_as,
    admin_agent: Agent,
    printer: Product,
    make_contact,
) -> None:
    contact: Contact = make_contact()
    product_service.set_product_active(unit_for(admin_agent), printer, False)
    db.commit()
    headers = sign_in_as(admin_agent)
    answer = client.post(
        f"/contacts/{contact.id}/products",
        data={"product_id": str(printer.id), "csrf_token": headers["X-CSRFToken"]},
    )
    assert answer.status_code == 422
    assert customer_service.INACTIVE_PRODUCT in answer.get_data(as_text=True)


# --------------------------------------------------------------------------------- REST


def test_rest_creates_reads_and_deactivates_a_product(
    client: FlaskClient, sign_in_as, support_manager: Agent
) -> None:
    headers = sign_in_as(support_manager)
    made = client.post("/api/v1/products", json={"name": "Modem M2", "code": "M2"}, headers=headers)
    assert made.status_code == 201, made.json
    product_id = made.json["id"]
    assert client.get(f"/api/v1/products/{product_id}").json["is_active"] is True
    changed = client.patch(
        f"/api/v1/products/{product_id}", json={"is_active": False}, headers=headers
    )
    assert changed.status_code == 200 and changed.json["is_active"] is False
    assert client.get("/api/v1/products?active=true").json["items"] == []
    assert [p["id"] for p in client.get("/api/v1/products?active=false").json["items"]] == [
        product_id
    ]


def test_rest_pages_the_catalogue_by_name(
    db: Session, unit_for: UnitFor, client: FlaskClient, sign_in_as, support_manager: Agent
) -> None:
    _make_products(db, unit_for, 5)
    sign_in_as(support_manager)
    first = client.get("/api/v1/products?limit=3").json
    second = client.get(f"/api/v1/products?limit=3&cursor={first['next_cursor']}").json
    assert [p["name"] for p in first["items"] + second["items"]] == [
        f"Product {n:03d}" for n in range(5)
    ]
    assert second["next_cursor"] is None


def test_rest_create_names_the_bad_field(
    client: FlaskClient, sign_in_as, support_manager: Agent
) -> None:
    headers = sign_in_as(support_manager)
    answer = client.post("/api/v1/products", json={"name": ""}, headers=headers)
    assert answer.status_code == 422
    assert "name" in answer.json["errors"]["json"]
    taken = client.post("/api/v1/products", json={"name": "A"}, headers=headers)
    assert taken.status_code == 201
    again = client.post("/api/v1/products", json={"name": "A"}, headers=headers)
    assert again.status_code == 422 and "name" in again.json["errors"]["json"]


def test_rest_create_needs_product_manage(
    client: FlaskClient, sign_in_as, api_agent: Agent
) -> None:
    headers = sign_in_as(api_agent)
    answer = client.post("/api/v1/products", json={"name": "Nope"}, headers=headers)
    assert answer.status_code == 403
    assert answer.json["permission"] == "product.manage"


def test_rest_create_needs_the_settings_write_scope(
    client: FlaskClient, bearer_for, support_manager: Agent
) -> None:
    reader = bearer_for(support_manager, [scopes.CONTACTS_READ])
    answer = client.post("/api/v1/products", json={"name": "Nope"}, headers=reader)
    assert answer.status_code == 403
    assert answer.json["error"] == "insufficient_scope"


def test_rest_unknown_product_is_404(
    client: FlaskClient, sign_in_as, support_manager: Agent
) -> None:
    headers = sign_in_as(support_manager)
    assert client.get("/api/v1/products/999999").status_code == 404
    assert client.patch("/api/v1/products/999999", json={}, headers=headers).status_code == 404
