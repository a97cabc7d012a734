"""Reading an extension's Alembic stream (never running it): one base, one head, and the
schema at that head against the tables of the extension's models.

The schema is read from each revision's ``upgrade()``: ``op.create_table``, ``drop_table``,
``rename_table``, ``add_column``, ``drop_column`` and ``alter_column(new_column_name=…)``,
directly or in ``op.batch_alter_table``. A stream that names a table by anything but a
literal, or runs SQL changing tables (``op.execute("ALTER TABLE …")``), is not compared; a
table whose columns are not all literal ``sa.Column("name", …)`` is compared by name only.
"""

from __future__ import annotations

import ast
import contextlib
import sys
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from sqlalchemy import MetaData
from sqlalchemy.orm import DeclarativeBase

from core.plugins.readings import READINGS
from core.plugins.sources import literal_text


@dataclass(frozen=True)
class Stream:
    """An extension's Alembic stream as read from its folder: its head, the schema at that
    head (table → its columns, ``None`` where they cannot be read; ``None`` for the whole
    when some revision changes tables in ways not read), and what is wrong with it."""

    head: str | None
    schema: Mapping[str, frozenset[str] | None] | None
    problems: tuple[str, ...] = ()


def read_stream(folder: Path) -> Stream:
    """Read a migration stream's revision files (without running them)."""
    if not folder.is_dir():
        return Stream(None, None, (f"deskhost_migrations gives {str(folder)!r}, not a folder",))
    revisions: dict[str, _Revision] = {}
    problems: list[str] = []
    for path in sorted(folder.glob("*.py")):
        reading = READINGS.read("revision", path, _read_revision)
        if reading is None:
            continue
        revision = _Revision(path.name, **reading)
        if revision.id in revisions:
            problems.append(
                f"revision {revision.id!r} is in both {revisions[revision.id].file} "
                f"and {revision.file}"
            )
        revisions[revision.id] = revision
    if not revisions:
        return Stream(None, None, (f"{folder} holds no Alembic revision",))
    revised: set[str] = set()
    for revision in revisions.values():
        for parent in revision.parents:
            if parent not in revisions:
                problems.append(
                    f"revision {revision.id!r} ({revision.file}) revises {parent!r}, "
                    "which is not in the stream"
                )
            revised.add(parent)
    heads = sorted(set(revisions) - revised)
    bases = sorted(r.id for r in revisions.values() if not r.parents)
    if len(heads) != 1:
        problems.append(
            f"the stream has {len(heads)} heads ({', '.join(heads) or 'a cycle'}): "
            "merge them into one"
        )
    if len(bases) != 1:
        problems.append(f"the stream has {len(bases)} bases ({', '.join(bases)}): it needs one")
    if problems:
        return Stream(None, None, tuple(problems))
    return Stream(heads[0], _schema_at_head(revisions, bases[0]))


@dataclass(frozen=True)
class _Revision:
    file: str
    id: str
    parents: Sequence[str]
    #: The schema changes ``upgrade()`` makes, in order; ``None`` when some cannot be read.
    changes: Sequence[Sequence[str]] | None


def _read_revision(path: Path) -> dict[str, Any] | None:
    """A revision file's id, parents and schema changes (JSON values), or ``None`` for a file
    that is not a revision."""
    try:
        tree = ast.parse(path.read_bytes(), filename=str(path))
    except (SyntaxError, ValueError):
        return None
    values: dict[str, Any] = {}
    upgrade: ast.FunctionDef | None = None
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target = node.targets[0]
            if isinstance(target, ast.Name) and target.id in ("revision", "down_revision"):
                with contextlib.suppress(ValueError):
                    values[target.id] = ast.literal_eval(node.value)
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            if node.target.id in ("revision", "down_revision") and node.value is not None:
                with contextlib.suppress(ValueError):
                    values[node.target.id] = ast.literal_eval(node.value)
        elif isinstance(node, ast.FunctionDef) and node.name == "upgrade":
            upgrade = node
    if not isinstance(values.get("revision"), str):
        return None
    down = values.get("down_revision")
    return {
        "id": values["revision"],
        "parents": [down] if isinstance(down, str) else list(down or ()),
        "changes": _schema_changes(upgrade) if upgrade is not None else [],
    }


def _schema_changes(upgrade: ast.FunctionDef) -> list[tuple[str, ...]] | None:
    """``upgrade()``'s table and column changes as ``(operation, table, …)``; ``None`` when one
    names its table by something other than a literal or runs SQL that changes tables."""
    batches: dict[str, str] = {}  # ``with op.batch_alter_table("t") as batch`` → batch → "t"
    for node in ast.walk(upgrade):
        if isinstance(node, ast.With):
            for item in node.items:
                call, alias = item.context_expr, item.optional_vars
                if (
                    isinstance(call, ast.Call)
                    and getattr(call.func, "attr", None) == "batch_alter_table"
                    and isinstance(alias, ast.Name)
                ):
                    table = literal_text(call.args[0]) if call.args else None
                    if table is None:
                        return None
                    batches[alias.id] = table
    changes: list[tuple[str, ...]] = []
    calls = sorted(
        (n for n in ast.walk(upgrade) if isinstance(n, ast.Call)),
        key=lambda n: (n.lineno, n.col_offset),
    )
    for call in calls:
        func = call.func
        if not isinstance(func, ast.Attribute) or not isinstance(func.value, ast.Name):
            continue
        receiver, operation = func.value.id, func.attr
        arguments = list(call.args)
        if receiver in batches:
            arguments.insert(0, ast.Constant(batches[receiver]))
        elif receiver != "op":
            continue
        if operation == "execute":
            sql = literal_text(arguments[0]) if arguments else None
            if sql and any(w in sql.upper() for w in ("CREATE TABLE", "ALTER TABLE", "DROP TABLE")):
                return None
            continue
        if operation not in _TABLE_OPERATIONS:
            continue
        table = literal_text(arguments[0]) if arguments else None
        if table is None:
            return None
        if operation == "create_table":
            columns = [_column_name(a) for a in arguments[1:]]
            known = not any(isinstance(a, ast.Starred) for a in arguments[1:])
            names = tuple(c for c in columns if c)
            changes.append(("create_table", table, "known" if known else "unknown", *names))
        elif operation == "drop_table":
            changes.append(("drop_table", table))
        elif operation == "rename_table":
            new = literal_text(arguments[1]) if len(arguments) > 1 else None
            if new is None:
                return None
            changes.append(("rename_table", table, new))
        elif operation == "add_column":
            column = _column_name(arguments[1]) if len(arguments) > 1 else None
            changes.append(("add_column", table, column) if column else ("unknown", table))
        elif operation == "drop_column":
            column = literal_text(arguments[1]) if len(arguments) > 1 else None
            changes.append(("drop_column", table, column) if column else ("unknown", table))
        elif operation == "alter_column":
            new_name = next(
                (literal_text(k.value) for k in call.keywords if k.arg == "new_column_name"), None
            )
            old = literal_text(arguments[1]) if len(arguments) > 1 else None
            if new_name and old:
                changes.append(("rename_column", table, old, new_name))
    return changes


_TABLE_OPERATIONS = frozenset(
    {"create_table", "drop_table", "rename_table", "add_column", "drop_column", "alter_column"}
)


def _column_name(node: ast.expr) -> str | None:
    """The name of ``sa.Column("name", …)``, or ``None`` for anything else."""
    if (
        isinstance(node, ast.Call)
        and getattr(node.func, "id", getattr(node.func, "attr", None)) == "Column"
        and node.args
    ):
        return literal_text(node.args[0])
    return None


def _schema_at_head(
    revisions: Mapping[str, _Revision], base: str
) -> dict[str, frozenset[str] | None] | None:
    """The tables (and their columns, where read) after every revision from base to head, or
    ``None`` for a stream that branches and merges (its order is not read)."""
    children: dict[str, list[_Revision]] = {}
    for revision in revisions.values():
        for parent in revision.parents:
            children.setdefault(parent, []).append(revision)
    schema: dict[str, set[str] | None] = {}
    revision: _Revision | None = revisions[base]
    seen: set[str] = set()
    while revision is not None:
        if revision.changes is None or len(revision.parents) > 1 or revision.id in seen:
            return None
        seen.add(revision.id)
        for change in revision.changes:
            _apply(schema, change)
        following = children.get(revision.id, [])
        if len(following) > 1:
            return None
        revision = following[0] if following else None
    return {t: None if c is None else frozenset(c) for t, c in schema.items()}


def _apply(schema: dict[str, set[str] | None], change: Sequence[str]) -> None:
    operation, table, *rest = change
    if operation == "create_table":
        known, *columns = rest
        schema[table] = set(columns) if known == "known" else None
    elif operation == "drop_table":
        schema.pop(table, None)
    elif operation == "rename_table":
        schema[rest[0]] = schema.pop(table, None)
    elif schema.get(table) is None:
        return
    elif operation == "unknown":
        schema[table] = None
    elif operation == "add_column":
        schema[table].add(rest[0])  # type: ignore[union-attr]
    elif operation == "drop_column":
        schema[table].discard(rest[0])  # type: ignore[union-attr]
    elif operation == "rename_column":
        columns = schema[table]
        assert columns is not None
        columns.discard(rest[0])
        columns.add(rest[1])


def model_tables(module: ModuleType) -> dict[str, frozenset[str]] | None:
    """The tables (with their columns) of the metadata the extension's imported modules
    define, or ``None`` when none of them defines any."""
    from core.db import Base as HostBase

    prefix = f"{module.__name__}."
    metadatas: dict[int, MetaData] = {}
    for name, loaded in list(sys.modules.items()):
        if loaded is None or not (name == module.__name__ or name.startswith(prefix)):
            continue
        for value in list(vars(loaded).values()):
            if isinstance(value, type) and issubclass(value, DeclarativeBase):
                value = getattr(value, "metadata", None)
            if isinstance(value, MetaData) and value is not HostBase.metadata:
                metadatas[id(value)] = value
    tables = {
        table.name: frozenset(column.name for column in table.columns)
        for metadata in metadatas.values()
        for table in metadata.tables.values()
    }
    return tables or None


def schema_differences(
    head: str,
    schema: Mapping[str, frozenset[str] | None],
    models: Mapping[str, frozenset[str]],
) -> Iterator[str]:
    """How the schema at the stream's ``head`` and the models' tables differ, one line each."""
    for table in sorted(models.keys() - schema.keys()):
        yield f"table {table!r} is in the models, but the stream's head {head!r} has no such table"
    for table in sorted(schema.keys() - models.keys()):
        yield f"table {table!r} is in the stream's head {head!r}, but in no model"
    for table in sorted(models.keys() & schema.keys()):
        columns = schema[table]
        if columns is None:
            continue
        for column in sorted(models[table] - columns):
            yield (
                f"column {table}.{column} is in the model, but not in the stream's head {head!r}"
            )
        for column in sorted(columns - models[table]):
            yield (
                f"column {table}.{column} is in the stream's head {head!r}, but not in the model"
            )
