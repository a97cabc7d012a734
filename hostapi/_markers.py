"""The pluggy marker pair for the ``deskhost`` project."""

import pluggy

PROJECT_NAME = "deskhost"

#: Marks a hook specification (host side only).
hookspec = pluggy.HookspecMarker(PROJECT_NAME)

#: Marks a hook implementation in an extension.
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)
