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

import atexit
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
from core.errors import DeskError

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
#: Seconds a restart waits for the jobs being run to finish.
JOB_STOP_SECONDS = 10.0
#: Addresses only this machine reaches.
LOOPBACK = ("127.0.0.1", "localhost", "::1")


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
        host = _host(options)
        # Each restart applies what the manifest says now: new scopes granted, and with a
        # higher version the extension's migrations and declared requirements.
        try:
            install_extensions(host, options, echo=lambda _line: None)
        except DeskError as refused:
            click.secho(f"Not installed again: {refused}", fg="red", err=True)
        app = create_app(host=host)
        _start_jobs(host, options.extension)
        _run(options, app, watched_files(host, options.extension))
        return
    if options.bind_host not in LOOPBACK:
        click.secho(
            f"Warning: serving on {options.bind_host}: anyone who reaches it can sign in with "
            "the demo's published passwords.",
            fg="yellow",
            err=True,
        )
    host = _host(options)
    try:
        prepare(host, options, echo=click.echo)
        # Started by this process, the embedded Redis outlives each restart's child.
        host.redis.ping()
        click.echo(f"deskhost dev on http://{options.bind_host}:{options.port}/ (Ctrl-C stops)")
        # Only the child watches files (and exits to be restarted); this process restarts it.
        _run(options, _not_served, [])
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
    from core.models import Ticket

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
    install_extensions(host, options, echo=echo)
    echo(f"Sign in as {ADMIN_EMAIL} / {ADMIN_PASSWORD}")


def install_extensions(host: Host, options: DevOptions, *, echo: Callable[[str], None]) -> None:
    """Install the extension (every loaded extension without ``options.extension``) for every
    department and profile, authorized as the demo admin; an installation there already is
    upgraded, widened and granted what its manifest asks now.

    :raises DeskError: the lifecycle refused (a declared requirement's name is taken…).
    """
    from core.demo import ADMIN_EMAIL
    from core.models import Agent
    from core.services.base import Actor, Unit
    from marketplace_registry.lifecycle import install_and_grant_all

    with host.transaction() as session:
        admin = session.scalars(select(Agent).where(Agent.email == ADMIN_EMAIL)).one()
        only = None if options.extension is None else [options.extension]
        for installation in install_and_grant_all(Unit(session, Actor(admin), host), only=only):
            echo(f"Installed {installation.plugin_id} (installation {installation.id}).")


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
    stop = threading.Event()
    thread = threading.Thread(
        target=_work_until,
        args=(host, FailureReporter(host, plugin_id), stop),
        name="deskhost-dev-jobs",
        daemon=True,
    )
    thread.start()

    def finish_the_jobs_running() -> None:
        # A restart exits this process: the job being run finishes first (its row would
        # otherwise wait out its lease), unless it takes longer than a restart should.
        stop.set()
        thread.join(JOB_STOP_SECONDS)

    atexit.register(finish_the_jobs_running)


def _work_until(host: Host, reporter: FailureReporter, stop: threading.Event) -> None:
    from core import worker

    while not stop.wait(JOB_INTERVAL_SECONDS):
        try:
            worker.run(host, burst=True)
        except Exception:  # a dev server keeps going, and says why
            click.secho(traceback.format_exc(), fg="red", err=True)
        reporter.report(lambda line: click.secho(line, fg="red", err=True))


class FailureReporter:
    """Tells the hook errors of an extension (of every extension without ``plugin_id``) and its
    jobs given up, recorded since the reporter was made: a failed run of a job is a hook error
    (``job:<name>``), one given up is told once more, also one that never ran (a job the
    extension no longer has)."""

    def __init__(self, host: Host, plugin_id: str | None) -> None:
        from hostapi import clock
        from marketplace_registry import failures

        self.host = host
        self.plugin_id = plugin_id
        with host.sessions() as session:
            self._last_hook_error = failures.newest_hook_error_id(session)
        self._started_at = clock.now()
        self._told_jobs: set[str] = set()

    def lines(self) -> list[str]:
        """Lines telling each failure recorded since the last call (with the error's text)."""
        from marketplace_registry import failures

        lines: list[str] = []
        with self.host.sessions() as session:
            for error in failures.hook_errors_after(session, self._last_hook_error, self.plugin_id):
                self._last_hook_error = error.id
                where = f" installation {error.installation_id}" if error.installation_id else ""
                lines.append(f"hook error: {error.plugin_id} {error.hook}{where}")
                lines.extend(failures.indented(error.error, 4))
            for job in failures.jobs_given_up_since(session, self._started_at, self.plugin_id):
                if job.job_id in self._told_jobs:
                    continue
                self._told_jobs.add(job.job_id)
                attempts = f"{job.attempts} attempt{'s' if job.attempts != 1 else ''}"
                lines.append(
                    f"job given up: {job.job} installation {job.installation_id} after "
                    f"{attempts}: {job.summary}"
                )
        return lines

    def report(self, echo: Callable[[str], None]) -> None:
        """Echo :meth:`lines`."""
        for line in self.lines():
            echo(line)
