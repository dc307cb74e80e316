"""The request journal: every exchange with its verdict, bounded in entries and bytes, keys never kept whole."""

from __future__ import annotations

import gc
import json
import threading
import weakref
from collections.abc import Callable
from typing import Any

import pytest
from starlette.testclient import TestClient

from aiml_mock import Settings, create_app
from aiml_mock.core.contract import Violation
from aiml_mock.core.journal import (
    BODY_CAP,
    ENTRY_OVERHEAD,
    Entry,
    ImageRegistry,
    Journal,
    RedactedHeaders,
    _entry_of,
    brief_of,
    cap_json,
    elide_images,
)
from aiml_mock.core.validation import ImageRequest
from aiml_mock.web.recording import Exchange
from aiml_mock.web.transport import ConnectionDropped
from tests.conftest import PROMPT

GENERATE = "/v1/images/generations"
KEY = "sk-live-0123456789abcdefghijkl"
AUTH = {"Authorization": f"Bearer {KEY}"}
BODY = {"model": "dall-e-2", "prompt": PROMPT, "size": "256x256"}


def entry(entry_id: int, path: str = "/v1/images/generations", status: int = 201, model: str | None = "dall-e-2",
          **fields: Any) -> Entry:
    values: dict[str, Any] = {
        "id": entry_id, "time": 1.0, "method": "POST", "path": path, "query": "", "headers": RedactedHeaders(),
        "json": None, "status": status, "response": None, "violations": (), "model": model, "key": None,
        "duration_ms": 1.0,
    }
    return Entry(**{**values, **fields})


def journal_of(client: TestClient) -> Journal:
    journal: Journal = client.app.state.mock.journal  # type: ignore[attr-defined]
    return journal


# -- the ring buffer -------------------------------------------------------------------------------


def test_the_journal_keeps_the_newest_entries_up_to_its_capacity() -> None:
    journal = Journal(capacity=100)
    for index in range(1, 5001):
        journal.record(entry(index), size=100)
    assert len(journal) == 100
    assert [item.id for item in journal.entries()[:3]] == [5000, 4999, 4998]
    assert journal.entries()[-1].id == 4901


def test_the_journal_is_bounded_in_bytes_too() -> None:
    journal = Journal(capacity=1000, max_bytes=10_000)
    for index in range(500):
        journal.record(entry(index), size=1_000)
    assert len(journal) == 10 and journal.nbytes == 10_000


def test_entries_recorded_without_a_size_are_measured() -> None:
    journal = Journal(max_bytes=50_000)
    for index in range(100):
        journal.record(entry(index, json={"prompt": "x" * 4_000}))
    assert 0 < len(journal) < 20 and journal.nbytes <= 50_000


def test_filters_by_path_status_and_model_newest_first() -> None:
    journal = Journal()
    journal.record(entry(1, status=201))
    journal.record(entry(2, status=400, model="dall-e-3"))
    journal.record(entry(3, path="/images/img-a.png", status=200, model=None, method="GET"))
    journal.record(entry(4, status=201, model="dall-e-3"))
    assert [item.id for item in journal.entries(status=201)] == [4, 1]
    assert [item.id for item in journal.entries(model="dall-e-3")] == [4, 2]
    assert [item.id for item in journal.entries(path="/images/*")] == [3]
    assert [item.id for item in journal.entries(path=GENERATE, status=400)] == [2]


def test_clear_empties_the_journal_and_ids_keep_growing() -> None:
    journal = Journal()
    journal.record(entry(journal.next_id()))
    journal.clear()
    assert len(journal) == 0 and journal.nbytes == 0 and journal.next_id() == 2


def test_a_zero_capacity_journal_records_nothing() -> None:
    journal = Journal(capacity=0)
    journal.record(entry(1))
    assert len(journal) == 0


def test_wait_for_returns_when_another_thread_records() -> None:
    journal = Journal()
    recorder = threading.Thread(target=lambda: [journal.record(entry(index)) for index in range(3)])
    recorder.start()
    assert journal.wait_for(lambda entries: len(entries) == 3, timeout=10)
    recorder.join()
    assert not journal.wait_for(lambda entries: len(entries) > 3, timeout=0.01)


def test_entries_round_trip_through_their_json_form() -> None:
    original = entry(7, json={"model": "dall-e-2"}, violations=(Violation("$.sizes", "additionalProperties", 1,
                                                                          "not allowed"),), fault="503",
                     headers=RedactedHeaders({"authorization": "Bearer sk-liv...(24 chars)"}))
    copy = Entry.from_dict(json.loads(json.dumps(original.to_dict())))
    assert copy.to_dict() == original.to_dict() and not copy.valid and copy.violations[0].path == "$.sizes"


# -- keeping it small and secret -------------------------------------------------------------------


def test_headers_are_redacted_and_lower_cased() -> None:
    headers = RedactedHeaders([(b"authorization", f"Bearer {KEY}".encode()), (b"x-api-key", KEY.encode()),
                               (b"user-agent", b"OpenAI/Python 3.57.0")])
    assert headers["Authorization"] == "Bearer sk-liv...(30 chars)" and headers["x-api-key"] == "sk-liv...(30 chars)"
    assert headers["user-agent"] == "OpenAI/Python 3.57.0"
    assert KEY not in repr(headers) and KEY.encode() not in repr(headers._raw).encode()


def test_redaction_is_idempotent() -> None:
    once = dict(RedactedHeaders([(b"authorization", f"Bearer {KEY}".encode())]))
    assert dict(RedactedHeaders(once)) == once


def test_b64_json_payloads_are_elided_without_touching_the_original() -> None:
    payload = {"created": 1, "data": [{"b64_json": "A" * 5000, "revised_prompt": "x"}]}
    elided, removed = elide_images(payload)
    assert removed == 5000 and elided["data"][0] == {"b64_json": "<5000 base64 characters elided>",
                                                     "revised_prompt": "x"}
    assert payload["data"][0]["b64_json"] == "A" * 5000  # type: ignore[index]
    url_payload = {"created": 1, "data": [{"url": "http://x"}]}
    assert elide_images(url_payload) == (url_payload, 0)


def test_large_request_bodies_are_shortened() -> None:
    body = {"prompt": "x" * (BODY_CAP * 2), "tags": list(range(500))}
    kept = cap_json(body, BODY_CAP * 3)
    assert len(kept["prompt"]) < 1100 and kept["prompt"].endswith(f"({BODY_CAP * 2} chars)")
    assert len(kept["tags"]) == 51
    small = {"prompt": "x"}
    assert cap_json(small, 20) is small  # kept by reference, no copy


# -- the app records every exchange ----------------------------------------------------------------


def test_every_route_is_recorded_with_status_and_newest_first(make_client: Callable[..., TestClient]) -> None:
    client = make_client()
    url = client.post(GENERATE, json=BODY, headers=AUTH).json()["data"][0]["url"]
    client.get(url)
    client.get("/v1/models", headers=AUTH)
    client.get("/health")
    client.get("/nowhere")
    client.post(GENERATE, json={"model": "dall-e-2"}, headers=AUTH)
    recorded = [(item.method, item.path.split("/img-")[0], item.status) for item in journal_of(client).entries()]
    assert recorded == [("POST", GENERATE, 400), ("GET", "/nowhere", 404), ("GET", "/health", 200),
                        ("GET", "/v1/models", 200), ("GET", "/images", 200), ("POST", GENERATE, 201)]


def test_an_entry_holds_the_request_the_answer_and_the_model(make_client: Callable[..., TestClient]) -> None:
    client = make_client()
    client.post(f"{GENERATE}?trace=1", json=BODY, headers={**AUTH, "X-Trace": "abc"})
    [item] = journal_of(client).entries()
    assert item.json == BODY and item.model == "dall-e-2" and item.query == "trace=1"
    assert item.headers["x-trace"] == "abc" and item.response["data"][0]["url"].startswith("http")
    assert item.status == 201 and item.valid and item.duration_ms > 0


def test_keys_are_never_stored_or_shown_in_full(make_client: Callable[..., TestClient]) -> None:
    client = make_client(api_keys=(KEY,))
    client.post(GENERATE, json=BODY, headers=AUTH)
    client.post(GENERATE, json=BODY, headers={"Authorization": f"Bearer {KEY}x"})  # a wrong key, 401
    client.get("/v1/models", headers=AUTH)
    entries = journal_of(client).entries()
    assert [item.key for item in entries] == ["sk-liv...(30 chars)", "sk-liv...(31 chars)", "sk-liv...(30 chars)"]
    dumped = json.dumps([item.to_dict() for item in entries])
    assert KEY not in dumped
    assert all(KEY not in repr(item.headers._raw) for item in entries)  # type: ignore[attr-defined]


def test_b64_json_answers_are_recorded_without_the_image(make_client: Callable[..., TestClient]) -> None:
    client = make_client()
    answer = client.post(GENERATE, json={**BODY, "response_format": "b64_json", "n": 2}, headers=AUTH)
    assert len(answer.json()["data"][0]["b64_json"]) > 100
    [item] = journal_of(client).entries()
    assert all(image["b64_json"].endswith("base64 characters elided>") for image in item.response["data"])


def test_memory_stays_flat_after_many_more_requests_than_the_capacity() -> None:
    with TestClient(create_app(Settings(journal_size=40, journal_bytes=100_000))) as client:
        for index in range(400):
            body = {**BODY, "prompt": f"{index} {PROMPT}", "response_format": "url" if index % 8 else "b64_json"}
            client.post(GENERATE, json=body, headers=AUTH)
        journal = journal_of(client)
        assert len(journal) == 40 and journal.nbytes <= 100_000
        assert journal.entries()[0].json["prompt"].startswith("399 ")
        assert len(client.app.state.mock.images) == 40  # type: ignore[attr-defined]


def test_the_journal_can_be_turned_off(make_client: Callable[..., TestClient]) -> None:
    client = make_client(journal_size=0)
    assert client.post(GENERATE, json=BODY, headers=AUTH).status_code == 201
    assert len(journal_of(client)) == 0


# -- recorded compactly, read back exactly --------------------------------------------------------


def test_a_recorded_generation_reads_back_as_it_was_sent(make_client: Callable[..., TestClient]) -> None:
    client = make_client(api_keys=(KEY,))
    answer = client.post(f"{GENERATE}?trace=1&name=caf%C3%A9", json=BODY, headers={**AUTH, "X-Trace": "abc"})
    [item] = journal_of(client).entries()
    assert (item.method, item.path, item.query, item.status) == ("POST", GENERATE, "trace=1&name=caf%C3%A9", 201)
    assert item.json == BODY and item.response == answer.json() and item.model == "dall-e-2"
    assert item.key == "sk-liv...(30 chars)" and item.headers["authorization"] == "Bearer sk-liv...(30 chars)"
    assert item.headers["x-trace"] == "abc" and item.headers["content-type"] == "application/json"
    assert item.valid and item.fault is None and item.duration_ms > 0 and item.time > 0
    assert journal_of(client).entries()[0] == item  # each read builds an equal entry
    [(blob, size, *_)] = journal_of(client)._items
    assert size == journal_of(client).nbytes == ENTRY_OVERHEAD + len(blob)  # every byte kept is counted
    assert answer.request.content in blob and answer.content in blob and b"x-trace:abc" in blob


def test_a_body_over_the_cap_reads_back_shortened(make_client: Callable[..., TestClient]) -> None:
    client = make_client()
    body = {**BODY, "extra": "x" * (BODY_CAP * 2)}
    assert client.post(GENERATE, json=body, headers=AUTH).status_code == 201  # unknown fields are answered
    [item] = journal_of(client).entries()
    assert item.json == {**BODY, "extra": f"{'x' * 1024}...({BODY_CAP * 2} chars)"} == cap_json(body, BODY_CAP * 3)
    [violation] = item.violations
    assert violation.path == "$.extra" and len(str(violation.value)) < 1100
    assert journal_of(client).nbytes < ENTRY_OVERHEAD + BODY_CAP + 1000


@pytest.mark.parametrize(("sent", "prompt"), [
    ("a fox in a café 🦊", "a fox in a café 🦊"),  # UTF-8 as sent
    (r"a fox in a caf\u00e9 \ud83e\udd8a", "a fox in a café 🦊"),  # JSON escapes, a surrogate pair
    # valid JSON, not text: replaced, as the app reads it
    (r"a lone \ud800 surrogate, then \udfff", "a lone \ufffd surrogate, then \ufffd"),
])
def test_non_ascii_and_lone_surrogate_prompts_read_back_as_the_app_read_them(
        make_client: Callable[..., TestClient], sent: str, prompt: str) -> None:
    client = make_client()
    raw = b'{"model": "dall-e-2", "prompt": "%s", "size": "256x256"}' % sent.encode()
    answer = client.post(GENERATE, content=raw, headers={**AUTH, "Content-Type": "application/json"})
    assert answer.status_code == 201
    [item] = journal_of(client).entries()
    assert item.json == {**BODY, "prompt": prompt} and item.response == answer.json()


def test_a_b64_json_answer_reads_back_with_all_but_the_image(make_client: Callable[..., TestClient]) -> None:
    client = make_client()
    answer = client.post(GENERATE, json={**BODY, "response_format": "b64_json"}, headers=AUTH).json()
    [item] = journal_of(client).entries()
    [sent] = answer["data"]
    assert item.response == {**answer, "data": [{**sent, "b64_json": f"<{len(sent['b64_json'])} base64 characters "
                                                                     "elided>"}]}
    assert item.json == {**BODY, "response_format": "b64_json"}


def test_a_refused_request_reads_back_with_its_error_and_violations(make_client: Callable[..., TestClient]) -> None:
    client = make_client()
    body = {**BODY, "size": "999x999"}
    answer = client.post(GENERATE, json=body, headers=AUTH)
    [item] = journal_of(client).entries()
    assert item.status == 400 and item.response == answer.json() and item.json == body
    assert ("$.size", "enum") in [(violation.path, violation.rule) for violation in item.violations]
    assert item.model == "dall-e-2" and not item.valid


def test_an_unparsed_body_reads_back_as_no_json(make_client: Callable[..., TestClient]) -> None:
    client = make_client()
    client.post(GENERATE, content=b"{not json", headers={**AUTH, "Content-Type": "application/json"})
    client.post(GENERATE, content=b"null", headers={**AUTH, "Content-Type": "application/json"})
    parsed_null, unparsed = journal_of(client).entries()
    assert unparsed.json is None and unparsed.status == 400 and unparsed.response["message"]
    assert parsed_null.json is None and parsed_null.status == 400


def test_a_dropped_connection_is_recorded_with_status_0() -> None:
    with TestClient(create_app(Settings())) as client, pytest.raises(ConnectionDropped):
        client.post(GENERATE, json=BODY, headers={**AUTH, "X-Mock-Fault": "drop"})
    [item] = journal_of(client).entries()
    assert item.status == 0 and item.response is None and item.fault == "drop (X-Mock-Fault)"
    assert item.json == BODY and item.key == "sk-liv...(30 chars)"


def test_odd_methods_paths_queries_and_headers_read_back_exactly() -> None:
    journal = Journal()
    path = "/odd\udcff/\ud800\udc00/caf\u00e9/\U0001f98a\x00"
    scope: dict[str, Any] = {"method": "PRÜFEN\ud800", "path": path, "query_string": b"q=\xff&x=%20",
                             "headers": [(b"x-odd", b"\xff\x00:v"), (b"x-api-key", KEY.encode())]}
    start = {"type": "http.response.start", "status": 299, "headers": [(b"content-type", b"application/json")]}
    Exchange(journal.next_id(), scope, journal).sending(start, b'{"ok": "\xc3\xa9"}')
    big = b'{"pad": "%s"}' % (b"x" * BODY_CAP)
    halves = {**scope, "method": "GET\ud83e", "path": "\udd8a/"}  # a surrogate pair split between the two
    Exchange(journal.next_id(), halves, journal).sending(start, big, json=True)
    over, item = journal.entries()
    assert (item.method, item.path, item.query, item.status) == ("PRÜFEN\ud800", path, "q=\xff&x=%20", 299)
    assert item.response == {"ok": "\u00e9"} and item.json is None and item.key is None and item.model is None
    assert dict(item.headers) == {"x-odd": "\xff\x00:v", "x-api-key": "sk-liv...(30 chars)"}
    assert over.response == f"<{len(big)} bytes, over the journal's {BODY_CAP}-byte cap>"
    assert (over.method, over.path) == ("GET\ud83e", "\udd8a/")
    assert journal.nbytes == 2 * ENTRY_OVERHEAD + sum(len(stored[0]) for stored in journal._items)


def test_a_kept_generation_is_one_bytes_blob_and_shared_values(make_client: Callable[..., TestClient]) -> None:
    client = make_client(api_keys=(KEY,))
    for _ in range(2):  # the second takes the fast path
        client.post(GENERATE, json=BODY, headers=AUTH)
    journal = journal_of(client)
    model = client.app.state.mock.contract.models["dall-e-2"].id  # type: ignore[attr-defined]
    for stored in journal._items:
        blob, size = stored[0], stored[1]
        assert isinstance(blob, bytes) and isinstance(size, int)
        assert stored[2:7] == ((), model, None, None, None) and stored[3] is model  # the contract's own string
        assert stored[7] is journal._items[0][7]  # the price table's one Cost for this price, shared
        new = [member for member in gc.get_referents(stored) if member is not None and member is not model
               and member != () and member is not stored[7]]
        assert sorted(map(id, new)) == sorted([id(blob), id(size)])  # the parsed request and its strings are gone
        assert not gc.is_tracked(blob)
        assert KEY.encode() not in blob and KEY[6:].encode() not in blob


def test_entries_recorded_whole_and_raw_are_read_and_evicted_together(
    make_client: Callable[..., TestClient],
) -> None:
    client = make_client(journal_size=3)
    journal = journal_of(client)
    journal.record(entry(journal.next_id(), status=299), size=100)
    client.post(GENERATE, json=BODY, headers=AUTH)
    journal.record(entry(journal.next_id(), status=298), size=100)
    assert [item.status for item in journal.entries()] == [298, 201, 299]
    generated = journal.nbytes - 200
    client.get("/health")
    assert [item.status for item in journal.entries()] == [200, 298, 201]
    health = journal.nbytes - generated - 100  # the 299 left, its 100 bytes with it
    assert health >= ENTRY_OVERHEAD
    journal.record(entry(journal.next_id(), status=297), size=100)
    journal.record(entry(journal.next_id(), status=296), size=100)
    assert [item.status for item in journal.entries()] == [296, 297, 200] and journal.nbytes == 200 + health
    assert journal.wait_for(lambda entries: entries[-1].path == "/health", timeout=1)


# -- the verdict: what the request broke -----------------------------------------------------------


def verdict(client: TestClient) -> list[tuple[str, str]]:
    return [(violation.path, violation.rule) for violation in journal_of(client).entries()[0].violations]


def test_unknown_fields_are_answered_but_recorded_as_violations(make_client: Callable[..., TestClient]) -> None:
    client = make_client()
    assert client.post(GENERATE, json={**BODY, "sizes": "256x256"}, headers=AUTH).status_code == 201
    assert verdict(client) == [("$.sizes", "additionalProperties")]
    assert not journal_of(client).entries()[0].valid


def test_refused_requests_record_the_rules_they_broke(make_client: Callable[..., TestClient]) -> None:
    client = make_client()
    client.post(GENERATE, json={"model": "dall-e-2", "prompt": PROMPT, "size": "999x999"}, headers=AUTH)
    assert ("$.size", "enum") in verdict(client)
    assert journal_of(client).entries()[0].model == "dall-e-2"
    client.post(GENERATE, content=b"{not json", headers={**AUTH, "Content-Type": "application/json"})
    assert verdict(client) == [("$", "json")]
    client.post(GENERATE, content=b"model=dall-e-2", headers={**AUTH, "Content-Type": "text/plain"})
    assert verdict(client) == [("headers.content-type", "content")]


def test_missing_or_malformed_auth_is_a_violation_but_a_wrong_key_is_not(
    make_client: Callable[..., TestClient],
) -> None:
    client = make_client(api_keys=("sk-right",))
    client.post(GENERATE, json=BODY)
    assert verdict(client) == [("headers.authorization", "required")]
    client.post(GENERATE, json=BODY, headers={"Authorization": "Token abc"})
    assert verdict(client) == [("headers.authorization", "format")]
    client.post(GENERATE, json=BODY, headers={"Authorization": "Bearer sk-wrong"})
    assert verdict(client) == []


def test_unknown_routes_and_methods_are_violations(make_client: Callable[..., TestClient]) -> None:
    client = make_client()
    client.post("/v1/image/generations", json=BODY, headers=AUTH)
    assert verdict(client) == [("$", "path")]
    client.get(GENERATE, headers=AUTH)
    assert verdict(client) == [("$", "path")]


def test_faults_do_not_count_against_the_client(make_client: Callable[..., TestClient]) -> None:
    client = make_client()
    client.post(GENERATE, json=BODY, headers={**AUTH, "X-Mock-Fault": "503"})
    [item] = journal_of(client).entries()
    assert item.status == 503 and item.valid and item.fault == "503 (X-Mock-Fault)"


# -- images ----------------------------------------------------------------------------------------


def test_images_are_listed_with_whether_the_client_downloaded_them(make_client: Callable[..., TestClient]) -> None:
    client = make_client()
    first, second = client.post(GENERATE, json={**BODY, "n": 2}, headers=AUTH).json()["data"]
    client.get(second["url"])
    client.get(second["url"])
    client.post(GENERATE, json={**BODY, "response_format": "b64_json"}, headers=AUTH)
    images = client.app.state.mock.images.images()  # type: ignore[attr-defined]
    assert [(image.response_format, image.downloaded, image.downloads) for image in images] == [
        ("b64_json", True, 0), ("url", True, 2), ("url", False, 0)]
    assert images[2].url == first["url"] and images[2].expires == images[2].created + 3600
    assert images[1].to_dict()["size"] == "256x256" and images[1].request == journal_of(client).entries()[-1].id


def test_the_image_registry_is_bounded() -> None:
    registry = ImageRegistry(capacity=10)
    request = ImageRequest("dall-e-2", "x", 1, 256, 256, "png", "url", {})
    for index in range(100):
        registry.register(request, [{"url": f"http://mock/images/img-{index}.png?se=1"}], created=1.0, ttl=10.0)
        registry.mark_downloaded(f"img-{index}.png", 2.0)
    assert len(registry) == 10 and registry.images()[0].id == "img-99.png"
    assert all(image.downloaded for image in registry.images())
    registry.clear()
    assert registry.images() == []


def test_the_image_registry_never_keeps_base64_images() -> None:
    class Item(dict[str, str]):
        """A data item that can be watched for being freed."""

    registry = ImageRegistry()
    item = Item(b64_json="A" * 1000)
    watcher = weakref.ref(item)
    registry.register(ImageRequest("dall-e-2", "x", 1, 256, 256, "png", "b64_json", {}), [item], created=1.0, ttl=1.0)
    del item
    gc.collect()
    assert watcher() is None and registry.images()[0].downloaded


def test_violations_quoting_a_huge_value_are_shortened(make_client: Callable[..., TestClient]) -> None:
    client = make_client()
    prompt = "y" * (BODY_CAP * 2)
    assert client.post(GENERATE, json={**BODY, "prompt": prompt}, headers=AUTH).status_code == 400
    [violation] = journal_of(client).entries()[0].violations
    assert violation.path == "$.prompt" and len(violation.value) < 1100


@pytest.mark.parametrize("downloaded", [True, False])
def test_images_filter_by_download(downloaded: bool) -> None:
    registry = ImageRegistry()
    request = ImageRequest("dall-e-2", "x", 2, 256, 256, "png", "url", {})
    registry.register(request, [{"url": "http://m/images/img-a.png"}, {"url": "http://m/images/img-b.png"}],
                      created=1.0, ttl=10.0)
    registry.mark_downloaded("img-a.png", 2.0)
    assert [image.id for image in registry.images(downloaded=downloaded)] == (
        ["img-a.png"] if downloaded else ["img-b.png"])


def test_newest_and_find_build_only_the_entries_asked_for() -> None:
    journal = Journal(capacity=5)
    for index in range(8):
        journal.record(Entry(journal.next_id(), 0.0, "POST", "/p", "", {}, {"i": index}, 201, None, (), None,
                             None, 1.0))
    assert [entry.id for entry in journal.newest()] == [entry.id for entry in journal.entries()] == [8, 7, 6, 5, 4]
    assert [entry.id for entry in journal.newest(1, 2)] == [7, 6]
    assert journal.newest(4, 10)[0].id == 4 and journal.newest(9, 1) == []
    found = journal.find(6)
    assert found is not None and found.json == {"i": 5}
    assert journal.find(2) is None and journal.newest_id() == 8
    journal.clear()
    assert journal.newest_id() == 0 and journal.newest() == []


def test_a_brief_reads_what_filters_need_as_the_built_entry_has_it() -> None:
    client = TestClient(create_app(Settings()))
    auth = {"Authorization": "Bearer sk-live-0123456789abcdef"}
    client.post("/v1/images/generations", json={"model": "dall-e-2", "prompt": "a", "size": "256x256"},
                headers={**auth, "X-Mock-Test": "tests/test_a.py::test_one"})
    client.post("/v1/images/generations", json={"model": "dall-e-3", "prompt": "b", "colour": "blue"}, headers=auth)
    client.post("/v1/images/generations", json={"model": "dall-e-2", "prompt": "c", "size": "1x1"})
    client.get("/nowhere/\u00e9")
    journal = client.app.state.mock.journal  # type: ignore[attr-defined]
    journal.record(journal.entries()[0])  # an entry kept as an Entry (the proxy's way), briefed too
    for item in list(journal._items):
        entry, brief = _entry_of(item), brief_of(item)
        assert brief == (entry.id, entry.method, entry.path, entry.status, entry.model, entry.key, entry.valid,
                         entry.headers.get("x-mock-test"))
    assert [b.test for b in map(brief_of, journal._items)][:3] == ["tests/test_a.py::test_one", None, None]


def test_select_builds_only_the_page_and_counts_a_bounded_while_past_it() -> None:
    journal = Journal(100)
    for index in range(20):
        journal.record(entry(index + 1, model=("a", "b")[index % 2]))
    shown, matching, exact = journal.select(lambda brief: brief.model == "b", 0, 3, 4)
    assert [item.id for item in shown] == [20, 18, 16] and (matching, exact) == (5, False)
    shown, matching, exact = journal.select(lambda brief: brief.model == "b", 8, 3, 4)
    assert [item.id for item in shown] == [4, 2] and (matching, exact) == (10, True)
