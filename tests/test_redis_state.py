"""`--state redis://...`: two real `aiml-mock serve` replicas on one real redis-server behave as one mock."""

from __future__ import annotations

import io
import os
import shutil
import socket
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass

import httpx
import pytest

from aiml_mock.core.auth import redact
from aiml_mock.core.settings import Settings
from tests.serving import serve_process

SIGNING_KEY = "replicas-share-this-secret"
PRICE = 0.02  # dall-e-2, 1024x1024, one image
BUDGET = 0.07  # three such images per key, not four


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def redis_server(port: int | None = None) -> Iterator[tuple[subprocess.Popen[str], int]]:
    """A real redis-server on a free port, no persistence; ready once it says so."""
    binary = shutil.which("redis-server")
    assert binary, "redis-server is not installed: apt-get install redis-server (.ci/run installs it)"
    port = port or free_port()
    command = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    with subprocess.Popen(command, stdout=subprocess.PIPE, text=True) as process:
        try:
            assert process.stdout is not None
            for line in process.stdout:
                if "Ready to accept connections" in line:
                    break
            else:
                raise AssertionError("redis-server did not start")
            yield process, port
        finally:
            if process.poll() is None:
                process.terminate()
                process.wait(10)


@contextmanager
def replica(state: str, *args: str) -> Iterator[str]:
    command = [sys.executable, "-m", "aiml_mock", "serve", "--port", "0", "--state", state, *args]
    env = {**os.environ, "AIML_MOCK_SIGNING_KEY": SIGNING_KEY}
    with serve_process(command, env=env) as (_, url):
        yield url


@dataclass
class Pair:
    a: httpx.Client
    b: httpx.Client

    def both(self) -> tuple[httpx.Client, httpx.Client]:
        return self.a, self.b


@pytest.fixture(scope="module")
def redis_url() -> Iterator[str]:
    with redis_server() as (_, port):
        yield f"redis://127.0.0.1:{port}/0"


@pytest.fixture(scope="module")
def pair(redis_url: str) -> Iterator[Pair]:
    flags = ("--rate-limit", "5/min", "--budget-usd", str(BUDGET))
    with replica(redis_url, *flags) as a_url, replica(redis_url, *flags) as b_url, \
            httpx.Client(base_url=a_url, timeout=10) as a, httpx.Client(base_url=b_url, timeout=10) as b:
        yield Pair(a, b)


@pytest.fixture
def shared(pair: Pair) -> Pair:
    assert pair.a.post("/__mock/reset").status_code == 200
    return pair


def generate(client: httpx.Client, key: str, prompt: str = "a red fox", **fields: object) -> httpx.Response:
    return client.post("/v1/images/generations", headers={"Authorization": f"Bearer {key}"},
                       json={"model": "dall-e-2", "prompt": prompt, **fields})


def fresh_key() -> str:
    return f"sk-{uuid.uuid4().hex}"


def test_a_rate_limit_admits_exactly_its_limit_across_both_replicas(shared: Pair) -> None:
    key = fresh_key()
    statuses = [generate(shared.both()[i % 2], key).status_code for i in range(8)]
    assert sum(status != 429 for status in statuses) == 5, statuses
    assert statuses[5:] == [429, 429, 429]
    refused = generate(shared.b, key)
    assert refused.status_code == 429 and int(refused.headers["retry-after"]) >= 1


def test_a_fault_rule_set_through_one_replica_fires_exactly_times_over_both(shared: Pair) -> None:
    key = fresh_key()
    added = shared.a.post("/__mock/faults", json={"status": 503, "times": 3, "key": key})
    assert added.status_code == 201
    assert [rule["times"] for rule in shared.b.get("/__mock/faults").json()["rules"]] == [3]
    statuses = [generate(shared.both()[i % 2], key).status_code for i in range(5)]
    assert sorted(statuses) == [201, 201, 503, 503, 503] and statuses[:3] == [503, 503, 503]
    assert shared.a.get("/__mock/faults").json()["rules"] == []
    faulted = [entry for entry in shared.b.get("/__mock/requests").json()["requests"] if entry["fault"] == "503"]
    assert len(faulted) == 3


def test_an_unlimited_rule_counts_the_hits_of_both_replicas(shared: Pair) -> None:
    key = fresh_key()
    rule = shared.b.post("/__mock/faults", json={"status": 500, "times": None, "key": key}).json()
    for client in shared.both():
        assert generate(client, key).status_code == 500
    assert shared.a.get("/__mock/faults").json()["rules"][0]["hits"] == 2
    assert shared.a.delete(f"/__mock/faults/{rule['id']}").status_code == 200
    assert shared.b.delete(f"/__mock/faults/{rule['id']}").status_code == 404
    assert generate(shared.b, key).status_code == 201


def test_the_journal_read_from_one_replica_lists_the_other_replicas_requests(shared: Pair) -> None:
    prompt = f"only sent to replica a {uuid.uuid4().hex}"
    answer = generate(shared.a, fresh_key(), prompt)
    assert answer.status_code == 201
    journal = shared.b.get("/__mock/requests", params={"path": "/v1/images/generations"}).json()
    entries = [entry for entry in journal["requests"] if (entry["json"] or {}).get("prompt") == prompt]
    assert len(entries) == 1 and entries[0]["status"] == 201 and entries[0]["model"] == "dall-e-2"
    assert entries[0]["headers"]["authorization"].startswith("Bearer sk-")  # redacted, as in one process
    assert entries[0]["cost"]["usd"] == pytest.approx(PRICE)
    assert journal["unrecorded"] == 0


def test_an_image_url_issued_by_one_replica_downloads_from_the_other(shared: Pair) -> None:
    url = generate(shared.a, fresh_key()).json()["data"][0]["url"]
    path = httpx.URL(url).raw_path.decode()
    image = shared.b.get(path)
    assert image.status_code == 200 and image.content.startswith(b"\x89PNG")
    listed = shared.a.get("/__mock/images", params={"downloaded": "true"}).json()["images"]
    assert [record["url"] for record in listed] == [url] and listed[0]["downloads"] == 1
    assert shared.a.get(path.replace("sig=", "sig=x")).status_code == 403


def test_usage_and_the_budget_are_shared(shared: Pair) -> None:
    key = fresh_key()
    statuses = [generate(shared.both()[i % 2], key).status_code for i in range(4)]
    assert statuses == [201, 201, 201, 403]  # the fourth image would pass the budget
    usage = shared.b.get("/__mock/usage").json()
    assert usage["total"]["requests"] == 3 and usage["total"]["usd"] == pytest.approx(3 * PRICE)
    assert shared.a.delete("/__mock/requests").status_code == 200
    assert shared.b.get("/__mock/usage").json()["total"]["requests"] == 0
    assert shared.b.get("/__mock/requests").json()["total"] == 0


def test_concurrent_clients_on_both_replicas_lose_no_entry_and_overspend_no_budget(shared: Pair) -> None:
    keys = [fresh_key() for _ in range(100)]
    jobs = [(shared.both()[index % 2], keys[index % len(keys)], f"prompt {index}") for index in range(400)]
    with ThreadPoolExecutor(16) as pool:
        statuses = list(pool.map(lambda job: generate(*job).status_code, jobs))
    assert statuses.count(201) == 300 and statuses.count(403) == 100  # three per key, each key's fourth refused
    journal = shared.a.get("/__mock/requests", params={"path": "/v1/images/generations"}).json()
    prompts = sorted(entry["json"]["prompt"] for entry in journal["requests"])
    assert journal["total"] == 400 and prompts == sorted(job[2] for job in jobs)
    assert len({entry["id"] for entry in journal["requests"]}) == 400
    usage = shared.b.get("/__mock/usage").json()
    assert usage["total"]["requests"] == 300
    assert max(book["usd"] for book in usage["by_key"].values()) <= BUDGET
    assert usage["total"]["usd"] == pytest.approx(300 * PRICE)


def test_the_journal_keeps_its_count_bound_across_replicas() -> None:
    with redis_server() as (_, port), replica(f"redis://127.0.0.1:{port}/0", "--journal-size", "5") as a_url, \
            replica(f"redis://127.0.0.1:{port}/0", "--journal-size", "5") as b_url:
        clients = [httpx.Client(base_url=url, timeout=10) for url in (a_url, b_url)]
        for index in range(12):
            assert generate(clients[index % 2], "sk-bound", f"n{index}").status_code == 201
        journal = clients[1].get("/__mock/requests").json()
        assert [entry["json"]["prompt"] for entry in journal["requests"]] == [f"n{i}" for i in range(11, 6, -1)]
        assert len(clients[0].get("/__mock/images").json()["images"]) == 5
        for client in clients:
            client.close()


def test_with_redis_gone_generations_answer_and_admin_says_the_store_is_unreachable() -> None:
    port = free_port()
    with redis_server(port) as (server, _), replica(f"redis://127.0.0.1:{port}/0", "--rate-limit", "100/min") as url, \
            httpx.Client(base_url=url, timeout=10) as client:
        assert generate(client, "sk-before").status_code == 201
        server.terminate()
        server.wait(10)
        started = time.monotonic()
        answers = [generate(client, "sk-during", f"while away {index}") for index in range(3)]
        assert [answer.status_code for answer in answers] == [201, 201, 201]
        for path in ("/__mock/requests", "/__mock/faults", "/__mock/usage", "/__mock/images"):
            refused = client.get(path)
            assert refused.status_code == 503, (path, refused.text)
            assert "state store is unreachable" in refused.json()["message"]
        assert client.post("/__mock/faults", json={"status": 500}).status_code == 503
        assert time.monotonic() - started < 5  # nothing waited on the dead store
        with redis_server(port):
            deadline = time.monotonic() + 10
            while (journal := client.get("/__mock/requests")).status_code == 503 and time.monotonic() < deadline:
                time.sleep(0.1)  # the replica leaves a failed store alone for a second
            assert journal.status_code == 200
            assert journal.json()["unrecorded"] >= 3  # the gap is reported
            assert generate(client, "sk-after", "back again").status_code == 201
            entries = client.get("/__mock/requests").json()
            assert [entry["json"]["prompt"] for entry in entries["requests"]] == ["back again"]
            assert entries["unrecorded"] >= 3


def test_state_needs_a_signing_key_and_a_redis_url() -> None:
    with pytest.raises(ValueError, match="--signing-key"):
        Settings(state="redis://127.0.0.1:6379/0")
    with pytest.raises(ValueError, match="Redis URL"):
        Settings(state="memcached://x", signing_key="k")
    env = {key: value for key, value in os.environ.items() if key != "AIML_MOCK_SIGNING_KEY"}
    done = subprocess.run([sys.executable, "-m", "aiml_mock", "serve", "--port", "0", "--state",
                           "redis://127.0.0.1:1/0"], capture_output=True, text=True, env=env, timeout=30)
    assert done.returncode == 2 and "--state needs --signing-key" in done.stderr


def test_without_the_redis_extra_the_error_names_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "redis.asyncio", None)
    monkeypatch.delitem(sys.modules, "aiml_mock.web.redis_state", raising=False)
    with pytest.raises(ImportError, match=r"pip install 'aiml-mock\[redis\]'"):
        import aiml_mock.web.redis_state  # noqa: F401


def test_a_handle_connected_to_one_replica_sees_and_scripts_the_others(shared: Pair) -> None:
    from aiml_mock.tools.testing import MockHandle

    handle = MockHandle.connect(str(shared.b.base_url), shared=True, tag="replicas")
    try:
        handle.reset()
        handle.fail_next(502)
        assert generate(shared.a, handle.api_key).status_code == 502  # scripted through B, fired on A
        assert generate(shared.a, handle.api_key).status_code == 201
        assert generate(shared.b, fresh_key()).status_code == 201  # another client's: not this handle's
        handle.assert_called(times=2)
        assert handle.spent_usd == pytest.approx(PRICE)
    finally:
        handle.close()


# -- edits and variations on the shared state (the OpenAI profile's dall-e-2: `url` answers) -------------------


def small_png() -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGBA", (32, 32), (0, 120, 200, 255)).save(out, format="PNG")
    return out.getvalue()


UPLOAD = small_png()


def edit(client: httpx.Client, key: str, prompt: str = "a hat on it", path: str = "/v1/images/edits",
         **fields: str) -> httpx.Response:
    data = {"model": "dall-e-2", "size": "256x256", **fields}
    if path.endswith("edits"):
        data["prompt"] = prompt
    return client.post(path, headers={"Authorization": f"Bearer {key}"}, data=data,
                       files=[("image", ("in.png", UPLOAD, "image/png"))])


@pytest.fixture(scope="module")
def openai_pair(redis_url: str) -> Iterator[Pair]:
    state = redis_url.rpartition("/")[0] + "/1"  # a database of their own
    flags = ("--profile", "openai", "--rate-limit", "5/min")
    with replica(state, *flags) as a_url, replica(state, *flags) as b_url, \
            httpx.Client(base_url=a_url, timeout=20) as a, httpx.Client(base_url=b_url, timeout=20) as b:
        yield Pair(a, b)


@pytest.fixture
def edits(openai_pair: Pair) -> Pair:
    assert openai_pair.b.post("/__mock/reset").status_code == 200
    return openai_pair


def test_an_edit_or_variation_url_issued_by_one_replica_downloads_from_the_other(edits: Pair) -> None:
    for path in ("/v1/images/edits", "/v1/images/variations"):
        answer = edit(edits.a, fresh_key(), f"issued by a {uuid.uuid4().hex}", path=path)
        assert answer.status_code == 200, answer.text
        url = answer.json()["data"][0]["url"]
        image = edits.b.get(httpx.URL(url).raw_path.decode())
        assert image.status_code == 200, image.text
        assert image.headers["content-type"] == "image/png" and image.content.startswith(b"\x89PNG")
        listed = edits.b.get("/__mock/images", params={"downloaded": "true"}).json()["images"]
        assert [(record["url"], record["downloads"]) for record in listed][:1] == [(url, 1)]
        forged = httpx.URL(url).raw_path.decode().replace("sig=", "sig=x")
        assert edits.b.get(forged).status_code == 403


def test_a_rate_limit_admits_exactly_five_edits_and_generations_across_both(edits: Pair) -> None:
    key = fresh_key()
    statuses = []
    for index in range(8):
        client = edits.both()[index % 2]
        if index % 3 == 0:
            statuses.append(generate(client, key).status_code)
        else:
            statuses.append(edit(client, key, f"edit {index}").status_code)
    assert statuses == [200] * 5 + [429] * 3, statuses
    refused = edit(edits.b, key)
    assert refused.status_code == 429 and int(refused.headers["retry-after"]) >= 1
    assert refused.headers["x-ratelimit-remaining-requests"] == "0"


def test_a_times_2_fault_rule_set_on_one_replica_fires_twice_on_edits_over_both(edits: Pair) -> None:
    key = fresh_key()
    added = edits.a.post("/__mock/faults", json={"status": 503, "times": 2, "key": key})
    assert added.status_code == 201
    statuses = [edit(edits.both()[(index + 1) % 2], key, f"faulted {index}").status_code for index in range(4)]
    assert statuses == [503, 503, 200, 200], statuses  # B, A, B, A: the rule's two uses taken once in all
    assert edits.b.get("/__mock/faults").json()["rules"] == []
    journal = edits.a.get("/__mock/requests", params={"path": "/v1/images/edits"}).json()["requests"]
    assert sorted(entry["fault"] or "-" for entry in journal) == ["-", "-", "503", "503"]


def test_concurrent_edits_on_both_replicas_lose_no_journal_entry_and_are_all_booked(edits: Pair) -> None:
    keys = [f"sk-{'e' * (12 + index)}" for index in range(7)]  # told apart in the journal by their lengths
    jobs = [(edits.both()[index % 2], keys[index % 7], f"concurrent edit {index}") for index in range(60)]
    with ThreadPoolExecutor(12) as pool:
        statuses = list(pool.map(lambda job: edit(*job).status_code, jobs))
    assert statuses.count(200) == 35 and statuses.count(429) == 25  # seven keys, five a minute each
    journal = edits.b.get("/__mock/requests", params={"path": "/v1/images/edits"}).json()
    assert journal["total"] == 60 and journal["unrecorded"] == 0
    assert len({entry["id"] for entry in journal["requests"]}) == 60
    sent = Counter((redact(job[1]), status) for job, status in zip(jobs, statuses, strict=True))
    assert Counter((entry["key"], entry["status"]) for entry in journal["requests"]) == sent
    usage = edits.a.get("/__mock/usage").json()
    assert usage["total"]["requests"] == 35 and usage["by_model"]["dall-e-2"]["images"] == 35
    assert len(edits.a.get("/__mock/images").json()["images"]) == 35


# -- the proxy's spend guard, shared by proxy replicas ----------------------------------------------------


@contextmanager
def proxies(redis_url: str, database: int, *flags: str) -> Iterator[tuple[httpx.Client, httpx.Client, httpx.Client]]:
    """One upstream mock (its own memory) and two `aiml-mock proxy` replicas in front of it sharing a store."""
    state = f"{redis_url.rpartition('/')[0]}/{database}"
    with serve_process([sys.executable, "-m", "aiml_mock", "serve", "--port", "0"]) as (_, upstream_url):
        command = [sys.executable, "-m", "aiml_mock", "proxy", "--port", "0", "--upstream", upstream_url,
                   "--state", state, *flags]
        env = {**os.environ, "AIML_MOCK_SIGNING_KEY": SIGNING_KEY}
        with serve_process(command, env=env) as (_, a_url), serve_process(command, env=env) as (_, b_url), \
                httpx.Client(base_url=upstream_url, timeout=30) as upstream, \
                httpx.Client(base_url=a_url, timeout=30) as a, httpx.Client(base_url=b_url, timeout=30) as b:
            yield upstream, a, b


def forwarded(upstream: httpx.Client) -> int:
    total: int = upstream.get("/__mock/requests", params={"path": "/v1/images/generations"}).json()["total"]
    return total


def test_two_proxies_racing_never_forward_more_than_max_requests_in_all(redis_url: str) -> None:
    with proxies(redis_url, 2, "--max-requests", "10") as (upstream, a, b):
        jobs = [((a, b)[index % 2], fresh_key(), f"raced {index}") for index in range(30)]
        with ThreadPoolExecutor(16) as pool:
            answers = list(pool.map(lambda job: generate(*job), jobs))
        statuses = [answer.status_code for answer in answers]
        assert statuses.count(201) == 10 and statuses.count(403) == 20, statuses
        assert forwarded(upstream) == 10
        refusal = next(answer for answer in answers if answer.status_code == 403).json()["message"]
        assert "--max-requests 10 reached (by all replicas); nothing was forwarded" in refusal
        assert a.post("/__mock/reset").status_code == 200  # a reset between tests lifts no cap
        assert generate(b, fresh_key()).status_code == 403 and forwarded(upstream) == 10
        assert b.get("/__mock/requests").json()["total"] == 1  # both proxies' journal, since the reset


def test_two_proxies_racing_never_spend_more_than_the_budget_in_all(redis_url: str) -> None:
    with proxies(redis_url, 3, "--budget-usd", "0.1") as (upstream, a, b):  # five dall-e-2 images at $0.02
        jobs = [((a, b)[index % 2], fresh_key(), f"raced {index}") for index in range(24)]
        with ThreadPoolExecutor(16) as pool:
            statuses = [answer.status_code for answer in pool.map(lambda job: generate(*job), jobs)]
        assert statuses.count(201) == 5 and statuses.count(403) == 19, statuses
        assert forwarded(upstream) == 5
        usage = b.get("/__mock/usage").json()["total"]  # what both proxies booked, read through either
        assert usage["requests"] == 5 and usage["usd"] == pytest.approx(5 * PRICE)
        refused = generate(a, fresh_key())
        assert refused.status_code == 403 and "would pass --budget-usd 0.1 ($0.1000 spent by all" in refused.text


# -- the admin API against either replica ------------------------------------------------------------------


def test_every_admin_route_answers_the_same_through_either_replica(shared: Pair) -> None:
    key = fresh_key()
    rule = shared.a.post("/__mock/faults", json={"status": 500, "times": 5, "key": key}).json()
    listed = [client.get("/__mock/faults").json() for client in shared.both()]
    assert listed[0] == listed[1] and [item["id"] for item in listed[1]["rules"]] == [rule["id"]]
    assert shared.b.delete(f"/__mock/faults/{rule['id']}").json() == {"cleared": 1}
    assert shared.a.get("/__mock/faults").json()["rules"] == []

    assert shared.a.put("/__mock/latency", json={"latency": "30ms"}).json() == {"latency": "30ms"}
    assert shared.b.get("/__mock/faults").json()["latency"] == "30ms"
    assert generate(shared.b, key, "slowed on b").status_code == 201
    assert shared.b.put("/__mock/latency", json={"latency": None}).status_code == 200
    assert shared.a.get("/__mock/faults").json()["latency"] is None
    assert generate(shared.a, key, "not slowed on a").status_code == 201
    faults = {entry["json"]["prompt"]: entry["fault"] for entry in shared.a.get("/__mock/requests").json()["requests"]}
    assert faults == {"slowed on b": "latency 30ms", "not slowed on a": None}

    for path in ("/__mock/requests", "/__mock/usage", "/__mock/images", "/__mock/faults"):
        assert shared.a.get(path).json() == shared.b.get(path).json(), path
    assert shared.a.get("/__mock/usage").json()["total"]["requests"] == 2
    assert shared.b.delete("/__mock/images").json() == {"cleared": 2}
    assert shared.a.get("/__mock/images").json()["total"] == 0
    assert shared.a.delete("/__mock/requests").json() == {"cleared": 2}
    assert shared.b.get("/__mock/requests").json()["total"] == 0
    assert shared.b.get("/__mock/usage").json()["total"]["requests"] == 0

    shared.a.post("/__mock/faults", json={"status": 503, "key": key})
    shared.a.put("/__mock/latency", json={"latency": "20ms"})
    assert shared.b.post("/__mock/reset").json() == {"reset": True}
    after = shared.a.get("/__mock/faults").json()
    assert after["rules"] == [] and after["latency"] == "20ms"  # a reset leaves the latency, as in one process
    shared.a.put("/__mock/latency", json={"latency": None})
    for client in shared.both():
        health = client.get("/health").json()
        assert health["status"] == "ok" and health["state"]["reachable"] is True
        assert health["state"]["url"].startswith("redis://127.0.0.1:")


def test_with_redis_gone_every_admin_route_says_so_at_once_and_edits_answer() -> None:
    port = free_port()
    state = f"redis://127.0.0.1:{port}/0"
    with redis_server(port) as (server, _), replica(state, "--profile", "openai") as url, \
            httpx.Client(base_url=url, timeout=10) as client:
        assert edit(client, "sk-before").status_code == 200
        server.terminate()
        server.wait(10)
        started = time.monotonic()
        answers = [edit(client, "sk-during", path=path) for path in ("/v1/images/edits", "/v1/images/variations")]
        assert [answer.status_code for answer in answers] == [200, 200]
        for answer in answers:  # the replica that drew them still serves them
            assert client.get(httpx.URL(answer.json()["data"][0]["url"]).raw_path.decode()).status_code == 200
        calls = [("GET", "/__mock/requests", None), ("DELETE", "/__mock/requests", None),
                 ("GET", "/__mock/faults", None), ("POST", "/__mock/faults", {"status": 500}),
                 ("DELETE", "/__mock/faults", None), ("DELETE", "/__mock/faults/1", None),
                 ("PUT", "/__mock/latency", {"latency": "10ms"}), ("GET", "/__mock/usage", None),
                 ("GET", "/__mock/images", None), ("DELETE", "/__mock/images", None),
                 ("GET", "/__mock/export", None), ("POST", "/__mock/reset", None)]
        for method, path, body in calls:
            refused = client.request(method, path, json=body)
            assert refused.status_code == 503, (method, path, refused.text)
            error = refused.json()["error"]
            assert error["code"] == "state_store_unreachable" and error["type"] == "server_error"
            assert error["message"].startswith(f"The state store is unreachable: {state}"), error
        health = client.get("/health")
        assert health.status_code == 200 and health.json()["state"] == {"url": state, "reachable": False}
        assert time.monotonic() - started < 5  # nothing waited on the dead store
        with redis_server(port):
            deadline = time.monotonic() + 10
            while (journal := client.get("/__mock/requests")).status_code == 503 and time.monotonic() < deadline:
                time.sleep(0.1)  # the replica leaves a failed store alone for a second
            assert journal.json()["unrecorded"] >= 2  # the edits answered while it was away


def test_with_redis_gone_each_proxy_guards_what_it_forwards_itself() -> None:
    with redis_server() as (server, port), \
            proxies(f"redis://127.0.0.1:{port}/0", 0, "--max-requests", "3") as (upstream, a, b):
        assert [generate(client, fresh_key()).status_code for client in (a, b)] == [201, 201]  # 2 of 3 in all
        server.terminate()
        server.wait(10)
        statuses = [generate(client, fresh_key()).status_code for client in (a, a, a, b, b, b)]
        assert statuses == [201, 201, 403, 201, 201, 403]  # each its own 3, counting what it forwarded before
        assert forwarded(upstream) == 6
