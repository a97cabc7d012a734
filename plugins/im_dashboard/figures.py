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

The quarter hours wholly inside the period are read from the tallies (``tally``: the same
figures kept per quarter hour, department, channel and agent), the minutes at its edges from
the records. Each query groups its rows by the hour they fall in (counted from the epoch,
shifted by the zone's offset beyond whole hours, so that an hour of the zone is a group; a
quarter hour always lies within one): the hours are then summed into the trend's buckets
here, which stays exact across changes of summer time.
"""

from __future__ import annotations

from collections import defaultdict
from copy import copy
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import BigInteger, ColumnElement, and_, cast, func, or_, select
from sqlalchemy.orm import Session

from hostapi import Context
from plugins.im_dashboard import tally
from plugins.im_dashboard.channels import CHANNELS
from plugins.im_dashboard.chats import ENDED, IN, OUT
from plugins.im_dashboard.models import AgentTally, Chat, ChatActivity, ChatMessage, Tally
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
    """The dashboard for ``period``, over every channel or one (``channel``): the quarter hours
    wholly inside it from the tallies, the minutes before and after them from the records."""
    tally.settle(context.db)  # this transaction's own changes, not yet tallied
    query, result, trend = _begin(context, period, channel)
    first, end = tally.whole_slots(period.start, period.end)
    if first < end:
        _from_tallies(query, result, trend, first, end)
        edges = [(period.start, tally.slot_start(first)), (tally.slot_start(end), period.end)]
        query = query.within([(start, stop) for start, stop in edges if start < stop])
    if query.windows:
        _from_records(query, result, trend)
    result.trend = trend.series()
    return result


def figures_from_records(context: Context, period: Period, channel: str | None = None) -> Figures:
    """The same figures summed from the chat records alone, past the tallies: what the
    tallies must always add up to."""
    context.db.flush()
    query, result, trend = _begin(context, period, channel)
    _from_records(query, result, trend)
    result.trend = trend.series()
    return result


def _begin(context: Context, period: Period, channel: str | None) -> tuple[_Query, Figures, _Trend]:
    result = Figures(period, channel)
    channels = [channel] if channel else list(CHANNELS)
    result.channels = {code: ChannelFigures(code) for code in channels}
    result.agents = {
        agent.id: AgentFigures(agent.id, agent.name)
        for agent in context.list_agents(covered_only=True)
    }
    return _Query(context, period, channel), result, _Trend(period)


class _Query:
    """What every query of one dashboard shares: the installation, departments, channel and
    the spans of time read (the period, or its edges), and the hour of a time column."""

    def __init__(self, context: Context, period: Period, channel: str | None) -> None:
        self.session: Session = context.db
        self.installation_id = context.installation_id
        self.department_ids = sorted(context.department_ids)
        self.channel = channel
        #: The ``[start, end)`` spans of time read from the records.
        self.windows = [(period.start, period.end)]
        offset = period.start.astimezone(period.zone).utcoffset() or timedelta()
        #: Seconds the zone's offset goes beyond whole hours (India's 30 minutes…).
        self.shift = int(offset.total_seconds()) % 3600
        self.postgresql = self.session.get_bind().dialect.name == "postgresql"

    def within(self, windows: list[tuple[datetime, datetime]]) -> _Query:
        """The same query over these spans of time (each ``[start, end)``) only."""
        narrowed = copy(self)
        narrowed.windows = windows
        return narrowed

    def scope(self, model: Any, moment: Any) -> list[ColumnElement[bool]]:
        """The conditions every query of ``model`` with its time column ``moment`` takes."""
        conditions = [
            model.installation_id == self.installation_id,
            model.department_id.in_(self.department_ids),
            or_(*(and_(moment >= start, moment < end) for start, end in self.windows)),
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
        self._slots: dict[datetime, int | None] = {}

    def slot(self, moment: datetime) -> int | None:
        """The bucket of ``moment`` (``None`` outside the period)."""
        if moment not in self._slots:  # the same hours come again and again
            self._slots[moment] = self.index.get(self.period.bucket_of(moment))
        return self._slots[moment]

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


# ------------------------------------------------------------------------------ adding up
# Both sources (tallies, records) add what they found through these, an hour at a time.


def _add_started(
    result: Figures,
    trend: _Trend,
    moment: datetime,
    channel: str | None,
    new: int,
    existing: int,
    assigned: int,
) -> None:
    """Chats started: ``new`` and ``existing`` by their contact, ``assigned`` of them now."""
    started = new + existing
    result.contacts_new += new
    result.contacts_existing += existing
    result.chats_assigned += assigned
    result.chats_unassigned += started - assigned
    for series, number in (
        ("contacts_new", new),
        ("contacts_existing", existing),
        ("chats_assigned", assigned),
        ("chats_unassigned", started - assigned),
        ("chats_total", started),
    ):
        trend.count(series, moment, number)
    if channel in result.channels:
        result.channels[channel].chats += started


def _add_messages(
    result: Figures, trend: _Trend, moment: datetime, incoming: int, outgoing: int
) -> None:
    result.messages_incoming += incoming
    result.messages_outgoing += outgoing
    trend.count("messages_incoming", moment, incoming)
    trend.count("messages_outgoing", moment, outgoing)


def _add_ended(
    result: Figures,
    trend: _Trend,
    moment: datetime,
    channel: str | None,
    ended: int,
    seconds: float,
) -> None:
    result.time_to_end.add(ended, seconds)
    trend.mean("average_time_to_end_seconds", moment, ended, seconds)
    if channel in result.channels:
        result.channels[channel].time_to_end.add(ended, seconds)


#: The averaged timings (the dashboard's and each agent's fields), and their trend series.
_TIMING_SERIES = {
    "start": "average_start_seconds",
    "first_response": "average_first_response_seconds",
    "response": "average_response_seconds",
}


def _add_timing(
    result: Figures, trend: _Trend, moment: datetime, timing: str, count: int, seconds: float
) -> None:
    """First accepts (``start``), first agent messages (``first_response``) or replies
    (``response``): ``count`` of them taking ``seconds`` together."""
    getattr(result, timing).add(count, seconds)
    trend.mean(_TIMING_SERIES[timing], moment, count, seconds)


def _add_agent(
    result: Figures,
    agent_id: int | None,
    *,
    assignments: int = 0,
    reopens: int = 0,
    timings: dict[str, tuple[int, float]] | None = None,
) -> None:
    """An agent's share: assignments to them and reopens of chats assigned to them (the
    table's "assigned" counts both), and their timings (as :func:`_add_timing`)."""
    if not agent_id:  # made by no one (a deleted agent's, or the desk's): in the totals only
        return
    timings = {name: found for name, found in (timings or {}).items() if found[0]}
    if not (assignments or reopens or timings):
        return
    agent = _agent(result, agent_id)
    agent.assigned += assignments + reopens
    agent.reopened += reopens
    for name, (count, seconds) in timings.items():
        getattr(agent, name).add(count, seconds)


# ------------------------------------------------------------------------------ from the tallies


def _from_tallies(query: _Query, result: Figures, trend: _Trend, first: int, end: int) -> None:
    """Add the quarter hours ``[first, end)`` (seconds since the epoch) from the tallies."""

    def scope(model: type[Tally] | type[AgentTally]) -> list[ColumnElement[bool]]:
        conditions = [
            model.installation_id == query.installation_id,
            model.department_id.in_(query.department_ids),
            model.slot >= first,
            model.slot < end,
        ]
        if query.channel:
            conditions.append(model.channel == query.channel)
        return conditions

    hour = ((Tally.slot + query.shift) // 3600).label("hour")
    rows = query.session.execute(
        select(hour, Tally.channel, *(func.sum(getattr(Tally, n)) for n in tally.FIGURES))
        .where(*scope(Tally))
        .group_by(hour, Tally.channel)
    )
    by_hour: dict[int, list[Any]] = {}
    for hour_number, channel, *values in rows:
        found = dict(zip(tally.FIGURES, values, strict=True))
        if channel in result.channels:
            result.channels[channel].chats += found["chats_new"] + found["chats_existing"]
            result.channels[channel].time_to_end.add(found["ended"], found["end_seconds"])
        summed = by_hour.setdefault(hour_number, [0] * len(values))
        for number, value in enumerate(values):
            summed[number] += value
    for hour_number, values in by_hour.items():
        found = dict(zip(tally.FIGURES, values, strict=True))
        moment = query.start_of(hour_number)
        _add_started(
            result,
            trend,
            moment,
            None,  # the channels' own figures are added above
            found["chats_new"],
            found["chats_existing"],
            found["chats_assigned"],
        )
        _add_messages(result, trend, moment, found["messages_in"], found["messages_out"])
        _add_ended(result, trend, moment, None, found["ended"], found["end_seconds"])
        for timing, (count, seconds) in _tallied_timings(found).items():
            _add_timing(result, trend, moment, timing, count, seconds)
    agents = query.session.execute(
        select(
            AgentTally.agent_id, *(func.sum(getattr(AgentTally, n)) for n in tally.AGENT_FIGURES)
        )
        .where(*scope(AgentTally))
        .group_by(AgentTally.agent_id)
    )
    for agent_id, *values in agents:
        found = dict(zip(tally.AGENT_FIGURES, values, strict=True))
        _add_agent(
            result,
            agent_id,
            assignments=found["assignments"],
            reopens=found["reopens"],
            timings=_tallied_timings(found),
        )


def _tallied_timings(found: dict[str, Any]) -> dict[str, tuple[int, float]]:
    """Each timing's count and seconds in a tally's sums."""
    return {
        "start": (found["first_accepts"], found["first_accept_seconds"]),
        "first_response": (found["first_responses"], found["first_response_seconds"]),
        "response": (found["replies"], found["reply_seconds"]),
    }


# ------------------------------------------------------------------------------ from the records


def _from_records(query: _Query, result: Figures, trend: _Trend) -> None:
    """Add the query's spans of time from the chat records themselves."""
    _chats_started(query, result, trend)
    _messages(query, result, trend)
    _chats_ended(query, result, trend)
    _firsts(query, result, trend)
    _assignments(query, result)


def _chats_started(query: _Query, result: Figures, trend: _Trend) -> None:
    hour = query.hour(Chat.started_at)
    rows = query.session.execute(
        select(
            hour,
            Chat.channel,
            func.count().filter(Chat.contact_was_new.is_(True)),
            func.count().filter(Chat.contact_was_new.is_not(True)),
            func.count(Chat.assignee_id),
        )
        .where(*query.scope(Chat, Chat.started_at))
        .group_by(hour, Chat.channel)
    )
    for hour_number, channel, new, existing, assigned in rows:
        _add_started(result, trend, query.start_of(hour_number), channel, new, existing, assigned)


def _messages(query: _Query, result: Figures, trend: _Trend) -> None:
    hour = query.hour(ChatMessage.sent_at)
    rows = query.session.execute(
        select(
            hour,
            ChatMessage.agent_id,
            func.count().filter(ChatMessage.direction == IN),
            func.count().filter(ChatMessage.direction == OUT),
            func.count(ChatMessage.response_seconds).filter(ChatMessage.direction == OUT),
            func.sum(ChatMessage.response_seconds).filter(ChatMessage.direction == OUT),
        )
        .where(*query.scope(ChatMessage, ChatMessage.sent_at))
        .group_by(hour, ChatMessage.agent_id)
    )
    for hour_number, agent_id, incoming, outgoing, replies, reply_seconds in rows:
        moment = query.start_of(hour_number)
        _add_messages(result, trend, moment, incoming, outgoing)
        _add_timing(result, trend, moment, "response", replies, reply_seconds or 0.0)
        _add_agent(result, agent_id, timings={"response": (replies, reply_seconds or 0.0)})


def _chats_ended(query: _Query, result: Figures, trend: _Trend) -> None:
    hour = query.hour(Chat.ended_at)
    rows = query.session.execute(
        select(hour, Chat.channel, func.count(), func.sum(Chat.time_to_end_seconds))
        .where(*query.scope(Chat, Chat.ended_at), Chat.status == ENDED)
        .group_by(hour, Chat.channel)
    )
    for hour_number, channel, number, seconds in rows:
        _add_ended(result, trend, query.start_of(hour_number), channel, number, seconds or 0.0)


def _firsts(query: _Query, result: Figures, trend: _Trend) -> None:
    """First accepts and first agent messages: the chat's own, by who made them."""
    for timing, moment_column, by, seconds_column in (
        ("start", Chat.first_accepted_at, Chat.first_accepted_by, Chat.first_accept_seconds),
        (
            "first_response",
            Chat.first_response_at,
            Chat.first_response_by,
            Chat.first_response_seconds,
        ),
    ):
        hour = query.hour(moment_column)
        rows = query.session.execute(
            select(hour, by, func.count(), func.sum(seconds_column))
            .where(*query.scope(Chat, moment_column))
            .group_by(hour, by)
        )
        for hour_number, agent_id, number, seconds in rows:
            _add_timing(result, trend, query.start_of(hour_number), timing, number, seconds or 0.0)
            _add_agent(result, agent_id, timings={timing: (number, seconds or 0.0)})


def _assignments(query: _Query, result: Figures) -> None:
    rows = query.session.execute(
        select(
            ChatActivity.agent_id,
            func.count().filter(ChatActivity.kind == "assigned"),
            func.count().filter(ChatActivity.kind == "reopened"),
        )
        .where(
            *query.scope(ChatActivity, ChatActivity.at),
            ChatActivity.kind.in_(("assigned", "reopened")),
            ChatActivity.agent_id.is_not(None),
        )
        .group_by(ChatActivity.agent_id)
    )
    for agent_id, assigned, reopened in rows:
        _add_agent(result, agent_id, assignments=assigned, reopens=reopened)


def _agent(result: Figures, agent_id: int) -> AgentFigures:
    """The agents table's row of ``agent_id`` (made for an agent no longer listed)."""
    if agent_id not in result.agents:
        result.agents[agent_id] = AgentFigures(agent_id, f"#{agent_id}")
    return result.agents[agent_id]


def agents_in_order(figures: Figures) -> list[AgentFigures]:
    """The agents table's rows: most assigned first, then by name."""
    return sorted(figures.agents.values(), key=lambda a: (-a.assigned, a.name.lower()))
