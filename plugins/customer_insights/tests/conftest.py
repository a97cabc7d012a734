"""The host's own test fixtures, so this extension's tests run on either backend.

They are imported rather than inherited because pytest scopes ``tests/conftest.py`` to the
``tests`` folder; the factories come along for runs of this folder alone.
"""

from tests.conftest import _clean_state, app, backend_name, client, db, host, settings  # noqa: F401
from tests.factories import (  # noqa: F401
    department,
    make_agent,
    make_contact,
    make_department,
    make_ticket,
    unit_for,
)
