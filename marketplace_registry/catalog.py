"""The marketplace catalog: the extensions installed on this host plus a registry index, searchable.

Listings come from two sources, merged by extension id:

- the extensions loaded from the ``deskhost.plugins`` entry points (built-in plugins excluded):
  these are *available*, i.e. deployed on this host and so installable;
- the registry index named by the ``DESKHOST_REGISTRY_INDEX`` setting (a file path or an
  http(s) URL), read lazily once per :class:`Catalog`. An index that cannot be read or is
  invalid is reported in :attr:`Catalog.errors`; the catalog then lists the entry points alone.

Registry index format (UTF-8 JSON; unknown fields are refused, so typos do not pass silently)::

    {
      "extensions": [
        {
          "id": "customer_insights",              # the manifest id
          "name": "Customer Insights",
          "publisher": "deskhost",
          "version": "0.2.0",                     # PEP 440
          "category": "analytics",                # see CATEGORIES; others show their id
          "description": {"en": "...", "ja": "..."},
          "scopes": ["desk.tickets.read"],        # hostapi.scopes.ALL only; optional
          "panels": ["desk.ticket.detail.rightpanel",
                     {"key": "overview", "location": "desk.contact.detail.subtab",
                      "title": {"en": "Overview", "ja": "概要"}}],  # locations or panel objects
          "terms": {"en": "...", "ja": "..."},
          "hostapi": ">=1.0,<2",                  # the host API range it needs
          "distribution": "deskhost-customer-insights",  # what the operator pip-installs
          "sha256": "<64 lowercase hex digits>",  # marketplace_registry.digest of that version
          "single_install": false                 # optional
        }
      ]
    }

A bad document raises :class:`RegistryError` naming the entry and field, e.g.
``extensions.2.sha256: Must be 64 lowercase hexadecimal digits (a sha256).``; ids must be unique.

When both sources know an extension, the listing's version is the higher of the two, and its
texts, scopes, panels, terms and host API range come from whichever source has that version
(the loaded manifest on a tie). The registry's ``sha256`` vouches for ``registry_version`` only:
see :meth:`Catalog.verify_distribution` for what the install step checks.
"""

from __future__ import annotations

import json
import unicodedata
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Any

from marshmallow import Schema, ValidationError, post_load, validate, validates_schema
from marshmallow import fields as schema_fields
from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import InvalidVersion, Version
from sqlalchemy import select
from sqlalchemy.orm import Session

import hostapi
from core.models import Installation
from core.models.extensions import InstallationState
from core.plugins.manifest import PLUGIN_ID, LocalizedText, Manifest
from hostapi import Location, scopes
from marketplace_registry import digest
from marketplace_registry.digest import DistributionRefused

if TYPE_CHECKING:
    from core.host import Host

#: How long reading a registry index over HTTP may take before it counts as unreachable.
INDEX_TIMEOUT_SECONDS = 5.0
#: A registry index larger than this is refused (it lists extensions, not their files).
MAX_INDEX_BYTES = 10 * 1024 * 1024

#: The categories the marketplace knows, with their labels; other categories show their id.
CATEGORIES: dict[str, LocalizedText] = {
    "analytics": LocalizedText(en="Analytics", ja="分析"),
    "channels": LocalizedText(en="Channels", ja="チャネル"),
    "chat": LocalizedText(en="Live chat", ja="ライブチャット"),
    "productivity": LocalizedText(en="Productivity", ja="生産性"),
    "other": LocalizedText(en="Other", ja="その他"),
}


def category_label(category: str, locale: str | None) -> str:
    """The label of ``category`` in ``locale``; an unknown category shows its id."""
    label = CATEGORIES.get(category)
    return label.get(locale) if label else category


# ------------------------------------------------------------------------------ registry index


class RegistryError(ValueError):
    """A registry index was refused; ``errors`` maps each field path to its messages."""

    def __init__(self, errors: Mapping[str, list[str]]) -> None:
        self.errors = dict(errors)
        super().__init__(
            "; ".join(f"{path}: {' '.join(messages)}" for path, messages in self.errors.items())
        )


@dataclass(frozen=True)
class RegistryEntry:
    """One extension as the registry index lists it."""

    id: str
    name: str
    publisher: str
    version: str
    category: str
    description: LocalizedText
    scopes: tuple[str, ...]
    panel_locations: tuple[str, ...]
    terms: LocalizedText
    hostapi: str
    distribution: str
    sha256: str
    single_install: bool = False


def _check_version(value: str) -> None:
    try:
        Version(value)
    except InvalidVersion as error:
        raise ValidationError("Not a valid version (PEP 440).") from error


def _check_range(value: str) -> None:
    try:
        SpecifierSet(value)
    except InvalidSpecifier as error:
        raise ValidationError("Not a valid version range such as '>=1.0,<2'.") from error


class _LocalizedSchema(Schema):
    en = schema_fields.String(required=True, validate=validate.Length(min=1))
    ja = schema_fields.String(required=True, validate=validate.Length(min=1))

    @post_load
    def _make(self, data: dict[str, Any], **_: Any) -> LocalizedText:
        return LocalizedText(**data)


_LOCATION = validate.OneOf(sorted(Location.ALL))


class _PanelObjectSchema(Schema):
    key = schema_fields.String(required=True, validate=PLUGIN_ID)
    location = schema_fields.String(required=True, validate=_LOCATION)
    title = schema_fields.Nested(_LocalizedSchema, required=True)


class _PanelField(schema_fields.Field):
    """A panel as a location string or a manifest-style panel object; loads to its location."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        if isinstance(value, str):
            return schema_fields.String(validate=_LOCATION).deserialize(value)
        if isinstance(value, Mapping):
            return _PanelObjectSchema().load(value)["location"]
        raise ValidationError("Must be a panel location or a panel object.")


class _EntrySchema(Schema):
    id = schema_fields.String(required=True, validate=PLUGIN_ID)
    name = schema_fields.String(required=True, validate=validate.Length(min=1, max=200))
    publisher = schema_fields.String(required=True, validate=validate.Length(min=1, max=200))
    version = schema_fields.String(required=True, validate=_check_version)
    category = schema_fields.String(required=True, validate=validate.Length(min=1, max=60))
    description = schema_fields.Nested(_LocalizedSchema, required=True)
    scopes = schema_fields.List(
        schema_fields.String(
            validate=validate.OneOf(sorted(scopes.ALL), error="Unknown scope {input!r}.")
        ),
        load_default=list,
    )
    panels = schema_fields.List(_PanelField(), load_default=list)
    terms = schema_fields.Nested(_LocalizedSchema, required=True)
    hostapi = schema_fields.String(required=True, validate=_check_range)
    distribution = schema_fields.String(
        required=True,
        # The project-name rule of PEP 508, so the operator can pip-install it as written.
        validate=validate.Regexp(
            r"^[A-Za-z0-9]([A-Za-z0-9._-]*[A-Za-z0-9])?$", error="Not a valid distribution name."
        ),
    )
    sha256 = schema_fields.String(
        required=True,
        validate=validate.Regexp(
            r"^[0-9a-f]{64}$", error="Must be 64 lowercase hexadecimal digits (a sha256)."
        ),
    )
    single_install = schema_fields.Boolean(load_default=False)

    @post_load
    def _make(self, data: dict[str, Any], **_: Any) -> RegistryEntry:
        panels = data.pop("panels")
        return RegistryEntry(
            **{
                **data,
                "scopes": tuple(dict.fromkeys(data["scopes"])),
                "panel_locations": tuple(dict.fromkeys(panels)),
            }
        )


class _IndexSchema(Schema):
    extensions = schema_fields.List(schema_fields.Nested(_EntrySchema), required=True)

    @validates_schema
    def _unique_ids(self, data: dict[str, Any], **_: Any) -> None:
        seen: set[str] = set()
        for index, entry in enumerate(data.get("extensions", [])):
            if entry.id in seen:
                raise ValidationError({"extensions": {index: {"id": [f"Duplicate {entry.id!r}."]}}})
            seen.add(entry.id)


def _flatten(errors: Any, prefix: str = "") -> dict[str, list[str]]:
    """``{"extensions": {2: {"sha256": [...]}}}`` → ``{"extensions.2.sha256": [...]}``."""
    if isinstance(errors, Mapping):
        flat: dict[str, list[str]] = {}
        for key, value in errors.items():
            part = "" if key == "_schema" else str(key)
            flat.update(_flatten(value, ".".join(p for p in (prefix, part) if p)))
        return flat
    messages = errors if isinstance(errors, list) else [errors]
    return {prefix or "(index)": [str(m) for m in messages]}


def parse_index(document: Mapping[str, Any] | str | bytes) -> dict[str, RegistryEntry]:
    """Validate a registry index (a mapping or JSON text); its entries by extension id.

    :raises RegistryError: naming each bad field's path (``extensions.2.sha256``).
    """
    if isinstance(document, (str, bytes)):
        try:
            document = json.loads(document)
        except ValueError as error:
            raise RegistryError({"(index)": [f"Not valid JSON: {error}"]}) from error
    if not isinstance(document, Mapping):
        raise RegistryError({"(index)": ["Must be a JSON object with an 'extensions' list."]})
    try:
        entries = _IndexSchema().load(dict(document))["extensions"]
    except ValidationError as error:
        raise RegistryError(_flatten(error.messages)) from error
    return {entry.id: entry for entry in entries}


def _read(location: str, timeout: float) -> bytes:
    """The bytes at ``location`` (an http(s) URL or a file path), at most MAX_INDEX_BYTES."""
    try:
        if location.startswith(("http://", "https://")):
            request = urllib.request.Request(location, headers={"Accept": "application/json"})
            with urllib.request.urlopen(request, timeout=timeout) as response:
                content = response.read(MAX_INDEX_BYTES + 1)
        else:
            with open(location, "rb") as file:
                content = file.read(MAX_INDEX_BYTES + 1)
    except (OSError, ValueError) as error:  # URLError and timeouts are OSErrors
        raise RegistryError({"(index)": [f"Could not read {location}: {error}"]}) from error
    if len(content) > MAX_INDEX_BYTES:
        raise RegistryError({"(index)": [f"Larger than {MAX_INDEX_BYTES} bytes."]})
    return content


def load_index(
    location: str, *, timeout: float = INDEX_TIMEOUT_SECONDS
) -> dict[str, RegistryEntry]:
    """Read and validate the registry index at a file path or http(s) URL.

    :raises RegistryError: when it cannot be read or is not a valid index.
    """
    return parse_index(_read(location, timeout))


# ------------------------------------------------------------------------------ listings


@dataclass(frozen=True)
class Listing:
    """One extension of the marketplace, as the admin pages show it.

    ``available``: deployed on this host (loaded from an entry point), so installable.
    ``version``: the best version known (loaded or listed); ``loaded_version`` and
    ``registry_version`` say which source has which. ``sha256`` is the registry's digest of
    ``registry_version`` (``None`` when the registry does not list the extension).
    ``compatible``: this host's API version is inside ``hostapi``.
    """

    plugin_id: str
    name: str
    publisher: str
    version: str
    category: str
    description: LocalizedText
    scopes: tuple[str, ...]
    panel_locations: tuple[str, ...]
    terms: LocalizedText
    hostapi: str
    sha256: str | None
    distribution: str | None
    available: bool
    loaded_version: str | None
    registry_version: str | None
    compatible: bool
    single_install: bool

    def category_label(self, locale: str | None) -> str:
        """The category's label in ``locale``."""
        return category_label(self.category, locale)


@dataclass(frozen=True)
class LiveInstallation:
    """An installation that is not archived, as the catalog reports it."""

    id: int
    plugin_version: str
    state: str


@dataclass(frozen=True)
class CatalogEntry(Listing):
    """A listing with this host's live installations of it (a search result)."""

    installations: tuple[LiveInstallation, ...] = ()
    update_available: bool = False

    @property
    def installed(self) -> bool:
        """True when the extension has at least one live (not archived) installation."""
        return bool(self.installations)


def _compatible(needed: str) -> bool:
    return SpecifierSet(needed).contains(hostapi.HOSTAPI_VERSION, prereleases=True)


def _older(installed_version: str, listed_version: str) -> bool:
    try:
        return Version(installed_version) < Version(listed_version)
    except InvalidVersion:
        return False  # a version we cannot read is never reported as upgradable


def _from_manifest(manifest: Manifest, *, dist_name: str | None, loaded: bool) -> Listing:
    return Listing(
        plugin_id=manifest.id,
        name=manifest.name,
        publisher=manifest.publisher,
        version=manifest.version,
        category=manifest.category,
        description=manifest.description,
        scopes=manifest.scopes,
        panel_locations=tuple(dict.fromkeys(panel.location for panel in manifest.panels)),
        terms=manifest.terms,
        hostapi=manifest.hostapi,
        sha256=None,
        distribution=dist_name,
        available=loaded,
        loaded_version=manifest.version if loaded else None,
        registry_version=None,
        compatible=_compatible(manifest.hostapi),
        single_install=manifest.single_install,
    )


def _from_registry(entry: RegistryEntry, loaded: Listing | None) -> Listing:
    listed = Listing(
        plugin_id=entry.id,
        name=entry.name,
        publisher=entry.publisher,
        version=entry.version,
        category=entry.category,
        description=entry.description,
        scopes=entry.scopes,
        panel_locations=entry.panel_locations,
        terms=entry.terms,
        hostapi=entry.hostapi,
        sha256=entry.sha256,
        distribution=entry.distribution,
        available=False,
        loaded_version=None,
        registry_version=entry.version,
        compatible=_compatible(entry.hostapi),
        single_install=entry.single_install,
    )
    if loaded is None:
        return listed
    # The newer source describes the extension; on a tie, what is deployed here is the truth.
    newer = listed if Version(entry.version) > Version(loaded.version) else loaded
    return Listing(
        **{
            **_as_dict(newer),
            "sha256": entry.sha256,
            "distribution": entry.distribution,
            "available": True,
            "loaded_version": loaded.loaded_version,
            "registry_version": entry.version,
        }
    )


def _as_dict(listing: Listing) -> dict[str, Any]:
    # dataclasses.asdict would turn the LocalizedText values into dicts too.
    return {field.name: getattr(listing, field.name) for field in fields(Listing)}


def normalise(text: str) -> str:
    """Text as search compares it: NFKC-normalised (full/half width alike) and casefolded."""
    return unicodedata.normalize("NFKC", text).casefold()


def _search_text(listing: Listing) -> str:
    label = CATEGORIES.get(listing.category)
    parts = [listing.name, listing.description.en, listing.description.ja, listing.category]
    if label:
        parts += [label.en, label.ja]
    return normalise("\n".join(parts))


class Catalog:
    """The marketplace of one host: a snapshot made per request (the index is read lazily once).

    :meth:`get` raises :class:`KeyError` for an unknown extension id.
    """

    def __init__(self, host: Host) -> None:
        self.host = host
        self._registry: dict[str, RegistryEntry] | None = None
        self._errors: list[str] = []
        self._listings: dict[str, Listing] | None = None

    @property
    def errors(self) -> list[str]:
        """Why the registry index could not be used (empty when it was, or none is set)."""
        self.registry()
        return list(self._errors)

    def registry(self) -> dict[str, RegistryEntry]:
        """The registry index's entries by id; empty when none is set or it could not be read."""
        if self._registry is None:
            self._registry = {}
            location = self.host.settings.registry_index
            if location:
                try:
                    self._registry = load_index(location)
                except RegistryError as error:
                    self._errors.append(f"registry index {location}: {error}")
        return self._registry

    def _by_id(self) -> dict[str, Listing]:
        if self._listings is None:
            plugins = self.host.plugins
            # Deployed for another host API: listed (not installable) so the admin sees why.
            merged = {
                plugin_id: _from_manifest(manifest, dist_name=None, loaded=False)
                for plugin_id, manifest in plugins.incompatible.items()
            }
            for info in plugins.extensions():
                merged[info.plugin_id] = _from_manifest(
                    info.manifest, dist_name=info.dist_name, loaded=True
                )
            for plugin_id, entry in self.registry().items():
                merged[plugin_id] = _from_registry(entry, merged.get(plugin_id))
            self._listings = merged
        return self._listings

    def listings(self) -> list[Listing]:
        """Every listing, by name (case-insensitive) then id."""
        return sorted(
            self._by_id().values(), key=lambda item: (normalise(item.name), item.plugin_id)
        )

    def get(self, plugin_id: str) -> Listing:
        """The listing of one extension.

        :raises KeyError: when neither this host nor the registry knows ``plugin_id``.
        """
        return self._by_id()[plugin_id]

    def search(
        self,
        session: Session,
        query: str = "",
        *,
        category: str | None = None,
        installed: bool | None = None,
    ) -> list[CatalogEntry]:
        """The listings matching every whitespace-separated term of ``query``, with installations.

        A term matches when it occurs in the name, either description, the category id or
        either category label (case-, width- and NFKC-insensitively). ``category`` keeps one
        category id; ``installed`` keeps the extensions with (True) or without (False) a live
        installation.
        """
        terms = normalise(query).split()
        live = _live_installations(session)
        results: list[CatalogEntry] = []
        for listing in self.listings():
            if category is not None and listing.category != category:
                continue
            haystack = _search_text(listing)
            if not all(term in haystack for term in terms):
                continue
            copies = live.get(listing.plugin_id, ())
            if installed is not None and bool(copies) != installed:
                continue
            results.append(
                CatalogEntry(
                    **_as_dict(listing),
                    installations=copies,
                    update_available=any(
                        _older(copy.plugin_version, listing.version) for copy in copies
                    ),
                )
            )
        return results

    def verify_distribution(self, plugin_id: str) -> None:
        """Check that the extension deployed here is what the registry vouches for.

        Nothing to check when no registry index is set or it does not list the extension (the
        operator deployed it). Refused when the index is set but unusable, when the registry
        lists another version than the one deployed, or when the files' digest differs.

        :raises KeyError: for an unknown extension id.
        :raises DistributionRefused: (or its :class:`~marketplace_registry.digest.DigestMismatch`)
            with the reason.
        """
        listing = self.get(plugin_id)
        if not listing.available:
            raise DistributionRefused(
                f"extension {plugin_id!r} is not deployed on this host: "
                f"pip-install {listing.distribution or plugin_id} {listing.version} first"
            )
        if self.errors:
            raise DistributionRefused(
                f"extension {plugin_id!r} cannot be verified: {'; '.join(self.errors)}"
            )
        if listing.sha256 is None:
            return
        if listing.registry_version != listing.loaded_version:
            raise DistributionRefused(
                f"extension {plugin_id!r}: the registry lists version {listing.registry_version}, "
                f"this host has {listing.loaded_version}; deploy {listing.registry_version} first"
            )
        digest.verify(self.host.plugins.loaded[plugin_id].module, listing.sha256)


def _live_installations(session: Session) -> dict[str, tuple[LiveInstallation, ...]]:
    """The installations that are not archived, by extension id (oldest first)."""
    rows = session.execute(
        select(
            Installation.id, Installation.plugin_id, Installation.plugin_version, Installation.state
        )
        .where(Installation.state != InstallationState.ARCHIVED)
        .order_by(Installation.id)
    )
    found: dict[str, list[LiveInstallation]] = {}
    for row in rows:
        found.setdefault(row.plugin_id, []).append(
            LiveInstallation(id=row.id, plugin_version=row.plugin_version, state=str(row.state))
        )
    return {plugin_id: tuple(copies) for plugin_id, copies in found.items()}


__all__ = [
    "CATEGORIES",
    "Catalog",
    "CatalogEntry",
    "DistributionRefused",
    "Listing",
    "LiveInstallation",
    "RegistryEntry",
    "RegistryError",
    "category_label",
    "load_index",
    "normalise",
    "parse_index",
]
