"""``/api/v1/agents/{agent_id}/two-factor``: an agent manager reads or resets an agent's
two-factor sign-in (a lost phone). Enrolling is for the agent in the browser only: it shows
a secret and recovery codes that belong on their phone and paper, not in a script."""

from __future__ import annotations

from typing import Any

from core import permissions as catalogue
from core.api import schemas
from core.api.auth import scoped, unit
from core.api.blueprint import api_blueprint, commit
from core.services import org, two_factor
from core.tokens import SETTINGS_WRITE_SCOPE
from hostapi import scopes

blp = api_blueprint(
    "api_two_factor", __name__, "/agents", "Agents' two-factor sign-in (read and reset)."
)


def _state_view(agent_id: int, state: two_factor.TwoFactorState) -> dict[str, Any]:
    return {
        "agent_id": agent_id,
        "enabled": state.enabled,
        "enrolling": state.enrolling,
        "enabled_at": state.enabled_at,
        "recovery_codes_left": state.recovery_codes_left,
    }


@blp.route("/<id:agent_id>/two-factor", methods=["GET"])
@scoped(scopes.SETTINGS_READ)
@blp.response(200, schemas.TwoFactorStateSchema)
def get_two_factor(agent_id: int) -> dict[str, Any]:
    """Whether the agent signs in with two-factor (needs ``agent.manage``; never the secret)."""
    work = unit()
    agent = org.get_agent(work, agent_id)
    work.actor.require(catalogue.AGENT_MANAGE)
    return _state_view(agent.id, two_factor.state(work.session, agent))


@blp.route("/<id:agent_id>/two-factor", methods=["DELETE"])
@scoped(SETTINGS_WRITE_SCOPE)
@blp.response(204)
def reset_two_factor(agent_id: int) -> None:
    """Reset the agent's two-factor (lost phone): secret and recovery codes are deleted and
    their sessions end; 409 when none is set up (needs ``agent.manage``)."""
    work = unit()
    agent = org.get_agent(work, agent_id)
    two_factor.reset_two_factor(work, agent)
    commit()
