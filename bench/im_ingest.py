"""IM Dashboard's webhook intake under load, as a deployment runs it: the app under gunicorn (2
workers of 4 threads) and a job worker, on PostgreSQL and Redis, all on this machine, with a
load generator on loopback posting signed LINE webhooks, one message per request; one in ten
is from a user new to the desk (a chat of ten messages on average), whom the job makes a
contact. The job worker runs at a lower CPU priority (``nice 10``): acknowledging is what must
be quick, filing may lag while the web workers are busy.

Two phases, each at a steady offered rate (requests are due on a schedule whatever the
answers; a request's acknowledgement time runs from when it was due, so a stall counts against
every request it delays):

- **burst**, 10 s at 1,200 requests/s: ``burst.ack_per_s`` (acknowledged with 200, per second
  of the phase) and ``burst.ack_p99_ms``; the job may lag, and ``burst.drain_s`` is how long
  it took to file the rest afterwards;
- **sustained**, 60 s at 450 requests/s: ``sustained.processed_per_s`` (messages filed into
  chats during the phase, per second), the backlog of events not filed yet at its start, end
  and worst (``sustained.backlog_*``, sampled each second, and ``backlog_growth_per_s``, its
  trend over the phase's second half), and ``sustained.ack_p99_ms``.

Then, with everything filed: ``lost`` (acknowledged messages that are not in a chat) and
``duplicated`` (messages in a chat more than once). The summary lines the targets are about:
``ack_per_s`` (the burst's), ``processed_per_s`` (the sustained phase's), ``ack_p99_ms``
(the worse phase's), ``lost``, ``duplicated``. Targets: ≥ 1,000 acknowledged/s, ≥ 400
processed/s with the backlog not growing, p99 ≤ 50 ms, nothing lost or duplicated.

``--scale small`` (CI's smoke run) is 2 s at 300/s and 5 s at 100/s. The database is
``deskhost_bench_im_ingest`` on the server of ``DATABASE_URL``, made afresh each run and
dropped at the end; Redis is ``REDIS_URL`` (default 127.0.0.1:6379), under a key prefix of
this run's own.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import hmac
import json
import os
import random
import re
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field

import harness
from sqlalchemy import func, select
from sqlalchemy.engine import make_url

from core.bootstrap import ensure_baseline
from core.config import Settings
from core.host import Host
from core.migrate import upgrade_core
from core.services import org
from plugins.im_dashboard import accounts, chats
from plugins.im_dashboard.channels import CHANNELS
from plugins.im_dashboard.models import ChatMessage, InboundEvent

DATABASE = "deskhost_bench_im_ingest"
DEFAULT_REDIS = "redis://127.0.0.1:6379/0"
CHANNEL_SECRET = "5f3c" * 8
CREDENTIALS = {
    "channel_secret": CHANNEL_SECRET,
    "channel_access_token": "bench-ingest-access-token-0000",
}
#: One message in this many is from a user new to the desk (who becomes a contact).
NEW_USER_EVERY = 10
GUNICORN_WORKERS = 2
#: Threads of each gunicorn worker: requests overlap their database round trips.
GUNICORN_THREADS = 4
#: Connections the load generator keeps open (requests are spread over them in turn): two per
#: gunicorn thread, as a reverse proxy's pool of upstream connections. With three times as
#: many, each waiting longer between its requests, gthread answered a phase of 450/s with a
#: p99 three times as long.
CONNECTIONS = 16
#: (seconds, requests per second) of each phase, per scale.
PHASES = {
    "full": {"burst": (10, 1_200), "sustained": (60, 450)},
    "small": {"burst": (2, 300), "sustained": (5, 100)},
}
#: Requests sent (over 2 s) before the phases, not counted in them.
WARM_UP_REQUESTS = 200
#: Longest wait for the job to file what a phase left, in seconds.
DRAIN_TIMEOUT = 300


@dataclass
class PhaseResult:
    """What the load generator saw of one phase."""

    #: From the first request's due time to the last answer.
    seconds: float
    #: Message ids acknowledged with 200.
    acknowledged: list[str] = field(default_factory=list)
    errors: int = 0
    #: Each request's acknowledgement time (from when it was due), in seconds.
    latencies: list[float] = field(default_factory=list)

    def p(self, fraction: float) -> float:
        """A percentile of the acknowledgement times, in milliseconds."""
        ordered = sorted(self.latencies)
        if not ordered:
            return 0.0
        return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] * 1000


# ------------------------------------------------------------------------------ set-up


def _setting_env(database_url: str, redis_url: str, prefix: str) -> dict[str, str]:
    return {
        **os.environ,
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "DESKHOST_REDIS_PREFIX": prefix,
        "DESKHOST_INSTANCE_DIR": str(harness.INSTANCE),
        "SECRET_KEY": "bench",
    }


def _prepare(host: Host) -> tuple[int, int]:
    """The schema, a department, IM Dashboard installed with a LINE account; its ids."""
    upgrade_core(host.engine)
    with host.transaction() as session:
        ensure_baseline(session)
        department = org.create_department(harness.system_unit(session), name="IM")
        department_id = department.id
    installation_id = harness.install_everywhere(host, "im_dashboard")
    with host.transaction() as session:
        context = harness.context_of(host, session, installation_id)
        form = {"name": "LINE", "department_id": str(department_id), **CREDENTIALS}
        account_id = accounts.save(context, CHANNELS["line"], form).account.id
    return installation_id, account_id


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _start(env: dict[str, str], port: int) -> list[subprocess.Popen[bytes]]:
    """gunicorn and a job worker, started and answering."""
    repo = str(harness.REPO)
    web = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "--workers",
            str(GUNICORN_WORKERS),
            "--worker-class",
            "gthread",
            "--threads",
            str(GUNICORN_THREADS),
            "--bind",
            f"127.0.0.1:{port}",
            "--backlog",
            "2048",
            # Each worker takes at most its share of the generator's connections, so the
            # kernel hands the rest to the other (the first to wake would take them all: with
            # room for a few more, one worker took most and the burst halved). gthread keeps
            # alive as many idle connections as this less its threads and closes the others
            # after answering; their lanes open a new one when their next request is due.
            "--worker-connections",
            str(CONNECTIONS // GUNICORN_WORKERS),
            "--log-level",
            "warning",
            "core.web:create_app()",
        ],
        cwd=repo,
        env=env,
    )
    worker = subprocess.Popen(
        # Below the web workers: acknowledging must stay quick while the backlog is filed.
        ["nice", "-n", "10", sys.executable, "-m", "core.cli", "worker"],
        cwd=repo,
        env=env,
        stdout=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return [web, worker]
        except OSError:
            time.sleep(0.2)
    _stop([web, worker])
    raise SystemExit("gunicorn did not start within 60 s")


def _stop(processes: list[subprocess.Popen[bytes]]) -> None:
    for process in processes:
        process.send_signal(signal.SIGTERM)
    for process in processes:
        try:
            process.wait(timeout=40)
        except subprocess.TimeoutExpired:
            process.kill()


# ------------------------------------------------------------------------------ the load


class Senders:
    """Who sends each message: a user new to the desk one time in ``NEW_USER_EVERY`` (a chat
    of ten messages on average, as the dashboard benchmark's), else one who wrote before."""

    def __init__(self) -> None:
        self.rng = random.Random(7)
        self.count = 0

    def next(self) -> str:
        """The LINE user id of the next message's sender."""
        if self.count == 0 or self.rng.random() < 1 / NEW_USER_EVERY:
            self.count += 1
            return f"Ubench{self.count:026d}"
        return f"Ubench{self.rng.randint(1, self.count):026d}"


def _requests(
    path: str, senders: Senders, count: int, first_key: int, started_ms: int
) -> Iterator[tuple[str, bytes]]:
    """``count`` signed LINE deliveries of one text message each: (message id, HTTP request)."""
    for number in range(first_key, first_key + count):
        message_id = f"bench{number:012d}"
        body = json.dumps(
            {
                "destination": "Ubench0000000000000000000000000000",
                "events": [
                    {
                        "type": "message",
                        "mode": "active",
                        "timestamp": started_ms + number,
                        "webhookEventId": uuid.uuid4().hex.upper()[:26],
                        "deliveryContext": {"isRedelivery": False},
                        "source": {"type": "user", "userId": senders.next()},
                        "replyToken": uuid.uuid4().hex,
                        "message": {"type": "text", "id": message_id, "text": f"hello {number}"},
                    }
                ],
            },
            separators=(",", ":"),
        ).encode()
        digest = hmac.new(CHANNEL_SECRET.encode(), body, hashlib.sha256).digest()
        head = (
            f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n"
            f"x-line-signature: {base64.b64encode(digest).decode()}\r\n\r\n"
        )
        yield message_id, head.encode() + body


_HEAD_END = b"\r\n\r\n"
_CONTENT_LENGTH = re.compile(rb"\r\ncontent-length:\s*(\d+)", re.IGNORECASE)
_CLOSE = re.compile(rb"\r\nconnection:\s*close", re.IGNORECASE)


class _Lane(asyncio.Protocol):
    """One connection of the load: sends its requests in turn, each when due (or when the
    answer to the one before came, if later), and notes each answer.

    A protocol rather than streams: at a thousand requests a second the generator shares the
    machine's two cores with everything it measures, and streams cost it several times more.
    """

    def __init__(self, load: _Load, numbers: range) -> None:
        self.load, self.numbers, self.next = load, numbers, 0
        self.transport: asyncio.Transport | None = None
        self.buffer = b""
        self.waiting: int | None = None  # the number of the request awaiting its answer
        self.sending: asyncio.TimerHandle | None = None  # the next request, when not yet due

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self._schedule()

    def _schedule(self) -> None:
        if self.next >= len(self.numbers):
            assert self.transport is not None
            self.transport.close()  # then connection_lost counts the lane done
            return
        number = self.numbers[self.next]
        loop = self.load.loop
        due = self.load.due(number)
        if due > loop.time():
            self.sending = loop.call_at(due, self._send, number)
        else:
            self._send(number)

    def _send(self, number: int) -> None:
        assert self.transport is not None
        self.sending, self.waiting = None, number
        self.transport.write(self.load.batch[number][1])

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while self.waiting is not None and (end := self.buffer.find(_HEAD_END)) >= 0:
            head = self.buffer[:end]
            length = _CONTENT_LENGTH.search(head)
            total = end + 4 + (int(length.group(1)) if length else 0)
            if len(self.buffer) < total:
                return
            self.buffer = self.buffer[total:]
            status = int(head.split(b" ", 2)[1])
            self._answered(status)
            if _CLOSE.search(head):  # the next request goes on a new connection
                assert self.transport is not None
                self.transport.close()
                return
            self._schedule()

    def _answered(self, status: int) -> None:
        assert self.waiting is not None
        self.load.note(self.waiting, status)
        self.waiting, self.next = None, self.next + 1

    def connection_lost(self, exc: Exception | None) -> None:
        if self.sending is not None:  # closed by the server while idle: sent on the next one
            self.sending.cancel()
            self.sending = None
        if self.waiting is not None:  # dropped before answering
            self._answered(0)
        self.transport, self.buffer = None, b""
        if self.next >= len(self.numbers):
            self.load.lane_done()
        else:
            self.load.connect_when_due(self)


class _Load:
    """A phase's requests spread over ``CONNECTIONS`` lanes, due at a steady rate."""

    def __init__(self, port: int, batch: list[tuple[str, bytes]], rate: float) -> None:
        self.loop = asyncio.get_running_loop()
        self.port, self.batch, self.rate = port, batch, rate
        self.began = self.loop.time() + 0.2
        self.result = PhaseResult(seconds=0.0)
        self.lanes_left = CONNECTIONS
        self.finished = self.loop.create_future()

    def due(self, number: int) -> float:
        return self.began + number / self.rate

    def note(self, number: int, status: int) -> None:
        self.result.latencies.append(self.loop.time() - self.due(number))
        if status == 200:
            self.result.acknowledged.append(self.batch[number][0])
        else:
            self.result.errors += 1

    def lane_done(self) -> None:
        self.lanes_left -= 1
        if not self.lanes_left and not self.finished.done():
            self.finished.set_result(None)

    async def connect(self, lane: _Lane) -> None:
        """Open ``lane``'s connection; one that cannot be opened fails the lane's requests."""
        try:
            await self.loop.create_connection(lambda: lane, "127.0.0.1", self.port)
        except OSError:
            for number in lane.numbers[lane.next :]:
                self.note(number, 0)
            self.lane_done()

    def connect_when_due(self, lane: _Lane) -> None:
        """Open ``lane``'s connection when its next request is due, as a platform does: a
        connection opened early and left silent holds one of gunicorn's threads until data
        comes."""
        due = self.due(lane.numbers[lane.next]) if lane.next < len(lane.numbers) else 0.0
        self.loop.call_at(max(due, self.loop.time()), self.loop.create_task, self.connect(lane))

    async def run(self) -> PhaseResult:
        for number in range(CONNECTIONS):
            self.connect_when_due(_Lane(self, range(number, len(self.batch), CONNECTIONS)))
        await self.finished
        # From the first request's due time to the last answer: a server that falls behind
        # stretches it past the schedule.
        self.result.seconds = self.loop.time() - self.began
        return self.result


async def _load(port: int, batch: list[tuple[str, bytes]], rate: float) -> PhaseResult:
    """Send ``batch`` at ``rate`` requests per second over ``CONNECTIONS`` connections."""
    return await _Load(port, batch, rate).run()


# ------------------------------------------------------------------------------ the backlog


def _backlog(host: Host, installation_id: int) -> int:
    with host.sessions() as session:
        return int(
            session.scalar(
                select(func.count())
                .select_from(InboundEvent)
                .where(
                    InboundEvent.installation_id == installation_id,
                    InboundEvent.processed_at.is_(None),
                )
            )
            or 0
        )


def _filed(host: Host, account_id: int) -> int:
    with host.sessions() as session:
        return int(
            session.scalar(
                select(func.count())
                .select_from(ChatMessage)
                .where(
                    ChatMessage.channel_account_id == account_id, ChatMessage.direction == chats.IN
                )
            )
            or 0
        )


class BacklogSampler(threading.Thread):
    """Samples the backlog every second while a phase runs."""

    def __init__(self, host: Host, installation_id: int) -> None:
        super().__init__(daemon=True)
        self.host, self.installation_id = host, installation_id
        self.samples: list[tuple[float, int]] = []
        self.stopping = threading.Event()

    def run(self) -> None:
        began = time.monotonic()
        while not self.stopping.is_set():
            self.samples.append(
                (time.monotonic() - began, _backlog(self.host, self.installation_id))
            )
            self.stopping.wait(1.0)


def _drained(host: Host, installation_id: int) -> float:
    """Wait until every stored event is filed; the seconds it took."""
    began = time.monotonic()
    while _backlog(host, installation_id) and time.monotonic() - began < DRAIN_TIMEOUT:
        time.sleep(0.2)
    return time.monotonic() - began


def _slope(samples: list[tuple[float, int]]) -> float:
    """The least-squares trend of the backlog (events per second)."""
    if len(samples) < 2:
        return 0.0
    times = [moment for moment, _ in samples]
    sizes = [size for _, size in samples]
    mean_time, mean_size = statistics.fmean(times), statistics.fmean(sizes)
    spread = sum((moment - mean_time) ** 2 for moment in times)
    return sum((m - mean_time) * (s - mean_size) for m, s in samples) / spread if spread else 0.0


# ------------------------------------------------------------------------------ the run


def main(argv: list[str] | None = None) -> int:
    """Run both phases and print the figures; exit 0."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--scale", choices=sorted(PHASES), default="full")
    for phase in ("burst", "sustained"):
        parser.add_argument(f"--{phase}-rate", type=int, help=f"the {phase} phase's requests/s")
    args = parser.parse_args(argv)
    phases = {
        name: (seconds, getattr(args, f"{name}_rate") or rate)
        for name, (seconds, rate) in PHASES[args.scale].items()
    }
    server = os.environ.get("DATABASE_URL") or harness.DEFAULT_POSTGRES
    if not server.startswith("postgres"):
        server = harness.DEFAULT_POSTGRES
    database_url = (
        make_url(server)
        .set(drivername="postgresql+psycopg", database=DATABASE)
        .render_as_string(hide_password=False)
    )
    redis_url = os.environ.get("REDIS_URL") or DEFAULT_REDIS
    prefix = f"deskhost-bench-ingest-{os.getpid()}"
    env = _setting_env(database_url, redis_url, prefix)
    harness.drop_postgres(database_url)
    harness.create_postgres(database_url)
    host = Host(Settings.from_env(env))
    processes: list[subprocess.Popen[bytes]] = []
    try:
        installation_id, account_id = _prepare(host)
        port = _free_port()
        processes = _start(env, port)
        path = f"/hooks/im_dashboard/{installation_id}/line/{account_id}"
        started_ms = int(time.time() * 1000)
        senders = Senders()
        # Warm up: every gunicorn thread and the job worker have loaded what they use.
        warm_up = list(_requests(path, senders, WARM_UP_REQUESTS, 0, started_ms))
        acknowledged = asyncio.run(_load(port, warm_up, WARM_UP_REQUESTS / 2)).acknowledged
        _drained(host, installation_id)
        sent = len(warm_up)
        figures: dict[str, float | int] = {}
        for name, (seconds, rate) in phases.items():
            batch = list(_requests(path, senders, seconds * rate, sent, started_ms))
            sent += len(batch)
            filed_before = _filed(host, account_id)
            sampler = BacklogSampler(host, installation_id)
            sampler.start()
            result = asyncio.run(_load(port, batch, rate))
            filed_during = _filed(host, account_id) - filed_before
            sampler.stopping.set()
            sampler.join()
            acknowledged += result.acknowledged
            figures[f"{name}.offered_per_s"] = rate
            figures[f"{name}.ack_per_s"] = len(result.acknowledged) / result.seconds
            figures[f"{name}.ack_p50_ms"] = result.p(0.50)
            figures[f"{name}.ack_p99_ms"] = result.p(0.99)
            figures[f"{name}.errors"] = result.errors
            figures[f"{name}.processed_per_s"] = filed_during / result.seconds
            sizes = [size for _, size in sampler.samples]
            figures[f"{name}.backlog_start"] = sizes[0] if sizes else 0
            figures[f"{name}.backlog_end"] = sizes[-1] if sizes else 0
            figures[f"{name}.backlog_max"] = max(sizes, default=0)
            second_half = sampler.samples[len(sampler.samples) // 2 :]
            figures[f"{name}.backlog_growth_per_s"] = _slope(second_half)
            figures[f"{name}.drain_s"] = _drained(host, installation_id)
        with host.sessions() as session:
            stored = dict(
                session.execute(
                    select(ChatMessage.platform_message_id, func.count())
                    .where(
                        ChatMessage.channel_account_id == account_id,
                        ChatMessage.direction == chats.IN,
                    )
                    .group_by(ChatMessage.platform_message_id)
                ).all()
            )
        figures["ack_per_s"] = figures["burst.ack_per_s"]
        figures["processed_per_s"] = figures["sustained.processed_per_s"]
        figures["ack_p99_ms"] = max(figures["burst.ack_p99_ms"], figures["sustained.ack_p99_ms"])
        figures["lost"] = sum(1 for message_id in acknowledged if message_id not in stored)
        figures["duplicated"] = sum(count - 1 for count in stored.values())
        for key, value in figures.items():
            print(f"{key}={value:.2f}" if isinstance(value, float) else f"{key}={value}")
    finally:
        _stop(processes)
        if keys := host.redis.keys(f"{prefix}*"):
            host.redis.delete(*keys)
        host.dispose()
        harness.drop_postgres(database_url)
    return 0


if __name__ == "__main__":
    sys.exit(main())
