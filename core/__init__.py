"""deskhost's core: tickets, customers, departments, agents, profiles, permissions, audit,
the event outbox, the plugin manager, the web app and the CLI."""
