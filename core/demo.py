"""The demo dataset: a deterministic, realistic year of a support desk, as import lines.

:func:`generate` yields JSON Lines in the history import format (docs/import-format.md), so
the demo loads through the same door as a real migration (:func:`load_demo`). The same
``tickets``, ``seed`` and ``now`` give the same bytes.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, NamedTuple

import msgspec

from core.permissions import DEFAULT_PROFILES
from hostapi import clock

if TYPE_CHECKING:
    from core.host import Host
    from core.importer import ImportReport

#: The version of what :func:`generate` yields: raise it whenever the same arguments would give
#: other bytes, so that benchmarks rebuild the histories they keep from an earlier version.
DATASET_VERSION = 2

DEPARTMENTS: tuple[tuple[str, str, str], ...] = (
    ("dept-support", "Support", "General product support"),
    ("dept-billing", "Billing", "Invoices, payments and refunds"),
    ("dept-sales", "Sales", "Quotes, trials and new contracts"),
    ("dept-tech-ja", "技術サポート", "日本語の技術サポート窓口"),
)
#: The demo organisation is a Japanese desk (its Japanese departments and customers say so):
#: times in Tokyo's zone, pages in Japanese for whoever has not chosen a language.
ORGANISATION_SETTINGS: dict[str, str] = {"timezone": "Asia/Tokyo", "default_locale": "ja"}
ADMIN_EMAIL = "admin@example.com"
ADMIN_PASSWORD = "deskhost-demo"


class DemoLogin(NamedTuple):
    """A demo agent a newcomer (or a test) can sign in as."""

    ref: str
    email: str
    password: str
    name: str
    profile: str
    departments: tuple[str, ...]
    locale: str
    #: What ``deskhost demo`` prints before the email and password.
    label: str


#: An agent of one department only, with the ordinary agent profile.
AGENT_LOGIN = DemoLogin(
    "agent-demo",
    "agent@example.com",
    "deskhost-agent",
    "Demo Agent",
    "Agent",
    ("dept-support",),
    "en",
    "Agent login (Support department only)",
)
#: A light agent (view and comment only) of the Japanese technical desk.
LIGHT_AGENT_LOGIN = DemoLogin(
    "light-agent-demo",
    "light@example.com",
    "deskhost-light",
    "デモ ライト担当者",
    "Light Agent",
    ("dept-tech-ja",),
    "ja",
    "Light agent login (技術サポート department only)",
)
#: A support manager of two departments.
MANAGER_LOGIN = DemoLogin(
    "manager-demo",
    "manager@example.com",
    "deskhost-manager",
    "Demo Manager",
    "Support Manager",
    ("dept-billing", "dept-support"),
    "en",
    "Manager login (Support and Billing departments)",
)
AGENT_LOGINS: tuple[DemoLogin, ...] = (AGENT_LOGIN, LIGHT_AGENT_LOGIN, MANAGER_LOGIN)

_JA_FAMILY = (
    "佐藤",
    "鈴木",
    "高橋",
    "田中",
    "伊藤",
    "渡辺",
    "山本",
    "中村",
    "小林",
    "加藤",
    "吉田",
    "山田",
    "佐々木",
    "山口",
    "松本",
    "井上",
    "木村",
    "林",
    "清水",
    "斎藤",
)
_JA_GIVEN = (
    "翔太",
    "花子",
    "陽菜",
    "大輔",
    "美咲",
    "健太",
    "結衣",
    "拓也",
    "さくら",
    "直樹",
    "愛",
    "蓮",
    "優子",
    "亮",
    "七海",
    "悠真",
    "真由美",
    "和也",
    "彩",
    "誠",
)
_JA_ROMAN = (
    "sato",
    "suzuki",
    "takahashi",
    "tanaka",
    "ito",
    "watanabe",
    "yamamoto",
    "nakamura",
    "kobayashi",
    "kato",
    "yoshida",
    "yamada",
    "sasaki",
    "yamaguchi",
    "matsumoto",
    "inoue",
    "kimura",
    "hayashi",
    "shimizu",
    "saito",
)
_EN_FIRST = (
    "Emma",
    "Liam",
    "Olivia",
    "Noah",
    "Ava",
    "James",
    "Sophia",
    "Lucas",
    "Mia",
    "Ethan",
    "Grace",
    "Henry",
    "Chloe",
    "Jack",
    "Ella",
    "Oscar",
    "Ruby",
    "Leo",
    "Isla",
    "Adam",
)
_EN_LAST = (
    "Smith",
    "Johnson",
    "Brown",
    "Taylor",
    "Wilson",
    "Davies",
    "Evans",
    "Thomas",
    "Walker",
    "White",
    "Green",
    "Hall",
    "Wood",
    "Clarke",
    "Hughes",
    "Lewis",
    "Baker",
    "Turner",
    "Hill",
    "Moore",
)
_COMPANY_STEMS = (
    "Sakura",
    "Fuji",
    "Aozora",
    "Kaede",
    "Hikari",
    "Northwind",
    "Blue Harbor",
    "Ironbridge",
    "Maple",
    "Summit",
    "Kitsune",
    "Minato",
    "Redwood",
    "Silverline",
    "Asahi",
    "Tsubame",
    "Cedar",
    "Horizon",
    "Riverside",
    "Yamato",
)
_COMPANY_KINDS = (
    "Trading",
    "Systems",
    "Foods",
    "Logistics",
    "Design",
    "Software",
    "Pharma",
    "Retail",
    "Energy",
    "Media",
    "Robotics",
    "Travel",
    "Finance",
    "Studio",
)
_COMPANY_SUFFIX = ("株式会社", "Inc.", "Ltd.", "合同会社", "Co.", "GmbH", "K.K.")
_INDUSTRIES = (
    "Retail",
    "Manufacturing",
    "Software",
    "Finance",
    "Healthcare",
    "Logistics",
    "Education",
    "Media",
)
_TAGS = ("vip", "trial", "enterprise", "partner", "churn-risk", "newsletter", "beta", "reseller")
_SUBJECTS = (
    ("Cannot sign in to the dashboard", "Support"),
    ("Invoice amount looks wrong", "Billing"),
    ("Request for a quote for 50 seats", "Sales"),
    ("ログインできません", "技術サポート"),
    ("API returns 500 on export", "Support"),
    ("Refund for duplicate payment", "Billing"),
    ("請求書の再発行をお願いします", "Billing"),
    ("Trial extension request", "Sales"),
    ("CSVのインポートでエラーが出ます", "技術サポート"),
    ("Password reset email never arrives", "Support"),
    ("Change of billing address", "Billing"),
    ("通知メールが届かない", "技術サポート"),
    ("Question about enterprise plan features", "Sales"),
    ("Mobile app crashes on start", "Support"),
    ("データ連携の設定方法について", "技術サポート"),
)
_CUSTOMER_LINES = (
    "Hello, I still have the same problem after trying your suggestion.",
    "Thanks for the quick answer. Could you check once more?",
    "We need this fixed before the end of the month.",
    "お世話になっております。先日の件、まだ解決していません。",
    "ご確認ありがとうございます。追加の情報を添付します。",
    "Any update on this?",
    "I attached a screenshot of the error message.",
)
_AGENT_LINES = (
    "Thank you for contacting us. Could you tell us which browser you use?",
    "We have reproduced the issue and our engineers are on it.",
    "The fix has been deployed; please try again and let us know.",
    "お問い合わせいただきありがとうございます。確認いたします。",
    "ご不便をおかけして申し訳ございません。修正版をリリースしました。",
    "I have issued a corrected invoice; you will find it in your account.",
)
_COMMENTS = (
    "Escalating to engineering, see internal issue.",
    "Customer is on the enterprise plan; prioritise.",
    "経理チームに確認中です。",
    "Duplicate of an earlier request from the same account.",
)
_NOTIFICATIONS = (
    "Auto-reply: we received your request and will answer within one business day.",
    "自動通知: お問い合わせを受け付けました。",
    "Reminder: this ticket is waiting for the customer's reply.",
)
_FEEDBACK = (
    "",
    "",
    "Great support, thank you!",
    "Took too long.",
    "丁寧な対応ありがとうございました。",
    "OK in the end.",
)
_CHANNELS = (
    "email",
    "email",
    "email",
    "web_form",
    "web_form",
    "phone",
    "chat",
    "whatsapp",
    "telegram",
    "line",
    "line",
    "wechat",
)
_PRIORITIES = ("low", "medium", "medium", "medium", "high", "urgent")


def _iso(value: datetime) -> str:
    return value.isoformat()


class _Generator:
    """Holds the random source and what later records refer to."""

    def __init__(self, tickets: int, seed: int, now: datetime) -> None:
        self.random = random.Random(seed)
        self.tickets = tickets
        self.now = now
        self.now_iso = _iso(now)
        self.start = now - timedelta(days=365)
        self.encode = msgspec.json.Encoder().encode
        self.agents_by_department: dict[str, list[str]] = {ref: [] for ref, _, _ in DEPARTMENTS}
        self.department_by_name = {name: ref for ref, name, _ in DEPARTMENTS}
        self.contacts: list[tuple[str, str | None]] = []

    def _state(self, last_activity: datetime) -> str:
        """Where a ticket ends up: old ones are nearly all closed; of the recent ones, most
        are open or answered, some wait on hold, a few are escalated."""
        roll = self.random.random()
        if last_activity < self.now - timedelta(days=7):
            return "closed" if roll < 0.96 else ("open" if roll < 0.985 else "on_hold")
        if roll < 0.35:
            return "closed"
        if roll < 0.8:
            return "open"
        return "on_hold" if roll < 0.93 else "escalated"

    def line(self, record: dict[str, Any]) -> bytes:
        return self.encode(record) + b"\n"

    def organisation(self) -> Iterator[bytes]:
        for ref, name, description in DEPARTMENTS:
            yield self.line(
                {
                    "type": "department",
                    "id": ref,
                    "name": name,
                    "description": description,
                    "created_at": _iso(self.start - timedelta(days=30)),
                }
            )
        for name, permissions in DEFAULT_PROFILES.items():
            yield self.line(
                {
                    "type": "profile",
                    "id": f"profile-{name.lower().replace(' ', '-')}",
                    "name": name,
                    "is_admin": name == "Administrator",
                    "permissions": sorted(permissions),
                }
            )

    def agents(self) -> Iterator[bytes]:
        rnd = self.random
        department_refs = [ref for ref, _, _ in DEPARTMENTS]
        yield self._agent(
            "agent-admin", ADMIN_EMAIL, "Admin 管理者", "Administrator", department_refs, "en"
        )
        for index in range(1, 25):
            if index % 2:
                family = rnd.randrange(len(_JA_FAMILY))
                name = f"{_JA_FAMILY[family]} {rnd.choice(_JA_GIVEN)}"
                email = f"{_JA_ROMAN[family]}.{index}@example.com"
                locale = "ja"
            else:
                first, last = rnd.choice(_EN_FIRST), rnd.choice(_EN_LAST)
                name, email, locale = f"{first} {last}", f"{first}.{last}.{index}@example.com", "en"
            count = 1 if rnd.random() < 0.6 else rnd.choice((2, 3))
            departments = sorted(rnd.sample(department_refs, count))
            profile = (
                "Support Manager" if index <= 3 else ("Light Agent" if index >= 23 else "Agent")
            )
            yield self._agent(f"agent-{index}", email.lower(), name, profile, departments, locale)
        for login in AGENT_LOGINS:
            yield self._agent(
                login.ref,
                login.email,
                login.name,
                login.profile,
                list(login.departments),
                login.locale,
                status="available",
            )

    def _agent(
        self,
        ref: str,
        email: str,
        name: str,
        profile: str,
        departments: list[str],
        locale: str,
        status: str | None = None,
    ) -> bytes:
        if profile != "Light Agent":
            for department in departments:
                self.agents_by_department[department].append(ref)
        return self.line(
            {
                "type": "agent",
                "id": ref,
                "email": email,
                "name": name,
                "profile": f"profile-{profile.lower().replace(' ', '-')}",
                "departments": departments,
                "locale": locale,
                "status": status or self.random.choice(("available", "busy", "offline")),
                "created_at": _iso(self.start - timedelta(days=20)),
            }
        )

    def customers(self, contact_count: int, account_count: int) -> Iterator[bytes]:
        rnd = self.random
        for index in range(account_count):
            name = (
                f"{rnd.choice(_COMPANY_STEMS)} {rnd.choice(_COMPANY_KINDS)} "
                f"{rnd.choice(_COMPANY_SUFFIX)} {index + 1}"
            )
            created = self.start - timedelta(days=rnd.randrange(1, 700))
            yield self.line(
                {
                    "type": "account",
                    "id": f"account-{index + 1}",
                    "name": name,
                    "website": f"https://www.example-{index + 1}.com",
                    "phone": f"+81-3-{rnd.randrange(1000, 9999)}-{rnd.randrange(1000, 9999)}",
                    "industry": rnd.choice(_INDUSTRIES),
                    "owner": f"agent-{rnd.randrange(1, 23)}",
                    "created_at": _iso(created),
                }
            )
        for index in range(contact_count):
            ref = f"contact-{index + 1}"
            japanese = rnd.random() < 0.55
            if japanese:
                family = rnd.randrange(len(_JA_FAMILY))
                first, last = rnd.choice(_JA_GIVEN), _JA_FAMILY[family]
                email = f"{_JA_ROMAN[family]}{index + 1}@example.jp"
                phone = f"+81-90-{rnd.randrange(1000, 9999)}-{rnd.randrange(1000, 9999)}"
            else:
                first, last = rnd.choice(_EN_FIRST), rnd.choice(_EN_LAST)
                email = f"{first}.{last}{index + 1}@example.com".lower()
                phone = f"+44-20-{rnd.randrange(1000, 9999)}-{rnd.randrange(1000, 9999)}"
            account = (
                f"account-{rnd.randrange(1, account_count + 1)}" if rnd.random() < 0.85 else None
            )
            identities = []
            roll = rnd.random()
            if roll < 0.15:
                identities.append(
                    {
                        "channel": "line",
                        "external_id": f"U{index + 1:032x}",
                        "display_name": f"{last} {first}",
                    }
                )
            elif roll < 0.25:
                # A WhatsApp id is the number itself, and one number is one contact's: numbered
                # by the contact (random ones repeat among 100,000 contacts).
                country, area = ("81", "90") if japanese else ("44", "7700")
                phone = f"+{country}-{area}-{index // 10_000:04d}-{index % 10_000:04d}"
                identities.append(
                    {"channel": "whatsapp", "external_id": phone.replace("-", "").lstrip("+")}
                )
            elif roll < 0.32:
                identities.append({"channel": "telegram", "external_id": str(700000000 + index)})
            record: dict[str, Any] = {
                "type": "contact",
                "id": ref,
                "first_name": first,
                "last_name": last,
                "email": email,
                "phone": phone,
                "account": account,
                "tags": sorted(rnd.sample(_TAGS, rnd.choice((0, 0, 1, 2)))),
                "identities": identities,
                "created_at": _iso(self.start - timedelta(days=rnd.randrange(1, 400))),
            }
            self.contacts.append((ref, account))
            yield self.line(record)

    def ticket(self, index: int) -> bytes:
        rnd = self.random
        subject, department_name = rnd.choice(_SUBJECTS)
        department = self.department_by_name[department_name]
        agents = self.agents_by_department[department] or ["agent-admin"]
        assignee = rnd.choice(agents) if rnd.random() < 0.9 else None
        contact, _account = rnd.choice(self.contacts)
        channel = rnd.choice(_CHANNELS)
        span = (self.now - self.start).total_seconds() - 3600
        created = self.start + timedelta(
            seconds=int(span * index / self.tickets) + rnd.randrange(0, 3600)
        )
        raised_by = "customer" if rnd.random() < 0.85 else "agent"
        # This week's tickets move faster (answered within hours, not days), so the newest
        # page shows a desk at work: some answered and closed, some on hold, most still open.
        pace = 0.1 if created > self.now - timedelta(days=7) else 1.0

        def later(**amount: int) -> timedelta:
            return timedelta(**amount) * pace

        at = created
        threads: list[dict[str, Any]] = []
        if rnd.random() < 0.3:
            at += later(seconds=rnd.randrange(5, 60))
            threads.append(
                {"kind": "notification", "body": rnd.choice(_NOTIFICATIONS), "created_at": _iso(at)}
            )
        replier = assignee or rnd.choice(agents)
        if raised_by == "agent":
            at += later(minutes=rnd.randrange(5, 600))
            threads.append(
                {
                    "kind": "incoming",
                    "contact": contact,
                    "body": rnd.choice(_CUSTOMER_LINES),
                    "created_at": _iso(at),
                }
            )
        for exchange in range(rnd.choice((1, 1, 2, 2, 2, 3))):
            at += later(minutes=rnd.randrange(3, 1440))
            threads.append(
                {
                    "kind": "outgoing",
                    "agent": replier,
                    "body": rnd.choice(_AGENT_LINES),
                    "created_at": _iso(at),
                }
            )
            if rnd.random() < 0.25:
                at += later(minutes=rnd.randrange(1, 120))
                threads.append(
                    {
                        "kind": "comment",
                        "agent": rnd.choice(agents),
                        "body": rnd.choice(_COMMENTS),
                        "created_at": _iso(at),
                    }
                )
            if exchange < 2 or rnd.random() < 0.5:
                at += later(minutes=rnd.randrange(10, 2880))
                threads.append(
                    {
                        "kind": "incoming",
                        "contact": contact,
                        "body": rnd.choice(_CUSTOMER_LINES),
                        "created_at": _iso(at),
                    }
                )
        history = [{"to_status": "Open", "changed_at": _iso(created)}]
        ratings: list[dict[str, Any]] = []
        state = self._state(at)
        closed = state == "closed"
        if state == "on_hold":
            at += later(hours=rnd.randrange(1, 24))
            history.append({"to_status": "On Hold", "changed_at": _iso(at), "agent": replier})
        elif state == "escalated":
            at += later(hours=1)
            history.append({"to_status": "Escalated", "changed_at": _iso(at), "agent": replier})
        elif closed:
            if rnd.random() < 0.15:
                at += later(hours=rnd.randrange(1, 48))
                history.append({"to_status": "On Hold", "changed_at": _iso(at), "agent": replier})
            at += later(minutes=rnd.randrange(10, 600))
            history.append(
                {
                    "to_status": rnd.choice(("Closed", "Resolved")),
                    "changed_at": _iso(at),
                    "agent": replier,
                }
            )
            if rnd.random() < 0.12:
                # Reopened by the customer, answered, closed again.
                at += later(hours=rnd.randrange(2, 96))
                threads.append(
                    {
                        "kind": "incoming",
                        "contact": contact,
                        "body": rnd.choice(_CUSTOMER_LINES),
                        "created_at": _iso(at),
                    }
                )
                history.append({"to_status": "Open", "changed_at": _iso(at)})
                at += later(minutes=rnd.randrange(10, 600))
                threads.append(
                    {
                        "kind": "outgoing",
                        "agent": replier,
                        "body": rnd.choice(_AGENT_LINES),
                        "created_at": _iso(at),
                    }
                )
                at += later(minutes=rnd.randrange(5, 120))
                history.append({"to_status": "Closed", "changed_at": _iso(at), "agent": replier})
            if rnd.random() < 0.4:
                for _ in range(2 if rnd.random() < 0.1 else 1):
                    at += later(minutes=rnd.randrange(5, 2000))
                    ratings.append(
                        {
                            "rating": rnd.choice(("good", "good", "good", "okay", "bad")),
                            "feedback": rnd.choice(_FEEDBACK),
                            "created_at": _iso(at),
                        }
                    )
        if rnd.random() < 0.35:
            at += later(minutes=rnd.randrange(1, 30))
            threads.append(
                {"kind": "notification", "body": rnd.choice(_NOTIFICATIONS), "created_at": _iso(at)}
            )
        time_entries = []
        if rnd.random() < 0.3:
            billable = rnd.random() < 0.5
            time_entries.append(
                {
                    "seconds": rnd.randrange(5, 180) * 60,
                    "billable": billable,
                    "billed": billable and rnd.random() < 0.5,
                    "agent": replier,
                    "logged_at": _iso(at),
                }
            )
        # Open tickets get a due time; some of those are already past (overdue).
        due = None
        if not closed:
            due = created + timedelta(days=rnd.choice((1, 2, 3, 7, 14, 30)))
        # Nothing happens after the clock: a recent ticket's later messages, status changes,
        # ratings and time have not happened yet (times only grow, so what is left is a
        # consistent beginning of its story: a ticket whose closing lies ahead is still open).
        threads = [t for t in threads if t["created_at"] <= self.now_iso]
        history = [h for h in history if h["changed_at"] <= self.now_iso]
        ratings = [r for r in ratings if r["created_at"] <= self.now_iso]
        time_entries = [e for e in time_entries if e["logged_at"] <= self.now_iso]
        if history[-1]["to_status"] not in ("Closed", "Resolved"):
            ratings = []
        return self.line(
            {
                "type": "ticket",
                "id": f"ticket-{index + 1}",
                "subject": subject,
                "description": rnd.choice(_CUSTOMER_LINES),
                "department": department,
                "contact": contact,
                "assignee": assignee,
                "channel": channel,
                "priority": rnd.choice(_PRIORITIES),
                "raised_by": raised_by,
                "classification": rnd.choice(("question", "problem", "request", "")),
                "due_at": _iso(due) if due else None,
                "created_at": _iso(created),
                "threads": threads,
                "status_history": history,
                "ratings": ratings,
                "time_entries": time_entries,
            }
        )


def generate(
    tickets: int = 20_000,
    seed: int = 7,
    now: datetime | None = None,
    *,
    contacts: int | None = None,
    accounts: int | None = None,
) -> Iterator[bytes]:
    """Yield the demo dataset as JSON Lines (one record per ``bytes``, newline included).

    The customers scale with ``tickets`` (300 accounts and 2,000 contacts per 20,000 tickets)
    unless ``contacts`` or ``accounts`` say how many. ``now`` (default: the start of today,
    UTC) anchors the year of history; the same arguments always give the same bytes.
    """
    if tickets < 1:
        raise ValueError("tickets must be at least 1")
    if (contacts is not None and contacts < 1) or (accounts is not None and accounts < 1):
        raise ValueError("contacts and accounts must be at least 1")
    anchor = now or clock.now().replace(hour=0, minute=0, second=0, microsecond=0)
    generator = _Generator(tickets, seed, anchor.astimezone(UTC))
    yield from generator.organisation()
    yield from generator.agents()
    yield from generator.customers(
        contacts if contacts is not None else max(10, tickets // 10),
        accounts if accounts is not None else max(3, tickets * 3 // 200),
    )
    for index in range(tickets):
        yield generator.ticket(index)


def load_demo(
    host: Host,
    tickets: int = 20_000,
    seed: int = 7,
    progress: Callable[[int, int], None] | None = None,
    *,
    contacts: int | None = None,
    accounts: int | None = None,
    admin_password: str = ADMIN_PASSWORD,
) -> ImportReport:
    """Generate the demo dataset and import it (``progress(tickets_done, tickets)``), set the
    organisation up as :data:`ORGANISATION_SETTINGS` says, then give the admin
    ``admin_password`` and each of :data:`AGENT_LOGINS` their password."""
    import io

    from core.importer import run_import

    buffer = io.BytesIO(b"".join(generate(tickets, seed, contacts=contacts, accounts=accounts)))
    size = len(buffer.getvalue())

    def by_tickets(done_bytes: int, _total: int) -> None:
        if progress is not None:
            progress(min(tickets, tickets * done_bytes // max(size, 1)), tickets)

    report = run_import(host, buffer, progress=by_tickets)
    _set_up_organisation(host)
    _set_passwords(
        host, {ADMIN_EMAIL: admin_password} | {a.email: a.password for a in AGENT_LOGINS}
    )
    _set_up_slas(host)
    _set_up_customer_records(host, seed)
    _set_up_knowledge_base(host)
    _set_up_contracts(host)
    return report


def _set_up_organisation(host: Host) -> None:
    from core.services.base import Actor, Unit
    from core.services.org import update_organisation

    with host.transaction() as session:
        update_organisation(Unit(session, Actor.system("demo"), host), **ORGANISATION_SETTINGS)


#: The demo's SLA targets per priority, in business minutes (first response, resolution).
DEMO_SLA_TARGETS = {
    "low": (8 * 60, 5 * 9 * 60),
    "medium": (4 * 60, 3 * 9 * 60),
    "high": (2 * 60, 9 * 60),
    "urgent": (30, 4 * 60),
}


def _set_up_slas(host: Host) -> None:
    """Weekday hours 9:00–18:00 with the national holidays in every demo department, one SLA
    policy over them all, and the clocks of the open tickets started, so that due times and
    overdue tickets show from the first `make run`."""
    from sqlalchemy import select

    from core.models import Department, Organisation, Ticket
    from core.models.tickets import StatusType
    from core.services import sla
    from core.services.base import Actor, Unit

    with host.transaction() as session:
        unit = Unit(session, Actor.system("demo"), host)
        country = session.scalar(select(Organisation.phone_region).limit(1)) or "JP"
        departments = list(session.scalars(select(Department).order_by(Department.id)))
        weekdays = [
            {"weekday": day, "start_minute": 9 * 60, "end_minute": 18 * 60} for day in range(5)
        ]
        year = clock.now().year
        for department in departments:
            sla.set_business_hours(
                unit, department.id, timezone=None, always_open=False, intervals=weekdays
            )
            for each in (year - 1, year, year + 1):
                sla.add_national_holidays(
                    unit, department.id, country=country, year=each, language="ja"
                )
        sla.create_policy(
            unit,
            name="Standard",
            description="Business-hours targets for every team.",
            department_ids=[d.id for d in departments],
            targets={
                priority: {"first_response_minutes": first, "resolution_minutes": resolution}
                for priority, (first, resolution) in DEMO_SLA_TARGETS.items()
            },
        )
        sla.start_clocks(
            unit,
            session.scalars(select(Ticket).where(Ticket.status_type != StatusType.CLOSED)),
        )


#: The demo's product catalogue: (name, code, unit price in yen).
DEMO_PRODUCTS = (
    ("複合機 MX-200", "MX-200", 198_000),
    ("複合機 MX-500", "MX-500", 348_000),
    ("ルーター RT-10", "RT-10", 24_800),
    ("無線LANアクセスポイント AP-3", "AP-3", 16_500),
    ("保守契約 スタンダード", "CARE-STD", 60_000),
    ("保守契約 プレミアム", "CARE-PRM", 120_000),
    ("Cloud Backup 1 TB", "CB-1T", 9_800),
    ("Helpdesk seat (yearly)", "HD-SEAT", 36_000),
)
#: The calls, events and tasks the demo logs about its customers: (kind, subject).
DEMO_ACTIVITIES = (
    ("call", "Follow-up call about the last ticket"),
    ("call", "Renewal call"),
    ("event", "On-site visit: printer installation"),
    ("event", "Quarterly review meeting"),
    ("task", "Send the updated quotation"),
    ("task", "Check the maintenance contract"),
)
#: Every how many contacts the demo gives products, activities and a file; every how many
#: contacts with activities one of them is flagged as spam.
PRODUCT_EVERY, ACTIVITY_EVERY, FILE_EVERY, SPAM_EVERY = 3, 4, 10, 5


def _set_up_customer_records(host: Host, seed: int) -> None:
    """Products in the catalogue and linked to some contacts and every account, calls, events
    and tasks about some contacts (done, upcoming, overdue, one flagged as spam), and a meeting
    note for some, so that every tab of a customer's page shows something from the first
    `make run`."""
    from sqlalchemy import select

    from core.models import Account, Agent, Contact
    from core.services import attachments, products
    from core.services import customers as customer_service
    from core.services.base import Actor, Unit

    rnd = random.Random(seed)
    now = clock.now()
    with host.transaction() as session:
        unit = Unit(session, Actor.system("demo"), host)
        catalogue = [
            products.create_product(unit, name=name, code=code, unit_price_cents=price * 100)
            for name, code, price in DEMO_PRODUCTS
        ]
        owners = list(session.scalars(select(Agent.id).order_by(Agent.id)))
        contacts = list(session.scalars(select(Contact).order_by(Contact.id)))
        for number, contact in enumerate(contacts):
            if number % PRODUCT_EVERY == 0:
                for product in rnd.sample(catalogue, rnd.randint(1, 2)):
                    customer_service.link_product(unit, product, contact=contact)
            if number % ACTIVITY_EVERY == 0:
                spam = number % (ACTIVITY_EVERY * SPAM_EVERY) == 0
                _demo_activities(unit, rnd, contact.id, owners, now, with_spam=spam)
            if number % FILE_EVERY == 0:
                attachments.store_attachment(
                    unit,
                    filename="meeting-notes.txt",
                    content=f"Notes of the call with {contact.name}.\n".encode(),
                    contact_id=contact.id,
                    note="Meeting notes",
                )
        for account in session.scalars(select(Account).order_by(Account.id)):
            customer_service.link_product(unit, rnd.choice(catalogue), account=account)


def _demo_activities(
    unit: Any,
    rnd: random.Random,
    contact_id: int,
    owners: list[int],
    now: datetime,
    *,
    with_spam: bool,
) -> None:
    """Three activities about one contact: one done last month, one upcoming, one overdue;
    ``with_spam``, a fourth flagged as spam."""
    from core.services import activities

    for days, done in ((-30, True), (rnd.randint(1, 20), False), (-rnd.randint(1, 5), False)):
        kind, subject = rnd.choice(DEMO_ACTIVITIES)
        activity = activities.create_activity(
            unit,
            kind=kind,
            subject=subject,
            contact_id=contact_id,
            due_at=now + timedelta(days=days, hours=rnd.randint(0, 8)),
            owner_id=rnd.choice(owners) if owners else None,
            created_at=now + timedelta(days=min(days, 0) - 7),
        )
        if done:
            activities.complete_activity(unit, activity)
    if with_spam:
        spam = activities.create_activity(
            unit, kind="call", subject="Unsolicited sales call", contact_id=contact_id
        )
        activities.mark_spam(unit, spam)


#: The demo's knowledge base: per department, its categories with their articles as
#: (title, status, visibility).
DEMO_KNOWLEDGE_BASE: dict[str, tuple[tuple[str, tuple[tuple[str, str, str], ...]], ...]] = {
    "Support": (
        (
            "Getting started",
            (
                ("Sign in for the first time", "published", "all"),
                ("If you forgot your password", "published", "all"),
            ),
        ),
        (
            "Troubleshooting",
            (
                ("The dashboard does not load", "published", "registered"),
                ("Email notifications do not arrive", "draft", "all"),
            ),
        ),
    ),
    "Billing": (
        (
            "Invoices and payments",
            (
                ("Download an invoice", "published", "registered"),
                ("Change the billing address", "published", "all"),
            ),
        ),
    ),
    "Sales": (
        (
            "Plans and pricing",
            (
                ("Compare the plans", "published", "all"),
                ("Extend a trial", "draft", "all"),
            ),
        ),
    ),
    "技術サポート": (
        (
            "よくある質問",
            (
                ("ログインできない場合", "published", "all"),
                ("CSVインポートでエラーが出る場合", "published", "registered"),
            ),
        ),
    ),
}
#: What every demo article says under its title (Markdown).
DEMO_ARTICLE_STEPS = "1. Open the page named in the title.\n2. Follow the steps shown there.\n"
#: The demo's premium SLA targets per priority, in business minutes (first response,
#: resolution): what the premium contracts buy.
DEMO_PREMIUM_SLA_TARGETS = {
    "low": (4 * 60, 2 * 9 * 60),
    "medium": (2 * 60, 9 * 60),
    "high": (60, 4 * 60),
    "urgent": (15, 2 * 60),
}


def _set_up_knowledge_base(host: Host) -> None:
    """The categories and articles of :data:`DEMO_KNOWLEDGE_BASE`, drafts and published ones,
    so that the knowledge base of every demo department has something to read."""
    from sqlalchemy import select

    from core.models import Department
    from core.services import knowledge_base
    from core.services.base import Actor, Unit

    with host.transaction() as session:
        unit = Unit(session, Actor.system("demo"), host)
        departments = {d.name: d.id for d in session.scalars(select(Department))}
        for department_name, categories in DEMO_KNOWLEDGE_BASE.items():
            for category_name, articles in categories:
                category = knowledge_base.create_category(
                    unit, department_id=departments[department_name], name=category_name
                )
                for title, status, visibility in articles:
                    knowledge_base.create_article(
                        unit,
                        category_id=category.id,
                        title=title,
                        body=f"# {title}\n\n{DEMO_ARTICLE_STEPS}",
                        status=status,
                        visibility=visibility,
                    )


def _set_up_contracts(host: Host) -> None:
    """A premium SLA policy and contracts on the first demo accounts: a premium one for the
    Support department under it, one for every department (the Standard policy applies), and
    one that ended last month, so that a contract and its SLA show for their customers."""
    from sqlalchemy import select

    from core.models import Account, Department
    from core.services import contracts, sla
    from core.services.base import Actor, Unit

    with host.transaction() as session:
        unit = Unit(session, Actor.system("demo"), host)
        premium = sla.create_policy(
            unit,
            name="Premium",
            description="Faster targets for customers with a premium contract.",
            targets={
                priority: {"first_response_minutes": first, "resolution_minutes": resolution}
                for priority, (first, resolution) in DEMO_PREMIUM_SLA_TARGETS.items()
            },
        )
        support = session.scalars(select(Department.id).where(Department.name == "Support")).one()
        accounts = list(session.scalars(select(Account.id).order_by(Account.id).limit(3)))
        today = contracts.today(session)
        year_ago, month_ago = today - timedelta(days=365), today - timedelta(days=30)
        terms: list[dict[str, Any]] = [
            {
                "name": "Premium support",
                "department_id": support,
                "sla_policy_id": premium.id,
                "starts_on": year_ago,
            },
            {"name": "保守契約 スタンダード", "starts_on": year_ago},
            {"name": "Trial", "starts_on": year_ago, "ends_on": month_ago},
        ]
        for account_id, contract in zip(accounts, terms, strict=False):
            contracts.create_contract(unit, account_id, **contract)


def _set_passwords(host: Host, passwords: dict[str, str]) -> None:
    from sqlalchemy import select

    from core.models import Agent
    from core.services.base import Actor, Unit
    from core.services.org import set_password

    with host.transaction() as session:
        unit = Unit(session, Actor.system("demo"), host)
        for agent in session.scalars(select(Agent).where(Agent.email.in_(passwords))):
            set_password(unit, agent, passwords[agent.email])


def existing_logins(host: Host) -> list[DemoLogin]:
    """The demo agents of :data:`AGENT_LOGINS` this database holds (a demo loaded by an older
    version has none)."""
    from sqlalchemy import select

    from core.models import Agent

    with host.sessions() as session:
        present = set(
            session.scalars(
                select(Agent.email).where(Agent.email.in_([a.email for a in AGENT_LOGINS]))
            )
        )
    return [login for login in AGENT_LOGINS if login.email in present]
