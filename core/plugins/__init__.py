"""The plugin host: manifests, loading, per-installation contexts and event dispatch.

``core.plugins.manager.PluginHost`` is what the rest of the core talks to (``host.plugins``);
the installation lifecycle (install, consent, uninstall…) is ``marketplace_registry.lifecycle``.
"""
