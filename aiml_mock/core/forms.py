"""A `multipart/form-data` upload as data: its text fields and its files, each spooled and closed when done.

The HTTP layer fills one in as the upload streams (`uploads.read_form`); edits and variations read it without
knowing of HTTP.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import IO


@dataclass
class Upload:
    """One uploaded file: its field name, file name, declared type, size and content (None once over its limit)."""

    name: str
    filename: str
    content_type: str
    size: int = 0
    file: IO[bytes] | None = None
    over: bool = False

    def read(self) -> bytes:
        assert self.file is not None
        self.file.seek(0)
        return self.file.read()

    def close(self) -> None:
        if self.file is not None:
            self.file.close()


@dataclass
class Form:
    """A parsed form: its text fields (the last value of each, and all of them) and its files, in order."""

    fields: dict[str, str] = field(default_factory=dict)
    files: list[Upload] = field(default_factory=list)

    def close(self) -> None:
        for upload in self.files:
            upload.close()
