"""`make run` serves where it is told, and installing the package warns about nothing."""

from __future__ import annotations

import configparser
import shutil
import subprocess
from pathlib import Path

import pytest


def _serve_line(repo_root: Path, *variables: str) -> str:
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    # -n prints the recipe without running it; the stamp and translations count as made.
    printed = subprocess.run(
        ["make", "-n", "-o", ".venv/.installed", "-o", "translations", "run", *variables],
        cwd=repo_root,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return next(line for line in printed.splitlines() if " serve " in line)


def test_make_run_serves_on_loopback_port_5000_by_default(repo_root: Path) -> None:
    assert _serve_line(repo_root).endswith("serve --with-worker --host 127.0.0.1 --port 5000")


def test_make_run_takes_host_and_port(repo_root: Path) -> None:
    line = _serve_line(repo_root, "HOST=0.0.0.0", "PORT=8123")
    assert line.endswith("serve --with-worker --host 0.0.0.0 --port 8123")


def test_packages_are_found_as_namespaces_so_data_folders_install_without_warnings(
    repo_root: Path,
) -> None:
    # With plain `find:`, setuptools warns "Package would be ignored" once for every template,
    # static and translation folder (they have no __init__.py) on each install.
    config = configparser.ConfigParser()
    config.read(repo_root / "setup.cfg")
    assert config["options"]["packages"].strip() == "find_namespace:"
