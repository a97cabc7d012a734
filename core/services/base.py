"""What every service call carries: the session, the acting agent and the host."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy.orm import Session

from core import events
from core.errors import Forbidden, NotFound
from core.models import Agent, AuditEntry
from hostapi import Event, clock

if TYPE_CHECKING:
    from core.host import Host


@dataclass(frozen=True)
class Actor:
    """Who is acting: an agent (with the IP of the request), or the system under a label.

    The system actor ("import", "demo", "extension:<id>", "cli") passes permission checks;
    extensions' department limits are applied by their context before reaching services.
    """

    agent: Agent | None
    ip_address: str | None = None
    label: str = ""

    @classmethod
    def system(cls, label: str) -> Actor:
        """An actor that is not an agent."""
        return cls(agent=None, label=label)

    @property
    def agent_id(self) -> int | None:
        """The acting agent's id, if an agent acts."""
        return self.agent.id if self.agent is not None else None

    def require(self, permission: str) -> None:
        """Raise :class:`Forbidden` unless the actor holds ``permission``."""
        if self.agent is not None and not self.agent.has_permission(permission):
            raise Forbidden(permission)

    def can_see_department(self, department_id: int) -> bool:
        """True when the actor may see records of ``department_id``."""
        return self.agent is None or department_id in self.agent.department_ids

    def visible_department_ids(self) -> frozenset[int] | None:
        """Departments the actor may see; ``None`` means all (system actors)."""
        return None if self.agent is None else self.agent.department_ids

    def require_department(self, department_id: int, what: str = "record") -> None:
        """Raise :class:`NotFound` (nothing leaks) unless the actor sees ``department_id``."""
        if not self.can_see_department(department_id):
            raise NotFound(f"{what} not found")


@dataclass
class Unit:
    """One unit of work: a session in a transaction, who acts, and the host for events."""

    session: Session
    actor: Actor
    host: Host | None

    def emit(
        self, name: str, payload: Mapping[str, Any], department_ids: Iterable[int] = ()
    ) -> Event:
        """Record a domain event for this change (outbox + synchronous hooks)."""
        return events.emit(self.session, self.host, name, payload, department_ids)

    def audit(
        self,
        action: str,
        entity_type: str,
        entity_id: int | str,
        *,
        sub_action: str = "",
        before: dict[str, Any] | None = None,
        after: dict[str, Any] | None = None,
    ) -> None:
        """Write an audit entry for this change."""
        self.session.add(
            AuditEntry(
                at=clock.now(),
                actor_agent_id=self.actor.agent_id,
                actor_label=self.actor.label,
                ip_address=self.actor.ip_address,
                action=action,
                entity_type=entity_type,
                entity_id=str(entity_id),
                sub_action=sub_action,
                before=before,
                after=after,
            )
        )
