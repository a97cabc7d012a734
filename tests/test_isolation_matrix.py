"""Department isolation matrix: every page and REST operation that takes a record id is tried
by an agent who must not reach the record.

The rules come from the app's URL map (pages) and the served OpenAPI document (``/api/v1``), so
a new endpoint is in the matrix by default. Each path parameter names what it points at
(:data:`PARAMETERS`); a new parameter name, or a rule neither covered nor opted out
(:data:`OPTED_OUT`, each with its reason), fails :func:`test_every_id_taking_rule_is_in_the_matrix`.

- **Another department, another owner → 404.** Tickets (and what hangs off them: threads,
  ratings, time entries, status history, activities), held spam messages and the knowledge
  base's categories and articles belong to a department; private views, notifications and
  access tokens belong to one agent. An agent with every permission but only department 1 asks
  for department 2's ticket, another agent's view… and gets 404, exactly as for an id that does
  not exist.
- **Missing permission → 403.** An agent of the record's own department whose profile grants
  nothing asks for it and gets 403, before any body is validated.
- **Admin areas → 403 for an ordinary agent** (the "Agent" profile holds none of the
  administrators' permissions, docs/permissions.md).
- **Extensions' pages and endpoints → 404 outside the installation.** Under
  ``/ext/<plugin>/<installation id>/`` and ``/api/v1/ext/<plugin>/<installation id>/`` (and the
  page URLs without the installation), an agent whose departments the installation does not
  cover gets 404 whatever the rest of the path names; there is no permission to lack there.
  A test extension (tests/extension_endpoints.py) keeps these shapes in the matrix.

Contacts, accounts and what hangs off them (comments, products, follows, history, contracts)
are organisation-wide: any agent with the permission sees them, so only the permission check
applies to them.
Unsafe methods send an empty body (``{}`` to the API, an empty form to pages): the refusal must
come before validation, or a 422 would tell the caller the record exists.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.test import TestResponse

from core import permissions, tokens
from core.host import Host
from core.models import (
    Account,
    Agent,
    AuditEntry,
    Contact,
    CustomerComment,
    CustomerImport,
    CustomField,
    CustomView,
    Department,
    Installation,
    Notification,
    PermissionProfile,
    Product,
    ProfilePermission,
    SpamMessage,
    SpamRule,
    TicketStatus,
)
from core.services import activities, attachments, contracts, sla
from core.services import customers as customer_service
from core.services import knowledge_base as kb
from core.services import tickets as ticket_service
from hostapi import clock
from hostapi import scopes as scope_catalogue
from plugins.im_dashboard import accounts as im_accounts
from plugins.im_dashboard import chats as im_chats
from plugins.im_dashboard.channels import CHANNELS
from plugins.im_dashboard.messages import IncomingMessage
from plugins.salesiq.models import ChatDepartment
from plugins.salesiq.models import Link as SalesiqLink
from tests import extension_endpoints
from tests.factories import install_for, system_unit

pytest_plugins = ["tests.api_fixtures"]

API_PREFIX = "/api/v1"
UNSAFE_METHODS = ("POST", "PUT", "PATCH", "DELETE")
# Requests run reads first and deletions last, so that a leaking write cannot hide later leaks.
METHOD_ORDER = {"GET": 0, "PUT": 1, "PATCH": 2, "POST": 3, "DELETE": 4}

# What a path parameter points at. DEPARTMENT and PERSONAL records are filled with the other
# department's / another agent's record for the 404 check; ORGANISATION records are the same
# for every agent.
DEPARTMENT = "department-scoped"
PERSONAL = "personal"
ORGANISATION = "organisation-wide"

#: Path parameters that name a record, and whose record they name.
PARAMETERS: dict[str, tuple[str, str]] = {
    "ticket_id": (DEPARTMENT, "ticket"),
    # A file on a ticket goes by the ticket's department (a customer's own file, by permission).
    "attachment_id": (DEPARTMENT, "attachment"),
    "message_id": (DEPARTMENT, "spam_message"),
    "activity_id": (DEPARTMENT, "activity"),
    # A knowledge-base article goes by its category's department.
    "category_id": (DEPARTMENT, "kb_category"),
    "article_id": (DEPARTMENT, "kb_article"),
    "view_id": (PERSONAL, "view"),
    "key": (PERSONAL, "view"),
    "notification_id": (PERSONAL, "notification"),
    "token_id": (PERSONAL, "token"),
    "contact_id": (ORGANISATION, "contact"),
    "account_id": (ORGANISATION, "account"),
    "customer_id": (ORGANISATION, "customer"),
    "record_id": (ORGANISATION, "customer"),
    "comment_id": (ORGANISATION, "comment"),
    "contract_id": (ORGANISATION, "contract"),
    "entry_id": (ORGANISATION, "history_entry"),
    "product_id": (ORGANISATION, "product"),
    "field_id": (ORGANISATION, "field"),
    "import_id": (ORGANISATION, "import"),
    "department_id": (ORGANISATION, "department"),
    "installation_id": (ORGANISATION, "installation"),
    "plugin_id": (ORGANISATION, "plugin"),
    "rule_id": (ORGANISATION, "spam_rule"),
    "agent_id": (ORGANISATION, "agent"),
    "policy_id": (ORGANISATION, "sla_policy"),
    "holiday_id": (ORGANISATION, "holiday"),
    "profile_id": (ORGANISATION, "profile"),
    "status_id": (ORGANISATION, "status"),
}

#: Path parameters that are not record ids, and the value the matrix gives them.
NON_ID_PARAMETERS: dict[str, str] = {
    "kind": "contacts",
    "kinds": "contacts",
    "plural": "contacts",
    "entity": "contact",
    "filename": "style.css",
    "unknown": "nothing",
    "name": "ping",
    "token": "dhl_not-a-link",
    "field_key": "email",
    "rest": "report",
}

#: Values of the bundled extensions' own path parameters (their records' are added when they
#: are installed, ``_install_each_extension``): IM Dashboard's channel code.
EXTENSION_PARAMETERS: dict[str, str] = {"channel": "line"}

#: Where extensions' pages and endpoints live: isolated by their installation (see above).
EXTENSION_RULES = ("/ext/", "/api/v1/ext/")

#: Rules left out of the matrix (``"METHOD path"``, paths as the URL map or the OpenAPI
#: document spell them), each with why.
OPTED_OUT: dict[str, str] = {
    "POST /api/v1/inbound/email": (
        "raw MIME is the mail server's to feed: only the mail server's credential (a token "
        "with desk.mail.ingest alone) may call it, tested in test_security_mail_ingest.py"
    ),
    "GET /support/<id:department_id>": (
        "the public support form: department ids are published to customers, no agent acts"
    ),
    "POST /support/<id:department_id>": (
        "the public support form: department ids are published to customers, no agent acts"
    ),
    **{
        f"{method} /hooks/<plugin_id>/<id:installation_id>/<name>{rest}": (
            "an extension's webhook: authenticated by the extension's own signature, not by an "
            "agent (core.web.extensions)"
        )
        for method in ("GET", "POST", "PUT", "PATCH", "DELETE")
        for rest in ("", "/<path:rest>")
    },
}

#: Rules an agent may use on their own records without any permission, and why.
NO_PERMISSION_NEEDED: dict[str, str] = {
    "POST /notifications/<bigid:notification_id>/read": "an agent's own notification",
    "GET /notifications/<bigid:notification_id>/open": (
        "an agent's own notification (its target checks permissions when opened)"
    ),
    "POST /api/v1/me/notifications/{notification_id}/read": "an agent's own notification",
    "POST /settings/tokens/<id:token_id>/revoke": "an agent's own access token",
    "DELETE /api/v1/me/tokens/{token_id}": "an agent's own access token",
    "GET /api/v1/agents/{agent_id}": "agents are visible to every agent (names on tickets)",
}

#: Where only administrators go: an ordinary agent ("Agent" profile) gets 403 there.
ADMIN_AREAS = (
    "/admin/",
    "/setup/",
    "/api/v1/installations",
    "/api/v1/marketplace/",
    "/api/v1/profiles",
)

_PAGE_PARAMETER = re.compile(r"<(?:[^:<>]+:)?([^<>]+)>")
_API_PARAMETER = re.compile(r"{([^{}]+)}")


@dataclass(frozen=True)
class Operation:
    """One method of one rule: a page of the URL map or an operation of the OpenAPI document."""

    method: str
    rule: str
    parameters: tuple[str, ...]
    is_api: bool
    bearer: bool = False

    @property
    def name(self) -> str:
        """``METHOD rule``, as :data:`OPTED_OUT` spells it."""
        return f"{self.method} {self.rule}"

    def record_parameters(self) -> list[str]:
        """The parameters naming records."""
        return [p for p in self.parameters if p not in NON_ID_PARAMETERS]

    def roles(self) -> set[str]:
        """What kinds of records the path names (unknown names are left out)."""
        return {PARAMETERS[p][0] for p in self.record_parameters() if p in PARAMETERS}

    @property
    def is_extensions(self) -> bool:
        """True for an extension's page or endpoint (or a page URL without its installation)."""
        return self.rule.startswith(EXTENSION_RULES)

    def path(self, values: Callable[[str, str], str]) -> str:
        """The path with each parameter filled by ``values(parameter, rule)``."""
        pattern = _API_PARAMETER if self.is_api else _PAGE_PARAMETER
        return pattern.sub(lambda match: values(match.group(1), self.rule), self.rule)


def page_operations(app: Flask) -> list[Operation]:
    """Every method of every page rule (the REST API's rules come from its document)."""
    found = []
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith(API_PREFIX + "/"):
            continue
        names = tuple(_PAGE_PARAMETER.findall(rule.rule))
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            found.append(Operation(method, rule.rule, names, is_api=False))
    return found


def api_operations(document: dict[str, Any]) -> list[Operation]:
    """Every operation of the OpenAPI document."""
    found = []
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if method.upper() not in METHOD_ORDER:
                continue
            security = operation.get("security", document.get("security", []))
            # A scope no token can be given (settings writes) leaves the browser session.
            bearer = any(
                set(requirement["bearerAuth"]) <= set(scope_catalogue.ALL)
                for requirement in security
                if "bearerAuth" in requirement
            )
            names = tuple(_API_PARAMETER.findall(path))
            found.append(Operation(method.upper(), path, names, is_api=True, bearer=bearer))
    return found


def takes_record_id(operation: Operation) -> bool:
    """True when the rule's path names a record (or might: an unknown parameter)."""
    return bool(operation.record_parameters())


# ------------------------------------------------------------------------------------ the desk


@dataclass
class Side:
    """The records of one department, or owned by one agent."""

    ticket: int
    attachment: int
    spam_message: int
    activity: int
    view: int
    account_view: int
    notification: int
    token: int
    kb_category: int
    kb_article: int


@dataclass
class Desk:
    """Two departments, their records, and the agents the matrix acts as.

    ``reachable``: department 1's records and ``outsider``'s own; ``own``: department 1's
    records and ``powerless``'s own; ``foreign``: department 2's and ``stranger``'s.
    """

    reachable: Side
    own: Side
    foreign: Side
    shared: dict[str, int | str]
    outsider: Agent
    powerless: Agent
    ordinary: Agent
    bearer: dict[int, dict[str, str]] = field(default_factory=dict)

    def values_for(self, side: Side) -> Callable[[str, str], str]:
        """Fill parameters: department-scoped and personal records from ``side``, the rest
        with the organisation's records."""

        def value(parameter: str, rule: str) -> str:
            if parameter in NON_ID_PARAMETERS:
                return NON_ID_PARAMETERS[parameter]
            role, record = PARAMETERS[parameter]
            if record == "view" and "/account" in rule:
                return str(side.account_view)
            if role != ORGANISATION:
                return str(getattr(side, record))
            if record == "comment":
                return str(self.shared["account_comment" if "/accounts" in rule else "comment"])
            if record == "history_entry":
                return str(self.shared["account_entry" if "/accounts" in rule else "contact_entry"])
            if record == "customer":
                return str(self.shared["contact"])
            return str(self.shared[record])

        return value


def _profile(db: Session, name: str, granted: frozenset[str]) -> None:
    db.add(
        PermissionProfile(
            name=name, permissions=[ProfilePermission(permission=p) for p in sorted(granted)]
        )
    )
    db.commit()


def _side(
    db: Session,
    host: Host,
    department: Department,
    owner: Agent,
    tag: str,
    scopes: list[str],
) -> Side:
    unit = system_unit(db, None)
    ticket = ticket_service.create_ticket(
        unit, subject=f"Ticket of {tag}", department_id=department.id, channel="email"
    )
    ticket_service.add_thread(unit, ticket, kind="comment", body=f"Comment on {tag}")
    ticket_service.add_rating(unit, ticket, "good")
    ticket_service.add_time_entry(unit, ticket, seconds=600, billable=True)
    activity = activities.create_activity(
        unit, kind="call", subject=f"Call about {tag}", ticket_id=ticket.id
    )
    attachment = attachments.store_attachment(
        system_unit(db, host), filename=f"{tag}.txt", content=tag.encode(), ticket_id=ticket.id
    )
    now = clock.now()
    spam = SpamMessage(
        channel="email",
        sender=f"spammer-{tag}@example.com",
        subject=f"Spam for {tag}",
        reason="test",
        department_id=department.id,
        received_at=now,
    )
    view, account_view = (
        CustomView(
            entity=entity, name=f"View of {tag}", owner_id=owner.id, created_at=now, updated_at=now
        )
        for entity in ("contact", "account")
    )
    notification = Notification(
        agent_id=owner.id, kind="new_ticket", ticket_id=ticket.id, summary=tag, created_at=now
    )
    db.add_all([spam, view, account_view, notification])
    category = kb.create_category(unit, department_id=department.id, name=f"FAQ of {tag}")
    article = kb.create_article(unit, category_id=category.id, title=f"Article of {tag}")
    db.flush()
    token, _plaintext = tokens.create_personal_token(db, owner, f"token of {tag}", scopes)
    db.commit()
    return Side(
        ticket=ticket.id,
        attachment=attachment.id,
        spam_message=spam.id,
        activity=activity.id,
        view=view.id,
        account_view=account_view.id,
        notification=notification.id,
        token=token.id,
        kb_category=category.id,
        kb_article=article.id,
    )


def _bearer(db: Session, agent: Agent, scopes: list[str]) -> dict[str, str]:
    _token, plaintext = tokens.create_personal_token(db, agent, "matrix", scopes)
    db.commit()
    return {"Authorization": f"Bearer {plaintext}"}


def _every_scope(document: dict[str, Any]) -> list[str]:
    """Every scope a covered operation asks of a bearer token."""
    found: set[str] = set()
    for operation in api_operations(document):
        if operation.name in OPTED_OUT:
            continue
        item = document["paths"][operation.rule][operation.method.lower()]
        for requirement in item.get("security", []):
            found.update(requirement.get("bearerAuth", []))
    return sorted(found & set(scope_catalogue.ALL))


@pytest.fixture
def app(host: Host) -> Iterator[Flask]:
    """The app, built with the test extension's pages and endpoints mounted."""
    from core.web import create_app

    extension_endpoints.register(host)
    yield create_app({"TESTING": True}, host=host)
    extension_endpoints.unregister(host)


@pytest.fixture
def document(client: FlaskClient) -> dict[str, Any]:
    """The served OpenAPI document."""
    answer = client.get(f"{API_PREFIX}/openapi.json")
    assert answer.status_code == 200
    return answer.json  # type: ignore[no-any-return]


@pytest.fixture
def desk(
    db: Session,
    host: Host,
    make_agent: Callable[..., Agent],
    make_department: Callable[..., Department],
    document: dict[str, Any],
) -> Desk:
    """Two departments with a ticket (threads, rating, time entry) and held spam each; agents:
    ``outsider`` (every permission, not an administrator, department 1 only), ``powerless``
    (no permission, department 1), ``ordinary`` ("Agent", department 1), and department 2's
    ``stranger`` who owns the foreign private view, notification and token."""
    extension_permissions = {
        name for plugin in host.plugins.loaded for name in host.plugins.permission_names(plugin)
    }
    _profile(db, "Everything but admin", permissions.ALL_NAMES | extension_permissions)
    _profile(db, "Nothing", frozenset())
    first, second = make_department("Support"), make_department("Sales")
    outsider = make_agent(
        "outsider@example.com", profile="Everything but admin", departments=[first]
    )
    powerless = make_agent("powerless@example.com", profile="Nothing", departments=[first])
    ordinary = make_agent("ordinary@example.com", profile="Agent", departments=[first])
    stranger = make_agent("stranger@example.com", profile="Administrator", departments=[second])
    scopes = _every_scope(document)
    reachable = _side(db, host, first, outsider, "the outsider", scopes)
    own = _side(db, host, first, powerless, "the powerless agent", scopes)
    foreign = _side(db, host, second, stranger, "department 2", scopes)

    now = clock.now()
    account = Account(name="Hikari Trading", created_at=now, updated_at=now)
    db.add(account)
    db.flush()
    contact = Contact(
        first_name="Hanako",
        last_name="Yamada",
        email="hanako@example.com",
        account_id=account.id,
        created_at=now,
        updated_at=now,
    )
    product = Product(name="Printer", created_at=now)
    field_ = CustomField(
        entity="contact",
        key="cf_shoe_size",
        label="Shoe size",
        field_type="text",
        created_at=now,
        updated_at=now,
    )
    rule = SpamRule(kind="domain", pattern="spam.example", created_at=now)
    db.add_all([contact, product, field_, rule])
    db.flush()
    comment = CustomerComment(
        contact_id=contact.id, author_id=stranger.id, body="Note", created_at=now, updated_at=now
    )
    account_comment = CustomerComment(
        account_id=account.id, author_id=stranger.id, body="Note", created_at=now, updated_at=now
    )
    customer_import = CustomerImport(
        entity="contact",
        filename="contacts.csv",
        file_format="csv",
        content=b"email\nx@example.com\n",
        created_by_id=stranger.id,
        created_at=now,
    )
    db.add_all([comment, account_comment, customer_import])
    customer_service.update_contact(system_unit(db, None), contact, title="Buyer")
    customer_service.update_account(system_unit(db, None), account, industry="Trading")
    installation = install_for(db, host, "ticket_history", [first.id])
    sla_policy = sla.create_policy(
        system_unit(db, None),
        name="Standard",
        targets={"medium": {"first_response_minutes": 60, "resolution_minutes": 480}},
    )
    holiday = sla.add_holiday(
        system_unit(db, None), first.id, day=date(2026, 12, 31), name="New Year's Eve"
    )
    contract = contracts.create_contract(
        system_unit(db, None), account.id, name="Premium support", starts_on=date(2026, 1, 1)
    )
    db.commit()
    desk = Desk(
        reachable=reachable,
        own=own,
        foreign=foreign,
        shared={
            "contact": contact.id,
            "account": account.id,
            "comment": comment.id,
            "account_comment": account_comment.id,
            "contact_entry": _history_entry(db, "contact", contact.id),
            "account_entry": _history_entry(db, "account", account.id),
            "product": product.id,
            "field": field_.id,
            "import": customer_import.id,
            "department": first.id,
            "installation": installation.id,
            "plugin": "ticket_history",
            "spam_rule": rule.id,
            "agent": stranger.id,
            "sla_policy": sla_policy.id,
            "holiday": holiday.id,
            "contract": contract.id,
            "profile": db.scalars(
                select(PermissionProfile.id).where(PermissionProfile.name == "Nothing")
            ).one(),
            "status": db.scalars(select(TicketStatus.id).where(TicketStatus.name == "Open")).one(),
        },
        outsider=outsider,
        powerless=powerless,
        ordinary=ordinary,
    )
    for agent in (outsider, powerless, ordinary):
        desk.bearer[agent.id] = _bearer(db, agent, scopes)
    return desk


def _history_entry(db: Session, entity_type: str, entity_id: int) -> int:
    """The id of the record's one audit entry (its history's)."""
    return db.scalars(
        select(AuditEntry.id).where(
            AuditEntry.entity_type == entity_type, AuditEntry.entity_id == str(entity_id)
        )
    ).one()


class Caller:
    """Requests as one agent: a browser session for pages (and session-only operations), a
    bearer token for the REST API."""

    def __init__(self, app: Flask, agent: Agent, bearer: dict[str, str]) -> None:
        # Imported here: pytest loads the module as a plugin first (pytest_plugins above).
        from tests.api_fixtures import sign_in

        self.browser = app.test_client()
        self.csrf = sign_in(self.browser, agent)
        self.api = app.test_client()
        self.bearer = bearer

    def send(self, operation: Operation, path: str) -> TestResponse:
        """What ``operation`` on ``path`` answers (unsafe methods with an empty body)."""
        unsafe = operation.method in UNSAFE_METHODS
        with_body = unsafe and operation.method != "DELETE"
        if operation.is_api and operation.bearer:
            client, headers = self.api, self.bearer
        else:
            client, headers = self.browser, self.csrf if unsafe else {}
        kwargs: dict[str, Any] = {"headers": headers}
        if with_body:
            kwargs["json" if operation.is_api else "data"] = {}
        response = client.open(path, method=operation.method, **kwargs)
        # Read a streamed download to its end: until then its request's context stays open,
        # and the next request would not see this client's session.
        response.get_data()
        response.close()
        return response


@dataclass(frozen=True)
class Answer:
    """One request of the matrix and what it answered."""

    operation: Operation
    path: str
    status: int
    refused_for_scope: bool
    location: str = ""

    @property
    def served(self) -> bool:
        """Answered with the page or data, or a redirect elsewhere than the login page."""
        return self.status == 200 or (
            300 <= self.status < 400 and not self.location.startswith("/login")
        )

    def __str__(self) -> str:
        scope = " (insufficient_scope)" if self.refused_for_scope else ""
        return f"{self.operation.name} ({self.path}) → {self.status}{scope}"


def matrix(app: Flask, document: dict[str, Any]) -> list[Operation]:
    """The operations of the matrix: id-taking, not opted out, reads first."""
    everything = page_operations(app) + api_operations(document)
    chosen = [
        o
        for o in everything
        if takes_record_id(o) and o.name not in OPTED_OUT and not o.is_extensions
    ]
    return sorted(chosen, key=lambda o: (METHOD_ORDER[o.method], o.rule))


def extension_operations(app: Flask, document: dict[str, Any]) -> list[tuple[str, Operation]]:
    """Every extension page and endpoint with the extension it belongs to; a page URL without
    the installation once for each extension that has pages."""
    plugins = app.extensions["deskhost.host"].plugins
    with_pages = [i.plugin_id for i in plugins.extensions() if plugins.pages(i.plugin_id)]
    found: list[tuple[str, Operation]] = []
    for operation in page_operations(app) + api_operations(document):
        if not operation.is_extensions:
            continue
        plugin = operation.rule.removeprefix(API_PREFIX).split("/")[2]
        if plugin == "<plugin_id>":
            found.extend((plugin_id, operation) for plugin_id in with_pages)
        else:
            found.append((plugin, operation))
    return sorted(found, key=lambda p: (METHOD_ORDER[p[1].method], p[1].rule, p[0]))


def ask(caller: Caller, operations: list[Operation], desk: Desk, side: Side) -> list[Answer]:
    """Send each operation with its path filled from ``side``."""
    answers = []
    for operation in operations:
        path = operation.path(desk.values_for(side))
        response = caller.send(operation, path)
        body = response.get_json(silent=True) if operation.is_api else None
        scope = isinstance(body, dict) and body.get("error") == "insufficient_scope"
        location = response.headers.get("Location", "")
        answers.append(Answer(operation, path, response.status_code, scope, location))
    return answers


def _report(wrong: list[Answer], expected: str) -> str:
    lines = sorted(str(answer) for answer in wrong)
    return f"{len(wrong)} answered other than {expected}:\n" + "\n".join(lines)


# ------------------------------------------------------------------------------------ the tests


def test_every_id_taking_rule_is_in_the_matrix(app: Flask, document: dict[str, Any]) -> None:
    """Each id-taking rule has known parameters or is opted out, and each opt-out exists."""
    everything = page_operations(app) + api_operations(document)
    names = {o.name for o in everything}
    unknown = [
        f"{o.name}: unknown parameter(s) {sorted(set(o.record_parameters()) - set(PARAMETERS))}"
        for o in everything
        if o.name not in OPTED_OUT
        and not o.is_extensions
        and set(o.record_parameters()) - set(PARAMETERS)
    ]
    assert not unknown, "name what these parameters point at (PARAMETERS) or opt out:\n" + (
        "\n".join(unknown)
    )
    assert sorted(set(OPTED_OUT) - names) == [], "opted out, but no longer served"
    assert sorted(set(NO_PERMISSION_NEEDED) - names) == [], "exempted, but no longer served"
    chosen = matrix(app, document)
    api_count = sum(o.is_api for o in chosen)
    line = (
        f"isolation matrix: api_operations={api_count} pages={len(chosen) - api_count} "
        f"opted_out={len(OPTED_OUT)}"
    )
    print(line)
    assert api_count > 0 and len(chosen) > api_count


def _scoped_to_someone(app: Flask, document: dict[str, Any]) -> list[Operation]:
    return [o for o in matrix(app, document) if o.roles() - {ORGANISATION}]


def test_matrix_agent_reaches_the_records_of_its_own_department(
    app: Flask, document: dict[str, Any], desk: Desk
) -> None:
    """The control: what the other department's records answer 404 to, the agent's own
    department's records are served (so the 404s are the isolation, not a broken call)."""
    caller = Caller(app, desk.outsider, desk.bearer[desk.outsider.id])
    reads = [o for o in _scoped_to_someone(app, document) if o.method == "GET"]
    assert reads
    wrong = [a for a in ask(caller, reads, desk, desk.reachable) if not a.served]
    assert not wrong, _report(wrong, "200 or a redirect")


def test_agent_of_another_department_gets_404_for_its_records(
    app: Flask, document: dict[str, Any], desk: Desk
) -> None:
    """Department 2's tickets and spam, another agent's private records: 404 everywhere."""
    caller = Caller(app, desk.outsider, desk.bearer[desk.outsider.id])
    answers = ask(caller, _scoped_to_someone(app, document), desk, desk.foreign)
    wrong = [a for a in answers if a.status != 404]
    assert not wrong, _report(wrong, "404")


def test_agent_lacking_the_permission_gets_403(
    app: Flask, document: dict[str, Any], desk: Desk
) -> None:
    """An agent of the record's department whose profile grants nothing: 403 for the missing
    permission (not the token's scope) everywhere."""
    caller = Caller(app, desk.powerless, desk.bearer[desk.powerless.id])
    chosen = [o for o in matrix(app, document) if o.name not in NO_PERMISSION_NEEDED]
    wrong = [
        a for a in ask(caller, chosen, desk, desk.own) if a.status != 403 or a.refused_for_scope
    ]
    assert not wrong, _report(wrong, "403 for the permission")


def test_ordinary_agent_gets_403_in_admin_areas(
    app: Flask, document: dict[str, Any], desk: Desk
) -> None:
    """Marketplace and setup pages are for administrators: an "Agent" profile gets 403."""
    caller = Caller(app, desk.ordinary, desk.bearer[desk.ordinary.id])
    chosen = [o for o in matrix(app, document) if o.rule.startswith(ADMIN_AREAS)]
    assert chosen
    wrong = [a for a in ask(caller, chosen, desk, desk.own) if a.status != 403]
    assert not wrong, _report(wrong, "403")


@dataclass
class Installed:
    """The extensions installed for the matrix: their installation ids, and the values of
    their own path parameters (``EXTENSION_PARAMETERS`` and their records')."""

    ids: dict[str, int]
    parameters: dict[str, str]
    #: The query string an extension's REST reads need, by extension.
    queries: dict[str, str] = field(default_factory=dict)


def _install_each_extension(
    db: Session, app: Flask, department_id: int, document: dict[str, Any], caller: Agent
) -> Installed:
    """Install every extension with pages or endpoints for one department, each with a record
    of its own where its pages name one."""
    host = app.extensions["deskhost.host"]
    plugins = {plugin for plugin, _operation in extension_operations(app, document)}
    installed = {p: install_for(db, host, p, [department_id]) for p in sorted(plugins)}
    db.commit()
    parameters = dict(EXTENSION_PARAMETERS)
    if "im_dashboard" in installed:
        # A write transaction: starting a chat registers its sender.
        with host.transaction() as session:
            installation = session.get(Installation, installed["im_dashboard"].id)
            context = host.plugins.context_for(session, installation)
            parameters |= _im_records(context, department_id)
    queries = {}
    if "salesiq" in installed:
        records, queries["salesiq"] = _salesiq_records(
            db, installed["salesiq"].id, department_id, caller.id
        )
        parameters |= records
    return Installed({plugin: i.id for plugin, i in installed.items()}, parameters, queries)


def _salesiq_records(
    db: Session, installation_id: int, department_id: int, linked_by: int
) -> tuple[dict[str, str], str]:
    """SalesIQ linked by the caller with a chat department mapped to ``department_id``: the
    mapping's id for its notice's pages, and the query its chat window's reads need."""
    now = clock.now()
    db.add(
        SalesiqLink(
            installation_id=installation_id,
            base_url="https://chat.example.com",
            portal="acme",
            operator_email="admin@example.com",
            linked_by_agent_id=linked_by,
            linked_at=now,
            state="active",
            state_changed_at=now,
            public_key="",
            connect_url="https://chat.example.com/integrations/desk/connect",
        )
    )
    mapping = ChatDepartment(
        installation_id=installation_id,
        chat_department_id="7",
        name="Support",
        mode="mapped",
        desk_department_id=department_id,
        updated_at=now,
    )
    db.add(mapping)
    db.commit()
    return {"mapping_id": str(mapping.id), "action": "dismiss"}, (
        "?chat_department_id=7&email=visitor%40example.com&q=order"
    )


def _im_records(context: Any, department_id: int) -> dict[str, str]:
    """IM Dashboard's channel account (for its edit and disconnect pages) and a chat of it
    (for the inbox's and REST's chat)."""
    saved = im_accounts.save(
        context,
        CHANNELS["line"],
        {
            "name": "LINE",
            "department_id": str(department_id),
            "channel_secret": "0123456789abcdef0123456789abcdef",
            "channel_access_token": "line-long-lived-access-token-7d3e",
        },
    )
    message = IncomingMessage(
        message_id="1",
        user_id="U0123456789abcdef0123456789abcdef",
        user_name="LINE user",
        phone=None,
        sent_at=clock.now(),
        kind="text",
        text="hello",
    )
    chat = im_chats.receive(context, saved.account, message, None)
    return {"channel_account_id": str(saved.account.id), "chat_id": str(chat.id)}


def _ask_extensions(
    caller: Caller,
    operations: list[tuple[str, Operation]],
    desk: Desk,
    side: Side,
    installed: Installed,
) -> list[Answer]:
    """Send each extension operation for its extension's installation, the rest of the path
    filled from ``side`` (a parameter the matrix does not know gets 1)."""
    known = desk.values_for(side)
    answers = []
    for plugin, operation in operations:

        def value(parameter: str, rule: str, plugin: str = plugin) -> str:
            if parameter == "installation_id":
                return str(installed.ids[plugin])
            if parameter == "plugin_id":
                return plugin
            if parameter in PARAMETERS or parameter in NON_ID_PARAMETERS:
                return known(parameter, rule)
            return installed.parameters.get(parameter, "1")

        path = operation.path(value)
        if operation.is_api and operation.method == "GET":
            path += installed.queries.get(plugin, "")
        response = caller.send(operation, path)
        location = response.headers.get("Location", "")
        answers.append(Answer(operation, path, response.status_code, False, location))
    return answers


def test_agent_outside_an_installations_departments_gets_404_from_its_pages_and_endpoints(
    app: Flask, db: Session, document: dict[str, Any], desk: Desk
) -> None:
    """Every extension installed for department 2 only: department 1's agent with every
    permission gets 404 from each of its pages and endpoints, whatever they name."""
    operations = extension_operations(app, document)
    assert {o.is_api for _plugin, o in operations} == {True, False}
    second = next(d for d in db.scalars(select(Department)) if d.name == "Sales")
    installed = _install_each_extension(db, app, second.id, document, desk.outsider)
    caller = Caller(app, desk.outsider, desk.bearer[desk.outsider.id])
    answers = _ask_extensions(caller, operations, desk, desk.reachable, installed)
    wrong = [a for a in answers if a.status != 404]
    assert not wrong, _report(wrong, "404")


def test_agent_of_an_installations_department_reaches_its_pages_and_endpoints(
    app: Flask, db: Session, document: dict[str, Any], desk: Desk
) -> None:
    """The control: installed for department 1, the same agent's reads are served."""
    reads = [(p, o) for p, o in extension_operations(app, document) if o.method == "GET"]
    installed = _install_each_extension(
        db, app, int(desk.shared["department"]), document, desk.outsider
    )
    caller = Caller(app, desk.outsider, desk.bearer[desk.outsider.id])
    answers = _ask_extensions(caller, reads, desk, desk.reachable, installed)
    wrong = [a for a in answers if not a.served]
    assert not wrong, _report(wrong, "200 or a redirect")
