"""The core's reactions to domain events, imported once so that they register.

Each module below decorates its functions with :func:`core.events.subscriber`.
"""
