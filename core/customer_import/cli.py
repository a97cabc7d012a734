"""``deskhost customers import``: import contacts or accounts from a CSV, vCard or XLSX file.

Bad input (a malformed file, a wrong encoding, an unknown field in ``--map``) ends with the
message and exit code 2, and nothing is stored.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click
from flask import current_app
from flask.cli import with_appcontext

from core.customer_import import runner
from core.customer_import.encoding import DECLARABLE
from core.customer_import.mapping import (
    DEFAULT_MATCH_ON,
    ENTITIES,
    check_mapping,
    check_match_on,
    parse_map_options,
    suggest,
    targets,
)
from core.customer_import.rejections import rejections_csv
from core.errors import DeskError
from core.host import Host
from core.models import CustomerImport, ImportState
from core.services.base import Actor, Unit


def _host() -> Host:
    return current_app.extensions["deskhost.host"]


def _fail(message: str) -> None:
    click.echo(f"Error: {message}", err=True)
    sys.exit(2)


def _describe(record: CustomerImport) -> str:
    progress = runner.progress_of(record)
    return (
        f"{progress['processed_rows']}/{progress['total_rows']} rows ({progress['percent']}%): "
        f"{progress['created']} created, {progress['updated']} updated, "
        f"{progress['unchanged']} unchanged, {progress['rejected']} rejected"
    )


@click.group("customers")
def customers() -> None:
    """Contacts and accounts: import them from files."""


@customers.command("import")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--entity", type=click.Choice(ENTITIES), default="contact", show_default=True)
@click.option(
    "--map",
    "maps",
    multiple=True,
    metavar="COLUMN=FIELD",
    help="Map a column to a field (repeatable); COLUMN= ignores it. Others are suggested.",
)
@click.option(
    "--encoding",
    type=click.Choice(list(DECLARABLE), case_sensitive=False),
    default="auto",
    show_default=True,
)
@click.option("--match-on", help="Fields matching existing records: email,phone (contacts).")
@click.option("--dry-run", is_flag=True, help="Check and preview only; store nothing.")
@click.option("--wait", is_flag=True, help="Run the import here, printing its progress.")
@click.option(
    "--rejected-rows",
    type=click.Path(dir_okay=False, path_type=Path),
    help="With --wait: write the rejected rows (CSV) to this file.",
)
@with_appcontext
def import_command(
    file: Path,
    entity: str,
    maps: tuple[str, ...],
    encoding: str,
    match_on: str | None,
    dry_run: bool,
    wait: bool,
    rejected_rows: Path | None,
) -> None:
    """Import contacts (or accounts) from FILE: CSV, vCard (.vcf) or XLSX."""
    if not file.is_file():
        _fail(f"{file}: no such file")
    host = _host()
    content = file.read_bytes()
    try:
        with host.sessions() as session:
            table = runner.read_upload(content, file.name, encoding)
            available = targets(session, entity)
            mapping = check_mapping(
                {**suggest(table.columns, available, entity), **parse_map_options(maps)},
                table.columns,
                available,
            )
            matching = (
                DEFAULT_MATCH_ON[entity] if match_on is None else check_match_on(match_on, entity)
            )
            if dry_run:
                _print_preview(runner.dry_run(session, entity, table, mapping, matching))
                return
        with host.transaction() as session:
            unit = Unit(session, Actor.system("cli"), host)
            record = runner.create_import(
                unit,
                entity=entity,
                filename=file.name,
                content=content,
                encoding=encoding,
                mapping=mapping,
                match_on=matching,
            )
            runner.start(unit, record)
            import_id = record.id
    except DeskError as error:
        _fail(str(error))
    click.echo(f"Import {import_id}: {len(table.rows)} rows, mapping {mapping}.")
    if not wait:
        runner.enqueue(host, import_id)
        click.echo(f"Queued; a worker (deskhost worker) runs it. Progress: import {import_id}.")
        return
    finished = runner.run_import(
        host, import_id, progress=lambda record: click.echo(_describe(record))
    )
    if finished is None:
        _fail(f"import {import_id} was taken by a worker")
    assert finished is not None
    click.echo(f"{finished.state}: {_describe(finished)}")
    if finished.state == ImportState.FAILED:
        click.echo(f"Error: {finished.error}", err=True)
        sys.exit(1)
    if rejected_rows is not None and finished.rejected_count:
        with host.sessions() as session:
            stored = session.get(CustomerImport, import_id)
            assert stored is not None
            rejected_rows.write_bytes(rejections_csv(session, stored))
        click.echo(f"Rejected rows written to {rejected_rows}.")


def _print_preview(preview: runner.Preview) -> None:
    totals = preview.totals
    click.echo(f"Mapping: {preview.mapping}; matching on {', '.join(preview.match_on) or '-'}.")
    click.echo(
        f"Dry run: {totals['rows']} rows, {totals['valid']} valid, {totals['invalid']} invalid; "
        f"{totals['new']} new, {totals['updates']} updates, {totals['unchanged']} unchanged."
    )
    if preview.new_accounts:
        click.echo(f"Accounts to create: {', '.join(preview.new_accounts)}")
    for row in preview.rows:
        if row.errors:
            problems = "; ".join(f"{name}: {' '.join(m)}" for name, m in row.errors.items())
            click.echo(f"row {row.row_number}: {problems}")
        else:
            click.echo(f"row {row.row_number}: {row.action} {row.values}")
    click.echo("Nothing was stored.")


@customers.command("import-status")
@click.argument("import_id", type=int)
@with_appcontext
def status_command(import_id: int) -> None:
    """Show an import's progress."""
    with _host().sessions() as session:
        record = session.get(CustomerImport, import_id)
        if record is None:
            _fail(f"no import {import_id}")
        assert record is not None
        click.echo(f"{record.state}: {_describe(record)}")
