"""The panel's words and labels in English and Japanese; the extension carries its own
catalogue."""

from __future__ import annotations

from collections.abc import Mapping

from hostapi import Context

TEXTS: Mapping[str, Mapping[str, str]] = {
    "en": {
        "list": "Other tickets from this customer, newest first",
        "status": "Status",
        "channel": "Channel",
        "created": "Created",
        "more": "Showing the {count} most recent.",
        "empty": "No other tickets from this customer.",
        "no_customer": "This ticket has no customer.",
        "not_authorized": "This extension is not authorized to read tickets.",
        "ticket_hidden": "This ticket is outside the departments this extension shows you.",
    },
    "ja": {
        "list": "この顧客の他の問い合わせ（新しい順）",
        "status": "ステータス",
        "channel": "チャネル",
        "created": "作成日時",
        "more": "最新の{count}件を表示しています。",
        "empty": "この顧客の他の問い合わせはありません。",
        "no_customer": "この問い合わせには顧客が設定されていません。",
        "not_authorized": "この拡張機能には問い合わせを参照する権限がありません。",
        "ticket_hidden": "この問い合わせは、この拡張機能が表示できる部門の外にあります。",
    },
}

#: The built-in statuses by name; custom statuses are shown by their own name.
STATUSES: Mapping[str, Mapping[str, str]] = {
    "en": {
        "Open": "Open",
        "Escalated": "Escalated",
        "On Hold": "On hold",
        "Resolved": "Resolved",
        "Closed": "Closed",
    },
    "ja": {
        "Open": "未完了",
        "Escalated": "エスカレーション済み",
        "On Hold": "保留中",
        "Resolved": "解決済み",
        "Closed": "完了",
    },
}

#: The host's channels; a channel an extension registered is shown by its code.
CHANNELS: Mapping[str, Mapping[str, str]] = {
    "en": {
        "email": "Email",
        "web_form": "Web form",
        "phone": "Phone",
        "chat": "Chat",
        "whatsapp": "WhatsApp",
        "telegram": "Telegram",
        "wechat": "WeChat",
        "line": "LINE",
        "api": "API",
    },
    "ja": {
        "email": "メール",
        "web_form": "Webフォーム",
        "phone": "電話",
        "chat": "チャット",
        "whatsapp": "WhatsApp",
        "telegram": "Telegram",
        "wechat": "WeChat",
        "line": "LINE",
        "api": "API",
    },
}


def language(context: Context) -> str:
    """``"ja"`` when the viewing agent reads Japanese, else ``"en"``."""
    agent = context.agent
    locale = (agent.locale if agent is not None else None) or ""
    return "ja" if locale.lower().startswith("ja") else "en"
