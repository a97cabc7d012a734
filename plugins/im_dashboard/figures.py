"""The dashboard's figures for a period and a channel filter, over the chats of the departments
the reader works in, each with its trend (a value per hour or per day of the period).

What each counts (times are the records' own: a chat's start is its earliest customer
message, a message's time the platform's):

- **contacts**: chats started in the period, by whether the contact was new (no earlier chat
  or ticket) when the chat started;
- **messages**: incoming messages, and outgoing agent messages (every one, answering or not),
  whose time is in the period;
- **chats by status**: chats started in the period, assigned (an agent has it now) or not;
- **chats by channel**: chats started in the period per channel, with the average time to
  end over chats ended now whose last end is in the period (last end − start − time spent
  ended before reopens);
- **response times**: average start time (first accept − start, for first accepts in the
  period), average first response time (first agent message − start, for those in the
  period), average response time (per reply: reply − earliest unanswered customer message,
  for replies in the period);
- **agents**: per agent, *assigned* = assignments to them in the period (first ones,
  reassignments and those after a reopen) plus reopens in the period of chats assigned to
  them then; *reopened* = those reopens alone; and the three averages over the first
  accepts, first agent messages and replies they made in the period.

Each query groups its rows by the hour they fall in (counted from the epoch, shifted by the
zone's offset beyond whole hours, so that an hour of the zone is a group): the hours are then
summed into the trend's buckets here, which stays exact across changes of summer time.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import BigInteger, ColumnElement, cast, func, select
from sqlalchemy.orm import Session

from hostapi import Context
from plugins.im_dashboard.channels import CHANNELS
from plugins.im_dashboard.chats import ENDED, IN, OUT
from plugins.im_dashboard.models import Chat, ChatActivity, ChatMessage
from plugins.im_dashboard.periods import Period

#: The trend series, in the order tables and exports list them.
SERIES = (
    "contacts_new",
    "contacts_existing",
    "messages_incoming",
    "messages_outgoing",
    "chats_assigned",
    "chats_unassigned",
    "chats_total",
    "average_time_to_end_seconds",
    "average_start_seconds",
    "average_first_response_seconds",
    "average_response_seconds",
)


@dataclass
class Mean:
    """A running average: how many values, and their sum."""

    count: int = 0
    total: float = 0.0

    def add(self, count: int, total: float | None) -> None:
        """Take in ``count`` more values summing to ``total``."""
        self.count += count
        self.total += total or 0.0

    @property
    def value(self) -> float | None:
        """The average (3 decimals), or ``None`` with nothing to average."""
        return round(self.total / self.count, 3) if self.count else None


@dataclass
class AgentFigures:
    """One agent's row of the agents table."""

    agent_id: int
    name: str
    assigned: int = 0
    reopened: int = 0
    start: Mean = field(default_factory=Mean)
    first_response: Mean = field(default_factory=Mean)
    response: Mean = field(default_factory=Mean)


@dataclass
class ChannelFigures:
    """One channel's chats started in the period, and its chats' time to end."""

    channel: str
    chats: int = 0
    time_to_end: Mean = field(default_factory=Mean)


@dataclass
class Figures:
    """Every figure of the dashboard for one period and channel filter."""

    period: Period
    channel: str | None
    contacts_new: int = 0
    contacts_existing: int = 0
    messages_incoming: int = 0
    messages_outgoing: int = 0
    chats_assigned: int = 0
    chats_unassigned: int = 0
    start: Mean = field(default_factory=Mean)
    first_response: Mean = field(default_factory=Mean)
    response: Mean = field(default_factory=Mean)
    time_to_end: Mean = field(default_factory=Mean)
    channels: dict[str, ChannelFigures] = field(default_factory=dict)
    agents: dict[int, AgentFigures] = field(default_factory=dict)
    #: Each series' value per bucket (``Period.buckets`` order).
    trend: dict[str, list[float | int | None]] = field(default_factory=dict)

    @property
    def chats_total(self) -> int:
        """Chats started in the period."""
        return self.chats_assigned + self.chats_unassigned

    def as_dict(self) -> dict[str, Any]:
        """The figures as REST answers them (and the CSV export lists them)."""
        return {
            "period": {
                "name": self.period.name,
                "start": self.period.start,
                "end": self.period.end,
                "timezone": self.period.zone.key,
                "bucket": self.period.bucket,
            },
            "channel": self.channel or "all",
            "contacts": {"new": self.contacts_new, "existing": self.contacts_existing},
            "messages": {"incoming": self.messages_incoming, "outgoing": self.messages_outgoing},
            "chats": {
                "assigned": self.chats_assigned,
                "unassigned": self.chats_unassigned,
                "total": self.chats_total,
            },
            "channels": [
                {
                    "channel": figures.channel,
                    "chats": figures.chats,
                    "ended": figures.time_to_end.count,
                    "average_time_to_end_seconds": figures.time_to_end.value,
                }
                for figures in self.channels.values()
            ],
            "response_times": {
                "average_start_seconds": self.start.value,
                "first_accepts": self.start.count,
                "average_first_response_seconds": self.first_response.value,
                "first_responses": self.first_response.count,
                "average_response_seconds": self.response.value,
                "replies": self.response.count,
            },
            "agents": [
                {
                    "agent_id": agent.agent_id,
                    "name": agent.name,
                    "assigned": agent.assigned,
                    "reopened": agent.reopened,
                    "average_start_seconds": agent.start.value,
                    "average_first_response_seconds": agent.first_response.value,
                    "average_response_seconds": agent.response.value,
                }
                for agent in self.agents.values()
            ],
            "trend": {
                "buckets": self.period.buckets(),
                "series": self.trend,
            },
        }


def figures(context: Context, period: Period, channel: str | None = None) -> Figures:
    """The dashboard for ``period``, over every channel or one (``channel``)."""
    result = Figures(period, channel)
    channels = [channel] if channel else list(CHANNELS)
    result.channels = {code: ChannelFigures(code) for code in channels}
    result.agents = {
        agent.id: AgentFigures(agent.id, agent.name)
        for agent in context.list_agents(covered_only=True)
    }
    trend = _Trend(period)
    query = _Query(context, period, channel)
    _chats_started(query, result, trend)
    _messages(query, result, trend)
    _chats_ended(query, result, trend)
    _firsts(query, result, trend)
    _assignments(query, result)
    result.trend = trend.series()
    return result


class _Query:
    """What every query of one dashboard shares: the installation, departments, channel and
    period, and the hour of a time column."""

    def __init__(self, context: Context, period: Period, channel: str | None) -> None:
        self.session: Session = context.db
        self.installation_id = context.installation_id
        self.department_ids = sorted(context.department_ids)
        self.channel = channel
        self.period = period
        offset = period.start.astimezone(period.zone).utcoffset() or timedelta()
        #: Seconds the zone's offset goes beyond whole hours (India's 30 minutes…).
        self.shift = int(offset.total_seconds()) % 3600
        self.postgresql = self.session.get_bind().dialect.name == "postgresql"

    def scope(self, model: Any, moment: Any) -> list[ColumnElement[bool]]:
        """The conditions every query of ``model`` with its time column ``moment`` takes."""
        conditions = [
            model.installation_id == self.installation_id,
            model.department_id.in_(self.department_ids),
            moment >= self.period.start,
            moment < self.period.end,
        ]
        if self.channel:
            conditions.append(model.channel == self.channel)
        return conditions

    def hour(self, moment: Any) -> ColumnElement[int]:
        """The zone's hour a time column falls in, as whole hours since the epoch."""
        if self.postgresql:
            # floor first: a cast alone would round 10:59:59.6 up into the next hour
            seconds = cast(func.floor(func.extract("epoch", moment)), BigInteger)
        else:
            seconds = cast(func.strftime("%s", moment), BigInteger)
        return ((seconds + self.shift) // 3600).label("hour")

    def start_of(self, hour: int) -> datetime:
        """When an hour of :meth:`hour` starts."""
        return datetime.fromtimestamp(hour * 3600 - self.shift, UTC)


class _Trend:
    """The trend's series, filled bucket by bucket."""

    def __init__(self, period: Period) -> None:
        self.period = period
        self.index = {start: number for number, start in enumerate(period.buckets())}
        self.counts: dict[str, list[int]] = defaultdict(lambda: [0] * len(self.index))
        self.means: dict[str, list[Mean]] = defaultdict(
            lambda: [Mean() for _ in range(len(self.index))]
        )

    def slot(self, moment: datetime) -> int | None:
        """The bucket of ``moment`` (``None`` outside the period)."""
        return self.index.get(self.period.bucket_of(moment))

    def count(self, series: str, moment: datetime, number: int) -> None:
        """Add ``number`` to ``series`` at ``moment``."""
        if (slot := self.slot(moment)) is not None:
            self.counts[series][slot] += number

    def mean(self, series: str, moment: datetime, count: int, total: float | None) -> None:
        """Add ``count`` values summing to ``total`` to the average ``series`` at ``moment``."""
        if (slot := self.slot(moment)) is not None:
            self.means[series][slot].add(count, total)

    def series(self) -> dict[str, list[float | int | None]]:
        """Every series, in ``SERIES`` order (zeros and ``None`` where nothing happened)."""
        size = len(self.index)
        found: dict[str, list[float | int | None]] = {}
        for name in SERIES:
            if name.startswith("average_"):
                found[name] = [mean.value for mean in self.means.get(name, [Mean()] * size)]
            else:
                found[name] = list(self.counts.get(name, [0] * size))
        return found


def _chats_started(query: _Query, result: Figures, trend: _Trend) -> None:
    hour = query.hour(Chat.started_at)
    assigned = Chat.assignee_id.is_not(None)
    rows = query.session.execute(
        select(hour, Chat.channel, Chat.contact_was_new, assigned.label("assigned"), func.count())
        .where(*query.scope(Chat, Chat.started_at))
        .group_by(hour, Chat.channel, Chat.contact_was_new, assigned)
    )
    for hour_number, channel, was_new, is_assigned, number in rows:
        moment = query.start_of(hour_number)
        contacts = "contacts_new" if was_new else "contacts_existing"
        status = "chats_assigned" if is_assigned else "chats_unassigned"
        setattr(result, contacts, getattr(result, contacts) + number)
        setattr(result, status, getattr(result, status) + number)
        for series in (contacts, status, "chats_total"):
            trend.count(series, moment, number)
        if channel in result.channels:
            result.channels[channel].chats += number


def _messages(query: _Query, result: Figures, trend: _Trend) -> None:
    hour = query.hour(ChatMessage.sent_at)
    rows = query.session.execute(
        select(
            hour,
            ChatMessage.direction,
            ChatMessage.agent_id,
            func.count(),
            func.count(ChatMessage.response_seconds),
            func.sum(ChatMessage.response_seconds),
        )
        .where(*query.scope(ChatMessage, ChatMessage.sent_at))
        .group_by(hour, ChatMessage.direction, ChatMessage.agent_id)
    )
    for hour_number, direction, agent_id, number, replies, reply_seconds in rows:
        moment = query.start_of(hour_number)
        if direction == IN:
            result.messages_incoming += number
            trend.count("messages_incoming", moment, number)
            continue
        if direction != OUT:
            continue
        result.messages_outgoing += number
        trend.count("messages_outgoing", moment, number)
        if replies:
            result.response.add(replies, reply_seconds)
            trend.mean("average_response_seconds", moment, replies, reply_seconds)
            _agent(result, agent_id).response.add(replies, reply_seconds)


def _chats_ended(query: _Query, result: Figures, trend: _Trend) -> None:
    hour = query.hour(Chat.ended_at)
    rows = query.session.execute(
        select(hour, Chat.channel, func.count(), func.sum(Chat.time_to_end_seconds))
        .where(*query.scope(Chat, Chat.ended_at), Chat.status == ENDED)
        .group_by(hour, Chat.channel)
    )
    for hour_number, channel, number, seconds in rows:
        result.time_to_end.add(number, seconds)
        trend.mean("average_time_to_end_seconds", query.start_of(hour_number), number, seconds)
        if channel in result.channels:
            result.channels[channel].time_to_end.add(number, seconds)


def _firsts(query: _Query, result: Figures, trend: _Trend) -> None:
    """First accepts and first agent messages: the chat's own, by who made them."""
    for moment_column, by, seconds_column, overall, series, per_agent in (
        (
            Chat.first_accepted_at,
            Chat.first_accepted_by,
            Chat.first_accept_seconds,
            result.start,
            "average_start_seconds",
            "start",
        ),
        (
            Chat.first_response_at,
            Chat.first_response_by,
            Chat.first_response_seconds,
            result.first_response,
            "average_first_response_seconds",
            "first_response",
        ),
    ):
        hour = query.hour(moment_column)
        rows = query.session.execute(
            select(hour, by, func.count(), func.sum(seconds_column))
            .where(*query.scope(Chat, moment_column))
            .group_by(hour, by)
        )
        for hour_number, agent_id, number, seconds in rows:
            overall.add(number, seconds)
            trend.mean(series, query.start_of(hour_number), number, seconds)
            getattr(_agent(result, agent_id), per_agent).add(number, seconds)


def _assignments(query: _Query, result: Figures) -> None:
    rows = query.session.execute(
        select(ChatActivity.kind, ChatActivity.agent_id, func.count())
        .where(
            *query.scope(ChatActivity, ChatActivity.at),
            ChatActivity.kind.in_(("assigned", "reopened")),
            ChatActivity.agent_id.is_not(None),
        )
        .group_by(ChatActivity.kind, ChatActivity.agent_id)
    )
    for kind, agent_id, number in rows:
        agent = _agent(result, agent_id)
        agent.assigned += number
        if kind == "reopened":
            agent.reopened += number


def _agent(result: Figures, agent_id: int | None) -> AgentFigures:
    """The agents table's row of ``agent_id`` (made for an agent no longer listed)."""
    key = agent_id or 0
    if key not in result.agents:
        result.agents[key] = AgentFigures(key, f"#{key}")
    return result.agents[key]


def agents_in_order(figures: Figures) -> list[AgentFigures]:
    """The agents table's rows: most assigned first, then by name."""
    return sorted(figures.agents.values(), key=lambda a: (-a.assigned, a.name.lower()))
