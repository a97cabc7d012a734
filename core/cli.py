"""The ``deskhost`` command: set up, load data, serve and work.

Bad input ends with a message on stderr and exit code 2; nothing is half-written.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import click
from flask import Flask, current_app
from flask.cli import FlaskGroup, with_appcontext

from core import setup_cli as setup_commands
from core.agents_cli import agents as agent_commands
from core.customer_import.cli import customers as customer_commands
from core.demo import ADMIN_PASSWORD
from core.dev import DEFAULT_FOLDER, DEFAULT_TICKETS
from core.host import Host
from core.intake.cli import mail as mail_commands
from core.intake.cli import spam_commands
from core.scaffold.cli import new_command
from marketplace_registry.cli import ext as marketplace_commands

# `ext new` writes files only; it lives with the scaffold, beside the marketplace's commands.
marketplace_commands.add_command(new_command)


def _create_app() -> Flask:
    from core.web import create_app

    return create_app()


def _host() -> Host:
    return current_app.extensions["deskhost.host"]


def _fail(message: str) -> None:
    """Print ``message`` and exit with the bad-input code."""
    click.echo(f"Error: {message}", err=True)
    sys.exit(2)


@click.group(
    cls=FlaskGroup, create_app=_create_app, add_default_commands=False, add_version_option=False
)
@click.version_option(package_name="deskhost")
def main() -> None:
    """deskhost: a plugin-based extension host for customer-support desks.

    Configuration comes from the environment: DATABASE_URL, REDIS_URL, SECRET_KEY,
    DESKHOST_ENCRYPTION_KEY, DESKHOST_INSTANCE_DIR (see the README).
    """
    # SIGTERM's default action ends the process without its exit handlers, which would leave
    # an embedded Redis this command started running; exiting normally runs them. serve and
    # worker install handlers of their own.
    signal.signal(signal.SIGTERM, _exit_on_terminate)


def _exit_on_terminate(signum: int, _frame: object) -> None:
    sys.exit(128 + signum)


@main.command("migrate")
@with_appcontext
def migrate_command() -> None:
    """Create or upgrade the database schema and the baseline data, then bring every
    installation of an upgraded extension to its deployed version."""
    from core.bootstrap import ensure_baseline
    from core.migrate import upgrade_core
    from core.services.base import Actor, Unit
    from marketplace_registry.lifecycle import upgrade_all

    host = _host()
    upgrade_core(host.engine)
    with host.transaction() as session:
        ensure_baseline(session)
    with host.transaction() as session:
        for installation in upgrade_all(Unit(session, Actor.system("cli"), host)):
            click.echo(
                f"Upgraded installation {installation.id} of {installation.plugin_id} "
                f"to {installation.plugin_version}."
            )
    click.echo("Database is up to date.")


@main.command("create-admin")
@click.option("--email", required=True, help="The administrator's sign-in email.")
@click.option("--name", default="Administrator", show_default=True)
@click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True)
@with_appcontext
def create_admin_command(email: str, name: str, password: str) -> None:
    """Create an administrator who belongs to every department."""
    from sqlalchemy import select

    from core.errors import DeskError
    from core.models import Department
    from core.services.base import Actor, Unit
    from core.services.org import create_agent

    host = _host()
    try:
        with host.transaction() as session:
            department_ids = list(session.scalars(select(Department.id)))
            create_agent(
                Unit(session, Actor.system("cli"), host),
                email=email,
                name=name,
                password=password,
                profile_name="Administrator",
                department_ids=department_ids,
            )
    except DeskError as error:
        _fail(str(error))
    click.echo(f"Administrator {email} created.")


@main.command("demo")
@click.option("--tickets", default=20_000, show_default=True, type=click.IntRange(min=1))
@click.option("--seed", default=7, show_default=True, help="Same seed, same data.")
@click.option("--if-empty", is_flag=True, help="Do nothing when tickets already exist.")
@click.option("--admin-password", default=ADMIN_PASSWORD, show_default=True)
@with_appcontext
def demo_command(tickets: int, seed: int, if_empty: bool, admin_password: str) -> None:
    """Load a realistic demo dataset and install every deployed extension.

    Every extension deployed here is installed and authorized, as the demo admin, for every
    department and profile with every scope it requests: the bundled ones and any third-party
    extension installed in this environment (found through its entry point). An extension
    that already has a live installation is left as it is.
    """
    from sqlalchemy import select

    from core.demo import ADMIN_EMAIL, load_demo
    from core.models import Agent
    from core.services.base import Actor, Unit
    from marketplace_registry.lifecycle import install_and_grant_all

    host = _host()
    if if_empty and _has_tickets(host):
        click.echo("Demo data already loaded.")
        _echo_demo_logins(host, admin_password)
        return
    with click.progressbar(length=tickets, label="Loading demo tickets") as bar:
        load_demo(
            host,
            tickets=tickets,
            seed=seed,
            progress=lambda done, _: bar.update(done - bar.pos),
            admin_password=admin_password,
        )
    with host.transaction() as session:
        admin = session.scalars(select(Agent).where(Agent.email == ADMIN_EMAIL)).one()
        # The admin installs and consents, so the extensions' grants carry the admin's name.
        install_and_grant_all(Unit(session, Actor(admin), host))
    _echo_demo_logins(host, admin_password)


def _echo_demo_logins(host: Host, admin_password: str) -> None:
    from core.demo import ADMIN_EMAIL, existing_logins

    click.echo(f"Admin login: {ADMIN_EMAIL} / {admin_password}")
    for login in existing_logins(host):
        click.echo(f"{login.label}: {login.email} / {login.password}")


def _has_tickets(host: Host) -> bool:
    from sqlalchemy import exists, select

    from core.models import Ticket

    with host.sessions() as session:
        return bool(session.scalar(select(exists().where(Ticket.id.is_not(None)))))


@main.command("import")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--skip-invalid", is_flag=True, help="Skip bad records instead of refusing all.")
@with_appcontext
def import_command(file: Path, skip_invalid: bool) -> None:
    """Import history from a JSON Lines FILE (format: docs/import-format.md)."""
    from core.importer import ImportRefused, run_import

    if not file.exists():
        _fail(f"{file}: no such file")
    try:
        report = run_import(_host(), file, skip_invalid=skip_invalid)
    except ImportRefused as refused:
        for line, message in refused.errors[:50]:
            click.echo(f"line {line}: {message}", err=True)
        if len(refused.errors) > 50:
            click.echo(f"… and {len(refused.errors) - 50} more", err=True)
        _fail("import refused; nothing was written")
    for line, message in report.skipped:
        click.echo(f"skipped line {line}: {message}", err=True)
    counts = ", ".join(f"{n} {kind}" for kind, n in report.counts.items())
    click.echo(f"Imported {counts} in {report.seconds:.1f} s.")


#: Seconds ``serve --with-worker``'s worker gets to stop on its own before it is killed.
WORKER_STOP_SECONDS = 30


@main.command("serve")
@click.option("--host", "bind_host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=int)
@click.option("--with-worker", is_flag=True, help="Also run a job worker (embedded setups).")
@with_appcontext
def serve_command(bind_host: str, port: int, with_worker: bool) -> None:
    """Serve the web app (production runs it under gunicorn; see the README).

    SIGTERM and SIGINT stop it: the worker is asked to stop the same way and killed if it has
    not stopped within 30 seconds; a second signal kills it at once.
    """
    from werkzeug.serving import run_simple

    host = _host()
    worker: subprocess.Popen[bytes] | None = None
    if with_worker:
        if not host.settings.redis_url:
            # Started here, the embedded Redis is this process's to stop; the worker joins it.
            host.redis.ping()
        # A session of its own: a terminal's Ctrl-C reaches this process only, which then
        # stops the worker once, warmly.
        worker = subprocess.Popen(
            [sys.executable, "-m", "core.cli", "worker", "--parent-pid", str(os.getpid())],
            env=os.environ,
            start_new_session=True,
        )
    received = [signal.SIGTERM]

    def stop_serving(signum: int, _frame: object) -> None:
        received[0] = signal.Signals(signum)
        raise KeyboardInterrupt  # werkzeug's server loop ends on it

    signal.signal(signal.SIGTERM, stop_serving)
    signal.signal(signal.SIGINT, stop_serving)
    click.echo(f"deskhost on http://{bind_host}:{port}/")
    try:
        app = current_app._get_current_object()  # type: ignore[attr-defined]
        run_simple(bind_host, port, app, threaded=True, use_reloader=False)
    except KeyboardInterrupt:
        pass  # a signal before the server loop started
    finally:
        if worker is not None:
            _stop_child(worker, received[0])


def _stop_child(child: subprocess.Popen[bytes], signum: int) -> None:
    """Pass ``signum`` on to ``child``; kill it after the deadline, or at a further signal."""

    def kill_now(_signum: int, _frame: object) -> None:
        child.kill()

    signal.signal(signal.SIGTERM, kill_now)
    signal.signal(signal.SIGINT, kill_now)
    if child.poll() is None:
        child.send_signal(signum)
    try:
        child.wait(timeout=WORKER_STOP_SECONDS)
    except subprocess.TimeoutExpired:
        child.kill()
        child.wait()


@main.command("dev")
@click.option(
    "--extension",
    "extension",
    metavar="NAME",
    help="The extension to develop (its id); every loaded extension without it.",
)
@click.option(
    "--folder",
    type=click.Path(file_okay=False, path_type=Path),
    default=DEFAULT_FOLDER,
    show_default=True,
    help="Where the embedded database, Redis and secrets are kept.",
)
@click.option("--tickets", default=DEFAULT_TICKETS, show_default=True, type=click.IntRange(min=1))
@click.option("--host", "bind_host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=int)
def dev_command(
    extension: str | None, folder: Path, tickets: int, bind_host: str, port: int
) -> None:
    """Serve a development desk for an extension.

    An embedded database and Redis in FOLDER (whatever DATABASE_URL and REDIS_URL say), the
    demo data, the extension installed and authorized for every department and profile. The
    server restarts when the extension's code, templates, manifest or catalogs change; jobs
    run in it, and the extension's hook errors and failed jobs are printed here.
    """
    from core.dev import DevOptions, serve

    serve(
        DevOptions(
            folder=folder, extension=extension, tickets=tickets, bind_host=bind_host, port=port
        )
    )


@main.command("worker")
@click.option("--burst", is_flag=True, help="Work until nothing is left, then exit.")
@click.option("--no-scheduler", is_flag=True, help="Do not run periodic jobs in this worker.")
@click.option(
    "--parent-pid",
    type=int,
    hidden=True,
    help="Stop when this process is gone (set by serve --with-worker).",
)
@with_appcontext
def worker_command(burst: bool, no_scheduler: bool, parent_pid: int | None) -> None:
    """Run a job worker: moves the event outbox to RQ and runs extensions' jobs."""
    from core.worker import run

    run(_host(), burst=burst, with_scheduler=not no_scheduler, parent_pid=parent_pid)


@main.command("plugins")
@with_appcontext
def plugins_command() -> None:
    """List the extensions found, their versions, the problems their checks found (as
    ``deskhost ext check``) and load errors."""
    plugin_host = _host().plugins
    for plugin_id, loaded in sorted(plugin_host.loaded.items()):
        click.echo(f"{plugin_id} {loaded.manifest.version}")
        for problem in loaded.problems:
            click.echo(f"  problem: {problem.message} [{problem.code}]")
    for name, error in sorted(plugin_host.errors.items()):
        click.echo(f"{name}: NOT LOADED: {error}", err=True)


@main.command("run-job")
@click.argument("plugin_id")
@click.argument("job")
@click.option("--installation", "installation_id", type=int, help="Only this installation.")
@with_appcontext
def run_job_command(plugin_id: str, job: str, installation_id: int | None) -> None:
    """Run an extension's job now, in this process, for each of its active installations
    (or one), one transaction each; the job gets an empty payload."""
    for installation in _run_extension_job(plugin_id, job, installation_id):
        click.echo(f"{plugin_id} {job}: installation {installation} done")


@main.group("insights")
def insights_commands() -> None:
    """Customer Insights' figures (the bundled customer_insights extension)."""


@insights_commands.command("rebuild")
@click.option("--installation", "installation_id", type=int, help="Only this installation.")
@with_appcontext
def insights_rebuild_command(installation_id: int | None) -> None:
    """Recompute Customer Insights' figures from scratch (its ``rebuild`` job, run now)."""
    for installation in _run_extension_job("customer_insights", "rebuild", installation_id):
        click.echo(f"Customer Insights rebuilt for installation {installation}")


def _run_extension_job(plugin_id: str, job: str, installation_id: int | None) -> list[int]:
    """Run ``job`` of ``plugin_id`` for its active installations (or the one named).

    Extensions add no CLI commands; their jobs are the way the CLI reaches their code, with a
    context bound to each installation exactly as a worker would give it.
    """
    from sqlalchemy import select

    from core.models import Installation
    from core.models.extensions import InstallationState

    host = _host()
    if plugin_id not in host.plugins.loaded:
        _fail(f"no extension {plugin_id!r} is loaded")
    spec = host.plugins.job_spec(plugin_id, job)
    if spec is None:
        _fail(f"the extension {plugin_id!r} has no job {job!r}")
    assert spec is not None
    with host.sessions() as session:
        query = select(Installation.id).where(
            Installation.plugin_id == plugin_id,
            Installation.state == InstallationState.ACTIVE,
        )
        if installation_id is not None:
            query = query.where(Installation.id == installation_id)
        ids = list(session.scalars(query.order_by(Installation.id)))
    if installation_id is not None and not ids:
        _fail(f"installation {installation_id} is not an active installation of {plugin_id!r}")
    for each in ids:
        with host.transaction() as session:
            installation = session.get(Installation, each)
            spec.run(host.plugins.context_for(session, installation), {})
    return ids


main.add_command(marketplace_commands)
main.add_command(customer_commands)
main.add_command(mail_commands)
main.add_command(spam_commands)
main.add_command(agent_commands)
setup_commands.register(main)

if __name__ == "__main__":
    main()
