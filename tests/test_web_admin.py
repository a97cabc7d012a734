"""The administrators' extensions page: what the host loaded, and who may see it."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from flask.testing import FlaskClient

from core.models import Agent, Department
from tests.page_helpers import sign_in

pytestmark = pytest.mark.usefixtures("host")


def test_admin_sees_loaded_extensions_with_versions_and_hooks(
    client: FlaskClient, make_agent: Callable[..., Agent], make_department
) -> None:
    admin = make_agent("boss@example.com", profile="Administrator")
    sign_in(client, admin.email)
    page = client.get("/admin/extensions").get_data(as_text=True)
    for plugin_id in ("customer_insights", "ticket_history", "salesiq", "im_dashboard"):
        assert f"<code>{plugin_id}</code>" in page
    assert "deskhost_panels" in page  # the built-in tickets tab implements it


def test_agent_without_marketplace_permission_gets_403(
    client: FlaskClient, make_agent: Callable[..., Agent], make_department
) -> None:
    support: Department = make_department("Support")
    agent = make_agent("agent@example.com", departments=[support])
    sign_in(client, agent.email)
    assert client.get("/admin/extensions").status_code == 403
    assert "/admin/extensions" not in client.get("/tickets").get_data(as_text=True)
