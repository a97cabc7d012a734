"""What the extension checks read of a file, kept per version of the file (path, size, time
of change): in this process, and in a cache file where the host gives one, so that a host
starting again parses nothing that did not change (parsing the bundled extensions' source
takes a few tenths of a second; reading the cache, a few milliseconds).

A cache file is believed only by a host whose readers are those that wrote it: it carries a
hash of the readers' source (:data:`READER_MODULES`), so an upgrade that changes what a reader
finds reads every file again. It keeps what this process read and what it took from the file
for files that still exist: the readings of deleted files do not pile up.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import os
import tempfile
import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

#: The modules (in this folder) whose code decides what a reading holds: the readers, and this
#: one, which stores them. A module that calls ``READINGS.read`` belongs here.
READER_MODULES = ("readings.py", "sources.py", "streams.py")


class Readings:
    """Readings of files (JSON values), by kind of reading and path.

    :param reader_sources: the files whose content decides what the readings hold; a cache
        file written with other contents is not believed.
    """

    def __init__(self, reader_sources: Iterable[Path]) -> None:
        #: The files whose content decides what the readings hold.
        self.reader_sources = tuple(reader_sources)
        #: "kind:path" → [time of change in ns, size, the reading].
        self._known: dict[str, list[Any]] = {}
        #: The keys read in this process, their files seen to exist.
        self._used: set[str] = set()
        self._attached: set[Path] = set()
        self._changed = False
        self._lock = threading.Lock()

    @functools.cached_property
    def stamp(self) -> str:
        """The hash of the readers' source, which a cache file must carry to be believed."""
        digest = hashlib.sha256()
        for path in self.reader_sources:
            digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
        return digest.hexdigest()

    def read(self, kind: str, path: Path, reader: Callable[[Path], Any]) -> Any:
        """``reader(path)``, or what it gave for this version of the file before."""
        stat = path.stat()
        key = f"{kind}:{path}"
        version = [stat.st_mtime_ns, stat.st_size]
        with self._lock:
            self._used.add(key)
            known = self._known.get(key)
            if known is not None and known[:2] == version:
                return known[2]
        # Parsed outside the lock: two threads may read one file twice, never wait on each other.
        reading = reader(path)
        with self._lock:
            self._known[key] = [*version, reading]
            self._changed = True
        return reading

    def attach(self, cache_file: Path) -> None:
        """Take what ``cache_file`` holds (once per process); a missing or bad one, or one
        written by other readers, is ignored."""
        with self._lock:
            if cache_file in self._attached:
                return
            self._attached.add(cache_file)
        try:
            data = json.loads(cache_file.read_text())
        except (OSError, ValueError):
            return
        if not isinstance(data, dict) or data.get("stamp") != self.stamp:
            return
        with self._lock:
            for key, known in dict(data.get("readings") or {}).items():
                if isinstance(known, list) and len(known) == 3:
                    self._known.setdefault(key, known)

    def save(self, cache_file: Path) -> None:
        """Write the readings to ``cache_file`` when some are new, atomically (a folder that
        cannot be written is left alone): those read in this process, and those taken from the
        cache whose files still exist."""
        with self._lock:
            if not self._changed:
                return
            self._changed = False
            known = dict(self._known)
            used = set(self._used)
        readings = {
            key: reading
            for key, reading in known.items()
            if key in used or os.path.exists(key.partition(":")[2])
        }
        data = {"stamp": self.stamp, "readings": readings}
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
READINGS = Readings(Path(__file__).with_name(name) for name in READER_MODULES)
