"""The journal as a cassette: what the mock answered, written by `cassette.Cassette` in its own format, so that
`aiml-mock serve --replay` of the export answers the same requests with the same answers.

Pure file I/O over journal entries, no HTTP. Each exchange becomes one cassette entry (secrets redacted as the
cassette redacts them, named after its test when the client sent `X-Mock-Test`), oldest first, so repeated
requests replay in the order they were answered. Images are stored once, content-addressed, under `files/`:
a `url` image rendered again from its name (the name is the image's description, so this needs no registry and
works for URLs long expired), a `b64_json` image (elided in the journal) rendered again from its request and
kept only when it has the length the journal noted. What the journal does not hold whole is left out and said
so, never written broken: bodies over its cap, uploads, streamed answers, connection faults, other routes.
"""

from __future__ import annotations

import re
import tempfile
import time
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from aiml_mock.core.cassette import Cassette, extract_images, image_urls, redact_fields, redact_headers
from aiml_mock.core.contract import IMAGE_PATH, Contract
from aiml_mock.core.errors import ApiError
from aiml_mock.core.faults import TRANSPORT_KINDS
from aiml_mock.core.generation import CONTENT_TYPES, image_b64, image_bytes, image_specs
from aiml_mock.core.images import ImageCache
from aiml_mock.core.journal import BODY_CAP, Entry, image_name
from aiml_mock.core.ledger import TEST_HEADER
from aiml_mock.core.urls import spec_from_name
from aiml_mock.core.validation import validate_request

REPORT = "EXPORT.txt"  # in the archive beside the entries (a cassette loads only `*.json`)
_ELIDED = re.compile(r"<(\d+) base64 characters elided>")


@dataclass
class ExportReport:
    """What an export wrote, and each entry it left out with the reason."""

    entries: int = 0
    written: int = 0
    images: int = 0
    left_out: list[tuple[Entry, str]] = field(default_factory=list)

    def text(self) -> str:
        lines = [f"aiml-mock journal export, {time.strftime('%Y-%m-%d %H:%M:%S %Z')}",
                 f"{self.written} of {self.entries} journal entries written as cassette entries, with {self.images} "
                 "image(s) under files/.",
                 "Replay it: aiml-mock serve --replay THIS-FILE.zip (or unzip it into a directory and --replay DIR).",
                 "The journal keeps no response headers: a replayed answer has the recorded status and body, "
                 "with content-type."]
        if self.left_out:
            lines.append(f"\n{len(self.left_out)} entries could not be exported whole and were left out:")
            lines += [f"  #{entry.id} {entry.method} {entry.path[:120]} -> {entry.status}: {reason}"
                      for entry, reason in self.left_out]
        return "\n".join(lines) + "\n"


class Renderer:
    """The images of exported answers, rendered again as the mock rendered them (its contract, cache and seed)."""

    def __init__(self, contract: Contract, cache: ImageCache, seed: int) -> None:
        self.contract, self.cache, self.seed = contract, cache, seed

    def url_image(self, url: str) -> bytes | None:
        """The bytes behind one of the mock's image URLs, None for a URL that is not the mock's."""
        try:
            return image_bytes(spec_from_name(image_name(url)), self.cache)
        except ApiError:
            return None

    def b64_images(self, body: Any) -> list[str] | None:
        """A generation's `b64_json` images, in answer order, None when its body no longer describes them."""
        try:
            request = validate_request(body, self.contract)
        except ApiError:
            return None
        return [image_b64(spec, self.cache) for spec in image_specs(request, self.seed)]


def write_cassette(entries: Sequence[Entry], root: Path, renderer: Renderer) -> ExportReport:
    """Write `entries` (the journal, newest first) as a cassette in `root`; what was written and left out."""
    cassette = Cassette(root)
    report = ExportReport(entries=len(entries))
    for entry in reversed(entries):  # oldest first: repeats are numbered, and replayed, in the order answered
        made = _exchange(entry, cassette, renderer)
        if isinstance(made, str):
            report.left_out.append((entry, made))
            continue
        request, response, images = made
        cassette.record(entry.headers.get(TEST_HEADER.lower()), request, response,
                        violations=[violation.to_dict() for violation in entry.violations], replace=False)
        report.written += 1
        report.images += images
    report.left_out.reverse()  # newest first, as the journal lists them
    return report


def write_archive(entries: Sequence[Entry], renderer: Renderer) -> tuple[Path, ExportReport]:
    """The cassette as one zip file (a temporary file the caller removes), with `EXPORT.txt` saying what it holds."""
    with tempfile.TemporaryDirectory(prefix="aiml-mock-export-") as directory:
        root = Path(directory)
        report = write_cassette(entries, root, renderer)
        (root / REPORT).write_text(report.text(), encoding="utf-8")
        handle = tempfile.NamedTemporaryFile(prefix="aiml-mock-export-", suffix=".zip", delete=False)  # noqa: SIM115
        with handle, zipfile.ZipFile(handle, "w") as archive:
            for path in sorted(root.rglob("*")):
                if path.is_file():  # images are compressed already; the JSON entries are worth deflating
                    kind = zipfile.ZIP_STORED if path.parent.name == "files" else zipfile.ZIP_DEFLATED
                    archive.write(path, path.relative_to(root).as_posix(), kind)
    return Path(handle.name), report


def _exchange(entry: Entry, cassette: Cassette, renderer: Renderer
              ) -> tuple[dict[str, Any], dict[str, Any], int] | str:
    """The entry as a cassette's request and response (and how many images it stored), or why it cannot be."""
    headers = dict(entry.headers)
    if not entry.path.startswith("/v1/"):
        return "not an API route (image downloads and other paths are the replaying mock's own)"
    kind = re.split(r"[\s@]", entry.fault or "")[0]  # `drop`, `truncate (X-Mock-Fault)`, `stall@2`
    if entry.status in (0, 499) or kind in TRANSPORT_KINDS:
        return f"a connection fault ({entry.fault or 'no answer'}): no whole answer was sent"
    media = headers.get("content-type", "").split(";")[0].strip().lower()
    length = headers.get("content-length", "").strip()
    if media.startswith("multipart/"):
        return "an upload: the journal does not keep the uploaded files the replay matches"
    if length.isdigit() and int(length) > BODY_CAP:
        return f"its body ({length} bytes) was over the journal's {BODY_CAP}-byte cap and is kept shortened"
    if entry.json is None and ((length.isdigit() and int(length) > 0) or "transfer-encoding" in headers):
        return "its body is not in the journal (it was not read as JSON)"
    if entry.json is not None and media != "application/json" and not media.endswith("+json"):
        return f"its body was sent as {media or 'no content type'}: the replay matches bytes the journal does not keep"
    answer = entry.response
    if isinstance(answer, dict) and isinstance(answer.get("stream"), dict):
        return "a streamed answer: the journal keeps its events' names, not their bytes"
    if isinstance(answer, str) and "over the journal's" in answer:
        return f"its answer was over the journal's {BODY_CAP}-byte cap"
    if not isinstance(answer, dict | list):
        return "its answer is not in the journal (it was not JSON)"
    body = orjson.loads(orjson.dumps(answer))  # a copy to fill in
    images = _restore_b64(entry, body, renderer)
    if isinstance(images, str):
        return images
    stored = extract_images(body, cassette)
    for name, index, url in image_urls(body):
        data = renderer.url_image(url)
        if data is None:
            return f"its image URL {url[:80]} is not one this mock renders"
        stored.append({"list": name, "index": index, "field": "url", "url": url, "file": cassette.store_file(data),
                       "content_type": CONTENT_TYPES.get(spec_from_name(image_name(url)).fmt)})
    request = {"method": entry.method, "path": entry.path, "query": entry.query,
               "headers": redact_headers(headers.items()),
               "body": None if entry.json is None else redact_fields(entry.json)}
    response: dict[str, Any] = {"status": entry.status, "headers": {"content-type": "application/json"},
                                "latency_ms": round(entry.duration_ms, 3), "body": body, "images": stored}
    return request, response, len(stored)


def _restore_b64(entry: Entry, body: Any, renderer: Renderer) -> int | str:
    """Put back the `b64_json` images the journal elided (rendered again, each checked against the length the
    journal noted); how many, or why they cannot be."""
    elided = [(item, int(match.group(1))) for items in (body.values() if isinstance(body, dict) else ())
              if isinstance(items, list) for item in items
              if isinstance(item, dict) and isinstance(item.get("b64_json"), str)
              and (match := _ELIDED.fullmatch(item["b64_json"]))]
    if not elided:
        return 0
    rendered = renderer.b64_images(entry.json) if entry.path == IMAGE_PATH and entry.method == "POST" else None
    if rendered is None or len(rendered) != len(elided) or any(
            len(image) != size for image, (_, size) in zip(rendered, elided, strict=False)):
        return "its b64_json images are not in the journal and could not be rendered again as they were"
    for image, (item, _) in zip(rendered, elided, strict=True):
        item["b64_json"] = image  # `extract_images` stores it as a file and notes the file in its place
    return len(elided)
