"""What a refused upload raises: a validation error on ``file`` (or ``encoding``), with its line."""

from __future__ import annotations

from core.errors import ValidationFailed


class FileRefused(ValidationFailed):
    """The file is not what it says (malformed, wrong encoding, empty…): nothing is stored."""

    def __init__(self, message: str, *, field: str = "file", line: int | None = None) -> None:
        self.line = line
        super().__init__({field: [message]})
