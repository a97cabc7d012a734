"""The four messaging channels and what connecting an account of each takes.

Each platform's console gives the admin a few credentials: the ones that sign or authorise
requests are secrets (kept encrypted, shown back only as ``••••1a2b``), the others are
identifiers. Where the platform lets us choose a shared secret (Telegram's webhook secret
token, WhatsApp's verify token), leaving it blank makes a random one, shown in full once as an
identifier would not be: the admin copies it from the channel's page into the console.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from hostapi.i18n import N_


@dataclass(frozen=True)
class Credential:
    """One value an account of a channel needs."""

    name: str
    #: Shown beside the field (marked for translation, translated when shown).
    label: str
    #: What the platform's console calls it, where the admin finds it (translated).
    help: str
    #: What a well-formed value looks like (checked in full).
    pattern: re.Pattern[str]
    #: Kept encrypted and never shown back in full.
    secret: bool = True
    #: Left blank, a random value is made (a secret the platform lets us choose).
    generated: bool = False


@dataclass(frozen=True)
class Channel:
    """A messaging platform: its code, its (untranslated) brand name and its credentials."""

    code: str
    name: str
    credentials: tuple[Credential, ...]

    def credential(self, name: str) -> Credential:
        """The credential called ``name``."""
        return next(c for c in self.credentials if c.name == name)


_TOKEN = re.compile(r"[A-Za-z0-9_\-]{8,256}")
_LONG_TOKEN = re.compile(r"\S{20,1000}")
_HEX_32 = re.compile(r"[0-9a-f]{32}")

WHATSAPP = Channel(
    code="whatsapp",
    name="WhatsApp",
    credentials=(
        Credential(
            "phone_number_id",
            N_("Phone number ID"),
            N_("WhatsApp Manager → API setup: the ID of the business phone number."),
            re.compile(r"\d{5,20}"),
            secret=False,
        ),
        Credential(
            "access_token",
            N_("Access token"),
            N_("A permanent token of a system user allowed whatsapp_business_messaging."),
            _LONG_TOKEN,
        ),
        Credential(
            "app_secret",
            N_("App secret"),
            N_("Meta app dashboard → App settings → Basic: signs every webhook request."),
            _HEX_32,
        ),
        Credential(
            "verify_token",
            N_("Verify token"),
            N_("Text you choose and enter again in the webhook settings; blank makes one."),
            _TOKEN,
            generated=True,
        ),
    ),
)

TELEGRAM = Channel(
    code="telegram",
    name="Telegram",
    credentials=(
        Credential(
            "bot_token",
            N_("Bot token"),
            N_("The token @BotFather gave when the bot was created."),
            re.compile(r"\d{5,20}:[A-Za-z0-9_\-]{30,60}"),
        ),
        Credential(
            "secret_token",
            N_("Webhook secret token"),
            N_("Sent by Telegram with every update; left blank, one is made."),
            _TOKEN,
            generated=True,
        ),
    ),
)

LINE = Channel(
    code="line",
    name="LINE",
    credentials=(
        Credential(
            "channel_secret",
            N_("Channel secret"),
            N_("LINE Developers console → the channel's Basic settings: signs every webhook."),
            _HEX_32,
        ),
        Credential(
            "channel_access_token",
            N_("Channel access token"),
            N_("LINE Developers console → Messaging API: a long-lived channel access token."),
            _LONG_TOKEN,
        ),
    ),
)

WECHAT = Channel(
    code="wechat",
    name="WeChat",
    credentials=(
        Credential(
            "app_id",
            N_("AppID"),
            N_("WeChat Official Accounts Platform → Basic configuration: the developer ID."),
            re.compile(r"wx[0-9a-f]{16}"),
            secret=False,
        ),
        Credential(
            "app_secret",
            N_("AppSecret"),
            N_("The developer password beside the AppID."),
            _HEX_32,
        ),
        Credential(
            "token",
            N_("Token"),
            N_("The server configuration's Token: 3 to 32 letters or digits; signs every request."),
            re.compile(r"[A-Za-z0-9]{3,32}"),
        ),
    ),
)

#: The channels, in the order pages list them.
CHANNELS: dict[str, Channel] = {c.code: c for c in (WHATSAPP, TELEGRAM, LINE, WECHAT)}
