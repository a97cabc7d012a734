"""IM Dashboard's figures over a year of chats: 1,000,000 messages in 100,000 chats on four
channels (10,000 messages at ``--scale small``), worked by 20 agents.

Times the call the dashboard page, its live refresh and REST all make (the figures of a
period and a channel, with their trends) in-process, for "last 30 days, all channels" and
"this month, LINE" (target ≤ 100 ms each); prints per backend ``dashboard_30d_ms`` and
``dashboard_month_line_ms`` (medians of repeated calls) and their ``_p95_ms``, with last month's
LINE (``dashboard_last_month_line_ms``: a whole month, whatever today's date), and
``tally_build_s``: the time to tally every record afresh (the dashboard reads its figures per
quarter hour from the tallies, and the minutes at the period's edges from the records).

The chats are written past the ORM (COPY on PostgreSQL), as the webhooks' job would have
filed them: each started by a customer, most assigned, accepted and answered, some ended and
reopened, with the durations and response times the job keeps.
"""

from __future__ import annotations

import random
import statistics
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import harness
from sqlalchemy import func, select, text
from sqlalchemy.exc import SQLAlchemyError

from core.host import Host
from core.models import Installation
from core.services import org
from plugins.im_dashboard import accounts, figures, periods, tally
from plugins.im_dashboard.channels import CHANNELS
from plugins.im_dashboard.models import ChatMessage

#: Well-formed credentials of an account of each channel (nothing is sent anywhere).
CREDENTIALS = {
    "line": {"channel_secret": "0" * 32, "channel_access_token": "line-bench-access-token-0000"},
    "telegram": {"bot_token": "123456789:" + "A" * 35, "secret_token": "bench-secret-token"},
    "whatsapp": {
        "phone_number_id": "106540352242922",
        "access_token": "EAAG" + "b" * 40,
        "app_secret": "1" * 32,
        "verify_token": "bench-verify-token",
    },
    "wechat": {"app_id": "wx0123456789abcdef", "app_secret": "2" * 32, "token": "benchToken"},
}
#: Messages per chat, on average.
MESSAGES_PER_CHAT = 10
AGENTS = 20
#: Calls timed per figure.
RUNS = 15


def built_scale(host: Host) -> int | None:
    """The messages a previous run filed, ``None`` if this is not a copy of this bench."""
    try:
        with host.sessions() as session:
            if (
                session.scalar(
                    select(Installation.id).where(Installation.plugin_id == "im_dashboard")
                )
                is None
            ):
                return None
            return session.scalar(select(func.count()).select_from(ChatMessage))
    except SQLAlchemyError:
        return None


def build(host: Host, count: int) -> None:
    """A department with ``AGENTS`` agents, IM Dashboard installed with an account of each
    channel, then ``count`` messages in ``count / 10`` chats over the last year."""
    with host.transaction() as session:
        work = harness.system_unit(session)
        department = org.create_department(work, name="IM")
        agent_ids = [
            org.create_agent(
                work,
                name=f"IM agent {number}",
                email=f"im-agent-{number}@bench.example",
                profile_name="Agent",
                department_ids=[department.id],
            ).id
            for number in range(AGENTS)
        ]
        department_id = department.id
    installation_id = harness.install_everywhere(host, "im_dashboard")
    with host.transaction() as session:
        context = harness.context_of(host, session, installation_id)
        account_ids = {}
        for code, channel in CHANNELS.items():
            form = {"name": channel.name, "department_id": str(department_id)}
            saved = accounts.save(context, channel, {**form, **CREDENTIALS[code]})
            account_ids[code] = saved.account.id
    chats, messages, activities = _history(
        installation_id, department_id, account_ids, agent_ids, count
    )
    harness.copy_rows(host, "im_dashboard_chat", _CHAT_COLUMNS, chats)
    harness.copy_rows(host, "im_dashboard_chat_message", _MESSAGE_COLUMNS, messages)
    harness.copy_rows(host, "im_dashboard_chat_activity", _ACTIVITY_COLUMNS, activities)


_CHAT_COLUMNS = (
    "id", "installation_id", "channel_account_id", "channel", "department_id",
    "external_user_id", "user_name", "contact_id", "contact_was_new", "status", "assignee_id",
    "accepted_at", "started_at", "last_message_at", "last_customer_message_at",
    "last_agent_message_at", "awaiting_since", "ended_at", "ended_seconds", "reopen_count",
    "first_accepted_at", "first_accepted_by", "first_accept_seconds", "first_response_at",
    "first_response_by", "first_response_seconds", "time_to_end_seconds", "ticket_id",
    "created_at",
)  # fmt: skip
_MESSAGE_COLUMNS = (
    "id", "installation_id", "chat_id", "channel_account_id", "channel", "department_id",
    "direction", "platform_message_id", "agent_id", "kind", "text", "media", "location",
    "platform_type", "sent_at", "response_seconds", "delivery", "error", "attempts",
    "created_at",
)  # fmt: skip
_ACTIVITY_COLUMNS = (
    "id", "installation_id", "chat_id", "channel", "department_id", "kind", "at", "agent_id",
    "by_agent_id", "cause",
)  # fmt: skip


def _history(
    installation_id: int,
    department_id: int,
    account_ids: dict[str, int],
    agent_ids: list[int],
    count: int,
) -> tuple[list[tuple[Any, ...]], Iterator[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """The chats, their messages and their activities, as rows (seeded: the same each run)."""
    rng = random.Random(3)
    now = datetime.now(UTC).replace(microsecond=0)
    year = timedelta(days=365).total_seconds()
    channels = list(CHANNELS)
    chats: list[tuple[Any, ...]] = []
    activities: list[tuple[Any, ...]] = []
    plans: list[tuple[int, str, datetime, int | None, int]] = []
    for chat_id in range(1, count // MESSAGES_PER_CHAT + 1):
        channel = channels[chat_id % 4]
        start = now - timedelta(seconds=rng.uniform(0, year))
        agent = rng.choice(agent_ids) if rng.random() < 0.9 else None
        accept = start + timedelta(seconds=rng.randint(10, 900)) if agent else None
        response = accept + timedelta(seconds=rng.randint(5, 300)) if accept else None
        ended = response + timedelta(seconds=rng.randint(60, 3600)) if response else None
        if ended and ended >= now:
            ended = None
        last = ended or response or start
        chats.append(
            (
                chat_id, installation_id, account_ids[channel], channel, department_id,
                f"user-{chat_id}", f"User {chat_id}", chat_id, rng.random() < 0.4,
                "ended" if ended else "open", agent, accept, start, last, start, response,
                None if response else start, ended, 0.0, 0, accept, agent,
                (accept - start).total_seconds() if accept else None, response,
                agent if response else None,
                (response - start).total_seconds() if response else None,
                (ended - start).total_seconds() if ended else None, None, start,
            )
        )  # fmt: skip
        activity = len(activities)
        if agent and accept:
            activities.append(
                (activity + 1, installation_id, chat_id, channel, department_id, "assigned",
                 start + timedelta(seconds=5), agent, None, "round_robin")
            )  # fmt: skip
            activities.append(
                (activity + 2, installation_id, chat_id, channel, department_id, "accepted",
                 accept, agent, agent, "agent")
            )  # fmt: skip
        if ended:
            activities.append(
                (len(activities) + 1, installation_id, chat_id, channel, department_id, "ended",
                 ended, agent, agent, "agent")
            )  # fmt: skip
        plans.append((chat_id, channel, start, agent, account_ids[channel]))

    def messages() -> Iterator[tuple[Any, ...]]:
        message_id = 0
        for chat_id, channel, start, agent, account_id in plans:
            moment = start
            waiting: datetime | None = None
            for number in range(MESSAGES_PER_CHAT):
                outgoing = agent is not None and number % 2 == 1
                response = None
                if outgoing and waiting is not None:
                    response = (moment - waiting).total_seconds()
                    waiting = None
                elif not outgoing:
                    waiting = waiting or moment
                message_id += 1
                yield (
                    message_id, installation_id, chat_id, account_id, channel, department_id,
                    "out" if outgoing else "in", f"m{message_id}", agent if outgoing else None,
                    "text", "…", "{}", "{}", "text", moment, response,
                    "sent" if outgoing else None, "", 1 if outgoing else 0, moment,
                )  # fmt: skip
                moment += timedelta(seconds=rng.randint(20, 600))

    return chats, messages(), activities


def measure(host: Host) -> harness.Figures:
    """The tallies built from the records (written past the ORM, they were never tallied),
    then the two dashboards' timings."""
    with host.transaction() as session:
        installation_id = session.scalar(
            select(Installation.id).where(Installation.plugin_id == "im_dashboard")
        )
        started = time.perf_counter()
        tally.build(session, installation_id)
    built = time.perf_counter() - started
    # As autovacuum would soon: the rows the rebuild replaced are gone, the new ones counted.
    with host.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        for table in ("im_dashboard_tally", "im_dashboard_agent_tally"):
            if connection.dialect.name == "postgresql":
                connection.execute(text(f"VACUUM ANALYZE {table}"))
            else:
                connection.execute(text(f"ANALYZE {table}"))
    with host.sessions() as session:
        context = harness.context_of(host, session, installation_id)
        zone = ZoneInfo(context.timezone)
        found: harness.Figures = {}
        for key, period_name, channel in (
            ("dashboard_30d", "last_30_days", None),
            ("dashboard_month_line", "this_month", "line"),
            # "this month" is as long as today's date makes it: a whole one, too
            ("dashboard_last_month_line", "last_month", "line"),
        ):

            def dashboard(period_name: str = period_name, channel: str | None = channel) -> Any:
                period = periods.resolve(period_name, context.now(), zone)
                return figures.figures(context, period, channel)

            dashboard()  # warm
            timings = harness.timed(RUNS, dashboard)
            found = {
                **found,
                f"{key}_ms": statistics.median(timings),
                f"{key}_p95_ms": harness.p95(timings),
            }
        messages = dashboard().messages_incoming  # a sanity figure: last month's LINE
        return {**found, "last_month_line_incoming_messages": messages, "tally_build_s": built}


BENCHMARK = harness.Benchmark(
    name="im_dashboard",
    noun="messages",
    scales={"full": 1_000_000, "small": 10_000},
    built_scale=built_scale,
    build=build,
    measure=measure,
)

if __name__ == "__main__":
    sys.exit(harness.main(BENCHMARK, __doc__ or ""))
