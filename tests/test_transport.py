"""The mock's uvicorn protocol: each answer leaves in one write, and nothing of it is lost on the way."""

from __future__ import annotations

import asyncio
import gc
from typing import Any

import pytest
from uvicorn.server import ServerState

from aiml_mock.core.settings import ProtocolName, Settings
from aiml_mock.hosting._protocol import protocol_class
from aiml_mock.hosting.server import server_config
from aiml_mock.web.app import create_app
from aiml_mock.web.transport import SEND_WHOLE_KEY, TRANSPORT_KEY

KEY = b"Bearer sk-test"


class RecordingTransport(asyncio.Transport):
    """A connection's far end: every write kept as it was made."""

    def __init__(self) -> None:
        super().__init__()
        self.writes: list[bytes] = []
        self.closed = False

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.writes.append(bytes(data))

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"peername": ("127.0.0.1", 50000), "sockname": ("127.0.0.1", 8000)}.get(name, default)

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass


def connect(app: Any = None, keep_alive: float = 5.0, protocol_name: ProtocolName = "fast"
            ) -> tuple[Any, RecordingTransport]:
    """One connection of a protocol (`fast`, unless told: the one `aiml-mock serve` uses; uvicorn's idle timeout:
    `keep_alive` seconds)."""
    settings = Settings(log_level="error", protocol=protocol_name)
    config = server_config(app or create_app(Settings()), settings, timeout_keep_alive=keep_alive)
    state = ServerState()
    state.default_headers = [(b"date", b"Wed, 25 Nov 2026 10:00:00 GMT"), (b"server", b"uvicorn")]  # as uvicorn sets
    protocol: Any = protocol_class(protocol_name)(config=config, server_state=state, app_state={})  # type: ignore[call-arg]
    transport = RecordingTransport()
    protocol.connection_made(transport)
    return protocol, transport


async def answered(protocol: Any) -> None:
    """Until the connection's requests so far are answered."""
    for _ in range(200):
        if not protocol.tasks and protocol.cycle is not None and protocol.cycle.response_complete:
            return
        await asyncio.sleep(0.005)


async def exchange(*requests: bytes, app: Any = None, protocol_name: ProtocolName = "fast") -> RecordingTransport:
    """Feed raw requests to one connection of a protocol (`aiml-mock serve`'s unless told); return what it wrote."""
    protocol, transport = connect(app, protocol_name=protocol_name)
    for request in requests:
        protocol.data_received(request)
    await answered(protocol)
    return transport


def generation(prompt: bytes = b"a fox", close: bool = False, extra: bytes = b"") -> bytes:
    body = b'{"model":"dall-e-2","prompt":"%s"}' % prompt
    connection = b"Connection: close\r\n" if close else b""
    return (b"POST /v1/images/generations HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: %s\r\n%s"
            b"Content-Type: application/json\r\n%sContent-Length: %d\r\n\r\n%s"
            % (KEY, extra, connection, len(body), body))


# -- what both protocols do (`--protocol stock|fast`) --------------------------------------------------


def test_each_protocol_answers_pipelined_requests_and_keeps_the_connection(protocol: ProtocolName) -> None:
    transport = asyncio.run(exchange(generation(b"first") + generation(b"second"), protocol_name=protocol))
    sent = b"".join(transport.writes)
    assert sent.count(b"HTTP/1.1 201 Created\r\n") == 2 and sent.count(b'{"created":') == 2
    assert not transport.closed


def test_each_protocol_closes_after_the_answer_when_asked_to(protocol: ProtocolName) -> None:
    transport = asyncio.run(exchange(generation(close=True), protocol_name=protocol))
    assert b"".join(transport.writes).startswith(b"HTTP/1.1 201 ") and transport.closed


def test_each_protocol_lets_a_drop_fault_close_the_connection_unanswered(protocol: ProtocolName) -> None:
    app = create_app(Settings())

    async def scenario() -> RecordingTransport:
        protocol_object, transport = connect(app, protocol_name=protocol)
        protocol_object.data_received(generation(extra=b"X-Mock-Fault: drop\r\n"))
        while not transport.closed:
            await asyncio.sleep(0.005)
        protocol_object.connection_lost(None)  # what the loop reports once the socket is closed
        await answered(protocol_object)
        return transport

    transport = asyncio.run(scenario())
    assert transport.writes == [] and app.state.mock.journal.entries()[0].status == 0


def test_each_protocol_lets_a_truncate_fault_cut_the_body_and_close(protocol: ProtocolName) -> None:
    async def scenario() -> RecordingTransport:
        protocol_object, transport = connect(protocol_name=protocol)
        protocol_object.data_received(generation(extra=b"X-Mock-Fault: truncate\r\n"))
        while not transport.closed:
            await asyncio.sleep(0.005)
        protocol_object.connection_lost(None)
        return transport

    head, _, body = b"".join(asyncio.run(scenario()).writes).partition(b"\r\n\r\n")
    promised = int(next(line for line in head.split(b"\r\n") if line.startswith(b"content-length:")).split(b":")[1])
    assert head.startswith(b"HTTP/1.1 201 ") and 0 < len(body) < promised


# -- what `fast` does ------------------------------------------------------------------------------------


def test_an_answer_leaves_in_one_write_head_and_body_together() -> None:
    transport = asyncio.run(exchange(generation()))
    [write] = transport.writes
    head, _, body = write.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 201 ")
    assert b"content-length: %d" % len(body) in head and body.startswith(b'{"created":')


def test_pipelined_requests_are_answered_in_order_one_write_each() -> None:
    transport = asyncio.run(exchange(generation(b"first") + generation(b"second")))
    assert len(transport.writes) == 2
    assert [write.split(b"\r\n", 1)[0] for write in transport.writes] == [b"HTTP/1.1 201 Created"] * 2


@pytest.mark.parametrize("close", [False, True])
def test_a_head_request_still_gets_its_head(close: bool) -> None:
    """A HEAD answer has no body bytes to carry the head: it is sent on its own, before any close."""
    connection = b"Connection: close\r\n" if close else b""
    transport = asyncio.run(exchange(b"HEAD /health HTTP/1.1\r\nHost: 127.0.0.1\r\n%s\r\n" % connection))
    sent = b"".join(transport.writes)
    assert sent.startswith(b"HTTP/1.1 200 OK\r\n") and sent.endswith(b"\r\n\r\n")
    assert transport.closed is close


def test_connection_close_is_honoured_after_the_answer() -> None:
    transport = asyncio.run(exchange(generation(close=True)))
    assert len(transport.writes) == 1 and transport.closed


def test_a_streamed_answer_sends_its_head_with_the_first_chunk_and_the_rest_as_it_comes() -> None:
    async def streaming(scope: Any, receive: Any, send: Any) -> None:
        assert scope["extensions"][TRANSPORT_KEY] is not None
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
        for chunk in (b"one", b"two", b""):
            await send({"type": "http.response.body", "body": chunk, "more_body": bool(chunk)})

    transport = asyncio.run(exchange(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", app=streaming))
    first, *rest = transport.writes
    assert first.startswith(b"HTTP/1.1 200 OK\r\n") and first.endswith(b"\r\n\r\n3\r\none\r\n")
    assert rest == [b"3\r\ntwo\r\n", b"0\r\n\r\n"]


class WholeSender:
    """An app answering through the `send_whole` extension (falling back to `send`), noting what it returned."""

    def __init__(self, pause_writing: bool = False) -> None:
        self.returned: list[bool] = []
        self.pause_writing = pause_writing

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        body = b'{"ok":true}'
        headers = [(b"content-length", b"%d" % len(body)), (b"content-type", b"application/json")]
        if self.pause_writing:
            protocol_flow = scope["extensions"][SEND_WHOLE_KEY].__self__.flow
            protocol_flow.write_paused = True
        head = b"".join(name + b": " + value + b"\r\n" for name, value in headers)
        sent = scope["extensions"][SEND_WHOLE_KEY](201, head, body)
        self.returned.append(sent)
        if self.pause_writing:
            protocol_flow.write_paused = False
        if not sent:
            await send({"type": "http.response.start", "status": 201, "headers": headers})
            await send({"type": "http.response.body", "body": body})


def test_send_whole_writes_uvicorn_s_head_and_the_body_at_once() -> None:
    app = WholeSender()
    transport = asyncio.run(exchange(b"POST / HTTP/1.1\r\nHost: x\r\n\r\n" * 2, app=app))
    assert app.returned == [True, True] and len(transport.writes) == 2  # the pipelined second one answered too
    head, _, body = transport.writes[0].partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    assert lines[0] == b"HTTP/1.1 201 Created" and body == b'{"ok":true}'
    assert {line.split(b":")[0] for line in lines[1:]} == {b"date", b"server", b"content-length", b"content-type"}
    assert not transport.closed


def test_send_whole_closes_when_the_client_asked_to() -> None:
    transport = asyncio.run(exchange(b"POST / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", app=WholeSender()))
    [write] = transport.writes
    assert b"\r\nconnection: close\r\n" in write and transport.closed


@pytest.mark.parametrize(("request_line", "pause"), [(b"HEAD / HTTP/1.1", False), (b"POST / HTTP/1.1", True)])
def test_send_whole_declines_what_only_send_handles(request_line: bytes, pause: bool) -> None:
    """A HEAD answer has no body on the wire; paused writing must be waited for: both go through `send`."""
    app = WholeSender(pause_writing=pause)
    transport = asyncio.run(exchange(request_line + b"\r\nHost: x\r\n\r\n", app=app))
    assert app.returned == [False]
    sent = b"".join(transport.writes)
    assert sent.startswith(b"HTTP/1.1 201 Created\r\n")
    assert sent.endswith(b"\r\n\r\n" if request_line.startswith(b"HEAD") else b'{"ok":true}')


@pytest.mark.parametrize("request_of", [
    lambda n: generation(b"a fox, take %d" % n),  # answered through send_whole
    lambda n: b"GET /health?n=%d HTTP/1.1\r\nHost: x\r\n\r\n" % n,  # through the middleware stack and send
    lambda n: generation(b"a fox, take %d" % n).replace(KEY, b"Basic x"),  # a 401 in the API's shape
], ids=["generation", "health", "refused"])
def test_answered_requests_leave_no_reference_cycle_behind(request_of: Any) -> None:
    """A request's objects (scope, cycle, journal exchange) are freed as soon as it is answered. Left in a
    reference cycle, they waited for the cyclic garbage collector, whose pauses were the tail of the latency."""
    app = create_app(Settings())

    async def garbage_after(requests: int) -> int:
        gc.collect()
        await exchange(*[request_of(n) for n in range(requests)], app=app)
        return gc.collect()

    asyncio.run(exchange(request_of(-1), app=app))  # first-use caches and lazy imports
    gc.disable()
    try:
        few, many = asyncio.run(garbage_after(5)), asyncio.run(garbage_after(45))
    finally:
        gc.enable()
    assert many - few < 20, f"{(many - few) / 40:.1f} objects of cyclic garbage per request"


def test_an_idle_connection_is_closed_once_the_keep_alive_timeout_has_passed() -> None:
    async def scenario() -> tuple[bool, bool]:
        protocol, transport = connect(keep_alive=0.05)
        protocol.data_received(generation())
        await answered(protocol)
        open_after_answer = not transport.closed
        await asyncio.sleep(0.15)
        return open_after_answer, transport.closed

    assert asyncio.run(scenario()) == (True, True)


def test_a_connection_in_steady_use_outlives_the_keep_alive_timeout() -> None:
    """Each answer starts the idle time anew: requests 30 ms apart on a 100 ms timeout keep the connection."""
    async def scenario() -> tuple[list[bool], bool]:
        protocol, transport = connect(keep_alive=0.1)
        closed = []
        for n in range(8):  # ~240 ms of use, more than twice the timeout
            protocol.data_received(generation(b"take %d" % n))
            await answered(protocol)
            closed.append(transport.closed)
            await asyncio.sleep(0.03)
        await asyncio.sleep(0.25)
        return closed, transport.closed

    closed_while_used, closed_when_idle = asyncio.run(scenario())
    assert closed_while_used == [False] * 8 and closed_when_idle


def test_a_request_under_way_when_the_timeout_passes_is_answered_not_cut_off() -> None:
    async def scenario() -> tuple[bool, int, bool]:
        protocol, transport = connect(keep_alive=0.05)
        protocol.data_received(generation(b"first"))
        await answered(protocol)
        second = generation(b"second")
        head, _, body = second.partition(b"\r\n\r\n")
        protocol.data_received(head + b"\r\n\r\n")  # the body is slow to come: the timer fires meanwhile
        await asyncio.sleep(0.12)
        closed_while_busy = transport.closed
        protocol.data_received(body)
        await answered(protocol)
        writes = len(transport.writes)
        await asyncio.sleep(0.12)
        return closed_while_busy, writes, transport.closed

    assert asyncio.run(scenario()) == (False, 2, True)


# -- inline runs -------------------------------------------------------------------------------------


class CountedTasks(set[Any]):
    """uvicorn's set of request tasks, counting the tasks made."""

    made = 0

    def add(self, task: Any) -> None:
        self.made += 1
        super().add(task)


def counted(protocol: Any) -> CountedTasks:
    tasks = protocol.tasks = protocol.server_state.tasks = CountedTasks()
    return tasks


def test_a_generation_runs_inline_and_other_requests_get_a_task_each() -> None:
    async def scenario() -> tuple[int, int, RecordingTransport]:
        protocol, transport = connect()
        tasks = counted(protocol)
        protocol.data_received(generation())
        await answered(protocol)
        inline = tasks.made
        protocol.data_received(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        await answered(protocol)
        return inline, tasks.made, transport

    inline, after_health, transport = asyncio.run(scenario())
    assert (inline, after_health) == (0, 1)
    assert [write.split(b"\r\n", 1)[0] for write in transport.writes] == [b"HTTP/1.1 201 Created", b"HTTP/1.1 200 OK"]


def test_an_inline_generation_waits_for_a_body_that_comes_in_pieces() -> None:
    async def scenario() -> tuple[int, RecordingTransport]:
        protocol, transport = connect()
        head, _, body = generation().partition(b"\r\n\r\n")
        protocol.data_received(head + b"\r\n\r\n" + body[:10])
        for _ in range(3):
            await asyncio.sleep(0)
        unanswered = len(transport.writes)
        protocol.data_received(body[10:])
        await answered(protocol)
        return unanswered, transport

    unanswered, transport = asyncio.run(scenario())
    assert unanswered == 0 and transport.writes[0].startswith(b"HTTP/1.1 201 ")


def test_an_inline_generation_that_must_wait_goes_on_as_a_task() -> None:
    """A fault rule added after the protocol chose to run the request inline: the delay runs in a task."""
    from aiml_mock.core.faults import FaultRule, Latency

    app = create_app(Settings())

    async def scenario() -> tuple[int, float, RecordingTransport]:
        protocol, transport = connect(app)
        tasks = counted(protocol)
        protocol.data_received(generation())
        app.state.mock.faults.add(FaultRule(latency=Latency("fixed", 0.05, 0.05, "50ms"), times=1))
        started = asyncio.get_running_loop().time()
        while not transport.writes:
            await asyncio.sleep(0.005)
        return tasks.made, asyncio.get_running_loop().time() - started, transport

    made, waited, transport = asyncio.run(scenario())
    assert made == 1 and waited >= 0.045 and transport.writes[0].startswith(b"HTTP/1.1 201 ")
    assert app.state.mock.journal.entries()[0].fault == "delay"


def test_an_inline_generation_with_a_slow_render_renders_in_a_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    # No model answers base64 in a slow format at 2048x2048 or more (FLUX answers URLs only): a WebP of 1024x1024
    # counts as slow here, so that the generation's render takes the thread.
    monkeypatch.setattr("aiml_mock.web.app.BIG", 1024 * 1024)
    body = b'{"model":"openai/gpt-image-1","prompt":"a lighthouse","output_format":"webp","size":"1024x1024",' \
           b'"response_format":"b64_json"}'
    request = (b"POST /v1/images/generations HTTP/1.1\r\nHost: x\r\nAuthorization: %s\r\n"
               b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n%s" % (KEY, len(body), body))

    async def scenario() -> tuple[int, bytes]:
        protocol, transport = connect()
        tasks = counted(protocol)
        protocol.data_received(request)
        while not transport.writes:
            await asyncio.sleep(0.005)
        return tasks.made, b"".join(transport.writes)

    made, sent = asyncio.run(scenario())
    head, _, answer = sent.partition(b"\r\n\r\n")
    assert made == 1 and head.startswith(b"HTTP/1.1 200 ")  # gpt-image-1 answers 200
    import base64
    import json
    image = base64.b64decode(json.loads(answer)["data"][0]["b64_json"])
    assert image[:4] == b"RIFF" and image[8:12] == b"WEBP"


def test_a_client_gone_before_its_body_came_is_still_seen_by_the_app(caplog: pytest.LogCaptureFixture) -> None:
    """As under uvicorn's own flow: the app runs and reads a disconnect; the journal has the request as 499
    (the client left first), and nothing is logged as an error."""
    app = create_app(Settings())

    async def scenario() -> None:
        protocol, _ = connect(app)
        head, _, _ = generation().partition(b"\r\n\r\n")
        protocol.data_received(head + b"\r\n\r\n")
        protocol.connection_lost(None)
        for _ in range(100):
            if not protocol.tasks:
                return
            await asyncio.sleep(0.005)

    asyncio.run(scenario())
    [entry] = app.state.mock.journal.entries()
    assert entry.path == "/v1/images/generations" and entry.status == 499
    assert not [record for record in caplog.records if record.levelname == "ERROR"]


def test_a_chunked_generation_body_is_read_by_a_task_as_it_comes() -> None:
    body = b'{"model":"dall-e-2","prompt":"a fox"}'
    request = (b"POST /v1/images/generations HTTP/1.1\r\nHost: x\r\nAuthorization: %s\r\n"
               b"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n%x\r\n%s\r\n0\r\n\r\n"
               % (KEY, len(body), body))

    async def scenario() -> tuple[int, RecordingTransport]:
        protocol, transport = connect()
        tasks = counted(protocol)
        protocol.data_received(request)
        await answered(protocol)
        return tasks.made, transport

    made, transport = asyncio.run(scenario())
    assert made == 1 and transport.writes[0].startswith(b"HTTP/1.1 201 ")


class Cycle:
    """What `run_inline` needs of a request-response cycle: `run_asgi(app)`."""

    def run_asgi(self, app: Any) -> Any:
        return app()


def test_an_inline_run_that_never_waits_makes_no_task() -> None:
    done: list[bool] = []

    async def app() -> None:
        await in_task_if(False)
        done.append(asyncio.current_task() is None)

    async def scenario() -> int:
        protocol, _ = connect()
        tasks = counted(protocol)
        asyncio.get_running_loop().call_soon(protocol.run_inline, Cycle(), app)  # from a loop callback, as served
        await asyncio.sleep(0)
        return tasks.made

    assert asyncio.run(scenario()) == 0 and done == [True]


async def in_task_if(wanted: bool) -> None:
    from aiml_mock.web.transport import in_task

    if wanted:
        await in_task()


def test_an_inline_run_goes_on_as_a_task_through_futures_loop_turns_and_cancellation() -> None:
    steps: list[str] = []

    async def app(future: asyncio.Future[str], forever: asyncio.Future[None]) -> None:
        await in_task_if(True)
        steps.append(f"in a task: {asyncio.current_task() is not None}")
        await asyncio.sleep(0)
        steps.append(f"got {await future}")
        try:
            await forever
        except asyncio.CancelledError:
            steps.append("cancelled")
            raise

    async def scenario() -> bool:
        loop = asyncio.get_running_loop()
        future, forever = loop.create_future(), loop.create_future()
        protocol, _ = connect()
        tasks = counted(protocol)
        loop.call_soon(protocol.run_inline, Cycle(), lambda: app(future, forever))
        await asyncio.sleep(0)
        [task] = tasks
        loop.call_later(0.01, future.set_result, "the value")
        while len(steps) < 2:
            await asyncio.sleep(0.005)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        return forever.cancelled()

    assert asyncio.run(scenario()) and steps == ["in a task: True", "got the value", "cancelled"]


def test_an_inline_run_that_fails_after_waiting_fails_its_task() -> None:
    async def app() -> None:
        await asyncio.sleep(0)
        raise LookupError("late")

    async def scenario() -> BaseException | None:
        protocol, _ = connect()
        tasks = counted(protocol)
        asyncio.get_running_loop().call_soon(protocol.run_inline, Cycle(), app)
        await asyncio.sleep(0)
        [task] = tasks
        await asyncio.wait([task])
        return task.exception()

    assert isinstance(asyncio.run(scenario()), LookupError)


def test_answers_carry_uvicorn_s_current_date_header() -> None:
    """uvicorn makes a new default-header list every second; send_whole must not keep an old date."""
    async def scenario() -> list[bytes]:
        protocol, transport = connect()
        for date in (b"Fri, 04 Dec 2026 10:00:00 GMT", b"Fri, 04 Dec 2026 10:00:01 GMT"):
            protocol.server_state.default_headers = [(b"date", date), (b"server", b"uvicorn")]
            protocol.data_received(generation(date))
            await answered(protocol)
        return transport.writes

    first, second = asyncio.run(scenario())
    assert b"\r\ndate: Fri, 04 Dec 2026 10:00:00 GMT\r\n" in first
    assert b"\r\ndate: Fri, 04 Dec 2026 10:00:01 GMT\r\n" in second
