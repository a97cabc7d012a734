"""The stand-in served over real HTTP for a test: ``with running_standin() as standin: …``."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from flask import Flask

from . import create_app
from .server import base_url, serving
from .state import EXTENSION_KEY, StandinState

__all__ = ["RunningStandin", "running_standin"]


@dataclass(frozen=True)
class RunningStandin:
    """A served stand-in: where it listens, its app and state, and the operator's API token."""

    base_url: str
    app: Flask
    state: StandinState
    api_token: str

    @property
    def portal(self) -> str:
        """The portal name its API answers under."""
        return self.state.portal


@contextmanager
def running_standin(**create_app_kwargs: Any) -> Iterator[RunningStandin]:
    """Serve a new stand-in on 127.0.0.1 and a free port; stop it when the block ends."""
    app = create_app(**create_app_kwargs)
    state: StandinState = app.extensions[EXTENSION_KEY]
    with serving(app) as server:
        yield RunningStandin(
            base_url=base_url(server),
            app=app,
            state=state,
            api_token=state.first_operator.api_token,
        )
