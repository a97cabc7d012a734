"""Translations for extensions: gettext catalogs shipped inside the extension's own package.

An extension translates with a gettext domain of its own, named by its plugin id, in catalogs
beside its code::

    <package>/translations/<language>/LC_MESSAGES/<plugin id>.po   the catalog (source)
    <package>/translations/<language>/LC_MESSAGES/<plugin id>.mo   compiled by ``pybabel compile``

The context of every hook offers them (``context.language``, ``context.gettext`` and its
siblings); this module holds what the context builds on, for templates and tests. A compiled
catalog is read unless its ``.po`` is newer (a catalog edited but not yet compiled, or a
package that ships only the ``.po``), in which case the ``.po`` is read; a language without
either gives the source text. Loaded catalogs are kept per extension, language and file times,
so an edited catalog is read again.

.. versionadded:: 1.2
"""

from __future__ import annotations

import functools
import importlib
import importlib.metadata
import importlib.resources
import io
from collections.abc import Callable
from gettext import NullTranslations
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import TYPE_CHECKING

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import NullTranslations as SourceText
from babel.support import Translations

from hostapi._markers import PROJECT_NAME

if TYPE_CHECKING:
    from hostapi.context import Context

#: The languages the host shows its pages in; :attr:`hostapi.Context.language` is one of them.
LANGUAGES: tuple[str, ...] = ("en", "ja")
#: The language used where nothing else is known.
DEFAULT_LANGUAGE = "en"
#: The folder of the extension's package that holds its catalogs.
CATALOG_FOLDER = "translations"


def N_(message: str) -> str:
    """Mark ``message`` for extraction without translating it; translate it where it is shown.

    For strings defined at import time (a table of labels), since the language is known only
    in a context: ``LABELS = {"email": N_("Email")}``, then ``context.gettext(LABELS[code])``.
    """
    return message


def catalog_path(package: str, domain: str, language: str, suffix: str = ".po") -> Traversable:
    """Where ``package`` keeps its catalog of ``domain`` for ``language`` (``.po`` or ``.mo``)."""
    return (
        importlib.resources.files(package)
        / CATALOG_FOLDER
        / language
        / "LC_MESSAGES"
        / f"{domain}{suffix}"
    )


def package_of(plugin_id: str) -> str | None:
    """The package holding the extension ``plugin_id`` (found through its ``deskhost.plugins``
    entry point), or ``None`` when no installed distribution declares it."""
    return _package_of(plugin_id)


def load_translations(package: str, domain: str, language: str) -> NullTranslations:
    """The catalog of ``domain`` for ``language`` shipped in ``package`` (see the module
    docstring for which file is read); source text when the package has none for it."""
    compiled = catalog_path(package, domain, language, ".mo")
    source = catalog_path(package, domain, language, ".po")
    return _load(package, domain, language, _stamp(compiled), _stamp(source))


def template_functions(context: Context) -> dict[str, Callable[..., str]]:
    """``_``, ``gettext``, ``ngettext``, ``pgettext`` and ``npgettext`` bound to ``context``,
    for a template's render context: ``template.render(..., **template_functions(context))``.

    Placeholders are filled from keyword arguments, as in the host's templates:
    ``{{ _("Showing the %(count)s most recent.", count=limit) }}``.
    """
    return {
        "_": context.gettext,
        "gettext": context.gettext,
        "ngettext": context.ngettext,
        "pgettext": context.pgettext,
        "npgettext": context.npgettext,
    }


@functools.lru_cache(maxsize=64)
def _package_of(plugin_id: str) -> str | None:
    found = importlib.metadata.entry_points(group=f"{PROJECT_NAME}.plugins", name=plugin_id)
    entry_point = next(iter(found), None)
    if entry_point is None:
        return None
    module = importlib.import_module(entry_point.module)
    return (module.__name__ if hasattr(module, "__path__") else module.__package__) or None


def _stamp(resource: Traversable) -> int | None:
    """A file's modification time in nanoseconds, ``0`` for one without a time (in a zip),
    ``None`` when it does not exist."""
    if not resource.is_file():
        return None
    return resource.stat().st_mtime_ns if isinstance(resource, Path) else 0


@functools.lru_cache(maxsize=256)
def _load(
    package: str,
    domain: str,
    language: str,
    compiled_stamp: int | None,
    source_stamp: int | None,
) -> NullTranslations:
    if compiled_stamp is not None and (source_stamp is None or compiled_stamp >= source_stamp):
        data = catalog_path(package, domain, language, ".mo").read_bytes()
        return Translations(io.BytesIO(data), domain=domain)
    if source_stamp is not None:
        with catalog_path(package, domain, language, ".po").open("rb") as po_file:
            catalog = read_po(po_file, locale=language, domain=domain)
        compiled = io.BytesIO()
        # Fuzzy entries count, as ``make translations`` compiles them (--use-fuzzy).
        write_mo(compiled, catalog, use_fuzzy=True)
        compiled.seek(0)
        return Translations(compiled, domain=domain)
    return SourceText()


__all__ = [
    "CATALOG_FOLDER",
    "DEFAULT_LANGUAGE",
    "LANGUAGES",
    "N_",
    "catalog_path",
    "load_translations",
    "package_of",
    "template_functions",
]
