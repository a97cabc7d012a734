"""Extensions translate like the host: each ships gettext catalogs of its own, and the context
speaks the viewing agent's language (else the organisation's)."""

from __future__ import annotations

import io
import json
import os
import re
import uuid
from collections.abc import Callable
from importlib.metadata import entry_points
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog
from babel.messages.mofile import write_mo
from babel.messages.pofile import write_po
from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from core.host import Host
from core.models import Agent, Contact, Department, Installation, Organisation, Ticket
from core.services import org as org_services
from core.web import i18n as web_i18n
from hostapi import Context, i18n
from hostapi.testing import catalog_problems
from tests.factories import TEST_PASSWORD, install_for
from tests.insights_helpers import finish_backfills

#: Every extension this repository bundles, by id (the entry points under plugins/).
BUNDLED = sorted(
    ep.name for ep in entry_points(group="deskhost.plugins") if ep.value.startswith("plugins.")
)


# ------------------------------------------------------------------------------ the catalogs


@pytest.mark.parametrize("plugin_id", BUNDLED)
@pytest.mark.parametrize("language", ["en", "ja"])
def test_bundled_extension_catalog_lists_and_translates_every_string(
    repo_root: Path, plugin_id: str, language: str
) -> None:
    mapping = repo_root / "plugins" / plugin_id / "babel.cfg"
    problems = catalog_problems(
        f"plugins.{plugin_id}", language, mapping_file=mapping if mapping.exists() else None
    )
    assert problems == [], f"fix plugins/{plugin_id}/translations/{language}: {problems}"


def test_the_bundled_extensions_with_panels_have_japanese_catalogs(repo_root: Path) -> None:
    for plugin_id in ("customer_insights", "ticket_history"):
        catalog = repo_root / f"plugins/{plugin_id}/translations/ja/LC_MESSAGES/{plugin_id}.po"
        assert catalog.is_file()


# ------------------------------------------------------------------ a third party's package

_PROBE_SOURCE = """\
def render(context):
    _ = context.gettext
    return _("Hello, %(name)s!", name="Hanako") + _("Goodbye")
"""


@pytest.fixture
def probe(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[..., str]:
    """``probe(ja={msgid: msgstr}, en=None, source=...)``: an importable extension package
    (its own manifest and catalogs, as a third party ships them); returns its name."""

    def make(
        ja: dict[str, str] | None = None,
        en: dict[str, str] | None = None,
        source: str = _PROBE_SOURCE,
        fuzzy: frozenset[str] = frozenset(),
    ) -> str:
        name = f"i18n_probe_{uuid.uuid4().hex[:12]}"
        package = tmp_path / name
        package.mkdir()
        (package / "__init__.py").write_text(source)
        (package / "manifest.json").write_text(json.dumps({"id": name}))
        for language, strings in (("en", en), ("ja", ja)):
            if strings is not None:
                _write_po(package, name, language, strings, fuzzy)
        monkeypatch.syspath_prepend(str(tmp_path))
        return name

    return make


def _write_po(
    package: Path, domain: str, language: str, strings: dict[str, str], fuzzy: frozenset[str]
) -> Path:
    catalog = Catalog(locale=language, domain=domain)
    for msgid, msgstr in strings.items():
        catalog.add(msgid, msgstr, flags=("fuzzy",) if msgid in fuzzy else ())
    folder = package / "translations" / language / "LC_MESSAGES"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{domain}.po"
    with path.open("wb") as po_file:
        write_po(po_file, catalog)
    return path


def _write_mo(po_path: Path, language: str, strings: dict[str, str]) -> Path:
    catalog = Catalog(locale=language, domain=po_path.stem)
    for msgid, msgstr in strings.items():
        catalog.add(msgid, msgstr)
    buffer = io.BytesIO()
    write_mo(buffer, catalog)
    mo_path = po_path.with_suffix(".mo")
    mo_path.write_bytes(buffer.getvalue())
    return mo_path


_COMPLETE = {"Hello, %(name)s!": "こんにちは、%(name)sさん！", "Goodbye": "さようなら"}


def test_a_complete_catalog_has_no_problems(probe: Callable[..., str]) -> None:
    name = probe(ja=_COMPLETE, en=dict.fromkeys(_COMPLETE, ""))
    assert catalog_problems(name, "ja") == []
    assert catalog_problems(name, "en") == []


def test_a_missing_catalog_is_reported(probe: Callable[..., str]) -> None:
    name = probe(ja=None)
    assert [p.split(":")[0] for p in catalog_problems(name, "ja")] == ["no catalog for 'ja'"]


def test_a_package_with_nothing_to_translate_needs_no_catalog(probe: Callable[..., str]) -> None:
    name = probe(source="VALUE = 1\n")
    assert catalog_problems(name, "ja") == []


def test_a_message_the_catalog_lacks_is_reported(probe: Callable[..., str]) -> None:
    name = probe(ja={"Hello, %(name)s!": "こんにちは、%(name)sさん！"})
    assert catalog_problems(name, "ja") == ["not in the catalog: 'Goodbye'"]


def test_an_untranslated_entry_is_reported_except_in_the_source_language(
    probe: Callable[..., str],
) -> None:
    name = probe(ja={**_COMPLETE, "Goodbye": ""}, en=dict.fromkeys(_COMPLETE, ""))
    assert catalog_problems(name, "ja") == ["not translated: 'Goodbye'"]
    assert catalog_problems(name, "en") == []


def test_a_fuzzy_entry_is_reported(probe: Callable[..., str]) -> None:
    name = probe(ja=_COMPLETE, fuzzy=frozenset({"Goodbye"}))
    assert catalog_problems(name, "ja") == ["fuzzy: 'Goodbye'"]


def test_a_translation_with_other_placeholders_is_reported(probe: Callable[..., str]) -> None:
    name = probe(ja={**_COMPLETE, "Hello, %(name)s!": "こんにちは、%(nom)sさん！"})
    problems = catalog_problems(name, "ja")
    assert len(problems) == 1
    assert problems[0].startswith("'Hello, %(name)s!': ")
    assert "nom" in problems[0]


def test_a_singular_entry_for_a_plural_message_is_reported(probe: Callable[..., str]) -> None:
    source = (
        'def days(context, n):\n    return context.ngettext("%(num)s day", "%(num)s days", n)\n'
    )
    name = probe(ja={"%(num)s day": "%(num)s日"}, source=source)
    assert catalog_problems(name, "ja") == ["plural forms differ from the sources': '%(num)s day'"]


def test_an_entry_no_longer_in_the_sources_is_reported(probe: Callable[..., str]) -> None:
    name = probe(ja={**_COMPLETE, "Farewell": "ごきげんよう"})
    assert catalog_problems(name, "ja") == ["no longer in the sources: 'Farewell'"]


# ------------------------------------------------------------------------------ loading


def test_the_compiled_catalog_is_read(probe: Callable[..., str]) -> None:
    name = probe(ja={"Goodbye": "さようなら（.po）"})
    po_path = i18n.catalog_path(name, name, "ja")
    mo_path = _write_mo(Path(str(po_path)), "ja", {"Goodbye": "さようなら（.mo）"})
    os.utime(mo_path, ns=(po_path.stat().st_mtime_ns + 1, po_path.stat().st_mtime_ns + 1))

    assert i18n.load_translations(name, name, "ja").gettext("Goodbye") == "さようなら（.mo）"


def test_a_catalog_edited_after_compiling_is_read_from_its_po(probe: Callable[..., str]) -> None:
    name = probe(ja={"Goodbye": "さようなら（.po）"})
    po_path = Path(str(i18n.catalog_path(name, name, "ja")))
    mo_path = _write_mo(po_path, "ja", {"Goodbye": "さようなら（.mo）"})
    older = po_path.stat().st_mtime_ns - 1_000_000_000
    os.utime(mo_path, ns=(older, older))

    assert i18n.load_translations(name, name, "ja").gettext("Goodbye") == "さようなら（.po）"


def test_a_package_shipping_only_its_po_is_translated(probe: Callable[..., str]) -> None:
    name = probe(ja={"Goodbye": "さようなら"})
    assert i18n.load_translations(name, name, "ja").gettext("Goodbye") == "さようなら"


def test_a_language_without_a_catalog_gives_the_source_text(probe: Callable[..., str]) -> None:
    name = probe(ja=_COMPLETE)
    assert i18n.load_translations(name, name, "en").gettext("Goodbye") == "Goodbye"


def test_n_underscore_marks_without_translating() -> None:
    assert i18n.N_("On hold") == "On hold"


def test_an_extension_is_found_by_its_id_through_its_entry_point() -> None:
    assert i18n.package_of("ticket_history") == "plugins.ticket_history"
    assert i18n.package_of("no_such_extension") is None


def test_extensions_are_offered_exactly_the_languages_the_pages_are_in() -> None:
    assert set(i18n.LANGUAGES) == set(org_services.LOCALES) == set(web_i18n.LANGUAGES)


# ------------------------------------------------------------------------------ the context


@pytest.fixture
def support(department: Department) -> Department:
    return department


def _install(host: Host, plugin_id: str, department: Department) -> int:
    with host.transaction() as session:
        return install_for(session, host, plugin_id, [department.id]).id


def _context(host: Host, session: Session, installation_id: int, agent: Agent | None) -> Context:
    installation = session.get(Installation, installation_id)
    assert installation is not None
    viewer = session.get(Agent, agent.id) if agent is not None else None
    return host.plugins.context_for(session, installation, viewer)


def _set_default_language(host: Host, language: str) -> None:
    with host.transaction() as session:
        organisation = session.scalars(select(Organisation)).one()
        organisation.default_locale = language


def test_context_speaks_the_agents_own_language(
    host: Host, db: Session, support: Department, make_agent: Callable[..., Agent]
) -> None:
    installation_id = _install(host, "ticket_history", support)
    agent = make_agent(departments=[support], locale="ja")
    context = _context(host, db, installation_id, agent)

    assert context.language == "ja"
    assert context.gettext("Status") == "ステータス"


def test_context_of_an_agent_without_a_language_speaks_the_organisations(
    host: Host, db: Session, support: Department, make_agent: Callable[..., Agent]
) -> None:
    _set_default_language(host, "ja")
    installation_id = _install(host, "ticket_history", support)
    agent = make_agent(departments=[support], locale=None)

    assert _context(host, db, installation_id, agent).language == "ja"


def test_agents_own_language_wins_over_the_organisations(
    host: Host, db: Session, support: Department, make_agent: Callable[..., Agent]
) -> None:
    _set_default_language(host, "ja")
    installation_id = _install(host, "ticket_history", support)
    agent = make_agent(departments=[support], locale="en")
    context = _context(host, db, installation_id, agent)

    assert context.language == "en"
    assert context.gettext("Status") == "Status"


def test_context_without_an_agent_speaks_the_organisations_language(
    host: Host, db: Session, support: Department
) -> None:
    _set_default_language(host, "ja")
    installation_id = _install(host, "ticket_history", support)

    assert _context(host, db, installation_id, None).gettext("Email") == "メール"


def test_gettext_fills_placeholders_after_translating(
    host: Host, db: Session, support: Department, make_agent: Callable[..., Agent]
) -> None:
    installation_id = _install(host, "ticket_history", support)
    agent = make_agent(departments=[support], locale="ja")
    context = _context(host, db, installation_id, agent)

    assert (
        context.gettext("Showing the %(count)s most recent.", count=5)
        == "最新の5件を表示しています。"
    )


def test_gettext_without_variables_leaves_percent_signs_alone(
    host: Host, db: Session, support: Department, make_agent: Callable[..., Agent]
) -> None:
    installation_id = _install(host, "ticket_history", support)
    context = _context(host, db, installation_id, make_agent(departments=[support]))

    assert context.gettext("100% done") == "100% done"


def test_ngettext_chooses_the_form_and_fills_num(
    host: Host, db: Session, support: Department, make_agent: Callable[..., Agent]
) -> None:
    installation_id = _install(host, "ticket_history", support)
    context = _context(host, db, installation_id, make_agent(departments=[support]))

    assert context.ngettext("%(num)s ticket", "%(num)s tickets", 1) == "1 ticket"
    assert context.ngettext("%(num)s ticket", "%(num)s tickets", 3) == "3 tickets"


def test_pgettext_and_npgettext_give_the_source_text_the_catalog_lacks(
    host: Host, db: Session, support: Department, make_agent: Callable[..., Agent]
) -> None:
    installation_id = _install(host, "ticket_history", support)
    context = _context(host, db, installation_id, make_agent(departments=[support], locale="ja"))

    assert context.pgettext("ticket field", "%(field)s changed", field="Status") == (
        "Status changed"
    )
    assert context.npgettext("chat", "%(num)s chat", "%(num)s chats", 2) == "2 chats"


# ------------------------------------------------------------------------------ on the page


def _signed_in(app: Flask, agent: Agent):  # type: ignore[no-untyped-def]
    client = app.test_client()
    login = client.get("/login").get_data(as_text=True)
    token = re.search(r'<meta name="csrf-token" content="([^"]+)"', login)
    assert token is not None
    client.post(
        "/login",
        data={"email": agent.email, "password": TEST_PASSWORD, "csrf_token": token.group(1)},
    )
    return client


def test_ticket_page_shows_the_bundled_panels_in_the_organisations_japanese(
    app: Flask,
    host: Host,
    support: Department,
    make_agent: Callable[..., Agent],
    make_contact: Callable[..., Contact],
    make_ticket: Callable[..., Ticket],
) -> None:
    _set_default_language(host, "ja")
    _install(host, "customer_insights", support)
    _install(host, "ticket_history", support)
    agent = make_agent(departments=[support], locale=None)
    customer = make_contact()
    make_ticket(department=support, contact=customer, status="On Hold", channel="phone")
    current = make_ticket(department=support, contact=customer)

    finish_backfills(host)
    page = _signed_in(app, agent).get(f"/tickets/{current.id}").get_data(as_text=True)

    assert "未完了の問い合わせ：2件、完了した問い合わせ：0件" in page
    assert "未完了：対応中の問い合わせ（未完了、エスカレーション済み、保留中）。" in page
    assert 'data-status="On Hold">保留中</dd>' in page
    assert 'data-channel="phone">電話</dd>' in page
    assert "Other tickets from this customer" not in page


def test_ticket_page_shows_the_bundled_panels_in_english_to_an_english_agent(
    app: Flask,
    host: Host,
    support: Department,
    make_agent: Callable[..., Agent],
    make_contact: Callable[..., Contact],
    make_ticket: Callable[..., Ticket],
) -> None:
    _set_default_language(host, "ja")
    _install(host, "customer_insights", support)
    _install(host, "ticket_history", support)
    agent = make_agent(departments=[support], locale="en")
    customer = make_contact()
    make_ticket(department=support, contact=customer, status="On Hold", channel="phone")
    current = make_ticket(department=support, contact=customer)

    finish_backfills(host)
    page = _signed_in(app, agent).get(f"/tickets/{current.id}").get_data(as_text=True)

    assert "Open tickets: 2, closed tickets: 0" in page
    assert 'data-status="On Hold">On hold</dd>' in page
    assert 'data-channel="phone">Phone</dd>' in page
