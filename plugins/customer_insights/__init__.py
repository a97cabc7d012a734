"""Customer Insights: The customer's numbers beside every ticket: open vs closed tickets, first
response, response and resolution times, and happiness.

The extension is loaded through the ``deskhost.plugins`` entry point; its hook
implementations live in this package and its manifest in ``manifest.json``.
"""
