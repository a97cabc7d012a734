"""What host API 1.2 adds for reading a page: the request's query arguments, the context's
departments by name, and a ticket status as the host shows it in the reader's language."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from core.host import Host
from core.models import Department
from hostapi import Context, DepartmentRecord
from hostapi.testing import InstalledExtension
from tests.plugin_fixtures import manifest


@pytest.fixture
def deskhost_host(host: Host) -> Host:
    """Run hostapi.testing's fixtures on this run's host (both backends)."""
    return host


class Reader:
    """A plugin with nothing but a context."""


@pytest.fixture
def installed(deskhost_installation: Callable[..., InstalledExtension]) -> InstalledExtension:
    """``reader`` installed on Support and Sales."""
    return deskhost_installation(
        Reader(), departments=["Support", "Sales"], manifest=manifest("reader", scopes=[])
    )


def _department(db: Session, name: str) -> Department:
    return db.scalars(select(Department).where(Department.name == name)).one()


# ------------------------------------------------------------------------------ query_args


def test_query_args_are_the_requests_with_the_first_value_of_a_repeated_name(
    app: Flask, installed: InstalledExtension
) -> None:
    context = installed.context()
    with app.test_request_context("/tickets/7?insights_for=account&tab=a&tab=b"):
        assert dict(context.query_args) == {"insights_for": "account", "tab": "a"}


def test_query_args_are_empty_outside_a_request(installed: InstalledExtension) -> None:
    assert dict(installed.context().query_args) == {}


def test_query_args_cannot_be_changed(app: Flask, installed: InstalledExtension) -> None:
    context = installed.context()
    with app.test_request_context("/tickets/7?tab=a"), pytest.raises(TypeError):
        context.query_args["tab"] = "b"  # type: ignore[index]


# ------------------------------------------------------------------------------ departments


def test_departments_are_those_the_context_reaches_by_name(
    installed: InstalledExtension, make_agent: Callable[..., Any], db: Session
) -> None:
    sales, support = _department(db, "Sales"), _department(db, "Support")
    seller = make_agent("seller@example.com", departments=[sales])

    assert installed.context().departments() == [
        DepartmentRecord(sales.id, "Sales"),
        DepartmentRecord(support.id, "Support"),
    ]
    assert installed.context(seller.id).departments() == [DepartmentRecord(sales.id, "Sales")]


# ------------------------------------------------------------------------------ status_label


@pytest.mark.parametrize(
    ("locale", "shown"),
    [("ja", ["未完了", "保留中", "お客様の返事待ち"]), ("en", ["Open", "On hold", "Waiting"])],
)
def test_status_label_is_the_built_in_status_as_the_host_shows_it_and_a_custom_one_as_named(
    app: Flask,
    installed: InstalledExtension,
    make_agent: Callable[..., Any],
    db: Session,
    locale: str,
    shown: list[str],
) -> None:
    support = _department(db, "Support")
    reader = make_agent("reader@example.com", departments=[support], locale=locale)
    context = installed.context(reader.id)
    custom = shown[2]

    with app.test_request_context("/tickets/7"):
        in_a_page = [context.status_label(s) for s in ("Open", "On Hold", custom)]
    in_a_job = [context.status_label(s) for s in ("Open", "On Hold", custom)]

    assert in_a_page == in_a_job == shown


def test_a_context_written_against_1_0_still_gives_a_status_and_query_args() -> None:
    class Old(Context):
        """A context implementing only what host API 1.0 asked for."""

    Old.__abstractmethods__ = frozenset()  # a 1.0 implementation defines each of them
    old = Old()

    assert old.status_label("On Hold") == "On Hold"
    assert dict(old.query_args) == {}
    with pytest.raises(NotImplementedError):
        old.departments()
