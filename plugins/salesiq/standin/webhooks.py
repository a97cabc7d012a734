"""Sending webhook events: signed JSON POSTs, one per subscribed URL, each one recorded.

Delivery is synchronous, so by the time a control call answers, its events have been
received (or have failed) and the deliveries are there to read.
"""

from __future__ import annotations

import json
from collections.abc import Iterable

import requests

from ..signatures import SIGNATURE_HEADER, sign
from .model import Delivery, Event
from .state import StandinState

#: Seconds a receiver has to answer a delivery.
DELIVERY_TIMEOUT = 10.0


def send_events(state: StandinState, events: Iterable[Event]) -> None:
    """POST each event to every URL subscribed to it, recording each delivery."""
    for event in events:
        body = json.dumps(event.payload, ensure_ascii=False, separators=(",", ":")).encode()
        signature = sign(body, state.private_key_pem)
        for url in event.urls:
            _post(
                state,
                Delivery(
                    event_id=event.payload["event_id"],
                    event=event.name,
                    url=url,
                    body=body,
                    signature=signature,
                    status_code=None,
                    error=None,
                ),
            )


def replay(state: StandinState, index: int) -> int:
    """Send a recorded delivery again, byte for byte; the index of the new delivery."""
    original = state.delivery(index)
    return _post(
        state,
        Delivery(
            event_id=original.event_id,
            event=original.event,
            url=original.url,
            body=original.body,
            signature=original.signature,
            status_code=None,
            error=None,
            replay_of=index,
        ),
    )


def _post(state: StandinState, delivery: Delivery) -> int:
    headers = {"Content-Type": "application/json", SIGNATURE_HEADER: delivery.signature}
    try:
        response = requests.post(
            delivery.url, data=delivery.body, headers=headers, timeout=DELIVERY_TIMEOUT
        )
    except requests.RequestException as error:
        delivery.error = f"{type(error).__name__}: {error}"
    else:
        delivery.status_code = response.status_code
    return state.record_delivery(delivery)
