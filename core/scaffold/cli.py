"""``deskhost ext new NAME``: scaffold a new extension's distribution from the terminal.

It writes files only (no database, no app), so it runs anywhere deskhost is installed. Bad
input ends with a message on stderr and exit code 2, and nothing is written.
"""

from __future__ import annotations

import shlex
from pathlib import Path

import click

from core.scaffold import BadExtensionName, DirectoryNotEmpty, scaffold


@click.command("new")
@click.argument("name")
@click.option(
    "--bare",
    is_flag=True,
    help="Only the manifest, one hook, pyproject.toml and one test.",
)
@click.option(
    "--directory",
    type=click.Path(file_okay=False, path_type=Path),
    help="The distribution's folder, new or empty (default: ./NAME).",
)
def new_command(name: str, bare: bool, directory: Path | None) -> None:
    """Write a new extension NAME (its plugin id) as a distribution whose tests pass.

    The full scaffold has a ticket panel, a page in the navigation, an event handler counting
    into the extension's own table and its migration stream, a periodic job, a setting, a
    Japanese catalog, tests on hostapi.testing's fixtures, a ruff configuration and a README.
    """
    target = directory if directory is not None else Path(name)
    try:
        written = scaffold(name, target, bare)
    except BadExtensionName as error:
        raise click.BadParameter(str(error), param_hint="'NAME'") from None
    except DirectoryNotEmpty as error:
        raise click.UsageError(f"{error}: choose another --directory, or remove it.") from None
    click.echo(f"Wrote the extension {name!r} in {target}/ ({len(written)} files):")
    for path in written:
        click.echo(f"  {path.relative_to(target)}")
    click.echo("\nNext steps:")
    for step in _next_steps(name, target):
        click.echo(f"  {step}")


def _next_steps(name: str, target: Path) -> list[str]:
    """The commands that take the new extension from files to a tested, running extension."""
    return [
        f"cd {shlex.quote(str(target))}",
        "pip install -e '.[test]'",
        "pytest",
        "deskhost ext check .",
        f"deskhost dev --extension {name}",
    ]
