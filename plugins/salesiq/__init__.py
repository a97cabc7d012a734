"""SalesIQ live chat: Live chat with the desk: chats become tickets by rule, the chat window shows
the visitor's desk data, knowledge-base articles sync on a schedule.

The extension is loaded through the ``deskhost.plugins`` entry point; its hook
implementations live in this package and its manifest in ``manifest.json``.
"""
