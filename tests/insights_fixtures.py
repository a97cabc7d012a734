"""Fixtures of the Customer Insights tests: two departments, an agent of both, a desk to act on."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from core.host import Host
from core.models import Agent, Department
from tests.insights_helpers import Desk


@pytest.fixture
def desk(host: Host) -> Desk:
    """Acts on the run's host as the desk's people would (see :class:`Desk`)."""
    return Desk(host)


@pytest.fixture
def support(department: Department) -> Department:
    """The "Support" department."""
    return department


@pytest.fixture
def sales(make_department: Callable[..., Department]) -> Department:
    """The "Sales" department."""
    return make_department("Sales")


@pytest.fixture
def agent(make_agent: Callable[..., Agent], support: Department, sales: Department) -> Agent:
    """An agent of both departments, who writes the replies."""
    return make_agent("rin@example.com", departments=[support, sales])
