"""``deskhost ext new``: a new extension's distribution, written from templates.

Two sets of templates are package data of this package. ``templates/full`` is an extension of
every common kind of part: a ticket panel, a page linked from the host's navigation, an event
handler counting into the extension's own table (with its Alembic stream), a periodic job, a
setting, a Japanese catalog, tests on ``hostapi.testing``'s fixtures, a ruff configuration and
a README. ``templates/bare`` is the least that loads: the manifest, one hook, ``pyproject.toml``
and one test. Both pass their own tests as generated.

Every template is a :class:`string.Template` whose file name ends in ``.tmpl`` (so that no
tool takes a template for code). In a path, ``__name__`` is the extension's id and a leading
``dot-`` a leading dot (package data leaves hidden files out).
"""

from __future__ import annotations

import importlib.util
import keyword
import sys
from importlib.resources import files
from importlib.resources.abc import Traversable
from pathlib import Path
from string import Template

import hostapi
from core.plugins.manifest import PLUGIN_ID

__all__ = ["BadExtensionName", "DirectoryNotEmpty", "ScaffoldError", "check_name", "scaffold"]

TEMPLATE_SUFFIX = ".tmpl"
#: Stands for the extension's id in a template's path.
NAME_IN_PATH = "__name__"
HIDDEN_PREFIX = "dot-"

#: Names refused even where no module has them: ``tests`` is the distribution's tests folder,
#: and the distributions that install theirs as a top-level package (a common packaging slip)
#: would clash with an extension of that name.
RESERVED_NAMES = frozenset({"tests"})


class ScaffoldError(ValueError):
    """The distribution cannot be written as asked; nothing was written."""


class BadExtensionName(ScaffoldError):
    """The name is not a usable plugin id."""


class DirectoryNotEmpty(ScaffoldError):
    """The folder to write into already holds something."""


def _substitutions(name: str) -> dict[str, str]:
    """What the templates fill in, derived from the extension's id."""
    major, minor = (int(part) for part in hostapi.HOSTAPI_VERSION.split(".")[:2])
    return {
        "name": name,
        # demo_ext → "Demo Ext": the display name until the author picks another.
        "title": " ".join(word.capitalize() for word in name.split("_") if word),
        "distribution": "deskhost-" + name.replace("_", "-"),
        "css_class": name.replace("_", "-"),
        # Written against this host's API: its minor version and later, within the major.
        "hostapi_range": f">={major}.{minor},<{major + 1}",
    }


def check_name(name: str) -> None:
    """Refuse a name that is not a plugin id (the manifest's rule) or not a usable package: a
    keyword, a reserved name, or the name of a module Python or this environment already has
    (deskhost's own and its dependencies', such as ``flask`` or ``sqlalchemy``; an extension
    of that name already installed too, which needs no new scaffold).

    :raises BadExtensionName: saying what is wrong with it.
    """
    if not PLUGIN_ID.regex.match(name):
        raise BadExtensionName(f"{name!r} is not a plugin id. {PLUGIN_ID.error}")
    if keyword.iskeyword(name):
        raise BadExtensionName(f"{name!r} is a Python keyword: its package could not be imported.")
    if name in RESERVED_NAMES:
        raise BadExtensionName(
            f"{name!r} is reserved: it is the name of the distribution's tests folder."
        )
    location = _module_location(name)
    if location is not None:
        raise BadExtensionName(
            f"{name!r} is the name of a module Python or this environment already has "
            f"({location}): the extension's package would shadow it, or be shadowed by it."
        )


def _module_location(name: str) -> str | None:
    """Where the top-level module ``name`` is found (without importing it), or ``None``."""
    if name in sys.stdlib_module_names:
        # Also the modules this platform lacks (winreg on Linux): an extension must load on all.
        return "Python's standard library"
    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError):  # in sys.modules without a spec, or a finder failed
        return "imported already"
    if spec is None:
        return None
    return spec.origin or ", ".join(spec.submodule_search_locations or ()) or "installed"


def scaffold(name: str, directory: Path, bare: bool = False) -> list[Path]:
    """Write the distribution of a new extension ``name`` into ``directory``.

    ``directory`` is the distribution's own folder; it is created, or may exist empty.
    ``bare`` writes the minimum (manifest, one hook, ``pyproject.toml``, one test).

    :returns: the files written, sorted.
    :raises BadExtensionName: ``name`` is not a usable plugin id.
    :raises DirectoryNotEmpty: ``directory`` exists and is not an empty folder.
    """
    check_name(name)
    directory = Path(directory)
    if directory.exists() and (not directory.is_dir() or any(directory.iterdir())):
        raise DirectoryNotEmpty(f"{directory} already exists and is not an empty folder")
    substitutions = _substitutions(name)
    # Everything is rendered before anything is written: a broken template writes nothing.
    rendered = {
        directory / _output_path(relative, name): Template(source.read_text("utf-8")).substitute(
            substitutions
        )
        for relative, source in _templates("bare" if bare else "full")
    }
    for path, text in sorted(rendered.items()):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return sorted(rendered)


def _templates(kind: str) -> list[tuple[tuple[str, ...], Traversable]]:
    """The templates of ``kind``, each with its path inside the set."""
    found: list[tuple[tuple[str, ...], Traversable]] = []

    def walk(folder: Traversable, parents: tuple[str, ...]) -> None:
        for entry in folder.iterdir():
            if entry.is_dir():
                walk(entry, (*parents, entry.name))
            elif entry.name.endswith(TEMPLATE_SUFFIX):
                found.append(((*parents, entry.name), entry))

    walk(files(__name__) / "templates" / kind, ())
    return sorted(found, key=lambda item: item[0])


def _output_path(parts: tuple[str, ...], name: str) -> Path:
    """Where a template's output goes within the distribution."""
    named = [part.replace(NAME_IN_PATH, name) for part in parts]
    named[-1] = named[-1].removesuffix(TEMPLATE_SUFFIX)
    if named[-1].startswith(HIDDEN_PREFIX):
        named[-1] = "." + named[-1].removeprefix(HIDDEN_PREFIX)
    return Path(*named)
