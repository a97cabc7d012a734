"""Migration 0017: OAuth clients registered before it outlive their purged installation."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import create_engine, text

from core.migrate import upgrade_core

_NOW = "2026-01-01 00:00:00"


def test_a_client_registered_before_the_migration_outlives_its_purged_installation(
    tmp_path: Path,
) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'clients.db'}")
    upgrade_core(engine, "0016_core")
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO installation (id, plugin_id, plugin_version, label, state, "
                "granted_scopes, settings, created_at, updated_at) VALUES (5, 'probe', '1.0', "
                "'', 'active', '[]', '{}', :now, :now)"
            ),
            {"now": _NOW},
        )
        connection.execute(
            text(
                "INSERT INTO oauth_client (id, client_id, installation_id, name, redirect_uris, "
                "is_host_callback, is_linked_product, created_at, revoked_at) VALUES (1, "
                "'dhc_worker', 5, 'Worker', '[]', 0, 0, :now, :now)"
            ),
            {"now": _NOW},
        )

    upgrade_core(engine)
    with engine.begin() as connection:
        connection.exec_driver_sql("PRAGMA foreign_keys=ON")
        connection.execute(text("DELETE FROM installation WHERE id = 5"))
        kept = connection.execute(text("SELECT client_id, installation_id FROM oauth_client")).all()
    engine.dispose()

    assert [tuple(row) for row in kept] == [("dhc_worker", None)]
