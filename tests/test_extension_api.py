"""Extensions' REST endpoints (``deskhost_api_routes``): served per installation under
``/api/v1/ext/<plugin>/<installation id>/``, authenticated and scoped like the host's API,
404 to every caller the installation does not cover, and listed in the OpenAPI document."""

from __future__ import annotations

import dataclasses
import secrets
from collections.abc import Callable, Iterator
from typing import Any

import marshmallow as ma
import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from core.config import Settings
from core.host import Host
from core.models import AccessToken, Agent, Department, Installation, PermissionProfile, Ticket
from core.tokens import hash_token
from hostapi import ApiRoute, Context, NotFound, TicketQuery, clock, hookimpl, scopes
from marketplace_registry import lifecycle
from tests.factories import install_for, system_unit
from tests.plugin_fixtures import manifest

pytest_plugins = ["tests.api_fixtures"]

PLUGIN = "counter"
OTHER_PLUGIN = "other_counter"


class CountArgs(ma.Schema):
    """The query string of ``GET /tickets``."""

    limit = ma.fields.Integer(load_default=50, validate=ma.validate.Range(min=1, max=500))


class CountSchema(ma.Schema):
    """What ``GET /tickets`` answers."""

    count = ma.fields.Integer()
    agent_id = ma.fields.Integer(allow_none=True)
    installation_id = ma.fields.Integer()


class NoteSchema(ma.Schema):
    """The body of ``POST /notes`` and its answer."""

    text = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=200))


class TicketSchema(ma.Schema):
    """What ``GET /tickets/<ticket_id>`` answers."""

    id = ma.fields.Integer()
    subject = ma.fields.String()


def count_tickets(context: Context, arguments: dict[str, Any]) -> dict[str, Any]:
    """How many tickets the context sees, and for whom."""
    seen = context.list_tickets(TicketQuery(limit=arguments["limit"]))
    agent = context.agent
    return {
        "count": len(seen),
        "agent_id": agent.id if agent is not None else None,
        "installation_id": context.installation_id,
    }


def save_note(context: Context, arguments: dict[str, Any]) -> dict[str, Any]:
    """Store the note, then refuse one that says "boom" (after writing: it must roll back)."""
    context.storage_set("note", arguments["text"])
    if arguments["text"] == "boom":
        raise ma.ValidationError({"text": ["Notes may not explode."]})
    return {"text": arguments["text"]}


def forget_note(context: Context, arguments: dict[str, Any]) -> None:
    """Forget the note."""
    context.storage_delete("note")


def one_ticket(context: Context, arguments: dict[str, Any], ticket_id: int) -> dict[str, Any]:
    """One ticket the context sees (404 otherwise)."""
    ticket = context.get_ticket(ticket_id)
    if ticket is None:
        raise NotFound("No such ticket.")
    return {"id": ticket.id, "subject": ticket.subject}


ROUTES = [
    ApiRoute(
        name="count_tickets",
        path="/tickets",
        handle=count_tickets,
        summary="Count the tickets this installation shows the caller.",
        arguments=CountArgs,
        response=CountSchema,
        scopes=(scopes.TICKETS_READ,),
    ),
    ApiRoute(
        name="save_note",
        path="/notes",
        method="POST",
        handle=save_note,
        summary="Keep a note for the installation.",
        arguments=NoteSchema,
        response=NoteSchema,
        status=201,
    ),
    ApiRoute(
        name="forget_note",
        path="/notes",
        method="DELETE",
        handle=forget_note,
        summary="Forget the installation's note.",
        status=204,
    ),
    ApiRoute(
        name="one_ticket",
        path="/tickets/<int:ticket_id>",
        handle=one_ticket,
        summary="Read one ticket.",
        response=TicketSchema,
        scopes=(scopes.TICKETS_READ,),
    ),
]


class Counter:
    """A test extension with three endpoints."""

    @hookimpl
    def deskhost_api_routes(self) -> list[ApiRoute]:
        return ROUTES


@pytest.fixture
def counter_plugin(host: Host) -> Iterator[None]:
    """The ``counter`` extension, and a second extension with the same endpoints."""
    both = [PLUGIN, OTHER_PLUGIN]
    for plugin_id in both:
        host.plugins.register_plugin(
            Counter(), manifest(plugin_id, scopes=[scopes.TICKETS_READ, scopes.CONTACTS_READ])
        )
    yield
    for plugin_id in both:
        host.plugins.unregister_plugin(plugin_id)


@pytest.fixture
def ext_app(counter_plugin: None, host: Host) -> Flask:
    """The app, built once the test extensions are loaded (their endpoints are mounted)."""
    from core.web import create_app

    return create_app({"TESTING": True}, host=host)


@pytest.fixture
def api(ext_app: Flask) -> FlaskClient:
    """A client of the app with the extensions' endpoints."""
    return ext_app.test_client()


@pytest.fixture
def sales(make_department: Callable[..., Department]) -> Department:
    """A department the installation does not cover."""
    return make_department("Sales")


def _install(
    db: Session,
    host: Host,
    departments: list[Department],
    *,
    plugin_id: str = PLUGIN,
    profiles: list[str] | None = None,
    granted: list[str] | None = None,
) -> Installation:
    profile_ids = None
    if profiles is not None:
        profile_ids = list(
            db.scalars(select(PermissionProfile.id).where(PermissionProfile.name.in_(profiles)))
        )
    installation = install_for(
        db, host, plugin_id, [d.id for d in departments], profile_ids=profile_ids, scopes=granted
    )
    db.commit()
    return installation


@pytest.fixture
def installation(db: Session, host: Host, department: Department) -> Installation:
    """``counter`` for Support and every profile, granted every scope it requests."""
    return _install(db, host, [department])


def _url(installation: Installation | int, rest: str = "/tickets", plugin_id: str = PLUGIN) -> str:
    installation_id = installation if isinstance(installation, int) else installation.id
    return f"/api/v1/ext/{plugin_id}/{installation_id}{rest}"


def _sign_in(client: FlaskClient, agent: Agent) -> dict[str, str]:
    with client.session_transaction() as session:
        session["agent_id"] = agent.id
    answer = client.get("/api/v1/me")
    assert answer.status_code == 200, answer.json
    return {"X-CSRFToken": answer.json["csrf_token"]}


def _installation_token(db: Session, installation: Installation, agent: Agent) -> dict[str, str]:
    """The Authorization header of an OAuth token of ``installation`` (as its consent mints)."""
    plaintext = secrets.token_urlsafe(32)
    db.add(
        AccessToken(
            token_hash=hash_token(plaintext),
            token_hint=plaintext[:8],
            name="installation",
            kind="oauth",
            agent_id=agent.id,
            installation_id=installation.id,
            scopes=" ".join(installation.granted_scopes),
            created_at=clock.now(),
        )
    )
    db.commit()
    return {"Authorization": f"Bearer {plaintext}"}


@pytest.fixture
def agent(make_agent: Callable[..., Agent], department: Department) -> Agent:
    """An agent of Support with the "Agent" profile."""
    return make_agent("support@example.com", departments=[department])


# ------------------------------------------------------------------------------ the handler


def test_session_caller_gets_the_handlers_answer_with_the_installations_context(
    api: FlaskClient, installation: Installation, agent: Agent, make_ticket: Callable[..., Ticket]
) -> None:
    make_ticket()
    _sign_in(api, agent)

    answer = api.get(_url(installation))

    assert answer.status_code == 200, answer.json
    assert answer.json == {"count": 1, "agent_id": agent.id, "installation_id": installation.id}


def test_context_shows_only_tickets_of_the_installations_departments(
    api: FlaskClient,
    db: Session,
    host: Host,
    department: Department,
    sales: Department,
    make_agent: Callable[..., Agent],
    make_ticket: Callable[..., Ticket],
) -> None:
    installation = _install(db, host, [department])
    both = make_agent("both@example.com", departments=[department, sales])
    make_ticket(department=department)
    make_ticket(department=sales)
    _sign_in(api, both)

    assert api.get(_url(installation)).json["count"] == 1


def test_path_values_reach_the_handler(
    api: FlaskClient, installation: Installation, agent: Agent, make_ticket: Callable[..., Ticket]
) -> None:
    ticket = make_ticket("Where is my parcel?")
    _sign_in(api, agent)

    answer = api.get(_url(installation, f"/tickets/{ticket.id}"))

    assert answer.json == {"id": ticket.id, "subject": "Where is my parcel?"}


def test_handler_raising_not_found_answers_404_in_the_apis_format(
    api: FlaskClient, installation: Installation, agent: Agent
) -> None:
    _sign_in(api, agent)

    answer = api.get(_url(installation, "/tickets/999999"))

    assert (answer.status_code, answer.json["message"]) == (404, "No such ticket.")


def test_post_commits_what_the_handler_stored(
    api: FlaskClient, db: Session, installation: Installation, agent: Agent, host: Host
) -> None:
    csrf = _sign_in(api, agent)

    answer = api.post(_url(installation, "/notes"), json={"text": "hello"}, headers=csrf)

    assert (answer.status_code, answer.json) == (201, {"text": "hello"})
    context = host.plugins.context_for(db, db.get(Installation, installation.id))
    assert context.storage_get("note") == "hello"


def test_route_without_a_response_schema_answers_its_status_without_a_body(
    api: FlaskClient, db: Session, installation: Installation, agent: Agent, host: Host
) -> None:
    csrf = _sign_in(api, agent)
    api.post(_url(installation, "/notes"), json={"text": "hello"}, headers=csrf)

    answer = api.delete(_url(installation, "/notes"), headers=csrf)

    assert (answer.status_code, answer.get_data()) == (204, b"")
    context = host.plugins.context_for(db, db.get(Installation, installation.id))
    assert context.storage_get("note") is None


# ------------------------------------------------------------------------------ bad input


def test_bad_query_argument_answers_422_naming_it(
    api: FlaskClient, installation: Installation, agent: Agent
) -> None:
    _sign_in(api, agent)

    answer = api.get(_url(installation) + "?limit=many")

    assert answer.status_code == 422
    assert list(answer.json["errors"]["query"]) == ["limit"]


def test_missing_body_field_answers_422_naming_it(
    api: FlaskClient, installation: Installation, agent: Agent
) -> None:
    csrf = _sign_in(api, agent)

    answer = api.post(_url(installation, "/notes"), json={}, headers=csrf)

    assert answer.status_code == 422
    assert list(answer.json["errors"]["json"]) == ["text"]


def test_handler_refusing_input_answers_422_and_keeps_nothing_it_wrote(
    api: FlaskClient, db: Session, host: Host, installation: Installation, agent: Agent
) -> None:
    csrf = _sign_in(api, agent)

    answer = api.post(_url(installation, "/notes"), json={"text": "boom"}, headers=csrf)

    assert answer.status_code == 422
    assert answer.json["errors"] == {"json": {"text": ["Notes may not explode."]}}
    context = host.plugins.context_for(db, db.get(Installation, installation.id))
    assert context.storage_get("note") is None


# ------------------------------------------------------------------------------ credentials


def test_no_credentials_answer_401(api: FlaskClient, installation: Installation) -> None:
    assert api.get(_url(installation)).status_code == 401


def test_session_post_without_csrf_token_answers_400_as_the_hosts_api_does(
    api: FlaskClient, installation: Installation, agent: Agent
) -> None:
    _sign_in(api, agent)

    answer = api.post(_url(installation, "/notes"), json={"text": "hello"})

    assert answer.status_code == 400
    assert answer.is_json


def test_personal_token_with_the_scope_is_served(
    api: FlaskClient,
    installation: Installation,
    agent: Agent,
    bearer_for: Callable[..., dict[str, str]],
) -> None:
    headers = bearer_for(agent, [scopes.TICKETS_READ])

    answer = api.get(_url(installation), headers=headers)

    assert (answer.status_code, answer.json["agent_id"]) == (200, agent.id)


def test_personal_token_without_the_routes_scope_answers_403_insufficient_scope(
    api: FlaskClient,
    installation: Installation,
    agent: Agent,
    bearer_for: Callable[..., dict[str, str]],
) -> None:
    headers = bearer_for(agent, [scopes.CONTACTS_READ])

    answer = api.get(_url(installation), headers=headers)

    assert answer.status_code == 403
    assert answer.json["error"] == "insufficient_scope"
    assert answer.json["scope"] == "desk.tickets.read"


def test_token_post_needs_no_csrf_token(
    api: FlaskClient,
    installation: Installation,
    agent: Agent,
    bearer_for: Callable[..., dict[str, str]],
) -> None:
    headers = bearer_for(agent, [scopes.TICKETS_READ])

    answer = api.post(_url(installation, "/notes"), json={"text": "hi"}, headers=headers)

    assert answer.status_code == 201


def test_installations_own_token_is_served(
    api: FlaskClient, db: Session, installation: Installation, admin_agent: Agent
) -> None:
    headers = _installation_token(db, installation, admin_agent)

    answer = api.get(_url(installation), headers=headers)

    assert (answer.status_code, answer.json["installation_id"]) == (200, installation.id)


def test_token_of_another_installation_of_the_same_extension_answers_404(
    api: FlaskClient,
    db: Session,
    host: Host,
    department: Department,
    installation: Installation,
    admin_agent: Agent,
) -> None:
    second = _install(db, host, [department])
    headers = _installation_token(db, second, admin_agent)

    assert api.get(_url(installation), headers=headers).status_code == 404


def test_installation_not_granted_the_routes_scope_answers_403(
    api: FlaskClient, db: Session, host: Host, department: Department, agent: Agent
) -> None:
    installation = _install(db, host, [department], granted=[scopes.CONTACTS_READ])
    _sign_in(api, agent)

    answer = api.get(_url(installation))

    assert (answer.status_code, answer.json["scope"]) == (403, "desk.tickets.read")


def test_route_without_scopes_needs_none(
    api: FlaskClient, db: Session, host: Host, department: Department, agent: Agent
) -> None:
    installation = _install(db, host, [department], granted=[scopes.CONTACTS_READ])
    csrf = _sign_in(api, agent)

    answer = api.post(_url(installation, "/notes"), json={"text": "hi"}, headers=csrf)

    assert answer.status_code == 201


# ------------------------------------------------------------------------------ visibility: 404


def test_agent_outside_the_installations_departments_gets_404(
    api: FlaskClient,
    installation: Installation,
    make_agent: Callable[..., Agent],
    sales: Department,
) -> None:
    _sign_in(api, make_agent("sales@example.com", departments=[sales]))

    answer = api.get(_url(installation))

    assert answer.status_code == 404
    assert answer.is_json


def test_admin_outside_the_installations_departments_gets_404_too(
    api: FlaskClient,
    installation: Installation,
    make_agent: Callable[..., Agent],
    sales: Department,
    bearer_for: Callable[..., dict[str, str]],
) -> None:
    boss = make_agent("boss@example.com", profile="Administrator", departments=[sales])

    assert api.get(_url(installation), headers=bearer_for(boss, scopes.ALL)).status_code == 404


def test_agent_whose_profile_the_installation_does_not_name_gets_404(
    api: FlaskClient, db: Session, host: Host, department: Department, agent: Agent
) -> None:
    installation = _install(db, host, [department], profiles=["Support Manager"])
    _sign_in(api, agent)

    assert api.get(_url(installation)).status_code == 404


def test_unknown_installation_id_answers_404(
    api: FlaskClient, installation: Installation, agent: Agent
) -> None:
    _sign_in(api, agent)

    assert api.get(_url(installation.id + 1000)).status_code == 404


def test_installation_of_another_extension_answers_404(
    api: FlaskClient, db: Session, host: Host, department: Department, agent: Agent
) -> None:
    other = _install(db, host, [department], plugin_id=OTHER_PLUGIN)
    _sign_in(api, agent)

    assert api.get(_url(other, plugin_id=PLUGIN)).status_code == 404
    assert api.get(_url(other, plugin_id=OTHER_PLUGIN)).status_code == 200


def test_installation_awaiting_authorization_answers_404(
    api: FlaskClient, db: Session, host: Host, department: Department, agent: Agent
) -> None:
    installation = install_for(db, host, PLUGIN, [department.id], authorize=False)
    db.commit()
    _sign_in(api, agent)

    assert api.get(_url(installation)).status_code == 404


@pytest.mark.parametrize("purge", [False, True], ids=["archived", "purged"])
def test_uninstalled_installation_answers_404(
    api: FlaskClient,
    db: Session,
    host: Host,
    installation: Installation,
    agent: Agent,
    purge: bool,
) -> None:
    lifecycle.uninstall(system_unit(db, host), installation, keep_data=not purge, confirmed=True)
    db.commit()
    _sign_in(api, agent)

    assert api.get(_url(installation.id)).status_code == 404


def test_scope_is_not_checked_before_the_installation(
    api: FlaskClient,
    installation: Installation,
    make_agent: Callable[..., Agent],
    sales: Department,
    bearer_for: Callable[..., dict[str, str]],
) -> None:
    outsider = make_agent("sales@example.com", departments=[sales])
    headers = bearer_for(outsider, [scopes.CONTACTS_READ])

    # 404, not 403: a refusal by scope would tell the outsider the installation exists.
    assert api.get(_url(installation), headers=headers).status_code == 404


# ------------------------------------------------------------------------------ rate limits


def test_extension_endpoints_share_the_hosts_rate_limits(
    counter_plugin: None,
    settings: Settings,
    db: Session,
    installation: Installation,
    agent: Agent,
    bearer_for: Callable[..., dict[str, str]],
) -> None:
    from core.web import create_app

    limits = dataclasses.replace(settings.limits, api_token_limit=2)
    strict = Host(dataclasses.replace(settings, limits=limits))
    strict.plugins.register_plugin(Counter(), manifest(PLUGIN, scopes=[scopes.TICKETS_READ]))
    try:
        client = create_app({"TESTING": True}, host=strict).test_client()
        headers = bearer_for(agent, [scopes.TICKETS_READ])
        answers = [client.get(_url(installation), headers=headers) for _ in range(3)]
    finally:
        strict.dispose()

    assert [a.status_code for a in answers] == [200, 200, 429]
    assert "Retry-After" in answers[2].headers


# ------------------------------------------------------------------------------ the document


@pytest.fixture
def document(api: FlaskClient) -> dict[str, Any]:
    """The served OpenAPI document."""
    return api.get("/api/v1/openapi.json").json


def test_document_lists_each_route_under_its_installation_path(document: dict[str, Any]) -> None:
    paths = document["paths"]

    assert set(paths["/api/v1/ext/counter/{installation_id}/tickets"]) >= {"get"}
    assert set(paths["/api/v1/ext/counter/{installation_id}/notes"]) >= {"post"}
    assert "/api/v1/ext/counter/{installation_id}/tickets/{ticket_id}" in paths


def test_document_names_the_installation_id_as_an_integer_path_parameter(
    document: dict[str, Any],
) -> None:
    path = document["paths"]["/api/v1/ext/counter/{installation_id}/tickets"]
    parameters = path.get("parameters", []) + path["get"].get("parameters", [])

    (installation_id,) = [p for p in parameters if p["name"] == "installation_id"]
    assert (installation_id["in"], installation_id["schema"]["type"]) == ("path", "integer")


def test_document_gives_each_route_its_schemas_and_summary(document: dict[str, Any]) -> None:
    operation = document["paths"]["/api/v1/ext/counter/{installation_id}/notes"]["post"]

    assert operation["summary"] == "Keep a note for the installation."
    assert "requestBody" in operation
    assert set(operation["responses"]) >= {"201", "default"}


def test_document_lists_the_routes_scopes_and_the_csrf_header_for_unsafe_methods(
    document: dict[str, Any],
) -> None:
    read = document["paths"]["/api/v1/ext/counter/{installation_id}/tickets"]["get"]
    write = document["paths"]["/api/v1/ext/counter/{installation_id}/notes"]["post"]

    assert read["security"] == [{"bearerAuth": ["desk.tickets.read"]}, {"sessionCookie": []}]
    assert write["security"] == [{"bearerAuth": []}, {"sessionCookie": [], "csrfToken": []}]


def test_malformed_route_is_left_out_and_the_others_served(host: Host) -> None:
    from core.web import create_app

    class Sloppy:
        @hookimpl
        def deskhost_api_routes(self) -> list[ApiRoute]:
            return [
                ApiRoute(name="no_slash", path="tickets", handle=count_tickets, summary="Bad."),
                dataclasses.replace(ROUTES[0], name="fine"),
            ]

    host.plugins.register_plugin(Sloppy(), manifest("sloppy"))
    try:
        document = create_app({"TESTING": True}, host=host).test_client()
        paths = document.get("/api/v1/openapi.json").json["paths"]
    finally:
        host.plugins.unregister_plugin("sloppy")

    assert [p for p in paths if p.startswith("/api/v1/ext/sloppy/")] == [
        "/api/v1/ext/sloppy/{installation_id}/tickets"
    ]
