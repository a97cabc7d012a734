"""Ticket History: The customer's earlier tickets beside the ticket you are working on.

The extension is loaded through the ``deskhost.plugins`` entry point; its hook
implementations live in this package and its manifest in ``manifest.json``.
"""
