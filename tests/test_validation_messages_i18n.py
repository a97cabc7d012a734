"""Validation messages reach a Japanese page in Japanese.

Every message a ``ValidationFailed`` carries is written as ``Message(...)`` (or a constant or
function that makes one), so ``pybabel extract -k Message`` finds it and pages translate it
with ``message_text``; a new English literal in a refusal fails here, with where it is.
"""

from __future__ import annotations

import ast
import io
import re
from collections.abc import Callable, Iterator
from html import unescape
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from core.host import Host
from core.models import Agent, Department, PermissionProfile
from core.web.i18n import compile_catalogs
from tests.test_web_ui import csrf_token_of, sign_in

#: A named value in a message, as ``%`` fills it in: ``%(count)d``, ``%(name)r``.
_PLACEHOLDER = re.compile(r"%\([a-z_]+\)[-#0 +]*\d*[a-z]")


def _is_english_text(node: ast.expr) -> bool:
    """True for a string literal, an f-string, ``"…" % x`` or ``"…".format(…)``."""
    if isinstance(node, ast.Constant):
        return isinstance(node.value, str)
    if isinstance(node, ast.JoinedStr):
        return True
    if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Mod, ast.Add)):
        return _is_english_text(node.left) or _is_english_text(node.right)
    if (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "format"
    ):
        return _is_english_text(node.func.value)
    return False


def _called_name(node: ast.expr) -> str | None:
    if isinstance(node, ast.Call):
        if isinstance(node.func, ast.Name):
            return node.func.id
        if isinstance(node.func, ast.Attribute):
            return node.func.attr
    return None


class _Module:
    """One module's syntax tree with what the check looks up in it."""

    def __init__(self, path: Path, root: Path) -> None:
        self.name = str(path.relative_to(root))
        self.tree = ast.parse(path.read_text(), filename=str(path))
        self.parents: dict[ast.AST, ast.AST] = {}
        for parent in ast.walk(self.tree):
            for child in ast.iter_child_nodes(parent):
                self.parents[child] = parent
        self.functions = {
            node.name: node
            for node in ast.walk(self.tree)
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
        }
        self.constants: dict[str, ast.expr] = {}
        for statement in self.tree.body:
            targets: list[ast.expr] = []
            if isinstance(statement, ast.Assign):
                targets, value = statement.targets, statement.value
            elif isinstance(statement, ast.AnnAssign) and statement.value is not None:
                targets, value = [statement.target], statement.value
            for target in targets:
                if isinstance(target, ast.Name):
                    self.constants[target.id] = value

    def enclosing_function(self, node: ast.AST) -> ast.AST:
        while node in self.parents:
            node = self.parents[node]
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
                return node
        return self.tree

    def where(self, node: ast.AST) -> str:
        return f"{self.name}:{getattr(node, 'lineno', '?')}"


def _message_problems(
    module: _Module, node: ast.expr, scope: ast.AST, seen: set[str]
) -> Iterator[str]:
    """Where ``node``, in the place of a message, is (or comes from) English text."""
    if _called_name(node) == "Message":
        return
    if _is_english_text(node):
        yield f"{module.where(node)}: {ast.unparse(node)[:80]}"
    elif isinstance(node, (ast.List, ast.Tuple, ast.Set)):
        for element in node.elts:
            yield from _message_problems(module, element, scope, seen)
    elif isinstance(node, ast.Starred):
        yield from _message_problems(module, node.value, scope, seen)
    elif isinstance(node, ast.Dict):
        for value in node.values:
            yield from _message_problems(module, value, scope, seen)
    elif isinstance(node, (ast.ListComp, ast.SetComp, ast.GeneratorExp)):
        yield from _message_problems(module, node.elt, scope, seen)
    elif isinstance(node, ast.DictComp):
        yield from _message_problems(module, node.value, scope, seen)
    elif isinstance(node, ast.IfExp):
        yield from _message_problems(module, node.body, scope, seen)
        yield from _message_problems(module, node.orelse, scope, seen)
    elif isinstance(node, ast.BoolOp):
        for value in node.values:
            yield from _message_problems(module, value, scope, seen)
    elif isinstance(node, ast.Name) and node.id not in seen:
        seen = seen | {node.id}
        yield from _name_problems(module, node.id, scope, seen)
    elif isinstance(node, ast.Call) and _called_name(node) in module.functions:
        name = _called_name(node)
        assert name is not None
        if name not in seen:
            function = module.functions[name]
            for returned in ast.walk(function):
                if isinstance(returned, ast.Return) and returned.value is not None:
                    yield from _message_problems(module, returned.value, function, seen | {name})


def _name_problems(module: _Module, name: str, scope: ast.AST, seen: set[str]) -> Iterator[str]:
    """What is put into the variable ``name`` (in ``scope``, else at module level)."""
    found_locally = False
    for node in ast.walk(scope) if scope is not module.tree else ():
        if isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            if any(isinstance(t, ast.Name) and t.id == name for t in targets):
                found_locally = True
                if node.value is not None:
                    yield from _message_problems(module, node.value, scope, seen)
            for target in targets:
                # errors[field] = [...]
                if (
                    isinstance(target, ast.Subscript)
                    and isinstance(target.value, ast.Name)
                    and target.value.id == name
                    and node.value is not None
                ):
                    yield from _message_problems(module, node.value, scope, seen)
        elif (
            # errors.setdefault(field, []).append(...), errors[field].extend(...)
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in {"append", "extend", "insert"}
            and _roots_at(node.func.value, name)
        ):
            for argument in node.args[-1:]:
                yield from _message_problems(module, argument, scope, seen)
    if not found_locally and name in module.constants:
        yield from _message_problems(module, module.constants[name], module.tree, seen)


def _roots_at(node: ast.expr, name: str) -> bool:
    """True when ``node`` is ``name`` or reached from it (``name[k]``, ``name.setdefault(…)``)."""
    while True:
        if isinstance(node, ast.Name):
            return node.id == name
        if isinstance(node, ast.Subscript):
            node = node.value
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            node = node.func.value
        elif isinstance(node, ast.Attribute):
            node = node.value
        else:
            return False


def _refusal_classes(modules: list[_Module]) -> set[str]:
    """``ValidationFailed`` and the classes derived from it in core/."""
    names = {"ValidationFailed"}
    grew = True
    while grew:
        grew = False
        for module in modules:
            for node in ast.walk(module.tree):
                if (
                    isinstance(node, ast.ClassDef)
                    and node.name not in names
                    and any(isinstance(b, ast.Name) and b.id in names for b in node.bases)
                ):
                    names.add(node.name)
                    grew = True
    return names


def _english_refusals(root: Path) -> list[str]:
    modules = [_Module(path, root) for path in sorted((root / "core").rglob("*.py"))]
    refusals = _refusal_classes(modules)
    problems: list[str] = []
    for module in modules:
        for node in ast.walk(module.tree):
            if isinstance(node, ast.Call) and _called_name(node) in refusals:
                scope = module.enclosing_function(node)
                # The first argument holds the messages; ``field`` names a field.
                for argument in node.args[:1]:
                    problems.extend(_message_problems(module, argument, scope, set()))
    return sorted(set(problems), key=problems.index)


def test_every_refusal_in_core_is_a_translatable_message(repo_root: Path) -> None:
    problems = _english_refusals(repo_root)
    assert problems == [], "write these as Message(...):\n" + "\n".join(problems)


def test_the_check_finds_english_literals_however_they_are_written(tmp_path: Path) -> None:
    (tmp_path / "core").mkdir()
    (tmp_path / "core" / "bad.py").write_text(
        "from core.errors import Message, ValidationFailed\n"
        "TAKEN = 'Taken.'\n"
        "FINE = Message('Fine.')\n"
        "def one(field, n):\n"
        "    raise ValidationFailed({field: ['Plain.']})\n"
        "def two(n):\n"
        "    raise ValidationFailed({'n': [f'At most {n}.']})\n"
        "def three():\n"
        "    raise ValidationFailed({'name': [TAKEN, FINE]})\n"
        "def four(rows):\n"
        "    errors = {}\n"
        "    for row in rows:\n"
        "        errors.setdefault(row, []).append('Gathered.')\n"
        "        errors[row] = [Message('Fine.')]\n"
        "    raise ValidationFailed(errors)\n"
        "def five():\n"
        "    raise ValidationFailed('Whole.', 'field')\n"
        "def six():\n"
        "    raise ValidationFailed({'x': [_word()]})\n"
        "def _word():\n"
        "    return 'From a helper.'\n"
    )
    found = _english_refusals(tmp_path)
    assert [line.split(": ", 1)[1] for line in found] == [
        "'Plain.'",
        "f'At most {n}.'",
        "'Taken.'",
        "'Gathered.'",
        "'Whole.'",
        "'From a helper.'",
    ]


# ------------------------------------------------------------------------- catalog entries


def _message_msgids(repo_root: Path) -> set[str]:
    """The msgids ``pybabel extract -k Message`` finds (those the UI test's keywords miss)."""
    with open(repo_root / "babel.cfg") as config:
        method_map, options_map = parse_mapping_cfg(config)
    return {
        message
        for _file, _line, message, _comments, _context in extract_from_dir(
            str(repo_root), method_map, options_map, keywords={"Message": None}
        )
        if isinstance(message, str)
    }


@pytest.mark.parametrize("locale", ["ja", "en"])
def test_every_message_msgid_is_in_the_catalog(repo_root: Path, locale: str) -> None:
    path = repo_root / "core/web/translations" / locale / "LC_MESSAGES/messages.po"
    with open(path, "rb") as handle:
        catalog = read_po(handle, locale=locale)
    missing = sorted(
        msgid
        for msgid in _message_msgids(repo_root)
        if (entry := catalog.get(msgid)) is None or (locale == "ja" and not entry.string.strip())
    )
    assert missing == [], f"add these to {locale}/LC_MESSAGES/messages.po: {missing!r}"


def test_japanese_messages_fill_in_the_same_values(repo_root: Path) -> None:
    """A placeholder missing or misspelt in a translation would fail only when shown."""
    path = repo_root / "core/web/translations/ja/LC_MESSAGES/messages.po"
    with open(path, "rb") as handle:
        catalog = read_po(handle, locale="ja")
    mismatched = sorted(
        msgid
        for msgid in _message_msgids(repo_root)
        if (entry := catalog.get(msgid)) is not None
        and entry.string
        and sorted(_PLACEHOLDER.findall(msgid)) != sorted(_PLACEHOLDER.findall(entry.string))
    )
    assert mismatched == []


# ---------------------------------------------------------------- pages in the reader's language


@pytest.fixture(scope="module", autouse=True)
def _compiled_catalogs() -> None:
    compile_catalogs()


@pytest.fixture
def japanese_admin(
    host: Host, make_agent: Callable[..., Agent], department: Department, client: FlaskClient
) -> FlaskClient:
    """The test client signed in as an administrator who reads Japanese."""
    agent = make_agent(
        "kanri@example.com", profile="Administrator", locale="ja", departments=[department]
    )
    assert sign_in(client, agent.email).status_code == 302
    return client


def _post(client: FlaskClient, path: str, **data: object) -> tuple[int, str]:
    answer = client.post(path, data={**data, "csrf_token": csrf_token_of(client, "/tickets")})
    return answer.status_code, unescape(answer.get_data(as_text=True))


def test_an_agent_form_with_a_bad_email_says_so_in_japanese(
    japanese_admin: FlaskClient, db: Session, department: Department
) -> None:
    profile_id = db.scalars(
        select(PermissionProfile.id).where(PermissionProfile.name == "Agent")
    ).one()
    status, page = _post(
        japanese_admin,
        "/admin/agents/new",
        name="Hanako Yamada",
        email="nope",
        locale="ja",
        profile_id=profile_id,
        department_ids=[department.id],
    )
    assert status == 422
    assert "メールアドレスの形式が正しくありません。" in page
    assert "Not a valid email address." not in page


def test_a_status_without_a_name_says_so_in_japanese(japanese_admin: FlaskClient) -> None:
    status, page = _post(japanese_admin, "/setup/statuses", name="", status_type="open")
    assert status == 422
    assert "この項目は必須です。" in page
    assert "This field is required." not in page


def test_a_bulk_change_without_tickets_says_so_in_japanese(japanese_admin: FlaskClient) -> None:
    status, page = _post(japanese_admin, "/tickets/bulk", action="close")
    assert status == 422
    assert "問い合わせを 1 件以上選択してください。" in page
    assert "Choose at least one ticket." not in page


def test_a_message_with_values_is_translated_with_its_values(
    japanese_admin: FlaskClient,
) -> None:
    """The import refuses a header naming a column twice: the name is filled into Japanese."""
    answer = japanese_admin.post(
        "/contacts/import",
        data={
            "csrf_token": csrf_token_of(japanese_admin, "/contacts/import"),
            "file": (io.BytesIO(b"Email,Email\na@example.com,b@example.com\n"), "people.csv"),
        },
        content_type="multipart/form-data",
    )
    page = unescape(answer.get_data(as_text=True))
    assert answer.status_code == 422
    assert "見出しに列 'Email' が 2 回あります。" in page
    assert "twice" not in page


def test_the_invalid_input_page_shows_its_messages_in_japanese(
    japanese_admin: FlaskClient,
) -> None:
    status, page = _post(japanese_admin, "/settings/language", locale="xx")
    assert status == 422
    assert "次のいずれかを選んでください：en, ja。" in page
    assert "Choose one of" not in page


def test_the_same_refusal_stays_english_on_an_english_page(
    client: FlaskClient, make_agent: Callable[..., Agent], department: Department
) -> None:
    agent = make_agent("admin@example.com", profile="Administrator", departments=[department])
    assert sign_in(client, agent.email).status_code == 302
    status, page = _post(client, "/settings/language", locale="xx")
    assert status == 422
    assert "Choose one of: en, ja." in page
