"""The documents that are part of the product's contract stay in step with the code."""

from __future__ import annotations

from pathlib import Path

from core.config import SecurityLimits
from core.permissions import CATALOGUE


def test_permissions_document_lists_every_permission_of_the_catalogue(repo_root: Path) -> None:
    document = (repo_root / "docs" / "permissions.md").read_text()
    missing = [p.name for p in CATALOGUE if f"`{p.name}`" not in document]
    assert missing == []


def test_readme_shows_the_two_commands_first(repo_root: Path) -> None:
    readme = (repo_root / "README.md").read_text()
    first_block = readme.split("```", 2)[1]
    assert "make run" in first_block and "make test" in first_block


def test_security_document_names_every_rate_limit_setting(repo_root: Path) -> None:
    document = (repo_root / "docs" / "security.md").read_text()
    settings = [f"DESKHOST_{name.upper()}" for name in SecurityLimits.__dataclass_fields__]
    assert [name for name in settings if f"`{name}`" not in document] == []
