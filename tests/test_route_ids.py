"""Path ids in pages and the API never reach the database beyond what its columns hold.

PostgreSQL refuses an id past its column's range with an error (and SQLite's driver cannot
even pass one past 64 bits), which was a 500: every host route names the ``id`` (32-bit) or
``bigid`` (64-bit) converter, and werkzeug's plain ``int`` is capped at 64 bits for routes
the host does not own.
"""

from __future__ import annotations

import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.routing import IntegerConverter

from core.models import Agent
from core.models.types import INT32_MAX, INT64_MAX
from core.services.base import parse_whole_number
from core.web.limits import BigIdConverter, BoundedIntConverter, IdConverter

pytest_plugins = ["tests.api_fixtures"]

BEYOND_64_BITS = "9223372036854775808"
BEYOND_32_BITS = "2147483648"


def test_every_host_route_bounds_its_integer_path_ids(app: Flask) -> None:
    unbounded = [
        f"{rule.rule} ({name})"
        for rule in app.url_map.iter_rules()
        # An extension's own pages and endpoints: their plain ints are capped at 64 bits.
        if not rule.endpoint.startswith(("ext_", "api_ext_"))
        for name, converter in rule._converters.items()
        if isinstance(converter, IntegerConverter)
        and not isinstance(converter, IdConverter | BigIdConverter)
    ]
    assert unbounded == []


def test_plain_int_routes_are_capped_at_64_bits(app: Flask) -> None:
    assert isinstance(app.url_map.converters["int"](app.url_map), BoundedIntConverter)


@pytest.mark.parametrize(
    "path",
    [
        f"/tickets/{BEYOND_64_BITS}",
        f"/contacts/{BEYOND_64_BITS}",
        f"/accounts/{BEYOND_64_BITS}",
        f"/notifications/{BEYOND_64_BITS}/open",
        f"/contacts/{BEYOND_64_BITS}/duplicates",
        f"/admin/marketplace/installations/{BEYOND_32_BITS}",
        f"/contacts/import/{BEYOND_32_BITS}",
        f"/support/{BEYOND_32_BITS}",
    ],
)
def test_pages_answer_404_for_ids_beyond_their_column(
    client: FlaskClient, admin_agent: Agent, sign_in_as, path: str
) -> None:
    sign_in_as(admin_agent)
    assert client.get(path).status_code == 404


@pytest.mark.parametrize("text", ["²", "٣", "-1", "1.5", "", " ", "9" * 20, str(2**63)])
def test_only_ascii_digits_within_range_are_whole_numbers(text: str) -> None:
    assert parse_whole_number(text, INT64_MAX) is None


def test_a_whole_number_within_range_is_read() -> None:
    assert parse_whole_number(" 42 ", INT32_MAX) == 42
    assert parse_whole_number(str(INT32_MAX + 1), INT32_MAX) is None


@pytest.mark.parametrize(
    "path",
    [
        "/tickets?q=99999999999999999999",
        f"/tickets?q={BEYOND_32_BITS}",
        "/contacts?view=²",
        f"/contacts?view={BEYOND_64_BITS}",
        "/contacts/merge?ids=²,1",
        f"/contacts/merge?ids={'9' * 30}",
    ],
)
def test_numbers_in_query_strings_never_crash_a_page(
    client: FlaskClient, admin_agent: Agent, sign_in_as, path: str
) -> None:
    sign_in_as(admin_agent)
    assert client.get(path).status_code < 500
