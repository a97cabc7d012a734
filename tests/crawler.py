"""A breadth-first crawler of the desk's server-rendered pages, as one signed-in agent sees them.

It starts from the pages the navigation links to and follows every same-origin GET link (and
the URL a live part of a page refreshes itself from, ``data-fragment-url``); on each GET form
it submits every option of every ``<select>`` (the filters) and, where the form has a search
box, a term that matches more than one page (taken from the list it searches).
POST forms, the sign-out and static files are never touched. "Next" links are followed to the
third page of every list. Other links are weighed by what they would try: the kind of page
(the path with numbers as ``{id}``) from the kind of page that links to it, and each of their
query's choices (a tab, a filter's value; cursors and numbers as ``*``). Each of these is
opened in full (links followed) a few times and only checked a few more; a link that tries
nothing new is left alone. So a list of a thousand tickets costs a few requests, every place
that links to a ticket is tried, and every tab and filter value of a record page is opened,
without opening every combination of them (nine tabs times three list views times each
panel's filters would be hundreds of pages of one record).

A response that is not HTML (a CSV export) is a download: read to its end, its media type
kept in the report, never parsed.

What it finds, :class:`Finding` by :class:`Finding`: server errors, traceback text, links the
viewer was shown but may not open (403 or 404), and English UI text on a Japanese page where
the Japanese catalog has a translation.
"""

from __future__ import annotations

import re
import time
from collections import Counter, deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from html.parser import HTMLParser
from itertools import zip_longest
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit, urlunsplit

import pytest
from flask.testing import FlaskClient

#: Pages of one list followed through its "Next" links (the first page included).
LIST_PAGES = 3
#: Of each thing a link tries (see the module docstring): how many links trying it are opened
#: in full (links followed) and how many more are only checked.
FULL_VISITS_PER_CHOICE = 3
CHECKS_PER_CHOICE = 4
#: Query parameters that carry a page cursor: they do not make a new shape. So do a tab's own
#: (``<tab>_before``, ``<tab>_cursor``, ``<tab>_after``) and the search of the list beside a
#: record (``list_q``: each term the crawl tried would be a shape of its own).
CURSOR_PARAMETERS = frozenset({"before", "cursor", "after", "list_q"})
CURSOR_SUFFIXES = ("_before", "_cursor", "_after")
#: Search terms tried on a search form, at most, before the crawler gives up on it.
SEARCH_TRIES = 10
#: Text that only a crash shows.
CRASH_MARKERS = ("Traceback (most recent call last)", "werkzeug.debug", "jinja2.exceptions")
#: A Python object's repr shown as text (a template printing a method, not calling it, or an
#: object without its field): escaped, as a page shows it.
PYTHON_REPR = re.compile(
    r"&lt;(?:built-in method|bound method|function) [^&]*&gt;| object at 0x[0-9a-f]+"
)
#: Attributes a reader sees or hears, checked like text on Japanese pages.
READ_ATTRIBUTES = ("title", "placeholder", "aria-label", "alt")

_NUMBER = re.compile(r"^\d+$")
_WORD = re.compile(r"\w{2,}")
_SKIPPED_PATHS = ("/static/", "/logout")
_SKIPPED_SCHEMES = ("mailto:", "tel:", "javascript:", "data:")


@dataclass
class Form:
    """A GET form: where it goes, its fields' default values and its choices."""

    action: str
    fields: list[tuple[str, str]] = field(default_factory=list)
    selects: dict[str, list[str]] = field(default_factory=dict)
    search_names: list[str] = field(default_factory=list)


@dataclass
class Page:
    """What the crawler reads from one HTML page."""

    links: list[tuple[str, bool]] = field(default_factory=list)  # (href, rel="next")
    forms: list[Form] = field(default_factory=list)
    texts: list[str] = field(default_factory=list)  # visible text nodes and read attributes
    table_words: Counter[str] = field(default_factory=Counter)
    link_words: Counter[str] = field(default_factory=Counter)


class _PageParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.page = Page()
        self._hidden_depth = 0  # inside <script>, <style> or <template>
        self._form: Form | None = None
        self._select: tuple[str, list[str], str | None] | None = None
        self._option_value: str | None = None
        self._option_selected = False
        self._option_text = ""
        self._textarea: str | None = None
        self._table_depth = 0
        self._link_depth = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = {name: value or "" for name, value in attrs}
        if tag in ("script", "style", "template"):
            self._hidden_depth += 1
            return
        for name in READ_ATTRIBUTES:
            if attributes.get(name):
                self.page.texts.append(attributes[name])
        if attributes.get("data-fragment-url"):
            # A live part of the page (asked for again while it is open): a page of its own.
            self.page.links.append((attributes["data-fragment-url"], False))
        if tag == "table":
            self._table_depth += 1
        elif tag == "a" and "href" in attributes:
            rel = attributes.get("rel", "").split()
            self.page.links.append((attributes["href"], "next" in rel))
            self._link_depth += 1
        elif tag == "form":
            if attributes.get("method", "get").lower() == "get":
                self._form = Form(action=attributes.get("action", ""))
        elif self._form is not None:
            self._form_field(tag, attributes)

    def _form_field(self, tag: str, attributes: dict[str, str]) -> None:
        assert self._form is not None
        name = attributes.get("name")
        if tag == "input" and name:
            kind = attributes.get("type", "text").lower()
            if kind in ("checkbox", "radio") and "checked" not in attributes:
                return
            if kind in ("submit", "button", "image", "file", "reset"):
                return
            self._form.fields.append((name, attributes.get("value", "")))
            if kind == "search" or name == "q":
                self._form.search_names.append(name)
        elif tag == "select" and name:
            self._select = (name, [], None)
        elif tag == "option" and self._select is not None:
            self._option_value = attributes.get("value")
            self._option_selected = "selected" in attributes
            self._option_text = ""
        elif tag == "textarea" and name:
            self._textarea = name

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style", "template"):
            self._hidden_depth = max(0, self._hidden_depth - 1)
        elif tag == "table":
            self._table_depth = max(0, self._table_depth - 1)
        elif tag == "a":
            self._link_depth = max(0, self._link_depth - 1)
        elif tag == "form":
            if self._form is not None:
                self.page.forms.append(self._form)
            self._form = None
        elif tag == "option" and self._select is not None:
            name, options, chosen = self._select
            value = self._option_value if self._option_value is not None else self._option_text
            options.append(value.strip())
            if self._option_selected or (chosen is None and not options[:-1]):
                chosen = value.strip()
            self._select = (name, options, chosen)
            self._option_value = None
        elif tag == "select" and self._select is not None and self._form is not None:
            name, options, chosen = self._select
            self._form.selects[name] = options
            self._form.fields.append((name, chosen or ""))
            self._select = None
        elif tag == "textarea" and self._textarea is not None:
            assert self._form is not None
            self._form.fields.append((self._textarea, ""))
            self._textarea = None

    def handle_data(self, data: str) -> None:
        if self._hidden_depth:
            return
        if self._select is not None and self._option_value is None:
            self._option_text += data
        text = " ".join(data.split())
        if not text:
            return
        self.page.texts.append(text)
        if self._table_depth:
            words = _WORD.findall(text)
            self.page.table_words.update(words)
            if self._link_depth:
                self.page.link_words.update(words)


def parse_page(html: str) -> Page:
    """Read the links, GET forms and visible text of an HTML page."""
    parser = _PageParser()
    parser.feed(html)
    parser.close()
    return parser.page


def path_shape_of(url: str) -> str:
    """The URL's path with numeric segments as ``{id}``."""
    return "/".join("{id}" if _NUMBER.match(s) else s for s in urlsplit(url).path.split("/"))


def choices_of(url: str, referrer: str) -> set[tuple[str, ...]]:
    """What opening ``url`` from ``referrer`` tries: its kind of page from the referrer's, and
    each query argument on its kind of page (cursor, panel and numeric values as ``*``)."""
    path = path_shape_of(url)
    choices: set[tuple[str, ...]] = {(path, "from", path_shape_of(referrer))}
    for key, value in parse_qsl(urlsplit(url).query, keep_blank_values=True):
        shown = "*" if is_cursor(key) or _is_panels(key) or _NUMBER.match(value) else value
        choices.add((path, key, shown))
    return choices


def is_cursor(key: str) -> bool:
    """Whether a query parameter carries a page cursor (or another value that makes no new
    shape of page)."""
    return key in CURSOR_PARAMETERS or key.endswith(CURSOR_SUFFIXES)


def _is_panels(key: str) -> bool:
    """A choice of an extension's panel, named after its installation (``history7.status``,
    ``history7.after``): any value is one choice, or each keyword and cursor of each panel
    would be a choice of its own beside every ticket."""
    return "." in key


def ui_strings_of_catalog(path: Path) -> dict[str, str]:
    """English UI strings with a Japanese translation in a catalog (compiled ``.mo``, or an
    extension's ``.po``), long enough (two words or eight characters) not to be a word both
    languages share ("ID", "Email")."""
    from babel.messages.mofile import read_mo
    from babel.messages.pofile import read_po

    with path.open("rb") as catalog_file:
        catalog = read_po(catalog_file) if path.suffix == ".po" else read_mo(catalog_file)
    strings: dict[str, str] = {}
    for message in catalog:
        if not message.id or not isinstance(message.id, str) or not message.string:
            continue
        text = " ".join(message.id.split())
        if "%(" in text or "%s" in text or "{" in text or message.string == message.id:
            continue
        if len(text.split()) >= 2 or len(text) >= 8:
            strings[text] = str(message.string)
    return strings


class MissingTranslations:
    """Records each UI string looked up in a catalog that has no translation of it, with the
    page that looked it up: text the code means to translate that the catalog lacks (it was
    never extracted, or never translated) and that a reader therefore sees in English.

    The host looks strings up through ``ugettext`` (Flask-Babel), extensions through their
    context's ``gettext``: both are recorded."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        from babel.support import Translations

        self.url = ""
        self.found: dict[str, str] = {}
        gettext, ngettext = Translations.gettext, Translations.ngettext

        def recording_gettext(catalog: Translations, message: str) -> str:
            if message and message not in catalog._catalog:
                self.found.setdefault(message, self.url)
            return gettext(catalog, message)

        def recording_ngettext(catalog: Translations, singular: str, plural: str, n: int) -> str:
            if (singular, 0) not in catalog._catalog:
                self.found.setdefault(singular, self.url)
            return ngettext(catalog, singular, plural, n)

        for name in ("ugettext", "gettext"):
            monkeypatch.setattr(Translations, name, recording_gettext)
        for name in ("ungettext", "ngettext"):
            monkeypatch.setattr(Translations, name, recording_ngettext)


@dataclass(frozen=True)
class Finding:
    """One defect: what, where, and which page showed the way there."""

    #: "server error", "traceback", "python repr" (an object printed, not its value), "refused
    #: link", "signed out", "untranslated" (English text the catalog translates) or "no
    #: translation" (a string looked up that the catalog lacks)
    kind: str
    url: str
    referrer: str  # empty when the page that showed the way does not matter
    detail: str

    def __str__(self) -> str:
        shown = f" — linked from {self.referrer}" if self.referrer else ""
        return f"{self.kind}: GET {self.url} ({self.detail}){shown}"


@dataclass
class CrawlReport:
    """What one crawl did and found."""

    pages: int = 0  # pages opened in full (links followed)
    checked: int = 0  # further pages opened only to check them
    seconds: float = 0.0
    findings: list[Finding] = field(default_factory=list)
    deepest_page: dict[str, int] = field(default_factory=dict)  # list path -> pages seen
    #: Search forms of lists with more than one page -> the term that gave more than one page.
    searches: dict[str, str | None] = field(default_factory=dict)
    #: Every HTML page that opened (path and query) -> its page in its list (1 unless "Next").
    opened: dict[str, int] = field(default_factory=dict)
    #: Every other file that opened (a download: path and query) -> its media type.
    downloads: dict[str, str] = field(default_factory=dict)
    #: Each text looked for (see ``Crawler(look_for=…)``) -> the pages that showed it.
    shown_on: dict[str, list[str]] = field(default_factory=dict)


@dataclass
class _Visit:
    url: str
    referrer: str
    page_number: int  # in its list (1 when not reached through "Next")
    pages_left: int  # "Next" links still to follow from here
    full: bool


class Crawler:
    """Crawls the pages one signed-in client sees (see the module docstring)."""

    def __init__(
        self,
        client: FlaskClient,
        *,
        japanese_strings: dict[str, str] | None = None,
        missing_translations: MissingTranslations | None = None,
        search_fallbacks: Iterable[str] = (),
        look_for: Mapping[str, str] | None = None,
    ) -> None:
        self.client = client
        self.japanese_strings = japanese_strings
        self.missing_translations = missing_translations
        self.search_fallbacks = tuple(search_fallbacks)
        self.look_for = dict(look_for or {})
        self.report = CrawlReport(shown_on={name: [] for name in self.look_for})
        self._queue: deque[_Visit] = deque()
        self._seen: set[str] = set()
        self._tried: Counter[tuple[str, ...]] = Counter()
        self._forms_done: set[tuple[str, tuple[str, ...]]] = set()

    def crawl(self, start_urls: Iterable[str]) -> CrawlReport:
        """Crawl breadth-first from ``start_urls`` and report."""
        started = time.monotonic()
        for url in start_urls:
            self._enqueue(url, "(start)", page_number=1, pages_left=LIST_PAGES - 1, rel_next=False)
        while self._queue:
            self._visit(self._queue.popleft())
        if self.missing_translations is not None:
            for message, url in self.missing_translations.found.items():
                self.report.findings.append(
                    Finding("no translation", url, "", f"{message!r} has no Japanese translation")
                )
        self.report.seconds = time.monotonic() - started
        return self.report

    # ----------------------------------------------------------------------------- the queue

    def _normalised(self, href: str, base: str) -> str | None:
        href = href.strip()
        if not href or href.startswith("#") or href.lower().startswith(_SKIPPED_SCHEMES):
            return None
        parts = urlsplit(urljoin(base, href))
        if parts.scheme not in ("", "http") or parts.netloc not in ("", "localhost"):
            return None  # another origin
        if parts.path.startswith(_SKIPPED_PATHS):
            return None
        return urlunsplit(("", "", parts.path or "/", parts.query, ""))

    def _enqueue(
        self, href: str, referrer: str, *, page_number: int, pages_left: int, rel_next: bool
    ) -> None:
        url = self._normalised(href, referrer if referrer.startswith("/") else "/")
        if url is None or url in self._seen:
            return
        # A "Next" link is opened in full while the list has pages left to follow.
        full = rel_next
        if not rel_next:
            choices = choices_of(url, referrer)
            least_tried = min(self._tried[choice] for choice in choices)
            if least_tried >= FULL_VISITS_PER_CHOICE + CHECKS_PER_CHOICE:
                return
            self._tried.update(choices)
            full = least_tried < FULL_VISITS_PER_CHOICE
        self._seen.add(url)
        self._queue.append(_Visit(url, referrer, page_number, pages_left, full))

    # ----------------------------------------------------------------------------- visiting

    def _fetch(self, visit: _Visit) -> tuple[int, str, str]:
        if self.missing_translations is not None:
            self.missing_translations.url = visit.url
        response = self.client.get(visit.url)
        body = response.get_data(as_text=True) if response.mimetype == "text/html" else ""
        if response.status_code == 200 and response.mimetype != "text/html":
            response.get_data()  # a download (a CSV export): it must stream to its end
            self.report.downloads[visit.url] = response.mimetype or ""
        if visit.full:
            self.report.pages += 1
        else:
            self.report.checked += 1
        if response.status_code >= 500:
            self._find("server error", visit, f"{response.status_code}")
        elif response.status_code in (403, 404):
            self._find("refused link", visit, f"{response.status_code} for this viewer")
        for marker in CRASH_MARKERS:
            if marker in body:
                self._find("traceback", visit, f"the body contains {marker!r}")
                break
        shown_repr = PYTHON_REPR.search(body)
        if shown_repr:
            self._find("python repr", visit, f"the body shows {shown_repr.group()!r}")
        if response.status_code in (301, 302, 303, 307, 308):
            location = response.headers.get("Location", "")
            if urlsplit(location).path == "/login":
                self._find("signed out", visit, f"redirected to {location}")
                return response.status_code, response.mimetype or "", body
            self._enqueue(
                location, visit.url, page_number=visit.page_number, pages_left=0, rel_next=False
            )
        return response.status_code, response.mimetype or "", body

    def _visit(self, visit: _Visit) -> Page | None:
        status, mimetype, body = self._fetch(visit)
        if status != 200 or mimetype != "text/html":
            return None
        page = parse_page(body)
        if self.japanese_strings is not None:
            self._check_japanese(visit, page)
        self.report.opened[visit.url] = visit.page_number
        for name, text in self.look_for.items():
            if text in body:
                self.report.shown_on[name].append(visit.url)
        path = urlsplit(visit.url).path
        deepest = self.report.deepest_page
        deepest[path] = max(deepest.get(path, 0), visit.page_number)
        if not visit.full:
            return page
        for href, rel_next in page.links:
            if rel_next:
                if visit.pages_left > 0:
                    self._enqueue(
                        href,
                        visit.url,
                        page_number=visit.page_number + 1,
                        pages_left=visit.pages_left - 1,
                        rel_next=True,
                    )
                continue
            self._enqueue(href, visit.url, page_number=1, pages_left=LIST_PAGES - 1, rel_next=False)
        for form in page.forms:
            self._submit(form, visit.url, page)
        return page

    def _find(self, kind: str, visit: _Visit, detail: str) -> None:
        self.report.findings.append(Finding(kind, visit.url, visit.referrer, detail))

    def _check_japanese(self, visit: _Visit, page: Page) -> None:
        assert self.japanese_strings is not None
        for text in dict.fromkeys(page.texts):
            if text in self.japanese_strings:
                self._find(
                    "untranslated",
                    visit,
                    f"{text!r} shown in English; the catalog says {self.japanese_strings[text]!r}",
                )

    # ----------------------------------------------------------------------------- forms

    def _form_url(self, form: Form, base: str, values: list[tuple[str, str]]) -> str | None:
        target = self._normalised(form.action or urlsplit(base).path, base)
        if target is None:
            return None
        kept = [(k, v) for k, v in values if not is_cursor(k)]
        return f"{urlsplit(target).path}?{urlencode(kept)}" if kept else urlsplit(target).path

    def _submit(self, form: Form, base: str, page: Page) -> None:
        target = self._normalised(form.action or urlsplit(base).path, base)
        if target is None:
            return
        signature = (urlsplit(target).path, tuple(sorted({name for name, _ in form.fields})))
        if signature in self._forms_done:
            return
        self._forms_done.add(signature)
        as_is = self._form_url(form, base, form.fields)
        if as_is is not None:
            self._enqueue(as_is, base, page_number=1, pages_left=LIST_PAGES - 1, rel_next=False)
        for name, options in form.selects.items():
            for option in options:
                values = [(k, option if k == name else v) for k, v in form.fields]
                url = self._form_url(form, base, values)
                if url is not None:
                    self._enqueue(
                        url, base, page_number=1, pages_left=LIST_PAGES - 1, rel_next=False
                    )
        for name in form.search_names:
            self._search(form, base, page, name)

    def _search(self, form: Form, base: str, page: Page, name: str) -> None:
        """Submit search terms taken from the list until one gives more than one page (where
        the list itself has more than one page; elsewhere one term is enough)."""
        label = f"{urlsplit(self._form_url(form, base, []) or base).path} ?{name}="
        paged = any(rel_next for _, rel_next in page.links)
        if paged:
            self.report.searches.setdefault(label, None)
        # The words most frequent in the list's links (names, subjects) and in its cells.
        linked = [w for w, _ in page.link_words.most_common() if len(w) >= 3]
        cells = [w for w, _ in page.table_words.most_common()]
        terms = [w for pair in zip_longest(linked, cells) for w in pair if w is not None]
        terms += self.search_fallbacks
        tried = 0
        for term in dict.fromkeys(terms):
            values = [(k, term if k == name else v) for k, v in form.fields]
            url = self._form_url(form, base, values)
            if url is None or url in self._seen:
                continue
            self._seen.add(url)
            result = self._visit(_Visit(url, base, 1, LIST_PAGES - 1, full=True))
            tried += 1
            if not paged or (result is not None and any(rel for _, rel in result.links)):
                if paged:
                    self.report.searches[label] = term
                return
            if tried >= SEARCH_TRIES:
                return
