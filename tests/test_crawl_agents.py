"""The crawl of every page (tests/test_crawl.py) as an agent and as a light agent, in a file of
its own: the run's workers take files whole, so this file and that one crawl at once."""

from __future__ import annotations

import pytest
from flask import Flask

from core.host import Host
from tests.test_crawl import ROLES_CRAWLED_HERE, VIEWERS, crawl_every_page

# The demo and the Japanese strings are test_crawl.py's fixtures, imported to be used here.
from tests.test_crawl import demo as demo
from tests.test_crawl import japanese_strings as japanese_strings

AGENT_ROLES = tuple(role for role in VIEWERS if role not in ROLES_CRAWLED_HERE)


@pytest.mark.parametrize("language", ["en", "ja"])
@pytest.mark.parametrize("role", AGENT_ROLES)
def test_every_page_opens_and_speaks_the_agents_language(
    app: Flask,
    demo: Host,
    role: str,
    language: str,
    japanese_strings: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    crawl_every_page(app, demo, role, language, japanese_strings, monkeypatch)
