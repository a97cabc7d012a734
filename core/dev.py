"""``deskhost dev``: a development server for writing an extension.

One command gives an extension's author a desk to try it on: an embedded database and Redis in
a folder of their own (``.deskhost-dev`` in the working directory unless told otherwise), the
demo data, the extension installed and authorized for every department and profile, and a
server that restarts when the extension's code, templates, manifest or catalogs change. Jobs
run in the server's process, so a change reaches them at the same restart, and the hook
errors and failed jobs of the extension are printed in the terminal as they happen.

The watching process prepares the folder once and keeps the embedded Redis running; each
restart is a child process (werkzeug's reloader) that joins it.
"""

from __future__ import annotations

import logging
import sys
import threading
import traceback
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from sqlalchemy import select
from werkzeug.serving import is_running_from_reloader, run_simple

from core.config import Settings

if TYPE_CHECKING:
    from flask import Flask

    from core.host import Host

#: The folder ``deskhost dev`` keeps its database, Redis and secrets in, under the working
#: directory.
DEFAULT_FOLDER = ".deskhost-dev"
#: Tickets of demo data a new folder gets: enough to page through, quick to load.
DEFAULT_TICKETS = 300
#: Seconds between two runs of what is due (jobs, events) and two looks for new failures.
JOB_INTERVAL_SECONDS = 1.0


@dataclass
class DevOptions:
    """What ``deskhost dev`` was asked for."""

    folder: Path
    extension: str | None = None
    tickets: int = DEFAULT_TICKETS
    bind_host: str = "127.0.0.1"
    port: int = 5000
    #: Overrides of the environment's configuration, for tests.
    overrides: dict[str, object] = field(default_factory=dict)

    def settings(self) -> Settings:
        """The configuration: the embedded database and Redis of :attr:`folder`, whatever the
        environment says about servers."""
        return Settings.from_env(
            {
                "DESKHOST_INSTANCE_DIR": str(self.folder.resolve()),
                "DATABASE_URL": "",
                "REDIS_URL": "",
                **self.overrides,
            }
        )


class DevRefused(click.ClickException):
    """``deskhost dev`` cannot start as asked (exit code 2)."""

    exit_code = 2


def serve(options: DevOptions) -> None:
    """Prepare the folder (in the watching process), then serve with reloading until stopped."""
    from core.web import create_app

    if is_running_from_reloader():
        app = create_app(host=_host(options))
        watched = watched_files(app.extensions["deskhost.host"], options.extension)
        _start_jobs(app.extensions["deskhost.host"], options.extension)
        _run(options, app, watched)
        return
    host = _host(options)
    try:
        prepare(host, options, echo=click.echo)
        # Started by this process, the embedded Redis outlives each restart's child.
        host.redis.ping()
        click.echo(f"deskhost dev on http://{options.bind_host}:{options.port}/ (Ctrl-C stops)")
        _run(options, _not_served, watched_files(host, options.extension))
    finally:
        host.dispose()


def _host(options: DevOptions) -> Host:
    from core.host import Host

    return Host(options.settings())


def _run(options: DevOptions, app: Flask | Callable[..., Any], watched: list[str]) -> None:
    run_simple(
        options.bind_host,
        options.port,
        app,
        threaded=True,
        use_reloader=True,
        use_debugger=False,
        extra_files=watched,
    )


def _not_served(environ: Any, start_response: Any) -> list[bytes]:  # pragma: no cover
    """The watching process's application: werkzeug never serves from that process."""
    raise RuntimeError("the watching process does not serve requests")


def prepare(host: Host, options: DevOptions, *, echo: Callable[[str], None]) -> None:
    """Migrate, load the demo data into an empty desk, and install the extension (every loaded
    extension without ``options.extension``) for every department, authorized.

    Raises :class:`DevRefused` when the extension asked for is not loaded.
    """
    from core.bootstrap import ensure_baseline
    from core.demo import ADMIN_EMAIL, ADMIN_PASSWORD, load_demo
    from core.migrate import upgrade_core
    from core.models import Agent, Ticket
    from core.services.base import Actor, Unit
    from marketplace_registry.lifecycle import install_and_grant_all

    if options.extension is not None and options.extension not in host.plugins.loaded:
        raise DevRefused(_not_loaded(host, options.extension))
    upgrade_core(host.engine)
    with host.transaction() as session:
        ensure_baseline(session)
    with host.sessions() as session:
        empty = session.scalar(select(Ticket.id).limit(1)) is None
    if empty:
        echo(f"Loading {options.tickets} demo tickets into {options.folder} …")
        load_demo(host, tickets=options.tickets)
    with host.transaction() as session:
        admin = session.scalars(select(Agent).where(Agent.email == ADMIN_EMAIL)).one()
        only = None if options.extension is None else [options.extension]
        for installation in install_and_grant_all(Unit(session, Actor(admin), host), only=only):
            echo(f"Installed {installation.plugin_id} (installation {installation.id}).")
    echo(f"Sign in as {ADMIN_EMAIL} / {ADMIN_PASSWORD}")


def _not_loaded(host: Host, plugin_id: str) -> str:
    why = host.plugins.errors.get(plugin_id)
    if why is not None:
        return f"extension {plugin_id!r} did not load: {why}"
    return (
        f"no extension {plugin_id!r} is installed in this Python environment "
        "(run `pip install -e .` in its folder first)"
    )


def watched_files(host: Host, plugin_id: str | None) -> list[str]:
    """Every file of the extension's package (each loaded extension's without ``plugin_id``)
    other than Python modules, which the reloader watches already: templates, the manifest,
    catalogs, static files."""
    loaded = host.plugins.loaded
    modules = [loaded[plugin_id].module] if plugin_id else [i.module for i in loaded.values()]
    files: list[str] = []
    for module in modules:
        for folder in _package_folders(module):
            files.extend(
                str(path)
                for path in folder.rglob("*")
                if path.is_file() and path.suffix not in (".py", ".pyc")
            )
    return sorted(set(files))


def _package_folders(module: Any) -> Iterable[Path]:
    return [Path(folder) for folder in getattr(module, "__path__", ())]


# ------------------------------------------------------------------------------ jobs and failures


def _start_jobs(host: Host, plugin_id: str | None) -> None:
    # RQ says at INFO level what each pass of the queues does, every second here: only its
    # warnings and errors reach the terminal (the extension's failures come from the reporter).
    for name in ("rq.worker", "rq.job"):
        logger = logging.getLogger(name)
        logger.addHandler(logging.StreamHandler(sys.stderr))
        logger.setLevel(logging.WARNING)
        logger.propagate = False
    reporter = FailureReporter(host, plugin_id)
    thread = threading.Thread(
        target=_work_forever, args=(host, reporter), name="deskhost-dev-jobs", daemon=True
    )
    thread.start()


def _work_forever(host: Host, reporter: FailureReporter) -> None:
    from core import worker

    stop = threading.Event()
    while not stop.wait(JOB_INTERVAL_SECONDS):
        try:
            worker.run(host, burst=True)
        except Exception:  # a dev server keeps going, and says why
            click.secho(traceback.format_exc(), fg="red", err=True)
        reporter.report(lambda line: click.secho(line, fg="red", err=True))


class FailureReporter:
    """Finds the hook errors and failed jobs of an extension (of every extension without
    ``plugin_id``) recorded since the last look; the first look starts from now."""

    def __init__(self, host: Host, plugin_id: str | None) -> None:
        self.host = host
        self.plugin_id = plugin_id
        self._last_hook_error, self._first_job = self._newest()
        #: Outbox row → the attempts already reported: a failed job keeps its row (and its
        #: last error) while it waits to be retried, and each new failure is told once.
        self._reported_attempts: dict[int, int] = {}

    def _newest(self) -> tuple[int, int]:
        from sqlalchemy import func

        from core.models import HookError, OutboxEvent

        with self.host.sessions() as session:
            return (
                session.scalar(select(func.max(HookError.id))) or 0,
                session.scalar(select(func.max(OutboxEvent.seq))) or 0,
            )

    def lines(self) -> list[str]:
        """One line (and the error's text) per failure recorded since the last call."""
        from core.models import HookError, Installation, OutboxEvent
        from core.models.extensions import OutboxKind

        lines: list[str] = []
        with self.host.sessions() as session:
            errors = select(HookError).where(HookError.id > self._last_hook_error)
            if self.plugin_id:
                errors = errors.where(HookError.plugin_id == self.plugin_id)
            for error in session.scalars(errors.order_by(HookError.id)):
                self._last_hook_error = max(self._last_hook_error, error.id)
                where = f"installation {error.installation_id}" if error.installation_id else ""
                lines.append(f"hook error: {error.plugin_id} {error.hook} {where}".rstrip())
                lines.append(_indented(error.error))
            failed = (
                select(OutboxEvent, Installation.plugin_id)
                .join(Installation, Installation.id == OutboxEvent.installation_id)
                .where(
                    OutboxEvent.kind == OutboxKind.JOB,
                    OutboxEvent.seq > self._first_job,
                    OutboxEvent.last_error.is_not(None),
                )
            )
            if self.plugin_id:
                failed = failed.where(Installation.plugin_id == self.plugin_id)
            for row, plugin_id in session.execute(failed.order_by(OutboxEvent.seq)):
                if self._reported_attempts.get(row.seq, 0) >= row.attempts:
                    continue
                self._reported_attempts[row.seq] = row.attempts
                lines.append(
                    f"job failed: {plugin_id} {row.name} installation {row.installation_id} "
                    f"(attempt {row.attempts})"
                )
                lines.append(_indented(row.last_error or ""))
        return lines

    def report(self, echo: Callable[[str], None]) -> None:
        """Echo :meth:`lines`."""
        for line in self.lines():
            echo(line)


def _indented(text: str) -> str:
    return "\n".join("    " + line for line in text.rstrip().splitlines())
