"""API fuzzing: schemathesis over the served OpenAPI document, in-process, bounded.

The settings (seed, examples per operation, phases, checks, the excluded operation) are in
``schemathesis.toml`` at the repository's root, which ``st run`` reads too. Each run fuzzes
every operation of ``/api/v1/openapi.json`` against the Flask app (no server) twice: as an
administrator with a token carrying every scope, and unauthenticated. It fails on any server
error (5xx, or an exception escaping a view) and on any answer the document does not
describe: status code, content type, body, and 405 with ``Allow`` for undeclared methods.
The line it prints ("API fuzzing (admin): N operations, …") is the count CI reports.
Extensions' endpoints are in the document too: a test extension's (tests/extension_endpoints.py),
installed for the seeded department, stands for them.
"""

from __future__ import annotations

import dataclasses
import time
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from flask import Flask
from schemathesis.engine import Status, events, from_schema
from sqlalchemy.orm import Session

from core import tokens
from core.config import Settings
from core.host import Host
from core.models import Agent, Department
from core.services import contracts, customers, knowledge_base, views
from core.services.base import Actor, Unit
from hostapi import scopes
from tests import extension_endpoints
from tests.factories import install_for

CONFIG = "schemathesis.toml"
DOCUMENT = "/api/v1/openapi.json"

#: How much of a server error's traceback the failure shows (its innermost frames).
_TRACEBACK_LINES = 8

#: Rate limits high enough that the fuzzer's burst of requests is never throttled.
UNLIMITED = 10**9


@dataclass
class FuzzRun:
    """What one schemathesis run did: operations, requests, and each distinct failure."""

    operations: set[str] = field(default_factory=set)
    requests: int = 0
    failures: dict[tuple[str, str], str] = field(default_factory=dict)

    def fail(self, operation: str, what: str, detail: str) -> None:
        """Record a failure, once per operation and kind (the first example is enough)."""
        self.failures.setdefault((operation, what), detail)

    def report(self) -> str:
        """The failures, one paragraph each, for the assertion message."""
        return "\n\n".join(
            f"{operation} — {what}\n{detail}"
            for (operation, what), detail in sorted(self.failures.items())
        )


@pytest.fixture
def fuzz_host(settings: Settings, host: Host) -> Iterator[Host]:
    """A host on this run's database and Redis whose API rate limits never refuse the fuzzer."""
    limits = dataclasses.replace(
        settings.limits, api_token_limit=UNLIMITED, api_address_limit=UNLIMITED
    )
    unlimited = Host(dataclasses.replace(settings, limits=limits))
    extension_endpoints.register(unlimited)
    yield unlimited
    unlimited.dispose()


@pytest.fixture
def fuzz_app(fuzz_host: Host) -> Flask:
    """The app as production builds it, on the unlimited host."""
    from core.web import create_app

    return create_app({"TESTING": True}, host=fuzz_host)


@pytest.fixture
def seeded(
    db: Session,
    fuzz_host: Host,
    admin_agent: Agent,
    department: Department,
    make_ticket: Callable[..., Any],
) -> None:
    """A few records of each kind for the fuzzer's ids to hit: accounts (with a contract),
    contacts, tickets, views, knowledge-base categories and articles, and an installation of
    the test extension."""
    install_for(db, fuzz_host, extension_endpoints.PLUGIN, [department.id])
    db.commit()
    work = Unit(session=db, actor=Actor(admin_agent), host=None)
    for number in range(1, 4):
        account = customers.create_account(work, name=f"Account {number}")
        contact = customers.create_contact(
            work,
            last_name=f"Contact {number}",
            email=f"contact{number}@example.com",
            account_id=account.id,
        )
        views.create_view(work, entity="contact", name=f"View {number}", shared=True)
        contracts.create_contract(
            work, account.id, name=f"Contract {number}", starts_on=date(2026, 1, number)
        )
        category = knowledge_base.create_category(
            work, department_id=department.id, name=f"Category {number}"
        )
        knowledge_base.create_article(work, category_id=category.id, title=f"Article {number}")
        db.commit()
        make_ticket(f"Ticket {number}", contact=contact, actor=admin_agent)


def _fuzz(app: Flask, repo_root: Path, headers: dict[str, str]) -> FuzzRun:
    """Run schemathesis over the app's document with ``headers`` on every request."""
    config = schemathesis.Config.from_path(repo_root / CONFIG)
    schema = schemathesis.openapi.from_wsgi(DOCUMENT, app, config=config)
    if headers:
        schema.config.update(headers=headers)
    run = FuzzRun()
    for event in from_schema(schema).execute():
        if isinstance(event, events.ScenarioFinished):
            recorder = event.recorder
            run.operations.add(recorder.label)
            run.requests += len(recorder.interactions)
            for checks in recorder.checks.values():
                for check in checks:
                    if check.status == Status.FAILURE and check.failure_info is not None:
                        failure = check.failure_info
                        run.fail(
                            recorder.label,
                            f"{check.name}: {failure.failure.title}",
                            f"{failure.failure.message}\n{failure.code_sample}",
                        )
        elif isinstance(event, events.NonFatalError):
            # An exception escaped a view (the app propagates them under test): its place.
            where = "".join(traceback.format_exception(event.value)[-_TRACEBACK_LINES:])
            run.fail(event.label, "error", f"{event.info.title}: {event.value!r}\n{where}")
        elif isinstance(event, events.FatalError):
            run.fail("(run)", "fatal error", repr(event.exception))
    return run


@pytest.mark.usefixtures("seeded")
@pytest.mark.parametrize("identity", ["admin", "anonymous"])
def test_api_answers_every_fuzzed_request_as_its_document_says(
    identity: str,
    fuzz_app: Flask,
    db: Session,
    admin_agent: Agent,
    repo_root: Path,
    backend_name: str,
) -> None:
    headers: dict[str, str] = {}
    if identity == "admin":
        _token, plaintext = tokens.create_personal_token(db, admin_agent, "fuzz", scopes.ALL)
        db.commit()
        headers = {"Authorization": f"Bearer {plaintext}"}
    started = time.monotonic()
    run = _fuzz(fuzz_app, repo_root, headers)
    print(
        f"API fuzzing ({identity}, {backend_name}): {len(run.operations)} operations, "
        f"{run.requests} requests, {len(run.failures)} failures "
        f"in {time.monotonic() - started:.0f} s"
    )
    assert run.operations, "schemathesis fuzzed no operation"
    if run.failures:
        pytest.fail(run.report(), pytrace=False)
