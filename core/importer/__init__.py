"""History import: a JSON Lines file of departments, profiles, agents, accounts, contacts and
tickets with their whole history (docs/import-format.md), checked record by record and written
in one transaction through the bulk path (``core.importer.bulk``)."""

from core.importer.runner import BATCH_TICKETS, ImportRefused, ImportReport, run_import

__all__ = ["BATCH_TICKETS", "ImportRefused", "ImportReport", "run_import"]
