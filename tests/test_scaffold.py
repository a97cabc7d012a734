"""``deskhost ext new``: the distribution it writes passes its own tests as generated, installed
the way its author installs it (``pip install -e .`` then ``pytest``, in an environment of its
own that has deskhost; without the network: no build isolation, its build requirements taken
from this environment); its files are ruff clean; bad names (a module's that is already there
among them) and used folders are refused with exit code 2 and nothing written."""

from __future__ import annotations

import importlib.metadata
import json
import os
import signal
import site
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet

import hostapi
from core.cli import main
from core.scaffold import scaffold

#: Seconds one step (an install, a test run) may take before the test fails.
STEP_TIMEOUT_SECONDS = 300

DESKHOST = Path(sys.executable).with_name("deskhost")


def _child_environment() -> dict[str, str]:
    """This process's environment without what pytest set for itself (xdist's worker id,
    options): the child run is a suite of its own, on the same database and Redis servers."""
    return {key: value for key, value in os.environ.items() if not key.startswith("PYTEST_")}


def run(command: list[str | Path], cwd: Path) -> str:
    """Run ``command`` in ``cwd`` and return its output; fail the test if it fails.

    The child gets a process group of its own, killed whatever ends the wait (a timeout, an
    interrupted run), so that no server it started outlives the test.
    """
    process = subprocess.Popen(
        [str(part) for part in command],
        cwd=cwd,
        env=_child_environment(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        output, _ = process.communicate(timeout=STEP_TIMEOUT_SECONDS)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        output, _ = process.communicate()
        pytest.fail(f"{command} took more than {STEP_TIMEOUT_SECONDS} s:\n{output}")
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    assert process.returncode == 0, f"{command} exited {process.returncode}:\n{output}"
    return output


def environment_with_deskhost(folder: Path) -> Path:
    """A new virtual environment that sees this one's packages (deskhost, pytest, pip, and
    setuptools and wheel to build with) and installs into its own; returns its Python.

    ``--system-site-packages`` would give the base interpreter's packages, not this virtual
    environment's, so a ``.pth`` file adds this one's site folders (their own ``.pth`` files,
    deskhost's editable install among them, processed too).
    """
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(folder)], check=True)
    python = folder / "bin" / "python"
    purelib = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    ours = [path for path in site.getsitepackages() if Path(path).is_dir()]
    Path(purelib, "deskhost_environment.pth").write_text(
        "".join(f"import site; site.addsitedir({path!r})\n" for path in ours)
    )
    return python


#: ``pip install -e .`` without reaching an index: built with this environment's setuptools
#: (no isolated build environment to fill), deskhost and pytest already there.
OFFLINE_INSTALL = ["install", "--quiet", "--no-build-isolation", "--no-deps", "--no-index"]


def scaffold_install_and_test(tmp_path: Path, name: str, *options: str) -> str:
    """``deskhost ext new NAME``, ``pip install -e .``, ``pytest`` there; pytest's output."""
    run([DESKHOST, "ext", "new", name, *options], cwd=tmp_path)
    python = environment_with_deskhost(tmp_path / "environment")
    distribution = tmp_path / name
    run([python, "-m", "pip", *OFFLINE_INSTALL, "-e", "."], cwd=distribution)
    return run([python, "-m", "pytest", "-p", "no:cacheprovider"], cwd=distribution)


def is_installed(requirement: Requirement) -> bool:
    """Whether this environment has a version of the distribution that ``requirement`` accepts."""
    try:
        installed = importlib.metadata.version(requirement.name)
    except importlib.metadata.PackageNotFoundError:
        return False
    return requirement.specifier.contains(installed, prereleases=True)


def new(*arguments: str) -> tuple[int, str]:
    """``deskhost ext new`` in this process: its exit code and what it printed."""
    result = CliRunner().invoke(main, ["ext", "new", *arguments])
    return result.exit_code, result.output


# ------------------------------------------------------------------------------ as generated


def test_full_scaffold_passes_its_own_tests_once_installed(tmp_path: Path) -> None:
    output = scaffold_install_and_test(tmp_path, "demo_ext")
    assert " passed" in output and " failed" not in output


def test_bare_scaffold_passes_its_own_test_once_installed(tmp_path: Path) -> None:
    output = scaffold_install_and_test(tmp_path, "demo_bare", "--bare")
    assert "1 passed" in output


@pytest.mark.parametrize("bare", [False, True], ids=["full", "bare"])
def test_build_requirements_are_met_by_this_environment_for_an_offline_install(
    tmp_path: Path, bare: bool
) -> None:
    scaffold("demo_ext", tmp_path, bare)
    requires = tomllib.loads((tmp_path / "pyproject.toml").read_text())["build-system"]["requires"]
    assert [text for text in requires if not is_installed(Requirement(text))] == []


@pytest.mark.parametrize("bare", [False, True], ids=["full", "bare"])
def test_generated_files_are_ruff_clean_by_their_own_settings(tmp_path: Path, bare: bool) -> None:
    distribution = tmp_path / "demo_ext"
    scaffold("demo_ext", distribution, bare)
    run([sys.executable, "-m", "ruff", "check", "--no-cache", "."], cwd=distribution)
    run([sys.executable, "-m", "ruff", "format", "--no-cache", "--check", "."], cwd=distribution)


def test_bare_scaffold_is_the_manifest_one_hook_pyproject_and_one_test(tmp_path: Path) -> None:
    written = scaffold("demo_ext", tmp_path, bare=True)
    assert [path.relative_to(tmp_path).as_posix() for path in written] == [
        "pyproject.toml",
        "src/demo_ext/__init__.py",
        "src/demo_ext/manifest.json",
        "tests/test_demo_ext.py",
    ]


def test_full_scaffold_has_a_migration_stream_tests_and_a_readme(tmp_path: Path) -> None:
    written = {path.relative_to(tmp_path).as_posix() for path in scaffold("demo_ext", tmp_path)}
    assert {
        "README.md",
        "src/demo_ext/migrations/versions/demo_ext_0001_new_tickets.py",
        "tests/test_demo_ext.py",
    } <= written


@pytest.mark.parametrize("bare", [False, True], ids=["full", "bare"])
def test_manifest_asks_for_this_hosts_api_within_its_major_version(
    tmp_path: Path, bare: bool
) -> None:
    scaffold("demo_ext", tmp_path, bare)
    manifest = json.loads((tmp_path / "src/demo_ext/manifest.json").read_text())
    supported = SpecifierSet(manifest["hostapi"])
    major = int(hostapi.HOSTAPI_VERSION.split(".")[0])
    assert hostapi.HOSTAPI_VERSION in supported
    assert f"{major + 1}.0" not in supported


# ------------------------------------------------------------------------------ the example


def _tables(pyproject: dict[str, Any]) -> dict[str, Any]:
    """What every distribution ``deskhost ext new`` lays out has alike, whatever it contains."""
    project, tool = pyproject["project"], pyproject["tool"]
    return {
        "build-system": pyproject["build-system"],
        "requires-python": project["requires-python"],
        "optional-dependencies": project["optional-dependencies"],
        "entry-points": project["entry-points"],
        "packages": tool["setuptools"]["packages"],
        "pytest": tool["pytest"],
        "ruff": tool["ruff"],
    }


def test_example_extension_is_configured_as_the_scaffold_configures_one(
    tmp_path: Path, repo_root: Path
) -> None:
    example = repo_root / "examples" / "hello_extension"
    scaffold("hello_extension", tmp_path)
    generated = tomllib.loads((tmp_path / "pyproject.toml").read_text())
    assert _tables(tomllib.loads((example / "pyproject.toml").read_text())) == _tables(generated)


def test_example_extension_has_the_files_of_a_scaffolded_one(
    tmp_path: Path, repo_root: Path
) -> None:
    example = repo_root / "examples" / "hello_extension"
    written = scaffold("hello_extension", tmp_path, bare=True)
    missing = [p for p in written if not (example / p.relative_to(tmp_path)).is_file()]
    assert missing == []


# ------------------------------------------------------------------------------ the command


def test_prints_the_files_and_the_next_steps(tmp_path: Path) -> None:
    code, output = new("demo_ext", "--directory", str(tmp_path / "demo_ext"))
    assert code == 0
    assert "src/demo_ext/manifest.json" in output
    assert "pip install -e '.[test]'" in output
    assert "deskhost ext check ." in output
    assert "deskhost dev --extension demo_ext" in output


def test_writes_into_an_empty_folder_given(tmp_path: Path) -> None:
    code, _output = new("demo_ext", "--directory", str(tmp_path))
    assert code == 0
    assert (tmp_path / "src" / "demo_ext" / "manifest.json").is_file()


@pytest.mark.parametrize(
    "name",
    [
        "Demo",
        "1demo",
        "d",
        "demo-ext",
        "_demo",
        "d" * 64,
        "class",
        "json",
        "hostapi",
        "tests",
        "flask",
        "redis",
        "sqlalchemy",
        "alembic",
        "pytest",
    ],
)
def test_a_name_that_is_no_usable_plugin_id_is_refused_and_nothing_written(
    tmp_path: Path, name: str
) -> None:
    code, output = new(name, "--directory", str(tmp_path / "target"))
    assert code == 2
    assert "Invalid value for 'NAME'" in output
    assert not (tmp_path / "target").exists()


def test_the_name_of_a_module_installed_here_is_refused_naming_where_it_is(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    installed = tmp_path / "site" / "demo_installed"
    installed.mkdir(parents=True)
    (installed / "__init__.py").write_text("")
    monkeypatch.syspath_prepend(str(tmp_path / "site"))

    code, output = new("demo_installed", "--directory", str(tmp_path / "target"))

    assert code == 2
    assert "would shadow it" in output and str(installed) in output
    assert not (tmp_path / "target").exists()


def test_a_folder_that_is_not_empty_is_refused_and_left_as_it_was(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("mine")
    code, output = new("demo_ext", "--directory", str(tmp_path))
    assert code == 2
    assert "is not an empty folder" in output
    assert [path.name for path in tmp_path.iterdir()] == ["notes.txt"]
