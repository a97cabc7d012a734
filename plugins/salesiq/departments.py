"""Department mapping: what each department of the chat product is to the desk.

A chat department is mapped to a desk department, or set to one of three modes: no
integration (nothing shown, nothing converted), view only (existing tickets shown, nothing
created or changed) or choose each time (the agent picks the desk department, priority, status
and classification on converting). When the product's departments are read (on linking) or a
new one arrives (its ``department.created`` event), one named as a desk department is mapped
to it (the names compared without regard to case or surrounding spaces), with a notice the
admin may dismiss or answer with "unlink" (back to choose each time); one without a match is
set to choose each time.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from sqlalchemy import select

from hostapi import Context, NotFound
from plugins.salesiq.models import ChatDepartment

MAPPED, NONE, VIEW_ONLY, CHOOSE = "mapped", "none", "view_only", "choose"
#: The modes that are not a mapping, in the order the mapping form offers them.
MODES = (NONE, VIEW_ONLY, CHOOSE)


def listed(context: Context) -> list[ChatDepartment]:
    """The installation's chat departments, by name."""
    return list(
        context.db.scalars(
            select(ChatDepartment)
            .where(ChatDepartment.installation_id == context.installation_id)
            .order_by(ChatDepartment.name, ChatDepartment.id)
        )
    )


def find(context: Context, chat_department_id: str) -> ChatDepartment | None:
    """The chat department with the product's id ``chat_department_id``, if known."""
    return context.db.scalar(
        select(ChatDepartment).where(
            ChatDepartment.installation_id == context.installation_id,
            ChatDepartment.chat_department_id == chat_department_id,
        )
    )


def arrived(context: Context, chat_department_id: str, name: str) -> ChatDepartment:
    """Record a department of the product (read on linking, or created or renamed there).

    A new one is mapped by name, else set to choose each time; a known one keeps its mapping
    and takes the new name.
    """
    known = find(context, chat_department_id)
    if known is not None:
        known.name = name
        known.updated_at = context.now()
        return known
    match = _same_named(context).get(_comparable(name))
    department = ChatDepartment(
        installation_id=context.installation_id,
        chat_department_id=chat_department_id,
        name=name,
        mode=MAPPED if match is not None else CHOOSE,
        desk_department_id=match,
        auto_mapped=match is not None,
        notice=match is not None,
        updated_at=context.now(),
    )
    context.db.add(department)
    context.db.flush()
    return department


def arrived_all(context: Context, departments: Iterable[Mapping[str, str]]) -> None:
    """Record each of the product's departments (``{"id", "name"}``) as :func:`arrived`."""
    for department in departments:
        arrived(context, str(department["id"]), str(department["name"]))


def set_mode(context: Context, department: ChatDepartment, choice: str) -> None:
    """Set a chat department from the mapping form's ``choice``: a mode, or a desk
    department's id.

    :raises ValueError: neither a mode nor one of the installation's departments.
    """
    if choice in MODES:
        mode, desk_department_id = choice, None
    elif choice.isdigit() and int(choice) in context.department_ids:
        mode, desk_department_id = MAPPED, int(choice)
    else:
        raise ValueError(context.gettext("Choose a department or a mode."))
    if (mode, desk_department_id) != (department.mode, department.desk_department_id):
        department.mode, department.desk_department_id = mode, desk_department_id
        department.auto_mapped = department.notice = False
        department.updated_at = context.now()


def unlink(context: Context, department: ChatDepartment) -> None:
    """Undo an automatic mapping: the department is set to choose each time."""
    department.mode, department.desk_department_id = CHOOSE, None
    department.auto_mapped = department.notice = False
    department.updated_at = context.now()


def dismiss(context: Context, department: ChatDepartment) -> None:
    """Keep an automatic mapping and stop showing its notice."""
    department.notice = False
    department.updated_at = context.now()


def by_id(context: Context, department_id: int) -> ChatDepartment:
    """One of the installation's chat departments by its row id.

    :raises NotFound: not one of them.
    """
    department = context.db.get(ChatDepartment, department_id)
    if department is None or department.installation_id != context.installation_id:
        raise NotFound(f"chat department {department_id} not found")
    return department


def _same_named(context: Context) -> dict[str, int]:
    return {_comparable(d.name): d.id for d in context.departments()}


def _comparable(name: str) -> str:
    return " ".join(name.split()).casefold()
