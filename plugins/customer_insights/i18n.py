"""The panel's words in English and Japanese; the extension carries its own catalogue."""

from __future__ import annotations

from collections.abc import Mapping

from hostapi import Context

TEXTS: Mapping[str, Mapping[str, str]] = {
    "en": {
        "open": "Open",
        "closed": "Closed",
        "chart": "Open tickets: {open}, closed tickets: {closed}",
        "open_help": "Open: tickets still being worked on (open, escalated or on hold).",
        "closed_help": "Closed: tickets closed or resolved.",
        "coverage": (
            "Counted over this customer's tickets in your departments that this extension covers."
        ),
        "no_tickets": "No tickets of this customer to count.",
        "no_customer": "This ticket has no customer.",
        "not_authorized": "This extension is not authorized to read tickets.",
        "ticket_hidden": "This ticket is outside the departments this extension shows you.",
    },
    "ja": {
        "open": "未完了",
        "closed": "完了",
        "chart": "未完了の問い合わせ：{open}件、完了した問い合わせ：{closed}件",
        "open_help": "未完了：対応中の問い合わせ（未完了、エスカレーション済み、保留中）。",
        "closed_help": "完了：完了または解決済みの問い合わせ。",
        "coverage": (
            "この顧客の問い合わせのうち、この拡張機能の対象であなたが所属する部門のものを数えています。"
        ),
        "no_tickets": "数える問い合わせがありません。",
        "no_customer": "この問い合わせには顧客が設定されていません。",
        "not_authorized": "この拡張機能には問い合わせを参照する権限がありません。",
        "ticket_hidden": "この問い合わせは、この拡張機能が表示できる部門の外にあります。",
    },
}


def language(context: Context) -> str:
    """``"ja"`` when the viewing agent reads Japanese, else ``"en"``."""
    agent = context.agent
    locale = (agent.locale if agent is not None else None) or ""
    return "ja" if locale.lower().startswith("ja") else "en"


def texts(context: Context) -> Mapping[str, str]:
    """The words for the viewing agent's language."""
    return TEXTS[language(context)]
