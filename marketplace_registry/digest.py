"""The sha256 a registry listing gives for an extension, and its check before install.

The digest covers the files of the extension's package as installed on the host, so it is the
same for a wheel install and an editable (source) install of the same files:

1. The package is the plugin's entry-point module when that module is a package, else the
   package containing it (``plugins.customer_insights`` → the ``customer_insights/`` folder;
   ``hello_extension.plugin`` → ``hello_extension/``). A namespace package spread over several
   folders has no digest.
2. Walk that folder recursively, skipping every ``__pycache__`` folder and every file whose
   name ends in ``.pyc``.
3. For each file, take its path relative to the package folder's *parent*, with ``/``
   separators (``customer_insights/manifest.json``), and the lowercase hex sha256 of its bytes.
4. Sort the files by that path (plain string order of the POSIX paths) and feed one line per
   file, ``f"{path}\\0{file_sha256}\\n"`` encoded as UTF-8, into a sha256: its lowercase hex
   digest is the distribution digest.

Publishers compute it from an installed copy of exactly what they publish (``pip install`` the
wheel into a clean environment, then ``python -m marketplace_registry.digest <module>``), and
put it in the registry index's ``sha256`` field. Stray files in the package folder (editor
backups, generated data) change the digest, which is the point: the host installs only the
files the registry vouches for.
"""

from __future__ import annotations

import hashlib
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType


class DistributionRefused(ValueError):
    """The extension's installed files may not be installed (the install step refuses)."""


class DigestMismatch(DistributionRefused):
    """The installed package's files differ from what the registry listing vouches for."""

    def __init__(self, plugin: str, expected: str, actual: str) -> None:
        self.plugin = plugin
        self.expected = expected
        self.actual = actual
        super().__init__(
            f"extension {plugin!r}: installed files have sha256 {actual}, "
            f"the registry listing expects {expected}"
        )


def package_directory(plugin_module: ModuleType) -> Path:
    """The folder of the plugin's package (the module itself, or the package containing it).

    :raises ValueError: for a top-level single-file module or a namespace package.
    """
    if hasattr(plugin_module, "__path__"):
        package = plugin_module
    else:
        package_name = getattr(plugin_module, "__package__", None)
        if not package_name:
            raise ValueError(f"{plugin_module.__name__!r} is not inside a package")
        package = sys.modules[package_name]
    paths = list(package.__path__)
    if len(paths) != 1:
        raise ValueError(f"package {package.__name__!r} spans {len(paths)} folders")
    return Path(paths[0]).resolve()


def _package_files(directory: Path) -> list[tuple[str, Path]]:
    """(path relative to the package's parent, file) for every hashed file, sorted by path."""
    found: list[tuple[str, Path]] = []
    for folder, subfolders, files in os.walk(directory):
        subfolders[:] = [name for name in subfolders if name != "__pycache__"]
        for name in files:
            if name.endswith(".pyc"):
                continue
            path = Path(folder, name)
            found.append((path.relative_to(directory.parent).as_posix(), path))
    return sorted(found)


def directory_digest(directory: Path) -> str:
    """The digest of a package folder (the algorithm of this module's docstring)."""
    digest = hashlib.sha256()
    for relative, path in _package_files(Path(directory).resolve()):
        file_sha256 = hashlib.sha256(path.read_bytes()).hexdigest()
        digest.update(f"{relative}\0{file_sha256}\n".encode())
    return digest.hexdigest()


def distribution_digest(plugin_module: ModuleType) -> str:
    """The sha256 (hex) of the installed files of the plugin module's package."""
    return directory_digest(package_directory(plugin_module))


def verify(plugin_module: ModuleType, expected_sha256: str) -> None:
    """Check the installed package against the registry's digest.

    :raises DigestMismatch: when they differ (``expected`` and ``actual`` say how).
    """
    actual = distribution_digest(plugin_module)
    expected = expected_sha256.strip().lower()
    if actual != expected:
        raise DigestMismatch(plugin_module.__name__, expected=expected, actual=actual)


def main(argv: Sequence[str] | None = None) -> int:
    """Print the digest of each module named on the command line (for publishers)."""
    import importlib

    names = list(sys.argv[1:] if argv is None else argv)
    if not names:
        print("usage: python -m marketplace_registry.digest MODULE [MODULE...]", file=sys.stderr)
        return 2
    for name in names:
        print(f"{distribution_digest(importlib.import_module(name))}  {name}")
    return 0


__all__ = [
    "DigestMismatch",
    "DistributionRefused",
    "directory_digest",
    "distribution_digest",
    "main",
    "package_directory",
    "verify",
]

if __name__ == "__main__":
    raise SystemExit(main())
