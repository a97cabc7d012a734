"""What every built-in tab module shares: the plugin wrapper, its manifest and the tab order."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TypeVar
from urllib.parse import urlencode

from core.errors import ValidationFailed
from core.plugins.manifest import Manifest, load_manifest
from hostapi import Context, Location, Panel, PanelTarget, hookimpl

#: Where the host's tabs sit among the others (``Panel.order``): seed 001's order, after the
#: Overview that customer_insights contributes at 10.
ORDER = {
    "history": 20,
    "activities": 30,
    "reactions": 40,
    "tickets": 50,
    "time_entries": 60,
    "happiness": 70,
    "products": 80,
    "attachments": 90,
}

Render = Callable[[Context, PanelTarget], str]
C = TypeVar("C")
Count = Callable[[Context, PanelTarget], int | None]


@dataclass(frozen=True)
class TabPlugin:
    """A built-in plugin contributing fixed panels (pluggy registers the object)."""

    panels: tuple[Panel, ...]

    @hookimpl
    def deskhost_panels(self) -> list[Panel]:
        """The tab's panels."""
        return list(self.panels)


def customer_tab(
    plugin_id: str,
    name: str,
    *,
    key: str,
    title: str,
    title_ja: str,
    render: Render,
    count: Count | None = None,
    permission: str | None = None,
    kinds: Iterable[str] = ("contact", "account"),
) -> tuple[TabPlugin, Manifest]:
    """A built-in plugin with one tab on contact pages, account pages or both (``kinds``):
    panel keys ``contact_<key>`` and ``account_<key>``; the plugin and its manifest."""
    locations = {"contact": Location.CONTACT_SUBTAB, "account": Location.ACCOUNT_SUBTAB}
    panels = tuple(
        Panel(
            key=f"{kind}_{key}",
            location=locations[kind],
            title=title,
            title_ja=title_ja,
            render=render,
            order=ORDER[key],
            permission=permission,
            count=count,
        )
        for kind in kinds
    )
    manifest = load_manifest(
        {
            "id": plugin_id,
            "name": name,
            "version": "1.0",
            "publisher": "deskhost",
            "category": "core",
            "description": {"en": name, "ja": name},
            "scopes": [],
            "panels": [
                {"key": p.key, "location": p.location, "title": {"en": title, "ja": title_ja}}
                for p in panels
            ],
            "hostapi": ">=1.0",
            "terms": {"en": "Part of deskhost.", "ja": "deskhostの一部です。"},
            "single_install": True,
        },
        plugin_id,
    )
    return TabPlugin(panels), manifest


def customer_filter(target: PanelTarget) -> tuple[int | None, int | None]:
    """``(contact_id, account_id)`` of a tab's target: one is set."""
    if target.kind == "contact":
        return target.id, None
    if target.kind == "account":
        return None, target.id
    raise ValueError(f"a customer tab has no {target.kind!r} view")


def read_cursor(
    args: Mapping[str, str], name: str, parse: Callable[[str | None, str], C | None]
) -> C | None:
    """The page cursor in the query argument ``name`` (``parse(text, field)`` reads it), or
    ``None`` where there is none or it cannot be read (a hand-edited URL shows the newest
    page)."""
    try:
        return parse(args.get(name) or None, name)
    except ValidationFailed:
        return None


def tab_page_key(plugin_id: str, kind: str, key: str) -> str:
    """The ``?tab=`` value selecting a built-in tab on a ``kind`` ("contact", "account") page."""
    return f"{plugin_id}.{kind}_{key}"


def tab_link(args: Mapping[str, str], prefix: str, **changes: str | None) -> str:
    """The page's query with this tab's arguments (those named ``<prefix>*``) replaced by
    ``changes`` (``None`` or ``""`` drops one): the other tabs' and the page's stay."""
    kept = {name: value for name, value in args.items() if not name.startswith(prefix)}
    mine = {name: value for name, value in changes.items() if value}
    return "?" + urlencode({**kept, **mine})
