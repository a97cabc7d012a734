"""What the extension checks read of a file, kept per version of the file (path, size, time
of change): in this process, and in a cache file where the host gives one, so that a host
starting again parses nothing that did not change (parsing the bundled extensions' source
takes a few tenths of a second; reading the cache, a few milliseconds).
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

#: Changes whenever a reader's output changes, so that older cache files are not believed.
FORMAT_VERSION = 1


class Readings:
    """Readings of files (JSON values), by kind of reading and path."""

    def __init__(self) -> None:
        #: "kind:path" → [time of change in ns, size, the reading].
        self._known: dict[str, list[Any]] = {}
        self._attached: set[Path] = set()
        self._changed = False
        self._lock = threading.Lock()

    def read(self, kind: str, path: Path, reader: Callable[[Path], Any]) -> Any:
        """``reader(path)``, or what it gave for this version of the file before."""
        stat = path.stat()
        key = f"{kind}:{path}"
        known = self._known.get(key)
        if known is not None and known[:2] == [stat.st_mtime_ns, stat.st_size]:
            return known[2]
        reading = reader(path)
        self._known[key] = [stat.st_mtime_ns, stat.st_size, reading]
        self._changed = True
        return reading

    def attach(self, cache_file: Path) -> None:
        """Take what ``cache_file`` holds (once per process); a missing or bad one is ignored."""
        with self._lock:
            if cache_file in self._attached:
                return
            self._attached.add(cache_file)
        try:
            data = json.loads(cache_file.read_text())
        except (OSError, ValueError):
            return
        if isinstance(data, dict) and data.get("version") == FORMAT_VERSION:
            for key, known in dict(data.get("readings") or {}).items():
                if isinstance(known, list) and len(known) == 3:
                    self._known.setdefault(key, known)

    def save(self, cache_file: Path) -> None:
        """Write every reading to ``cache_file`` when some are new, atomically (a folder that
        cannot be written is left alone)."""
        if not self._changed:
            return
        self._changed = False
        data = {"version": FORMAT_VERSION, "readings": dict(self._known)}
        with contextlib.suppress(OSError):
            cache_file.parent.mkdir(parents=True, exist_ok=True)
            handle, temporary = tempfile.mkstemp(dir=cache_file.parent, suffix=".tmp")
            try:
                with os.fdopen(handle, "w") as file:
                    json.dump(data, file)
                os.replace(temporary, cache_file)
            finally:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(temporary)


#: The readings of this process.
READINGS = Readings()
