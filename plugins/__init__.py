"""The extensions bundled with deskhost; each loads through the ``deskhost.plugins`` entry
points exactly as a third-party extension would, and imports nothing of the host but
``hostapi``."""
