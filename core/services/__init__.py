"""Domain services: every change to core data goes through here, checked and evented."""
