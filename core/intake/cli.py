"""``deskhost mail``: the SMTP listener, sending queued replies, and taking one message in."""

from __future__ import annotations

import signal
import sys
import threading
from typing import BinaryIO

import click
from flask import current_app
from flask.cli import with_appcontext
from sqlalchemy.orm import Session

from core.errors import DeskError
from core.host import Host
from core.services.base import Actor, Unit


def _host() -> Host:
    return current_app.extensions["deskhost.host"]


@click.group("mail")
def mail() -> None:
    """Inbound email (SMTP listener, MTA pipe) and outbound replies."""


@mail.command("listen")
@click.option("--host", "bind_host", default="127.0.0.1", show_default=True)
@click.option("--port", default=2525, show_default=True, type=click.IntRange(1, 65535))
@with_appcontext
def listen_command(bind_host: str, port: int) -> None:
    """Run an SMTP server whose mail becomes tickets, until interrupted."""
    from core.intake.smtp_listener import make_controller

    controller = make_controller(_host(), bind_host, port)
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    try:
        controller.start()
    except OSError as error:
        click.echo(f"Error: cannot listen on {bind_host}:{port}: {error}", err=True)
        sys.exit(2)
    click.echo(f"Listening for mail on {bind_host}:{port}.")
    try:
        stop.wait()
    finally:
        controller.stop()


@mail.command("send-pending")
@with_appcontext
def send_pending_command() -> None:
    """Send the agents' replies waiting for SMTP once (the worker does it continuously)."""
    from core.intake.mail_out import send_pending

    host = _host()
    if not host.settings.smtp.host:
        click.echo("Error: set DESKHOST_SMTP_HOST to send mail.", err=True)
        sys.exit(2)
    report = send_pending(host)
    click.echo(f"Sent {report.sent}, failed {report.failed}, given up {len(report.given_up)}.")


@mail.command("receive")
@click.argument("message", type=click.File("rb"), default="-")
@click.option("--recipient", "recipients", multiple=True, help="Envelope recipient (repeat).")
@click.option("--sender", "envelope_sender", default=None, help="Envelope sender.")
@with_appcontext
def receive_command(
    message: BinaryIO, recipients: tuple[str, ...], envelope_sender: str | None
) -> None:
    """Take one raw message in from a file or standard input (an MTA pipe)."""
    from core.intake.smtp_listener import deliver

    try:
        outcome = deliver(_host(), message.read(), list(recipients), envelope_sender)
    except DeskError as error:
        click.echo(f"Error: {error}", err=True)
        sys.exit(2)
    ticket = f" (ticket {outcome.ticket.id})" if outcome.ticket is not None else ""
    click.echo(f"{outcome.status.value}{ticket}")


@mail.command("mailbox")
@click.argument("department")
@click.argument("address", required=False)
@click.option("--clear", is_flag=True, help="Remove the department's mailbox.")
@with_appcontext
def mailbox_command(department: str, address: str | None, clear: bool) -> None:
    """Show or set the support ADDRESS whose mail becomes DEPARTMENT's (a name) tickets."""
    from sqlalchemy import select

    from core.models import Department
    from core.services import org

    if address and clear:
        click.echo("Error: give an address or --clear, not both.", err=True)
        sys.exit(2)
    try:
        with _host().transaction() as session:
            record = session.scalar(select(Department).where(Department.name == department))
            if record is None:
                click.echo(f"Error: no department named {department!r}.", err=True)
                sys.exit(2)
            if address or clear:
                org.update_department(_system_unit(session), record, mailbox=address)
            shown = record.mailbox or "(none)"
    except DeskError as error:
        click.echo(f"Error: {error}", err=True)
        sys.exit(2)
    click.echo(f"{department}: {shown}")


@click.group("spam")
def spam_commands() -> None:
    """Spam rules: list, add and delete them (e.g. to load a list of blocked domains)."""


def _system_unit(session: Session) -> Unit:
    return Unit(session, Actor.system("cli"), _host())


@spam_commands.command("rules")
@with_appcontext
def list_rules_command() -> None:
    """Print every spam rule: id, kind, state, header name and pattern, tab-separated."""
    from core.intake import spam

    with _host().sessions() as session:
        for rule in spam.list_rules(_system_unit(session)):
            state = "on" if rule.is_active else "off"
            click.echo(
                f"{rule.id}\t{rule.kind}\t{state}\t{rule.header_name or '-'}\t{rule.pattern}"
            )


@spam_commands.command("add-rule")
@click.option("--kind", required=True, type=click.Choice(["sender", "domain", "header", "content"]))
@click.option("--pattern", required=True, help="Address, phone, domain, text or /regex/.")
@click.option("--header", "header_name", default=None, help="The header (header rules).")
@click.option("--off", is_flag=True, help="Add it switched off.")
@with_appcontext
def add_rule_command(kind: str, pattern: str, header_name: str | None, off: bool) -> None:
    """Add a spam rule; a bad pattern exits with code 2 and adds nothing."""
    from core.intake import spam

    try:
        with _host().transaction() as session:
            rule = spam.create_rule(
                _system_unit(session),
                kind=kind,
                pattern=pattern,
                header_name=header_name,
                is_active=not off,
            )
            rule_id = rule.id
    except DeskError as error:
        click.echo(f"Error: {error}", err=True)
        sys.exit(2)
    click.echo(f"Added rule {rule_id}.")


@spam_commands.command("delete-rule")
@click.argument("rule_id", type=int)
@with_appcontext
def delete_rule_command(rule_id: int) -> None:
    """Delete a spam rule by its id."""
    from core.intake import spam

    try:
        with _host().transaction() as session:
            unit = _system_unit(session)
            spam.delete_rule(unit, spam.get_rule(unit, rule_id))
    except DeskError as error:
        click.echo(f"Error: {error}", err=True)
        sys.exit(2)
    click.echo(f"Deleted rule {rule_id}.")
