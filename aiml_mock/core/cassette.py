"""Cassettes: recorded exchanges with the real API, one readable JSON file per exchange, in a directory.

Pure file I/O, no HTTP. An entry holds the request (method, path, query, headers and body, secrets
redacted), its *match key* (the body normalised: JSON parsed, multipart boundaries dropped and file parts
replaced by their SHA-256), the answer (status, headers, body) and the upstream's latency. Images are stored
once, content-addressed, beside the entries (`files/<sha256>.<ext>`): a `b64_json` value is decoded to a file
and a `url` image downloaded once, so a cassette holds no inline base64 and does not die when the provider's
URLs expire; a streamed answer (`text/event-stream`) is kept event by event, each event's images stored the same
way and put back byte for byte on replay. `Cassette.find()` answers a request with its recording, or says
which recording came closest and what differed.
"""

from __future__ import annotations

import base64
import binascii
import copy
import hashlib
import json
import re
import shutil
import tempfile
import threading
import time
import weakref
import zipfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

VERSION = 1
FILES = "files"
SECRET_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie", "set-cookie", "x-api-key", "api-key",
                            "x-goog-api-key"})
SECRET_FIELDS = frozenset({"api_key", "apikey", "api-key", "access_token", "password", "secret"})
REDACTED = "[redacted]"
# not stored: they describe one connection or one encoding of the body, not the exchange
HOP_HEADERS = frozenset({"connection", "keep-alive", "transfer-encoding", "content-length", "content-encoding",
                         "host", "date", "te", "upgrade", "trailer", "accept-encoding"})
_MAGIC = ((b"\x89PNG", "png"), (b"\xff\xd8", "jpg"), (b"II*\x00", "tif"), (b"MM\x00*", "tif"), (b"GIF8", "gif"))


def extension(data: bytes) -> str:
    """A file extension from the content's magic bytes (images), `bin` otherwise."""
    for magic, ext in _MAGIC:
        if data.startswith(magic):
            return ext
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    return "bin"


def media_type(name: str) -> str:
    ext = name.rsplit(".", 1)[-1]
    return {"png": "image/png", "jpg": "image/jpeg", "webp": "image/webp", "tif": "image/tiff",
            "gif": "image/gif", "json": "application/json"}.get(ext, "application/octet-stream")


# -- request bodies: what a recording is matched by ---------------------------------------------------------

def boundary_of(content_type: str) -> str | None:
    match = re.search(r'boundary="?([^";]+)"?', content_type, re.IGNORECASE)
    return match.group(1) if match else None


def multipart_parts(raw: bytes, boundary: str) -> list[dict[str, Any]]:
    """A multipart/form-data body's parts, in order: name, filename, content type and the content itself."""
    parts = []
    delimiter = b"--" + boundary.encode("latin-1")
    for chunk in raw.split(delimiter)[1:]:
        if chunk.startswith(b"--"):
            break
        head, _, content = chunk.removeprefix(b"\r\n").partition(b"\r\n\r\n")
        content = content.removesuffix(b"\r\n")
        headers = {}
        for line in head.decode("utf-8", "replace").split("\r\n"):
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        disposition = headers.get("content-disposition", "")
        name_match = re.search(r'\bname="([^"]*)"', disposition)
        file_match = re.search(r'\bfilename="([^"]*)"', disposition)
        parts.append({"name": name_match.group(1) if name_match else None,
                      "filename": file_match.group(1) if file_match else None,
                      "content_type": headers.get("content-type"), "content": content})
    return parts


def normalise_body(content_type: str, raw: bytes, store: Cassette | None = None) -> Any:
    """The request body as it is matched and stored: JSON parsed; a multipart body as its parts without the
    boundary (text fields by value, files by SHA-256, stored in `store`); any other body by its SHA-256."""
    if not raw:
        return None
    media = content_type.split(";")[0].strip().lower()
    if media == "application/json" or media.endswith("+json"):
        try:
            return json.loads(raw)
        except ValueError:
            pass
    elif media == "multipart/form-data" and (boundary := boundary_of(content_type)):
        described = []
        for part in multipart_parts(raw, boundary):
            content: bytes = part.pop("content")
            if part["filename"] is None and part["content_type"] is None:
                try:
                    described.append({**part, "value": content.decode("utf-8")})
                    continue
                except UnicodeDecodeError:
                    pass
            digest = hashlib.sha256(content).hexdigest()
            if store is not None:
                part["file"] = store.store_file(content)
            described.append({**part, "sha256": digest})
        return {"multipart": described}
    return {"sha256": hashlib.sha256(raw).hexdigest(), "bytes": len(raw)}


def match_key(body: Any, ignore: Iterable[str]) -> Any:
    """`body` without the ignored fields (top-level names or dotted paths; the multipart field names too) and
    without the places files were stored: what two requests must share to match."""
    body = copy.deepcopy(body)
    ignored = set(ignore)
    if isinstance(body, dict) and "multipart" in body and isinstance(body["multipart"], list):
        body["multipart"] = [{k: v for k, v in part.items() if k != "file"} for part in body["multipart"]
                             if part.get("name") not in ignored]
        return body
    for path in ignored:
        node, *keys = path.split(".")
        target = body
        for key in [node, *keys][:-1]:
            target = target.get(key) if isinstance(target, dict) else None
        if isinstance(target, dict):
            target.pop([node, *keys][-1], None)
    return body


def differences(wanted: Any, recorded: Any, prefix: str = "") -> list[str]:
    """Where two match keys differ, as field paths with both values (shortened): the miss error's text."""
    if isinstance(wanted, dict) and isinstance(recorded, dict):
        found = []
        for key in list(dict.fromkeys([*wanted, *recorded])):
            name = f"{prefix}.{key}" if prefix else str(key)
            if key not in recorded:
                found.append(f"{name} (not in the recording)")
            elif key not in wanted:
                found.append(f"{name} (recorded as {_short(recorded[key])}, absent here)")
            else:
                found += differences(wanted[key], recorded[key], name)
        return found
    if isinstance(wanted, list) and isinstance(recorded, list) and len(wanted) == len(recorded):
        found = []
        for index, (left, right) in enumerate(zip(wanted, recorded, strict=True)):
            found += differences(left, right, f"{prefix}[{index}]")
        return found
    if wanted != recorded:
        return [f"{prefix or 'body'} ({_short(wanted)} here, {_short(recorded)} recorded)"]
    return []


def _short(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 60 else text[:57] + "..."


# -- secrets ----------------------------------------------------------------------------------------------

def redact_headers(headers: Iterable[tuple[str, str]], extra: Iterable[str] = ()) -> dict[str, str]:
    """Headers as a cassette stores them: secrets redacted, per-connection ones left out (repeats joined)."""
    secret = SECRET_HEADERS | {name.lower() for name in extra}
    kept: dict[str, str] = {}
    for name, value in headers:
        name = name.lower()
        if name in HOP_HEADERS:
            continue
        value = REDACTED if name in secret else value
        kept[name] = f"{kept[name]}, {value}" if name in kept else value
    return kept


def redact_fields(value: Any) -> Any:
    """A JSON value with every `api_key`-like field's value redacted, at any depth."""
    if isinstance(value, dict):
        return {key: REDACTED if str(key).lower() in SECRET_FIELDS else redact_fields(item)
                for key, item in value.items()}
    if isinstance(value, list):
        return [redact_fields(item) for item in value]
    return value


def bearer_secrets(headers: Iterable[tuple[str, str]], extra: Iterable[str] = ()) -> list[str]:
    """The secret values a request carried (its key, cookies): scrubbed from anywhere in the entry's text."""
    secret = SECRET_HEADERS | {name.lower() for name in extra}
    found = []
    for name, value in headers:
        if name.lower() in secret and value:
            found.append(value)
            scheme, _, token = value.partition(" ")
            if token.strip() and scheme.lower() in ("bearer", "basic", "token"):
                found.append(token.strip())
    return [item for item in found if len(item) >= 4]


# -- entries ----------------------------------------------------------------------------------------------

@dataclass
class Recording:
    """One recorded exchange, as read from (or written to) its file."""

    path: Path
    data: dict[str, Any]
    key: Any = None  # the match key, with the cassette's ignored fields left out
    uses: int = 0

    @property
    def request(self) -> dict[str, Any]:
        request: dict[str, Any] = self.data["request"]
        return request

    @property
    def response(self) -> dict[str, Any]:
        response: dict[str, Any] = self.data["response"]
        return response


@dataclass
class Miss:
    """No recording matches: the closest one (None in an empty cassette) and how it differs."""

    closest: Recording | None
    differs: list[str] = field(default_factory=list)

    def message(self, method: str, path: str, root: Path) -> str:
        text = f"No recording in the cassette {root} matches {method} {path}."
        if self.closest is None:
            return text + " The cassette has no recordings (record them with --record-mode once)."
        shown = "; ".join(self.differs[:5]) + (f" (and {len(self.differs) - 5} more)" if len(self.differs) > 5 else "")
        return f"{text} The closest is {self.closest.path.name}, which differs in: {shown or 'nothing'}."


_SAFE = re.compile(r"[^A-Za-z0-9._-]+")


def entry_name(test: str | None, method: str, path: str, key: Any) -> str:
    """A file name stem: the test id (`tests/test_x.py::test_y[a]` -> `tests_test_x.py__test_y_a`) when the
    request names its test, else the method, the path and a digest of the match key."""
    if test:
        return _SAFE.sub("_", test).strip("_")[:150] or "test"
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:12]
    return f"{method.lower()}{_SAFE.sub('_', path)}-{digest}"


class Cassette:
    """A directory of recordings, loaded once; new recordings are added as they are written (thread-safe)."""

    def __init__(self, root: str | Path, ignore: Sequence[str] = (), extra_secret_headers: Sequence[str] = ()
                 ) -> None:
        self.root = Path(root)
        self.ignore = tuple(ignore)
        self.extra_secret_headers = tuple(extra_secret_headers)
        self.recordings: list[Recording] = []
        self._lock = threading.Lock()
        self._counts: dict[str, int] = {}
        self._fresh: set[str] = set()
        if self.root.is_file():  # an exported journal (`GET /__mock/export`): replayed from a copy unpacked
            self.root = unpack(self.root)
            weakref.finalize(self, shutil.rmtree, self.root, True)
        if self.root.is_dir():
            for path in sorted(self.root.glob("*.json")):
                self.recordings.append(self._loaded(path))

    def _loaded(self, path: Path) -> Recording:
        """One entry file; `ValueError` naming it when it is not a recording (the server refuses to start)."""
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            request, response = data["request"], data["response"]
            if not isinstance(request.get("method"), str) or not isinstance(response.get("status"), int):
                raise TypeError("no method or status")
            return Recording(path, data, match_key(request.get("body"), self.ignore))
        except (ValueError, KeyError, TypeError, AttributeError) as error:
            raise ValueError(f"{path} is not a cassette entry: {error}") from None

    # -- files --

    def store_file(self, data: bytes) -> str:
        """Store `data` once under its SHA-256; the path relative to the cassette (`files/<sha>.<ext>`)."""
        name = f"{FILES}/{hashlib.sha256(data).hexdigest()}.{extension(data)}"
        target = self.root / name
        if not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            partial = target.with_suffix(".part")
            partial.write_bytes(data)
            partial.replace(target)
        return name

    def file(self, name: str) -> Path | None:
        """A stored file by its base name (`<sha>.<ext>`), None when there is no such file."""
        if "/" in name or "\\" in name or name.startswith("."):
            return None
        path = self.root / FILES / name
        return path if path.is_file() else None

    # -- matching --

    def find(self, method: str, path: str, query: str, body: Any) -> Recording | Miss:
        """The recording for this request (repeats served in recorded order, the last one again after), or the
        closest recording and what differs."""
        key = match_key(body, self.ignore)
        with self._lock:
            same = [item for item in self.recordings if item.request["method"] == method
                    and item.request["path"] == path and item.request.get("query", "") == query and item.key == key]
            if same:
                chosen = min(same, key=lambda item: item.uses) if any(i.uses == 0 for i in same) else same[-1]
                chosen.uses += 1
                return chosen
            return self._closest(method, path, query, key)

    def _closest(self, method: str, path: str, query: str, key: Any) -> Miss:
        best: tuple[int, Recording, list[str]] | None = None
        for item in self.recordings:
            request = item.request
            differs = []
            if request["method"] != method or request["path"] != path:
                differs.append(f"route ({method} {path} here, {request['method']} {request['path']} recorded)")
            if request.get("query", "") != query:
                differs.append(f"query ({query!r} here, {request.get('query', '')!r} recorded)")
            differs += differences(key, item.key)
            score = len(differs) + (100 if request["path"] != path else 0)
            if best is None or score < best[0]:
                best = (score, item, differs)
        return Miss(None) if best is None else Miss(best[1], best[2])

    # -- recording --

    def record(self, test: str | None, request: dict[str, Any], response: dict[str, Any],
               secrets: Sequence[str] = (), violations: Sequence[Mapping[str, Any]] = (), *, replace: bool = True
               ) -> Recording:
        """Write one exchange as `<name>-<n>.json` and add it to the recordings. `secrets` are scrubbed from the
        whole entry's text (wherever the upstream echoed them). With `test` given and `replace` (record mode
        all), the test's older entries are replaced the first time it records in this session; else numbering
        goes on after them (record mode once)."""
        key = match_key(request.get("body"), self.ignore)
        stem = entry_name(test, request["method"], request["path"], key)
        data = {"version": VERSION, "test": test, "recorded_at": time.time(), "request": request,
                "response": response, "violations": list(violations)}
        text = json.dumps(data, indent=2, ensure_ascii=False)
        for secret in sorted(set(secrets), key=len, reverse=True):
            text = text.replace(secret, REDACTED).replace(json.dumps(secret)[1:-1], REDACTED)
        with self._lock:
            self.root.mkdir(parents=True, exist_ok=True)
            if stem not in self._counts:
                self._counts[stem] = 0
                if replace and test is not None and stem not in self._fresh:  # re-recording a test: its old entries go
                    self._fresh.add(stem)
                    for old in self.root.glob(f"{glob_escape(stem)}-*.json"):
                        old.unlink()
                    self.recordings = [item for item in self.recordings if not _is_entry_of(item.path, stem)]
                else:
                    self._counts[stem] = len(list(self.root.glob(f"{glob_escape(stem)}-*.json")))
            self._counts[stem] += 1
            path = self.root / f"{stem}-{self._counts[stem]:03d}.json"
            path.write_text(text + "\n", encoding="utf-8")
            recording = Recording(path, json.loads(text), key, uses=1)
            self.recordings = [item for item in self.recordings if item.path != path] + [recording]
        return recording


def unpack(archive: Path) -> Path:
    """A zipped cassette unpacked into a new temporary directory; `ValueError` naming a file that is not one."""
    if not zipfile.is_zipfile(archive):
        raise ValueError(f"{archive} is not a cassette: give a directory, or a .zip of one (GET /__mock/export)")
    target = Path(tempfile.mkdtemp(prefix="aiml-mock-cassette-"))
    with zipfile.ZipFile(archive) as opened:
        for info in opened.infolist():
            parts = Path(info.filename).parts
            if info.filename.startswith(("/", "\\")) or ".." in parts or ":" in info.filename:
                shutil.rmtree(target, True)
                raise ValueError(f"{archive} holds a file outside the cassette: {info.filename!r}")
        opened.extractall(target)
    return target


def glob_escape(text: str) -> str:
    return re.sub(r"([\[\]*?])", r"[\1]", text)


def _is_entry_of(path: Path, stem: str) -> bool:
    return re.fullmatch(re.escape(stem) + r"-\d+\.json", path.name) is not None


# -- answers ----------------------------------------------------------------------------------------------

def _image_items(body: Any) -> list[tuple[str, int, dict[str, Any]]]:
    """The image objects of a JSON answer: the items of its top-level lists (`data`, `images`...) that carry a
    `url` or a `b64_json`, by list and index (each model family answers in its own shape)."""
    if not isinstance(body, dict):
        return []
    return [(name, index, item) for name, items in body.items() if isinstance(items, list)
            for index, item in enumerate(items) if isinstance(item, dict) and ("url" in item or "b64_json" in item)]


def extract_images(body: Any, store: Cassette) -> list[dict[str, Any]]:
    """A JSON answer's `b64_json` images, decoded and stored, their values replaced in `body` by a note naming
    the file; the stored files, by their place in the body (`url` images are added by the caller)."""
    images: list[dict[str, Any]] = []
    for name, index, item in _image_items(body):
        encoded = item.get("b64_json")
        if isinstance(encoded, str) and encoded:
            raw = _canonical_base64(encoded)
            if raw is None:
                continue  # not canonical base64: kept inline, so the replay is byte for byte
            stored = store.store_file(raw)
            item["b64_json"] = f"<{stored}>"
            images.append({"list": name, "index": index, "field": "b64_json", "file": stored})
    return images


# -- event streams (`stream: true`): each event's images stored once, the events rebuilt byte for byte ------

EVENT_END = re.compile(r"\r\n\r\n|\n\n|\r\r")  # a blank line ends a server-sent event
STREAM_IMAGE_FIELDS = frozenset({"b64_json", "partial_image_b64"})  # Images API / Responses API events


def split_events(text: str) -> list[str]:
    """An event stream cut after each event's blank line; joined again, the pieces are the same text (a last
    piece without its blank line stays one too)."""
    pieces: list[str] = []
    start = 0
    for end in EVENT_END.finditer(text):
        pieces.append(text[start:end.end()])
        start = end.end()
    if start < len(text):
        pieces.append(text[start:])
    return pieces


def event_data(event: str) -> Any:
    """The JSON of an event's `data:` lines (joined by newlines, as EventSource does), or None."""
    lines = [line[5:].removeprefix(" ") for line in event.splitlines() if line.startswith("data:")]
    if not lines:
        return None
    try:
        return json.loads("\n".join(lines))
    except ValueError:
        return None


def _stream_images(value: Any) -> list[tuple[str, str]]:
    """The (field, base64) images anywhere in an event's JSON."""
    if isinstance(value, dict):
        found = [(key, item) for key, item in value.items() if key in STREAM_IMAGE_FIELDS and isinstance(item, str)]
        return found + [image for item in value.values() for image in _stream_images(item)]
    if isinstance(value, list):
        return [image for item in value for image in _stream_images(item)]
    return []


def store_event_stream(content: bytes, arrivals: Sequence[tuple[int, float]], store: Cassette
                       ) -> dict[str, Any] | None:
    """A `text/event-stream` answer as a cassette keeps it: `events`, each event's text as it was sent with every
    image (`b64_json`...) replaced by a note naming its stored file; `images` (event, field, file); and
    `event_ms`, when each event had arrived (ms after the request went; `arrivals` are the chunks' end offsets in
    bytes and their times in seconds). None for bytes that are not UTF-8 (stored whole as a file instead)."""
    try:
        text = content.decode("utf-8")
    except UnicodeDecodeError:
        return None
    events = split_events(text)
    ends, offset = [], 0
    for event in events:
        offset += len(event.encode("utf-8"))
        ends.append(offset)
    images: list[dict[str, Any]] = []
    for number, event in enumerate(events):
        for name, encoded in _stream_images(event_data(event)):
            needle = json.dumps(encoded)
            raw = _canonical_base64(encoded)
            if raw is None or needle not in event:
                continue  # kept inline (not canonical base64, or written with escapes): the replay stays exact
            stored = store.store_file(raw)
            event = event.replace(needle, json.dumps(f"<{stored}>"))
            images.append({"event": number, "field": name, "file": stored})
        events[number] = event
    event_ms = [round(next((at for size, at in arrivals if size >= end), arrivals[-1][1] if arrivals else 0.0)
                      * 1000, 3) for end in ends]
    return {"events": events, "event_ms": event_ms, "images": images}


def event_stream_frames(response: Mapping[str, Any], store: Cassette) -> list[bytes]:
    """The recorded events, byte for byte as the upstream sent them, each image put back from its file."""
    events = list(response["events"])
    for image in response.get("images", ()):
        number, name = image["event"], image["file"]
        encoded = base64.b64encode((store.root / name).read_bytes()).decode("ascii")
        events[number] = events[number].replace(json.dumps(f"<{name}>"), json.dumps(encoded))
    return [event.encode("utf-8") for event in events]


def _canonical_base64(encoded: str) -> bytes | None:
    """The bytes of canonical base64 (what encoding them gives back exactly), else None."""
    if not encoded:
        return None
    try:
        raw = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        return None
    return raw if base64.b64encode(raw).decode("ascii") == encoded else None


def image_urls(body: Any) -> list[tuple[str, int, str]]:
    """The `url` images of a JSON answer: list, index, URL."""
    return [(name, index, item["url"]) for name, index, item in _image_items(body)
            if isinstance(item.get("url"), str) and item["url"].startswith("http")]
