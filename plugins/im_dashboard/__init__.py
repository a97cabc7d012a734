"""IM Dashboard: WhatsApp, Telegram, WeChat and LINE conversations as chats, with a real-time
dashboard of contacts, messages, assignment, channels, response times and agents.

The extension is loaded through the ``deskhost.plugins`` entry point; its hook
implementations live in this package and its manifest in ``manifest.json``.
"""
