"""The job worker: an RQ worker plus the outbox relay and the cron scheduler.

The worker is an RQ ``SimpleWorker`` (jobs run in the worker process, not a spawned child):
jobs need the process's host (its engine, loaded plugins), and a crashed worker is recovered
from the outbox lease anyway, not from RQ's registries. Beside it, a thread moves outbox rows
to RQ every ``relay_interval`` seconds and, with the scheduler on, writes periodic jobs' runs
to the outbox, emits the SLA breaches due (``core.services.sla``) and prunes old delivered rows.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
from datetime import timedelta
from typing import TYPE_CHECKING

from rq import Queue, SimpleWorker
from rq.timeouts import TimerDeathPenalty

from core import jobs, outbox
from core.customer_import.runner import enqueue_waiting
from core.intake import mail_out
from core.services import sla
from hostapi import clock

if TYPE_CHECKING:
    from core.host import Host

log = logging.getLogger(__name__)

#: Delivered outbox rows older than this are deleted by the scheduler.
OUTBOX_RETENTION = timedelta(days=7)
#: Seconds between two prunes of the outbox.
PRUNE_INTERVAL_SECONDS = 3600
#: Seconds between two looks of the worker's command listener at its stop flag.
LISTENER_POLL_SECONDS = 1.0
#: Seconds the worker waits for its command listener thread to end when it stops (a poll, and
#: the 2 s RQ's listener sleeps after a lost connection).
LISTENER_STOP_SECONDS = 5.0


class _Worker(SimpleWorker):
    """A SimpleWorker that tolerates running outside the main thread and stops promptly.

    ``listens`` False: no command listener at all (a burst run, over before anyone could send
    it a command; stopping a listener costs up to a poll, on each of a burst's passes).
    """

    listens = True

    def _install_signal_handlers(self) -> None:
        if threading.current_thread() is threading.main_thread():
            super()._install_signal_handlers()

    def subscribe(self) -> None:
        """Listen for RQ commands (``rq.command``) on this worker's channel.

        RQ's own listener waits up to 60 s for a message, so stopping it needs an UNSUBSCRIBE
        sent from another thread to wake it; when the listener wakes on its own at that moment,
        both threads use the one connection at once (a broken pipe, or both reconnecting and
        reading each other's replies). This listener looks at its stop flag every
        ``LISTENER_POLL_SECONDS``, so it is stopped by the flag alone and it alone touches the
        connection.
        """
        if not self.listens:
            return
        self.log.info("Worker %s: subscribing to channel %s", self.name, self.pubsub_channel_name)
        self.pubsub = self.connection.pubsub()
        self.pubsub.subscribe(**{self.pubsub_channel_name: self.handle_payload})
        self.pubsub_thread = self.pubsub.run_in_thread(
            sleep_time=LISTENER_POLL_SECONDS,
            daemon=True,
            exception_handler=self._pubsub_exception_handler,
        )

    def unsubscribe(self) -> None:
        """Stop listening for RQ commands: the listener ends and closes its connection itself."""
        listener = self.pubsub_thread
        if listener is None:
            return
        try:
            listener.stop(timeout=LISTENER_STOP_SECONDS)  # newer redis-py: clears flag, joins
        except TypeError:
            listener.stop()  # older redis-py: only clears the run flag
            listener.join(timeout=LISTENER_STOP_SECONDS)


def queue_names(host: Host) -> list[str]:
    """The queues a worker listens on: the events', the core's and each loaded extension's."""
    plugin_queues = [outbox.plugin_queue(p) for p in sorted(host.plugins.loaded)]
    return [outbox.EVENT_QUEUE, outbox.CORE_QUEUE, *plugin_queues]


def make_worker(host: Host, *, listens: bool = True) -> SimpleWorker:
    """An RQ worker on every deskhost queue, delivering with ``host``; ``listens`` False: one
    without RQ's command listener, for a burst run."""
    outbox.bind_host(host)
    connection = host.redis
    queues = [Queue(name, connection=connection) for name in queue_names(host)]
    worker = _Worker(queues, connection=connection)
    worker.listens = listens
    if threading.current_thread() is not threading.main_thread():
        # RQ's default time limit arms SIGALRM, which only the main thread may do
        # (``deskhost dev`` works the queues in a thread beside its server).
        worker.death_penalty_class = TimerDeathPenalty
    return worker


def run(
    host: Host,
    *,
    burst: bool = False,
    with_scheduler: bool = True,
    relay_interval: float = 0.5,
    parent_pid: int | None = None,
) -> None:
    """Run the worker until SIGTERM/SIGINT (warm shutdown), or in ``burst`` mode until idle.

    ``burst``: schedule due periodic runs, relay until the outbox has nothing due, work the
    queues until empty, and repeat until neither has anything left (tests, one-off runs).
    ``parent_pid``: the process that started this worker (``serve --with-worker``); the
    worker stops as on SIGTERM when that process is gone, so that no orphan goes on leasing
    outbox rows.
    """
    if burst:
        _run_burst(host, with_scheduler=with_scheduler)
        return
    if threading.current_thread() is threading.main_thread():
        # Until RQ installs its own handlers, SIGTERM ends the process through the normal exit,
        # which stops an embedded Redis this process started.
        signal.signal(signal.SIGTERM, _exit_on_signal)
    worker = make_worker(host)
    stop = threading.Event()
    relay = threading.Thread(
        target=_relay_loop,
        args=(host, stop, relay_interval, with_scheduler, parent_pid),
        name="deskhost-relay",
        daemon=True,
    )
    relay.start()
    try:
        worker.work(burst=False, with_scheduler=False)
    finally:
        stop.set()
        relay.join(timeout=30)


def _exit_on_signal(signum: int, _frame: object) -> None:
    raise SystemExit(0)


def _run_burst(host: Host, *, with_scheduler: bool) -> None:
    if with_scheduler:
        jobs.schedule_due(host)
        sla.escalate_breaches(host)
    while True:
        relayed = 0
        while (handed := outbox.relay_once(host)) > 0:
            relayed += handed
        # A fresh RQ worker per pass: RQ registers a worker's birth and death once.
        worked = make_worker(host, listens=False).work(burst=True)
        if not relayed and not worked:
            return


def _relay_loop(
    host: Host,
    stop: threading.Event,
    interval: float,
    with_scheduler: bool,
    parent_pid: int | None = None,
) -> None:
    """Move outbox rows to RQ until ``stop``; schedule cron runs and prune when asked to."""
    next_schedule = next_prune = clock.monotonic()
    while not stop.is_set():
        if parent_pid is not None and os.getppid() != parent_pid:
            log.warning("the process that started this worker (%d) is gone: stopping", parent_pid)
            # The RQ worker in the main thread stops warmly on SIGTERM, as under its parent.
            os.kill(os.getpid(), signal.SIGTERM)
            return
        try:
            handed = outbox.relay_once(host)
            enqueue_waiting(host)
            mail_out.send_pending(host)
            if with_scheduler and clock.monotonic() >= next_schedule:
                jobs.schedule_due(host)
                sla.escalate_breaches(host)  # SLA targets passed since the last pass
                next_schedule = clock.monotonic() + jobs.SCHEDULER_INTERVAL_SECONDS
            if with_scheduler and clock.monotonic() >= next_prune:
                outbox.prune(host, OUTBOX_RETENTION)
                next_prune = clock.monotonic() + PRUNE_INTERVAL_SECONDS
        except Exception:  # the loop must outlive a database hiccup; the next pass retries
            log.exception("outbox relay pass failed")
            handed = 0
        if not handed:
            stop.wait(interval)
