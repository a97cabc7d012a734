"""The extension marketplace: catalog and search, the installation lifecycle (install, consent,
scope and settings edits, upgrade, uninstall, restore) and the OAuth 2.0 authorization server.

- :mod:`marketplace_registry.catalog` — listings from installed entry points and a registry index;
- :mod:`marketplace_registry.lifecycle` — the persisted state machine of installations;
- :mod:`marketplace_registry.oauth` — the Authlib authorization server (each installation a client);
- :mod:`marketplace_registry.web` — where the admin pages, the OAuth endpoints and the REST API
  join the web app.

It imports the core; the core reaches it only to mount its web parts and CLI commands.
"""
