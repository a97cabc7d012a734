"""The layout editor places, relabels and hides the built-in fields of contacts and accounts;
the forms and detail pages follow it; required fields cannot be hidden."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from core.errors import Forbidden, NotFound, ValidationFailed
from core.models import Agent, AuditEntry, Contact, Department
from core.services import fields as field_service
from core.services.base import Unit
from core.web.i18n import compile_catalogs

pytest_plugins = ["tests.api_fixtures"]

UnitFor = Callable[[Agent | None], Unit]


@pytest.fixture(scope="session", autouse=True)
def _compiled_catalogs() -> None:
    compile_catalogs()


def _keys(db: Session, entity: str = "contact") -> list[str]:
    return [placed.key for placed in field_service.builtin_layout(db, entity)]


def _form_names(page: str) -> list[str]:
    """The visible inputs of the record form, in order (hidden inputs left out)."""
    form = page.split('class="record-form')[1].split("</form>")[0]
    return [
        name
        for tag, name in re.findall(r'<(input|select|textarea)[^>]*name="([^"]+)"', form)
        if name != "csrf_token"
        and not re.search(rf'<input type="hidden" name="{name}"', form)
        and not name.startswith("cf__")
    ]


# ------------------------------------------------------------------------------- service


def test_defaults_follow_the_form_as_it_was(db: Session) -> None:
    assert _keys(db) == [
        "last_name",
        "first_name",
        "email",
        "phone",
        "mobile",
        "title",
        "account_id",
        "owner_id",
        "description",
    ]
    assert _keys(db, "account")[0] == "name"


def test_relabel_and_hide_are_audited(db: Session, unit_for: UnitFor, admin_agent: Agent) -> None:
    field_service.update_builtin_field(
        unit_for(admin_agent), "contact", "mobile", label="携帯電話", hidden=True
    )
    db.commit()
    placed = {p.key: p for p in field_service.builtin_layout(db, "contact")}
    assert (placed["mobile"].label, placed["mobile"].hidden) == ("携帯電話", True)
    entry = db.scalars(select(AuditEntry).where(AuditEntry.entity_type == "builtin_field")).one()
    assert entry.entity_id == "contact.mobile"
    assert entry.after == {"label": "携帯電話", "hidden": True}


def test_required_fields_cannot_be_hidden(unit_for: UnitFor, admin_agent: Agent) -> None:
    for entity, key in (("contact", "last_name"), ("account", "name")):
        with pytest.raises(ValidationFailed) as failure:
            field_service.update_builtin_field(unit_for(admin_agent), entity, key, hidden=True)
        assert list(failure.value.errors) == ["hidden"]


def test_reorder_and_move(db: Session, unit_for: UnitFor, admin_agent: Agent) -> None:
    keys = _keys(db, "account")
    reordered = [keys[3], *keys[:3], *keys[4:]]
    field_service.reorder_builtin_fields(unit_for(admin_agent), "account", reordered)
    db.commit()
    assert _keys(db, "account") == reordered
    field_service.move_builtin_field(unit_for(admin_agent), "account", reordered[1], "up")
    assert _keys(db, "account")[:2] == [reordered[1], reordered[0]]


def test_reorder_needs_every_key_once(unit_for: UnitFor, admin_agent: Agent) -> None:
    with pytest.raises(ValidationFailed) as failure:
        field_service.reorder_builtin_fields(unit_for(admin_agent), "account", ["name"])
    assert list(failure.value.errors) == ["keys"]


def test_unknown_field_and_missing_permission(
    unit_for: UnitFor, make_agent: Callable[..., Agent], department: Department, admin_agent
) -> None:
    with pytest.raises(NotFound):
        field_service.update_builtin_field(unit_for(admin_agent), "contact", "age", label="x")
    agent = make_agent(departments=[department])
    with pytest.raises(Forbidden):
        field_service.update_builtin_field(unit_for(agent), "contact", "title", label="x")


# -------------------------------------------------------------------------------- pages


def test_forms_and_detail_pages_follow_the_layout(
    db: Session,
    unit_for: UnitFor,
    client: FlaskClient,
    sign_in_as,
    admin_agent: Agent,
    make_contact,
) -> None:
    unit = unit_for(admin_agent)
    keys = _keys(db)
    field_service.reorder_builtin_fields(unit, "contact", [keys[5], *keys[:5], *keys[6:]])
    field_service.update_builtin_field(unit, "contact", "title", label="Role")
    field_service.update_builtin_field(unit, "contact", "mobile", hidden=True)
    contact: Contact = make_contact()
    contact.mobile = "090-1234-5678"
    contact.title = "Director"
    db.commit()
    sign_in_as(admin_agent)
    form = client.get(f"/contacts/{contact.id}/edit").get_data(as_text=True)
    # The name's two parts stay together, in the order the page's language asks for them.
    assert _form_names(form)[:3] == ["title", "first_name", "last_name"]
    assert "mobile" not in _form_names(form)
    assert '<input type="hidden" name="mobile" value="090-1234-5678">' in form
    assert '<label for="title">Role</label>' in form
    detail = client.get(f"/contacts/{contact.id}").get_data(as_text=True)
    assert "<dt>Role</dt>" in detail and "090-1234-5678" not in detail


def test_saving_a_form_keeps_a_hidden_fields_value(
    db: Session,
    unit_for: UnitFor,
    client: FlaskClient,
    sign_in_as,
    admin_agent: Agent,
    make_contact,
) -> None:
    field_service.update_builtin_field(unit_for(admin_agent), "contact", "mobile", hidden=True)
    contact: Contact = make_contact()
    contact.mobile = "090-1234-5678"
    db.commit()
    contact_id = contact.id
    token = sign_in_as(admin_agent)["X-CSRFToken"]
    form = client.get(f"/contacts/{contact_id}/edit").get_data(as_text=True)
    fields = dict(re.findall(r'<input[^>]*name="([^"]+)"[^>]*value="([^"]*)"', form))
    fields |= {"csrf_token": token, "title": "Manager"}
    assert client.post(f"/contacts/{contact_id}/edit", data=fields).status_code == 302
    db.expire_all()
    saved = db.get(Contact, contact_id)
    assert saved is not None and (saved.mobile, saved.title) == ("090-1234-5678", "Manager")


def test_editor_lists_built_in_fields_in_japanese(
    client: FlaskClient, sign_in_as, make_agent: Callable[..., Agent], department: Department
) -> None:
    admin = make_agent(
        "ja@example.com", profile="Administrator", departments=[department], locale="ja"
    )
    sign_in_as(admin)
    page = client.get("/admin/fields/contact").get_data(as_text=True)
    assert 'id="builtin-list"' in page and "標準項目" in page and "姓" in page


def test_editor_relabels_hides_and_moves(
    db: Session, client: FlaskClient, sign_in_as, admin_agent: Agent
) -> None:
    token = sign_in_as(admin_agent)["X-CSRFToken"]
    assert client.get("/admin/fields/account/builtin/industry/edit").status_code == 200
    answer = client.post(
        "/admin/fields/account/builtin/industry/edit",
        data={"label": "業種", "hidden": "on", "csrf_token": token},
    )
    assert answer.status_code == 302
    moved = client.post(
        "/admin/fields/account/builtin/industry/move", data={"direction": "up", "csrf_token": token}
    )
    assert moved.status_code == 302, moved.get_data(as_text=True)
    db.expire_all()
    placed = field_service.builtin_layout(db, "account")
    assert [p.key for p in placed][2] == "industry"
    assert (placed[2].label, placed[2].hidden) == ("業種", True)


def test_editor_refuses_to_hide_a_required_field(
    client: FlaskClient, sign_in_as, admin_agent: Agent
) -> None:
    sign_in_as(admin_agent)
    page = client.get("/admin/fields/contact/builtin/last_name/edit").get_data(as_text=True)
    assert 'id="builtin-hidden"' not in page and 'id="builtin-required"' in page
    assert client.get("/admin/fields/contact/builtin/age/edit").status_code == 404


def test_editor_names_a_too_long_label(client: FlaskClient, sign_in_as, admin_agent: Agent) -> None:
    token = sign_in_as(admin_agent)["X-CSRFToken"]
    answer = client.post(
        "/admin/fields/contact/builtin/title/edit", data={"label": "x" * 201, "csrf_token": token}
    )
    assert answer.status_code == 422
    assert "At most 200 characters." in answer.get_data(as_text=True)
