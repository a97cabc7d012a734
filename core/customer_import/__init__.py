"""Importing contacts and accounts from CSV, vCard and XLSX files.

An import goes: upload (the file is read and checked, then kept in ``CustomerImport.content``)
→ mapping (file columns to fields, suggested from the headers) → dry-run preview → a job on
the core queue that writes batches, each in its own transaction, keeping rejected rows for a
download. See docs/customer-import.md.
"""

from __future__ import annotations

from core.customer_import.errors import FileRefused

__all__ = ["FileRefused"]
