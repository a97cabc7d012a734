"""The marketplace catalog: listings from entry points and a registry index, search, digests."""

from __future__ import annotations

import dataclasses
import hashlib
import importlib
import json
import shutil
import socket
import sys
import threading
import uuid
from collections.abc import Callable, Iterator
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from importlib.metadata import EntryPoint
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from sqlalchemy.orm import Session

import plugins.ticket_history
from core.config import Settings
from core.host import Host
from core.models import Installation
from core.models.extensions import InstallationState
from core.plugins.manager import PluginHost
from hostapi import clock
from marketplace_registry import digest
from marketplace_registry.catalog import (
    CATEGORIES,
    Catalog,
    RegistryError,
    category_label,
    parse_index,
)
from marketplace_registry.digest import DigestMismatch, DistributionRefused
from tests.plugin_fixtures import GROUP, entry_point, manifest

BUNDLED = {"customer_insights", "ticket_history", "salesiq", "im_dashboard"}
FIXTURES = Path(__file__).parent / "plugin_fixtures"


def registry_entry(plugin_id: str = "crm_bridge", **fields: Any) -> dict[str, Any]:
    """A valid registry index entry (fields override)."""
    data: dict[str, Any] = {
        "id": plugin_id,
        "name": "CRM Bridge",
        "publisher": "Example Corp",
        "version": "1.2.0",
        "category": "productivity",
        "description": {"en": "Shows CRM deals beside tickets.", "ja": "商談を表示します。"},
        "scopes": ["desk.tickets.read", "desk.contacts.read"],
        "panels": ["desk.ticket.detail.rightpanel"],
        "terms": {"en": "Example terms.", "ja": "利用規約。"},
        "hostapi": ">=1.0,<2",
        "distribution": "deskhost-crm-bridge",
        "sha256": "ab" * 32,
    }
    data.update(fields)
    return data


def _ids(items: list[Any]) -> set[str]:
    return {item.plugin_id for item in items}


@pytest.fixture
def use_index(host: Host, monkeypatch: pytest.MonkeyPatch) -> Callable[[str | None], None]:
    """Point the host's ``registry_index`` setting at a location for this test."""

    def use(location: str | None) -> None:
        monkeypatch.setattr(
            host, "settings", dataclasses.replace(host.settings, registry_index=location)
        )

    return use


@pytest.fixture
def index_file(tmp_path: Path, use_index: Callable[[str | None], None]) -> Callable[..., Path]:
    """Write a registry index with the given entries and make it the host's index."""

    def write(*entries: dict[str, Any]) -> Path:
        path = tmp_path / "index.json"
        path.write_text(json.dumps({"extensions": list(entries)}), encoding="utf-8")
        use_index(str(path))
        return path

    return write


@pytest.fixture
def add_installation(db: Session) -> Callable[..., Installation]:
    """Insert an installation row directly (its version and state as given)."""

    def add(
        plugin_id: str, version: str = "0.1.0", state: str = InstallationState.ACTIVE
    ) -> Installation:
        now = clock.now()
        installation = Installation(
            plugin_id=plugin_id,
            plugin_version=version,
            state=state,
            created_at=now,
            updated_at=now,
        )
        db.add(installation)
        db.commit()
        return installation

    return add


@pytest.fixture
def http_folder(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A local HTTP server on 127.0.0.1 serving a folder: (base URL, folder)."""
    folder = tmp_path / "served"
    folder.mkdir()

    class QuietHandler(SimpleHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(QuietHandler, directory=str(folder)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", folder
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@pytest.fixture
def make_package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., Any]]:
    """Copy a fixture extension into an importable package of its own under ``tmp_path``."""
    made: list[str] = []
    (tmp_path / "site").mkdir()
    monkeypatch.syspath_prepend(str(tmp_path / "site"))

    def make(source: str = "recorder", plugin_id: str = "tmp_extension") -> ModuleType:
        name = f"ext_{uuid.uuid4().hex[:12]}"
        folder = tmp_path / "site" / name
        shutil.copytree(FIXTURES / source, folder, ignore=shutil.ignore_patterns("__pycache__"))
        (folder / "manifest.json").write_text(json.dumps(manifest(plugin_id)), encoding="utf-8")
        made.append(name)
        importlib.invalidate_caches()
        return importlib.import_module(name)

    yield make
    for name in made:
        for loaded in [m for m in sys.modules if m == name or m.startswith(f"{name}.")]:
            del sys.modules[loaded]


@pytest.fixture
def only_plugins(host: Host, monkeypatch: pytest.MonkeyPatch) -> Callable[..., PluginHost]:
    """Give the host a fresh plugin host that loads just the given entry points."""

    def load(*entry_points: EntryPoint) -> PluginHost:
        plugin_host = PluginHost(host)
        plugin_host.load_entry_points(list(entry_points))
        monkeypatch.setattr(host, "plugins", plugin_host)
        return plugin_host

    return load


# ------------------------------------------------------------------------------ categories


def test_known_category_has_labels_in_both_languages() -> None:
    assert (category_label("analytics", "en"), category_label("analytics", "ja")) == (
        "Analytics",
        "分析",
    )


def test_unknown_category_shows_its_id() -> None:
    assert category_label("telephony", "ja") == "telephony"


def test_category_vocabulary_covers_the_bundled_extensions(host: Host) -> None:
    assert {info.manifest.category for info in host.plugins.extensions()} <= set(CATEGORIES)


# ------------------------------------------------------------------------------ listings


def test_catalog_lists_the_bundled_extensions_without_builtin_plugins(host: Host) -> None:
    listed = _ids(Catalog(host).listings())
    assert listed >= BUNDLED
    assert not {info.plugin_id for info in host.plugins.loaded.values() if info.builtin} & listed


def test_listing_of_a_loaded_extension_describes_its_manifest(host: Host) -> None:
    listing = Catalog(host).get("customer_insights")
    assert listing.name == "Customer Insights"
    assert listing.version == listing.loaded_version == "0.2.0"
    assert listing.available and listing.compatible
    assert listing.sha256 is None and listing.registry_version is None
    assert listing.distribution == "deskhost"
    assert "desk.tickets.read" in listing.scopes
    assert listing.panel_locations == (
        "desk.ticket.detail.rightpanel",
        "desk.contact.detail.subtab",
        "desk.account.detail.subtab",
    )
    assert listing.terms.get("ja")
    assert listing.single_install is False


def test_listing_says_single_install(host: Host) -> None:
    assert Catalog(host).get("salesiq").single_install is True


def test_unknown_extension_id_raises_key_error(host: Host) -> None:
    with pytest.raises(KeyError):
        Catalog(host).get("no_such_extension")


def test_without_registry_index_there_are_no_catalog_errors(host: Host) -> None:
    assert Catalog(host).errors == []


def test_extension_deployed_for_another_host_api_is_listed_as_incompatible(
    host: Host, only_plugins: Callable[..., PluginHost]
) -> None:
    only_plugins(entry_point("wrong_hostapi"))
    listing = Catalog(host).get("wrong_hostapi")
    assert (listing.compatible, listing.available, listing.hostapi) == (False, False, ">=2,<3")


# ------------------------------------------------------------------------------ search


@pytest.mark.parametrize("query", ["analytics", "Analytics", "ＡＮＡＬＹＴＩＣＳ", "分析"])
def test_analytics_search_finds_customer_insights_and_im_dashboard(
    host: Host, db: Session, query: str
) -> None:
    found = _ids(Catalog(host).search(db, query)) & BUNDLED
    assert found == {"customer_insights", "im_dashboard"}


@pytest.mark.parametrize("query", ["チャット", "ﾁｬｯﾄ", "live chat"])
def test_chat_search_finds_salesiq(host: Host, db: Session, query: str) -> None:
    assert "salesiq" in _ids(Catalog(host).search(db, query))


def test_search_matches_descriptions_in_either_language(host: Host, db: Session) -> None:
    assert _ids(Catalog(host).search(db, "過去の問い合わせ")) & BUNDLED == {"ticket_history"}
    assert _ids(Catalog(host).search(db, "earlier tickets")) & BUNDLED == {"ticket_history"}


def test_search_needs_every_term_to_match(host: Host, db: Session) -> None:
    assert _ids(Catalog(host).search(db, "分析 WhatsApp")) & BUNDLED == {"im_dashboard"}


def test_search_with_no_match_is_empty(host: Host, db: Session) -> None:
    assert Catalog(host).search(db, "payroll") == []


def test_empty_query_lists_everything(host: Host, db: Session) -> None:
    catalog = Catalog(host)
    assert _ids(catalog.search(db)) == _ids(catalog.listings())


def test_category_filter_keeps_that_category_only(host: Host, db: Session) -> None:
    found = Catalog(host).search(db, category="analytics")
    assert _ids(found) & BUNDLED == {"customer_insights"}
    assert {entry.category for entry in found} == {"analytics"}


def test_installed_filter_keeps_extensions_with_a_live_installation(
    host: Host, db: Session, add_installation: Callable[..., Installation]
) -> None:
    installation = add_installation("ticket_history")
    (entry,) = Catalog(host).search(db, installed=True)
    assert (entry.plugin_id, entry.installed) == ("ticket_history", True)
    assert [(copy.id, copy.plugin_version) for copy in entry.installations] == [
        (installation.id, "0.1.0")
    ]


def test_not_installed_filter_leaves_installed_extensions_out(
    host: Host, db: Session, add_installation: Callable[..., Installation]
) -> None:
    add_installation("ticket_history")
    found = Catalog(host).search(db, installed=False)
    assert _ids(found) & BUNDLED == BUNDLED - {"ticket_history"}
    assert not any(entry.installed for entry in found)


def test_archived_installation_does_not_count_as_installed(
    host: Host, db: Session, add_installation: Callable[..., Installation]
) -> None:
    add_installation("ticket_history", state=InstallationState.ARCHIVED)
    assert Catalog(host).search(db, installed=True) == []


def test_installation_awaiting_authorization_counts_as_installed(
    host: Host, db: Session, add_installation: Callable[..., Installation]
) -> None:
    add_installation("ticket_history", state=InstallationState.AWAITING_AUTHORIZATION)
    assert _ids(Catalog(host).search(db, installed=True)) == {"ticket_history"}


def test_update_available_when_an_installation_is_older_than_the_listing(
    host: Host, db: Session, add_installation: Callable[..., Installation]
) -> None:
    add_installation("ticket_history", version="0.0.9")
    (entry,) = Catalog(host).search(db, "Ticket History")
    assert entry.update_available is True


def test_no_update_available_when_installations_are_current(
    host: Host, db: Session, add_installation: Callable[..., Installation]
) -> None:
    add_installation("ticket_history", version="0.2.0")
    (entry,) = Catalog(host).search(db, "Ticket History")
    assert entry.update_available is False


def test_versions_compare_numerically_not_as_text(
    host: Host, db: Session, add_installation: Callable[..., Installation], index_file: Any
) -> None:
    index_file(registry_entry("ticket_history", name="Ticket History", version="0.10.0"))
    add_installation("ticket_history", version="0.9.0")
    (entry,) = Catalog(host).search(db, "Ticket History")
    assert entry.update_available is True


# ------------------------------------------------------------------------------ registry index


def test_registry_only_extension_is_listed_but_not_available(
    host: Host, index_file: Callable[..., Path]
) -> None:
    index_file(registry_entry())
    listing = Catalog(host).get("crm_bridge")
    assert (listing.available, listing.loaded_version, listing.version) == (False, None, "1.2.0")
    assert (listing.sha256, listing.distribution) == ("ab" * 32, "deskhost-crm-bridge")
    assert listing.panel_locations == ("desk.ticket.detail.rightpanel",)
    assert listing.compatible is True


def test_registry_index_keeps_the_entry_points_listed(
    host: Host, index_file: Callable[..., Path]
) -> None:
    index_file(registry_entry())
    assert _ids(Catalog(host).listings()) >= BUNDLED | {"crm_bridge"}


def test_panel_objects_in_the_index_give_their_locations(
    host: Host, index_file: Callable[..., Path]
) -> None:
    panel = {
        "key": "deals",
        "location": "desk.contact.detail.subtab",
        "title": {"en": "D", "ja": "D"},
    }
    index_file(registry_entry(panels=[panel, "desk.contact.detail.subtab", "desk.topband"]))
    assert Catalog(host).get("crm_bridge").panel_locations == (
        "desk.contact.detail.subtab",
        "desk.topband",
    )


def test_newer_registry_version_is_the_listing_version(
    host: Host, index_file: Callable[..., Path]
) -> None:
    index_file(registry_entry("ticket_history", name="Ticket History 2", version="0.3.0"))
    listing = Catalog(host).get("ticket_history")
    assert (listing.version, listing.loaded_version, listing.registry_version) == (
        "0.3.0",
        "0.2.0",
        "0.3.0",
    )
    assert listing.available is True
    assert listing.name == "Ticket History 2"


def test_older_registry_version_keeps_the_loaded_manifest(
    host: Host, index_file: Callable[..., Path]
) -> None:
    index_file(registry_entry("ticket_history", name="Old name", version="0.0.1"))
    listing = Catalog(host).get("ticket_history")
    assert (listing.version, listing.name, listing.registry_version) == (
        "0.2.0",
        "Ticket History",
        "0.0.1",
    )


def test_newer_registry_version_makes_an_update_available(
    host: Host,
    db: Session,
    index_file: Callable[..., Path],
    add_installation: Callable[..., Installation],
) -> None:
    index_file(registry_entry("ticket_history", name="Ticket History", version="0.3.0"))
    add_installation("ticket_history", version="0.2.0")
    (entry,) = Catalog(host).search(db, installed=True)
    assert entry.update_available is True


def test_registry_entry_for_another_host_api_is_incompatible(
    host: Host, index_file: Callable[..., Path]
) -> None:
    index_file(registry_entry(hostapi=">=2,<3"))
    assert Catalog(host).get("crm_bridge").compatible is False


def test_registry_extension_is_searchable(
    host: Host, db: Session, index_file: Callable[..., Path]
) -> None:
    index_file(registry_entry())
    assert _ids(Catalog(host).search(db, "商談")) == {"crm_bridge"}


def test_bad_field_names_the_entry_index_and_field() -> None:
    document = {"extensions": [registry_entry("one"), registry_entry("two", sha256="not-hex")]}
    with pytest.raises(RegistryError) as raised:
        parse_index(document)
    assert list(raised.value.errors) == ["extensions.1.sha256"]
    assert str(raised.value).startswith("extensions.1.sha256: Must be 64 lowercase hexadecimal")


def test_unknown_scope_is_refused() -> None:
    with pytest.raises(RegistryError) as raised:
        parse_index({"extensions": [registry_entry(scopes=["desk.everything"])]})
    assert raised.value.errors == {"extensions.0.scopes.0": ["Unknown scope 'desk.everything'."]}


def test_bad_panel_location_names_its_path() -> None:
    panel = {"key": "deals", "location": "nowhere", "title": {"en": "D", "ja": "D"}}
    with pytest.raises(RegistryError) as raised:
        parse_index({"extensions": [registry_entry(panels=["desk.topband", panel])]})
    assert list(raised.value.errors) == ["extensions.0.panels.1.location"]


def test_missing_required_field_is_named() -> None:
    entry = registry_entry()
    del entry["distribution"]
    with pytest.raises(RegistryError) as raised:
        parse_index({"extensions": [entry]})
    assert "extensions.0.distribution" in raised.value.errors


def test_unknown_field_is_refused() -> None:
    with pytest.raises(RegistryError) as raised:
        parse_index({"extensions": [registry_entry(sha265="ab" * 32)]})
    assert "extensions.0.sha265" in raised.value.errors


def test_duplicate_extension_id_is_refused() -> None:
    with pytest.raises(RegistryError) as raised:
        parse_index({"extensions": [registry_entry(), registry_entry()]})
    assert raised.value.errors == {"extensions.1.id": ["Duplicate 'crm_bridge'."]}


def test_bad_host_api_range_is_refused() -> None:
    with pytest.raises(RegistryError) as raised:
        parse_index({"extensions": [registry_entry(hostapi="one or two")]})
    assert "extensions.0.hostapi" in raised.value.errors


def test_index_that_is_not_json_is_refused() -> None:
    with pytest.raises(RegistryError) as raised:
        parse_index(b"{not json")
    assert list(raised.value.errors) == ["(index)"]


def test_bad_index_is_reported_and_the_entry_points_still_listed(
    host: Host, index_file: Callable[..., Path]
) -> None:
    path = index_file(registry_entry(version="latest"))
    catalog = Catalog(host)
    assert _ids(catalog.listings()) >= BUNDLED
    assert "crm_bridge" not in _ids(catalog.listings())
    (error,) = catalog.errors
    assert str(path) in error and "extensions.0.version" in error


def test_missing_index_file_is_reported(
    host: Host, tmp_path: Path, use_index: Callable[[str | None], None]
) -> None:
    use_index(str(tmp_path / "absent.json"))
    (error,) = Catalog(host).errors
    assert "absent.json" in error


def test_unreachable_index_url_is_reported_and_the_entry_points_still_listed(
    host: Host, use_index: Callable[[str | None], None]
) -> None:
    with socket.socket() as probe:  # a port nothing listens on once the probe is closed
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{port}/index.json"
    use_index(url)
    catalog = Catalog(host)
    assert _ids(catalog.listings()) >= BUNDLED
    (error,) = catalog.errors
    assert url in error


def test_index_is_read_from_an_http_url(
    host: Host, use_index: Callable[[str | None], None], http_folder: tuple[str, Path]
) -> None:
    base_url, folder = http_folder
    (folder / "index.json").write_text(json.dumps({"extensions": [registry_entry()]}))
    use_index(f"{base_url}/index.json")
    catalog = Catalog(host)
    assert catalog.get("crm_bridge").sha256 == "ab" * 32
    assert catalog.errors == []


def test_http_error_from_the_index_url_is_reported(
    host: Host, use_index: Callable[[str | None], None], http_folder: tuple[str, Path]
) -> None:
    base_url, _ = http_folder
    use_index(f"{base_url}/missing.json")
    (error,) = Catalog(host).errors
    assert "404" in error


def test_registry_index_setting_comes_from_the_environment(tmp_path: Path) -> None:
    overrides = {"DESKHOST_INSTANCE_DIR": str(tmp_path), "DESKHOST_REGISTRY_INDEX": "/srv/i.json"}
    assert Settings.from_env(overrides).registry_index == "/srv/i.json"
    assert Settings.from_env({**overrides, "DESKHOST_REGISTRY_INDEX": ""}).registry_index is None


# ------------------------------------------------------------------------------ digests


def test_digest_follows_the_documented_algorithm(tmp_path: Path) -> None:
    package = tmp_path / "tiny_extension"
    (package / "templates").mkdir(parents=True)
    files = {"tiny_extension/__init__.py": b"X = 1\n", "tiny_extension/templates/p.html": b"<p>"}
    for relative, content in files.items():
        (tmp_path / relative).write_bytes(content)
    lines = "".join(
        f"{relative}\0{hashlib.sha256(content).hexdigest()}\n"
        for relative, content in sorted(files.items())
    )
    assert digest.directory_digest(package) == hashlib.sha256(lines.encode()).hexdigest()


def test_digest_is_stable(make_package: Callable[..., ModuleType]) -> None:
    module = make_package()
    assert digest.distribution_digest(module) == digest.distribution_digest(module)


def test_digest_ignores_bytecode_caches(make_package: Callable[..., ModuleType]) -> None:
    module = make_package()
    before = digest.distribution_digest(module)
    cache = digest.package_directory(module) / "__pycache__"
    cache.mkdir(exist_ok=True)
    (cache / "extra.cpython-312.pyc").write_bytes(b"\0")
    (digest.package_directory(module) / "stray.pyc").write_bytes(b"\0")
    assert digest.distribution_digest(module) == before


def test_digest_is_the_same_for_a_copy_of_the_same_files(tmp_path: Path) -> None:
    copy = tmp_path / "ticket_history"
    source = digest.package_directory(plugins.ticket_history)
    shutil.copytree(source, copy, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    assert digest.directory_digest(copy) == digest.distribution_digest(plugins.ticket_history)


def test_digest_of_a_plugin_module_inside_a_package_covers_the_package(
    make_package: Callable[..., ModuleType],
) -> None:
    module = make_package()
    (digest.package_directory(module) / "hooks.py").write_text("X = 1\n")
    importlib.invalidate_caches()
    submodule = importlib.import_module(f"{module.__name__}.hooks")
    assert digest.distribution_digest(submodule) == digest.distribution_digest(module)


def test_verify_accepts_the_matching_digest(make_package: Callable[..., ModuleType]) -> None:
    module = make_package()
    digest.verify(module, digest.distribution_digest(module).upper())


def test_tampered_file_fails_verification(make_package: Callable[..., ModuleType]) -> None:
    module = make_package()
    published = digest.distribution_digest(module)
    init = digest.package_directory(module) / "__init__.py"
    init.write_text(init.read_text() + "\nimport os  # injected\n")
    with pytest.raises(DigestMismatch) as raised:
        digest.verify(module, published)
    assert raised.value.expected == published
    assert raised.value.actual == digest.distribution_digest(module) != published
    assert published in str(raised.value)


def test_added_file_fails_verification(make_package: Callable[..., ModuleType]) -> None:
    module = make_package()
    published = digest.distribution_digest(module)
    (digest.package_directory(module) / "extra.py").write_text("")
    with pytest.raises(DigestMismatch):
        digest.verify(module, published)


# ------------------------------------------------------------------------ verify before install


@pytest.fixture
def deployed(
    make_package: Callable[..., ModuleType], only_plugins: Callable[..., PluginHost]
) -> ModuleType:
    """A copied extension ``tmp_extension`` 1.0.0 deployed as the host's only extension."""
    module = make_package()
    only_plugins(EntryPoint(name="tmp_extension", value=module.__name__, group=GROUP))
    return module


def test_extension_the_registry_vouches_for_verifies(
    host: Host, deployed: ModuleType, index_file: Callable[..., Path]
) -> None:
    sha256 = digest.distribution_digest(deployed)
    index_file(registry_entry("tmp_extension", version="1.0.0", sha256=sha256))
    Catalog(host).verify_distribution("tmp_extension")


def test_tampered_deployed_extension_is_refused(
    host: Host, deployed: ModuleType, index_file: Callable[..., Path]
) -> None:
    sha256 = digest.distribution_digest(deployed)
    index_file(registry_entry("tmp_extension", version="1.0.0", sha256=sha256))
    (digest.package_directory(deployed) / "manifest.json").write_text(
        json.dumps(manifest("tmp_extension", scopes=["desk.kb.write"]))
    )
    with pytest.raises(DigestMismatch):
        Catalog(host).verify_distribution("tmp_extension")


def test_extension_the_registry_lists_in_another_version_is_refused(
    host: Host, deployed: ModuleType, index_file: Callable[..., Path]
) -> None:
    sha256 = digest.distribution_digest(deployed)
    index_file(registry_entry("tmp_extension", version="1.1.0", sha256=sha256))
    with pytest.raises(DistributionRefused, match=r"lists version 1\.1\.0, this host has 1\.0\.0"):
        Catalog(host).verify_distribution("tmp_extension")


def test_extension_the_registry_does_not_list_needs_no_digest(
    host: Host, deployed: ModuleType, index_file: Callable[..., Path]
) -> None:
    index_file(registry_entry())
    Catalog(host).verify_distribution("tmp_extension")


def test_extension_not_deployed_here_is_refused(
    host: Host, deployed: ModuleType, index_file: Callable[..., Path]
) -> None:
    index_file(registry_entry())
    with pytest.raises(DistributionRefused, match=r"pip-install deskhost-crm-bridge 1\.2\.0"):
        Catalog(host).verify_distribution("crm_bridge")


def test_unusable_registry_index_refuses_verification(
    host: Host, deployed: ModuleType, tmp_path: Path, use_index: Callable[[str | None], None]
) -> None:
    use_index(str(tmp_path / "absent.json"))
    with pytest.raises(DistributionRefused, match="cannot be verified"):
        Catalog(host).verify_distribution("tmp_extension")
