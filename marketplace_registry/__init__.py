"""The extension marketplace: catalog, search and the install / authorize / scope / uninstall
lifecycle, with the OAuth authorization server. Built by the marketplace issue; the host
already keeps minimal installation records in ``core.plugins.installations``."""
