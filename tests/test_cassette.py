"""The cassette format: what a recording is matched by, what it never stores, where it is written."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from aiml_mock.core.cassette import (
    REDACTED,
    Cassette,
    Recording,
    differences,
    entry_name,
    event_stream_frames,
    match_key,
    normalise_body,
    redact_fields,
    redact_headers,
    split_events,
    store_event_stream,
)

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32


def multipart(boundary: str, image: bytes, prompt: str) -> bytes:
    return (f"--{boundary}\r\nContent-Disposition: form-data; name=\"prompt\"\r\n\r\n{prompt}\r\n"
            f"--{boundary}\r\nContent-Disposition: form-data; name=\"image\"; filename=\"in.png\"\r\n"
            f"Content-Type: image/png\r\n\r\n").encode() + image + f"\r\n--{boundary}--\r\n".encode()


def test_the_same_upload_with_another_boundary_matches() -> None:
    first = normalise_body("multipart/form-data; boundary=aaa", multipart("aaa", PNG, "a hat"))
    second = normalise_body('multipart/form-data; boundary="zz-99"', multipart("zz-99", PNG, "a hat"))
    assert match_key(first, ()) == match_key(second, ())
    other = normalise_body("multipart/form-data; boundary=aaa", multipart("aaa", PNG + b"x", "a hat"))
    assert match_key(other, ()) != match_key(first, ())
    [differs] = differences(match_key(other, ()), match_key(first, ()))
    assert differs.startswith(f"multipart[1].sha256 ({json.dumps(other['multipart'][1]['sha256'])[:57]}... here")


def test_an_upload_is_stored_once_beside_the_entries(tmp_path: Path) -> None:
    cassette = Cassette(tmp_path)
    body = normalise_body("multipart/form-data; boundary=b", multipart("b", PNG, "p"), cassette)
    stored = body["multipart"][1]["file"]
    assert (tmp_path / stored).read_bytes() == PNG and stored.endswith(".png")
    normalise_body("multipart/form-data; boundary=c", multipart("c", PNG, "p"), cassette)
    assert len(list((tmp_path / "files").iterdir())) == 1


def test_ignored_fields_and_dotted_paths_do_not_take_part_in_matching() -> None:
    recorded = {"model": "dall-e-3", "prompt": "a", "user": "u1", "extra": {"seed": 1, "k": 2}}
    asked = {"model": "dall-e-3", "prompt": "a", "user": "u2", "extra": {"seed": 9, "k": 2}}
    assert match_key(recorded, ("user", "extra.seed")) == match_key(asked, ("user", "extra.seed"))
    assert differences(match_key(asked, ("user",)), match_key(recorded, ("user",))) == [
        "extra.seed (9 here, 1 recorded)"]


def test_secrets_are_redacted_in_headers_and_fields() -> None:
    headers = redact_headers([("Authorization", "Bearer sk-1"), ("Cookie", "a=b"), ("X-Team", "t"),
                              ("Content-Length", "5")], extra=("x-team",))
    assert headers == {"authorization": REDACTED, "cookie": REDACTED, "x-team": REDACTED}
    assert redact_fields({"a": [{"api_key": "k", "n": 1}], "API_KEY": "k"}) == {"a": [{"api_key": REDACTED, "n": 1}],
                                                                                 "API_KEY": REDACTED}


def test_an_entry_is_named_after_its_test_and_numbered(tmp_path: Path) -> None:
    assert entry_name("tests/test_x.py::test_y[a-1]", "POST", "/v1/x", None) == "tests_test_x.py_test_y_a-1"
    cassette = Cassette(tmp_path)
    request = {"method": "POST", "path": "/v1/images/generations", "query": "", "headers": {}, "body": {"m": 1}}
    for _ in range(2):
        cassette.record("t::a", request, {"status": 200, "headers": {}, "body": {}}, secrets=["sk-secret"])
    assert sorted(path.name for path in tmp_path.glob("*.json")) == ["t_a-001.json", "t_a-002.json"]
    adding = Cassette(tmp_path)  # record mode once: what is missing comes after the test's entries
    adding.record("t::a", request, {"status": 200, "headers": {}, "body": {}}, replace=False)
    assert sorted(path.name for path in tmp_path.glob("*.json")) == ["t_a-001.json", "t_a-002.json", "t_a-003.json"]
    again = Cassette(tmp_path)  # record mode all: a new session re-recording the test replaces its entries
    again.record("t::a", request, {"status": 200, "headers": {}, "body": {}})
    assert sorted(path.name for path in tmp_path.glob("*.json")) == ["t_a-001.json"]


def test_the_secret_is_scrubbed_wherever_the_upstream_echoed_it(tmp_path: Path) -> None:
    cassette = Cassette(tmp_path)
    request = {"method": "POST", "path": "/v1/x", "query": "", "headers": {}, "body": None}
    cassette.record(None, request, {"status": 401, "headers": {}, "body": {"message": "bad key sk-live-123"}},
                    secrets=["sk-live-123"])
    text = next(tmp_path.glob("*.json")).read_text()
    assert "sk-live-123" not in text and REDACTED in text


def test_repeats_replay_in_recorded_order_then_the_last_again(tmp_path: Path) -> None:
    cassette = Cassette(tmp_path)
    request = {"method": "POST", "path": "/v1/x", "query": "", "headers": {}, "body": {"p": 1}}
    for index in range(2):
        cassette.record("t", request, {"status": 200, "headers": {}, "body": {"n": index}})
    replay = Cassette(tmp_path)
    answers = []
    for _ in range(3):
        found = replay.find("POST", "/v1/x", "", {"p": 1})
        assert isinstance(found, Recording)
        answers.append(found.response["body"]["n"])
    assert answers == [0, 1, 1]
    miss = replay.find("POST", "/v1/x", "", {"p": 2})
    assert not isinstance(miss, Recording) and miss.differs == ["p (2 here, 1 recorded)"]


def test_a_broken_entry_file_is_named_when_the_cassette_loads(tmp_path: Path) -> None:
    (tmp_path / "x-001.json").write_text('{"request": {}}')
    with pytest.raises(ValueError, match="x-001.json is not a cassette entry"):
        Cassette(tmp_path)


def event(kind: str, payload: dict[str, object], end: str = "\n\n") -> str:
    return f"event: {kind}\ndata: {json.dumps(payload)}{end}"


def test_a_streamed_answer_keeps_each_image_once_as_a_file_and_rebuilds_the_same_bytes(tmp_path: Path) -> None:
    partial, final = PNG + b"partial", PNG + b"final"
    encoded = {name: base64.b64encode(image).decode() for name, image in (("partial", partial), ("final", final))}
    text = (event("image_generation.partial_image", {"b64_json": encoded["partial"], "partial_image_index": 0})
            + event("image_generation.completed", {"b64_json": encoded["final"], "usage": {"total_tokens": 9}},
                    "\r\n\r\n")
            + event("image_generation.completed", {"b64_json": "not base64!", "note": "kept inline"})
            + ": a comment, then a last event without its blank line\ndata: {\"b64_json\": \"" + encoded["final"]
            + "\"}")
    content = text.encode()
    cassette = Cassette(tmp_path)
    arrivals = [(10, 0.001), (len(content) - 5, 0.25), (len(content), 0.5)]
    stored = store_event_stream(content, arrivals, cassette)
    assert stored is not None and len(stored["events"]) == 4
    kept = json.dumps(stored)
    assert encoded["partial"] not in kept and encoded["final"] not in kept and "not base64!" in kept
    assert [image["event"] for image in stored["images"]] == [0, 1, 3]
    assert sorted(path.read_bytes() for path in (tmp_path / "files").iterdir()) == sorted([partial, final])
    assert stored["event_ms"] == [250.0, 250.0, 250.0, 500.0]  # each event arrived with the chunk that ended it
    assert b"".join(event_stream_frames(stored, cassette)) == content
    assert [frame.decode() for frame in event_stream_frames(stored, cassette)] == split_events(text)


def test_a_stream_that_is_not_utf8_is_not_kept_as_events(tmp_path: Path) -> None:
    assert store_event_stream(b"data: \xff\xfe\n\n", [], Cassette(tmp_path)) is None


@given(st.text(alphabet=st.sampled_from(["a", ":", " ", "\n", "\r", "d"]), max_size=60))
def test_events_split_and_joined_are_the_same_text(text: str) -> None:
    assert "".join(split_events(text)) == text
