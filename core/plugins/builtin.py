"""The core's own contributions, registered as ordinary plugins (as datasette's DEFAULT_PLUGINS).

Built-in plugins need no installation: their panels show to every agent, over what that agent
may see. They eat the same hooks extensions implement, so the tab mechanism has one path.
"""

from __future__ import annotations

from core.customer_tabs import (
    activities,
    attachments,
    happiness,
    history,
    products,
    reactions,
    tickets,
    time_entries,
)
from core.plugins.manifest import Manifest

#: The built-in plugins every host registers, with their manifests (the tabs' order is their
#: ``Panel.order``).
DEFAULT_PLUGINS: tuple[tuple[object, Manifest], ...] = (
    history.PLUGIN,
    activities.PLUGIN,
    reactions.PLUGIN,
    tickets.PLUGIN,
    time_entries.PLUGIN,
    happiness.PLUGIN,
    products.PLUGIN,
    attachments.PLUGIN,
)
