"""Translations (English and Japanese) and the organisation's time zone for every page.

The language is the agent's own choice, else the organisation's default, else the browser's
Accept-Language; a visitor who has not signed in gets the browser's language first, since
the organisation's default is a choice made for its agents. Times are stored in UTC and shown
in the organisation's time zone.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import cast

from flask import Blueprint, Flask, g, redirect, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import Babel, format_date, format_datetime, get_locale
from sqlalchemy import select

from core.errors import Message, ValidationFailed
from core.models import Organisation
from core.web.database import db_session

#: The languages deskhost ships catalogs for, by code, with their names in themselves.
LANGUAGES: dict[str, str] = {"en": "English", "ja": "日本語"}
DEFAULT_LOCALE = "en"
TRANSLATIONS_DIR = Path(__file__).resolve().parent / "translations"

blueprint = Blueprint("i18n", __name__)


def current_organisation() -> Organisation | None:
    """The organisation this deployment serves (loaded once per request)."""
    if "current_organisation" not in g:
        g.current_organisation = db_session().scalar(select(Organisation).limit(1))
    return cast(Organisation | None, g.current_organisation)


def select_locale() -> str:
    """The language of this request (see the module docstring for the order)."""
    from core.web.security import current_agent

    agent = current_agent()
    organisation = current_organisation()
    org_locale = organisation.default_locale if organisation else None
    browser = request.accept_languages.best_match(list(LANGUAGES))
    choices = (agent.locale, org_locale, browser) if agent is not None else (browser, org_locale)
    return next((c for c in choices if c in LANGUAGES), DEFAULT_LOCALE)


def select_timezone() -> str:
    """The organisation's time zone (UTC when none is set)."""
    organisation = current_organisation()
    return organisation.timezone if organisation and organisation.timezone else "UTC"


def datetime_filter(value: datetime | None, format: str = "medium") -> str:
    """A stored UTC time shown in the organisation's time zone and the agent's language."""
    return "" if value is None else format_datetime(value, format)


def date_filter(value: datetime | None, format: str = "medium") -> str:
    """The date of a stored UTC time, in the organisation's time zone."""
    return "" if value is None else format_date(value, format)


def compile_catalogs(directory: Path = TRANSLATIONS_DIR) -> list[Path]:
    """Compile each ``messages.po`` whose ``.mo`` is missing or older, as ``make translations``
    does; return the files written. The ``.mo`` files are build output, not kept in git."""
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

    written: list[Path] = []
    for po_path in sorted(directory.glob("*/LC_MESSAGES/messages.po")):
        mo_path = po_path.with_suffix(".mo")
        if mo_path.exists() and mo_path.stat().st_mtime >= po_path.stat().st_mtime:
            continue
        with po_path.open("rb") as po_file:
            catalog = read_po(po_file, locale=po_path.parent.parent.name)
        with mo_path.open("wb") as mo_file:
            write_mo(mo_file, catalog, use_fuzzy=True)
        written.append(mo_path)
    return written


def init_app(app: Flask) -> None:
    """Set up Flask-Babel, the date filters and the language switch."""
    app.config.setdefault("BABEL_DEFAULT_LOCALE", DEFAULT_LOCALE)
    Babel(app, locale_selector=select_locale, timezone_selector=select_timezone)
    app.jinja_env.filters["datetime"] = datetime_filter
    app.jinja_env.filters["date"] = date_filter
    app.jinja_env.globals["LANGUAGES"] = LANGUAGES

    @app.context_processor
    def _locale_context() -> dict[str, object]:
        return {"current_locale": str(get_locale() or DEFAULT_LOCALE)}

    app.register_blueprint(blueprint)


@blueprint.post("/settings/language")
def switch_language() -> ResponseReturnValue:
    """Persist the signed-in agent's language and go back to the page they were on."""
    from core.web.security import current_agent, safe_next_url

    agent = current_agent()
    if agent is None:
        return redirect(url_for("auth.login"))
    locale = request.form.get("locale", "")
    if locale not in LANGUAGES:
        raise ValidationFailed(
            {"locale": [Message("Choose one of: %(choices)s.", choices=", ".join(LANGUAGES))]}
        )
    from core.services import org
    from core.web.ui.units import request_unit

    org.set_locale(request_unit(), agent, locale)
    db_session().commit()
    return redirect(safe_next_url(request.form.get("next"), url_for("tickets.index")))
