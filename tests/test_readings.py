"""core.plugins.readings: a file is parsed again only when it changed; a cache file carries the
readings to the next process, unless the readers changed since it was written; readings of
files that no longer exist are not written again."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable
from pathlib import Path

import pytest

from core.plugins import readings
from core.plugins.readings import READINGS, Readings

Reader = Callable[[Path], str]


@pytest.fixture
def parsed() -> list[Path]:
    """The files the reader parsed, in order."""
    return []


@pytest.fixture
def reader(parsed: list[Path]) -> Reader:
    """A reader noting each file it parses; its reading is the file's text."""

    def read(path: Path) -> str:
        parsed.append(path)
        return path.read_text()

    return read


@pytest.fixture
def reader_source(tmp_path: Path) -> Path:
    """A stand-in for a reader module's source."""
    source = tmp_path / "reader.py"
    source.write_text("def read(path): ...\n")
    return source


@pytest.fixture
def extension_file(tmp_path: Path) -> Path:
    """A file of an extension, to be read."""
    path = tmp_path / "extension" / "hooks.py"
    path.parent.mkdir()
    path.write_text("context.get_ticket(7)\n")
    return path


@pytest.fixture
def cache_file(tmp_path: Path) -> Path:
    return tmp_path / "cache" / "extension-sources.json"


def next_process(reader_source: Path, cache_file: Path) -> Readings:
    """The readings of a process starting after this one, on the same cache file."""
    started = Readings([reader_source])
    started.attach(cache_file)
    return started


def test_an_unchanged_file_is_parsed_once(
    reader_source: Path, extension_file: Path, reader: Reader, parsed: list[Path]
) -> None:
    process = Readings([reader_source])

    first = process.read("sources", extension_file, reader)
    again = process.read("sources", extension_file, reader)

    assert (first, again, parsed) == ("context.get_ticket(7)\n", first, [extension_file])


def test_a_changed_file_is_parsed_again(
    reader_source: Path, extension_file: Path, reader: Reader, parsed: list[Path]
) -> None:
    process = Readings([reader_source])
    process.read("sources", extension_file, reader)
    extension_file.write_text("context.get_contact(7)  # longer\n")

    assert process.read("sources", extension_file, reader) == "context.get_contact(7)  # longer\n"
    assert parsed == [extension_file, extension_file]


def test_the_cache_file_spares_the_next_process_the_parsing(
    reader_source: Path,
    extension_file: Path,
    cache_file: Path,
    reader: Reader,
    parsed: list[Path],
) -> None:
    process = Readings([reader_source])
    process.read("sources", extension_file, reader)
    process.save(cache_file)

    reading = next_process(reader_source, cache_file).read("sources", extension_file, reader)

    assert (reading, parsed) == ("context.get_ticket(7)\n", [extension_file])


def test_a_cache_written_before_the_readers_changed_is_not_believed(
    reader_source: Path,
    extension_file: Path,
    cache_file: Path,
    reader: Reader,
    parsed: list[Path],
) -> None:
    process = Readings([reader_source])
    process.read("sources", extension_file, reader)
    process.save(cache_file)
    # An upgrade of the host: the reader finds something else in the same, unchanged file.
    reader_source.write_text("def read(path): return 'more'\n")

    next_process(reader_source, cache_file).read("sources", extension_file, reader)

    assert parsed == [extension_file, extension_file]


def test_saving_drops_the_readings_of_files_that_no_longer_exist(
    reader_source: Path, extension_file: Path, cache_file: Path, reader: Reader, tmp_path: Path
) -> None:
    removed = tmp_path / "extension" / "old.py"
    removed.write_text("context.storage_get('x')\n")
    process = Readings([reader_source])
    process.read("sources", extension_file, reader)
    process.read("sources", removed, reader)
    process.save(cache_file)
    removed.unlink()
    extension_file.write_text("context.get_contact(7)  # changed\n")

    later = next_process(reader_source, cache_file)
    later.read("sources", extension_file, reader)
    later.save(cache_file)

    saved = json.loads(cache_file.read_text())["readings"]
    assert list(saved) == [f"sources:{extension_file}"]


def test_saving_keeps_the_cached_readings_of_files_this_process_did_not_read(
    reader_source: Path, extension_file: Path, cache_file: Path, reader: Reader, tmp_path: Path
) -> None:
    other = tmp_path / "extension" / "other.py"
    other.write_text("context.list_threads(7)\n")
    process = Readings([reader_source])
    process.read("sources", other, reader)
    process.save(cache_file)

    later = next_process(reader_source, cache_file)
    later.read("sources", extension_file, reader)
    later.save(cache_file)

    saved = json.loads(cache_file.read_text())["readings"]
    assert sorted(saved) == sorted([f"sources:{other}", f"sources:{extension_file}"])


def test_nothing_is_written_when_nothing_new_was_read(
    reader_source: Path, extension_file: Path, cache_file: Path, reader: Reader
) -> None:
    process = Readings([reader_source])
    process.read("sources", extension_file, reader)
    process.save(cache_file)
    written = cache_file.stat().st_mtime_ns
    os.utime(cache_file, ns=(written - 10**9, written - 10**9))

    later = next_process(reader_source, cache_file)
    later.read("sources", extension_file, reader)
    later.save(cache_file)

    assert cache_file.stat().st_mtime_ns == written - 10**9


def test_the_hosts_readings_are_stamped_with_every_module_that_reads_through_them(
    repo_root: Path,
) -> None:
    reading_modules = {
        path
        for path in (repo_root / "core").rglob("*.py")
        if re.search(r"\bREADINGS\.read\(", path.read_text())
    }
    assert reading_modules | {Path(readings.__file__)} == set(READINGS.reader_sources)
