"""``deskhost agents``: list, add, deactivate and reactivate agents, and issue set-password links.

A new agent has no password: ``add`` and ``reset-link`` mail a one-time link when SMTP is
configured (``DESKHOST_SMTP_HOST``) and otherwise print it, to hand over once. Links point at
``--base-url`` (``DESKHOST_BASE_URL``), the address agents open the desk at. Bad input ends
with a message on stderr and exit code 2; nothing is written then.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager

import click
from flask import current_app, url_for
from flask.cli import with_appcontext
from sqlalchemy import select
from sqlalchemy.orm import Session

from core.errors import DeskError
from core.host import Host
from core.models import Agent, Department, LinkPurpose
from core.services import agent_links, org
from core.services.base import Actor, Unit

DEFAULT_BASE_URL = "http://127.0.0.1:5000"

_base_url_option = click.option(
    "--base-url",
    envvar="DESKHOST_BASE_URL",
    default=DEFAULT_BASE_URL,
    show_default=True,
    help="The address agents open the desk at (links point there).",
)


def _host() -> Host:
    return current_app.extensions["deskhost.host"]


def _fail(message: str) -> None:
    click.echo(f"Error: {message}", err=True)
    sys.exit(2)


@contextmanager
def _unit() -> Iterator[Unit]:
    """A unit acting as the CLI in one transaction (committed when the block succeeds)."""
    host = _host()
    with host.transaction() as session:
        yield Unit(session, Actor.system("cli"), host)


def _agent_by_email(session: Session, email: str) -> Agent:
    agent = session.scalar(select(Agent).where(Agent.email == email.strip().lower()))
    if agent is None:
        _fail(f"No agent has the email {email}.")
    assert agent is not None
    return agent


@click.group("agents")
def agents() -> None:
    """Agents: list, add, deactivate, reactivate, and set-password links."""


@agents.command("list")
@click.option(
    "--activity",
    type=click.Choice(["active", "inactive", "all"]),
    default="active",
    show_default=True,
)
@click.option("--search", default="", help="Part of the name or email.")
@with_appcontext
def list_command(activity: str, search: str) -> None:
    """Print the agents by name: id, email, name, profile, departments, availability."""
    active = {"active": True, "inactive": False, "all": None}[activity]
    with _host().sessions() as session:
        unit = Unit(session, Actor.system("cli"), _host())
        after: org.AgentCursor | None = None
        try:
            while rows := org.page_agents(
                unit, limit=200, after=after, search=search, active=active
            ):
                for agent in rows:
                    departments = ", ".join(d.name for d in agent.departments) or "-"
                    state = "" if agent.is_active else "\tinactive"
                    click.echo(
                        f"{agent.id}\t{agent.email}\t{agent.name}\t{agent.profile.name}\t"
                        f"{departments}\t{agent.status}{state}"
                    )
                after = org.AgentCursor(rows[-1].name, rows[-1].id)
        except DeskError as error:
            _fail(str(error))


@agents.command("add")
@click.option("--email", required=True)
@click.option("--name", required=True)
@click.option("--profile", "profile_name", default="Agent", show_default=True)
@click.option(
    "--department", "departments", multiple=True, help="A department's name (repeat for more)."
)
@click.option("--locale", type=click.Choice(list(org.LOCALES)), default=None)
@_base_url_option
@with_appcontext
def add_command(
    email: str,
    name: str,
    profile_name: str,
    departments: tuple[str, ...],
    locale: str | None,
    base_url: str,
) -> None:
    """Add an agent without a password and mail (or print) their set-password link."""
    try:
        with _unit() as unit:
            department_ids = _department_ids(unit.session, departments)
            agent = org.create_agent(
                unit,
                email=email,
                name=name,
                profile_name=profile_name,
                department_ids=department_ids,
                locale=locale,
            )
            issued = agent_links.issue_link(unit, agent, LinkPurpose.INVITATION)
            agent_id = agent.id
    except DeskError as error:
        _fail(str(error))
    click.echo(f"Agent {email} added.")
    _hand_over(agent_id, issued, base_url)


@agents.command("deactivate")
@click.argument("email")
@with_appcontext
def deactivate_command(email: str) -> None:
    """Deactivate an agent: sessions end, tokens and links stop working; tickets stay."""
    _set_active(email, False)
    click.echo(f"Agent {email} deactivated.")


@agents.command("reactivate")
@click.argument("email")
@with_appcontext
def reactivate_command(email: str) -> None:
    """Let a deactivated agent sign in again (revoked tokens stay revoked)."""
    _set_active(email, True)
    click.echo(f"Agent {email} reactivated.")


@agents.command("reset-link")
@click.argument("email")
@_base_url_option
@with_appcontext
def reset_link_command(email: str, base_url: str) -> None:
    """Issue a new set-password link for an agent (their older links stop working)."""
    try:
        with _unit() as unit:
            agent = _agent_by_email(unit.session, email)
            purpose = LinkPurpose.RESET if agent.password_hash else LinkPurpose.INVITATION
            issued = agent_links.issue_link(unit, agent, purpose)
            agent_id = agent.id
    except DeskError as error:
        _fail(str(error))
    _hand_over(agent_id, issued, base_url)


def _set_active(email: str, active: bool) -> None:
    try:
        with _unit() as unit:
            org.update_agent(unit, _agent_by_email(unit.session, email), is_active=active)
    except DeskError as error:
        _fail(str(error))


def _department_ids(session: Session, names: tuple[str, ...]) -> list[int]:
    found = {
        name: department_id
        for name, department_id in session.execute(
            select(Department.name, Department.id).where(Department.name.in_(names))
        )
    }
    unknown = [name for name in names if name not in found]
    if unknown:
        _fail(f"Unknown department: {', '.join(unknown)}.")
    return [found[name] for name in names]


def _hand_over(agent_id: int, issued: agent_links.IssuedLink, base_url: str) -> None:
    """Mail the committed link, or print it when it cannot be mailed."""
    host = _host()
    # url_for and the mail's language need a request context; its base is where agents go.
    with current_app.test_request_context(base_url=base_url), host.sessions() as session:
        agent = session.get(Agent, agent_id)
        assert agent is not None
        url = url_for("password.set_password", token=issued.token, _external=True)
        delivery = agent_links.deliver(session, host.settings.smtp, agent, issued, url)
    expires = delivery.expires_at.isoformat(timespec="minutes")
    if delivery.mailed:
        click.echo(f"Mailed a set-password link to {agent.email} (valid until {expires}).")
        return
    if delivery.error:
        click.echo(f"The link could not be mailed: {delivery.error}", err=True)
    click.echo(f"Set-password link (works once, until {expires}):")
    click.echo(delivery.url)
