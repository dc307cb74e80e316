"""Shared state on Redis (`--state redis://HOST:PORT/DB`): replicas behind a load balancer behave as one mock.

The seam: with `--state`, `MockState.shared` is a `RedisState` and the app and the admin API ask it (awaiting)
for what one process keeps in memory: rate-limit windows, scripted fault rules and their `times`, the ledger and
budgets, the journal and the image registry. Every update replicas race on is one Lua script (atomic on the
server): a rule's `times` is consumed once, a window admits exactly its limit, a budget is never over-spent, and
the journal stays within its count and byte bounds. Without `--state` none of this is imported.

Redis going away never stops the mock answering: generations go on (no limit, no rule, nothing booked), the
requests the journal could not keep are counted and reported (`unrecorded` in `GET /__mock/requests`) once the
store is back, and the admin API answers 503 "state store unreachable" at once. Client socket timeouts are 1 s,
and after a failure the store is not tried again for `RETRY_AFTER` seconds, so nothing waits on a dead store.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any, TypeVar

import orjson

from aiml_mock.core._extras import require
from aiml_mock.core.auth import redact
from aiml_mock.core.errors import StoreUnavailable
from aiml_mock.core.faults import Fault, FaultRule, Faults, Latency, parse_latency
from aiml_mock.core.journal import Entry, ImageRecord, Journal, RawEntry, _entry_of, _image_record, estimate_size
from aiml_mock.core.pricing import Cost
from aiml_mock.core.ratelimit import RateLimiter
from aiml_mock.core.validation import ImageRequest

redis_asyncio: Any = require("redis.asyncio", feature="--state (shared state on Redis)", extra="redis")
import redis  # noqa: E402  (installed with redis.asyncio, which `require` has just checked)

TIMEOUT = 1.0  # seconds a Redis call may take (connect, then each reply)
RETRY_AFTER = 1.0  # seconds the store is left alone after a failure
PREFIX = "aiml-mock:"
T = TypeVar("T")


# -- the scripts ---------------------------------------------------------------------------------------
# Times come from the Redis server (TIME), so replicas on different hosts share one clock.

_ADMIT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local limit, window = tonumber(ARGV[1]), tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
local n = redis.call('ZCARD', KEYS[1])
if n >= limit then
  local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
  local newest = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
  return {0, tostring(tonumber(oldest[2]) + window - now), tostring(tonumber(newest[2]) + window - now)}
end
redis.call('ZADD', KEYS[1], now, redis.call('INCR', KEYS[2]))
redis.call('PEXPIRE', KEYS[1], math.ceil(window / 1000) + 1000)
return {1, tostring(limit - n - 1), tostring(window)}
"""

_TAKE = """
for _, id in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  local raw = redis.call('HGET', KEYS[2], id)
  if raw then
    local r = cjson.decode(raw)
    if (r.m == cjson.null or r.m == ARGV[1]) and (r.p == '' or string.find(ARGV[2], r.p, 1, true) ~= nil)
        and (r.k == cjson.null or (ARGV[4] == '1' and r.k == ARGV[3])) then
      local hits = redis.call('HINCRBY', KEYS[4], id, 1)
      local left = -1
      if redis.call('HEXISTS', KEYS[3], id) == 1 then
        left = redis.call('HINCRBY', KEYS[3], id, -1)
        if left <= 0 then
          redis.call('ZREM', KEYS[1], id)
          redis.call('HDEL', KEYS[2], id)
          redis.call('HDEL', KEYS[3], id)
          redis.call('HDEL', KEYS[4], id)
        end
      end
      return {id, raw, hits, left, redis.call('GET', KEYS[5]) or ''}
    end
  end
end
return {'', '', 0, 0, redis.call('GET', KEYS[5]) or ''}
"""

_CHARGE = """
local spent = tonumber(redis.call('HGET', KEYS[1], 'k:' .. ARGV[1]) or '0')
local credits, budget = tonumber(ARGV[4]), tonumber(ARGV[6])
if budget >= 0 and spent + credits > budget then return 0 end
local fields = {'total', 'k:' .. ARGV[1], 'm:' .. ARGV[2]}
if ARGV[3] ~= '' then fields[4] = 't:' .. ARGV[3] end
for _, f in ipairs(fields) do
  redis.call('HINCRBY', KEYS[1], f, credits)
  redis.call('HINCRBY', KEYS[2], f, tonumber(ARGV[5]))
  redis.call('HINCRBY', KEYS[3], f, 1)
end
return 1
"""

# an element is "ID SIZE JSON": the size is what evicting it gives back to the byte bound
_RECORD = """
local id = tonumber(ARGV[1])
if id == 0 then id = redis.call('INCR', KEYS[3]) end
local size = tonumber(ARGV[2])
redis.call('LPUSH', KEYS[1], id .. ' ' .. size .. ' ' .. ARGV[3])
local bytes = redis.call('INCRBY', KEYS[2], size)
local n = redis.call('LLEN', KEYS[1])
local cap, max = tonumber(ARGV[4]), tonumber(ARGV[5])
while n > cap or (bytes > max and n > 1) do
  local old = redis.call('RPOP', KEYS[1])
  bytes = redis.call('INCRBY', KEYS[2], -tonumber(string.match(old, '^%d+ (%d+) ')))
  n = n - 1
end
if tonumber(ARGV[6]) > 0 then redis.call('INCRBY', KEYS[4], ARGV[6]) end
if ARGV[7] ~= '' then
  redis.call('LPUSH', KEYS[5], id .. ' ' .. ARGV[7])
  redis.call('LTRIM', KEYS[5], 0, cap - 1)
end
return id
"""

_DOWNLOADED = """
redis.call('HINCRBY', KEYS[1], ARGV[1], 1)
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
redis.call('ZADD', KEYS[3], redis.call('INCR', KEYS[4]), ARGV[1])
while redis.call('ZCARD', KEYS[3]) > tonumber(ARGV[3]) do
  local name = redis.call('ZPOPMIN', KEYS[3])[1]
  redis.call('HDEL', KEYS[1], name)
  redis.call('HDEL', KEYS[2], name)
end
return 1
"""

# images drawn from uploads (edits, variations): KEYS[1] their names, newest first, KEYS[2..] one per image
_KEEP_RENDERED = """
local ttl, max = tonumber(ARGV[1]), tonumber(ARGV[2])
for i = 2, #KEYS do
  redis.call('SET', KEYS[i], ARGV[i + 1], 'PX', ttl)
  redis.call('LREM', KEYS[1], 0, KEYS[i])
  redis.call('LPUSH', KEYS[1], KEYS[i])
end
while redis.call('LLEN', KEYS[1]) > max do
  redis.call('DEL', redis.call('RPOP', KEYS[1]))
end
return 1
"""

# the proxy's spend guard: a request and its estimated cost reserved before it is forwarded, or refused
_RESERVE = """
local n = tonumber(redis.call('GET', KEYS[1]) or '0')
local spent = tonumber(redis.call('GET', KEYS[2]) or '0')
local max, budget, estimate = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
if max >= 0 and n >= max then return {'requests', n, spent} end
if budget >= 0 and spent + estimate > budget then return {'budget', n, spent} end
redis.call('INCR', KEYS[1])
redis.call('INCRBY', KEYS[2], estimate)
return {'ok', n + 1, spent + estimate}
"""

_SETTLE = """
if ARGV[1] == '1' then redis.call('DECR', KEYS[1]) end
redis.call('INCRBY', KEYS[2], tonumber(ARGV[2]))
return 1
"""

_CLEAR_RULES = """
local n = redis.call('ZCARD', KEYS[1])
redis.call('DEL', KEYS[1], KEYS[2], KEYS[3], KEYS[4])
return n
"""

# the element of a list kept newest first (journal entries, image batches: "ID ..."; ids only grow) with this id,
# found by halving: a dashboard's detail page reads one entry, not the whole journal
_FIND = """
local lo, hi = 0, redis.call('LLEN', KEYS[1]) - 1
local wanted = tonumber(ARGV[1])
while lo <= hi do
  local mid = math.floor((lo + hi) / 2)
  local item = redis.call('LINDEX', KEYS[1], mid)
  local id = tonumber(string.match(item, '^(%d+) '))
  if id == wanted then return item end
  if id > wanted then lo = mid + 1 else hi = mid - 1 end
end
return false
"""

_CLEAR_LIST = """
local n = redis.call('LLEN', KEYS[1])
redis.call('DEL', unpack(KEYS))
return n
"""


def _keys(*names: str) -> list[str]:
    return [PREFIX + name for name in names]


_RULE_KEYS = _keys("rules:order", "rules", "rules:times", "rules:hits", "latency")
_LEDGER_KEYS = _keys("ledger:credits", "ledger:images", "ledger:requests")
_JOURNAL_KEYS = _keys("journal", "journal:bytes", "ids", "journal:unrecorded", "images")
_IMAGE_KEYS = _keys("images")
_DOWNLOAD_KEYS = _keys("downloads", "downloads:last", "downloads:order", "downloads:seq")
_RENDERED_KEY = PREFIX + "rendered:"
_PROXY_KEYS = _keys("proxy:requests", "proxy:spent")
KEPT_BY_RESET = frozenset(PREFIX + name for name in ("ids", "rules:ids", "latency", "proxy:requests", "proxy:spent"))


class RedisState:
    """The state replicas share, on one Redis database; every method may raise `StoreUnavailable`."""

    def __init__(self, url: str, *, journal_size: int, journal_bytes: int, budget_credits: int | None,
                 latency: Latency | None = None) -> None:
        self.url = url
        self.own_latency = latency  # the replica's `--latency`, until `PUT /__mock/latency` sets one for all
        self._latency_seen = b""
        self.journal_size, self.journal_bytes = journal_size, journal_bytes
        self.budget_credits = budget_credits
        self._redis: Any = redis_asyncio.Redis.from_url(
            url, socket_timeout=TIMEOUT, socket_connect_timeout=TIMEOUT, retry_on_timeout=False)
        self._scripts = {name: self._redis.register_script(text) for name, text in (
            ("admit", _ADMIT), ("take", _TAKE), ("charge", _CHARGE), ("record", _RECORD),
            ("downloaded", _DOWNLOADED), ("clear_rules", _CLEAR_RULES), ("keep_rendered", _KEEP_RENDERED),
            ("reserve", _RESERVE), ("settle", _SETTLE), ("clear_list", _CLEAR_LIST), ("find", _FIND))}
        self._down_until = 0.0
        self.unrecorded = 0  # requests answered while the journal could not be written, not yet reported
        self._tasks: set[asyncio.Task[None]] = set()

    async def _call(self, make: Callable[[], Awaitable[T]]) -> T:
        """One Redis exchange, bounded in time; `StoreUnavailable` (at once while the store is known down)."""
        if time.monotonic() < self._down_until:
            raise StoreUnavailable(f"{self.shown_url} did not answer a moment ago")
        try:
            async with asyncio.timeout(TIMEOUT * 2):
                return await make()
        except (redis.RedisError, OSError, TimeoutError) as error:
            self._down_until = time.monotonic() + RETRY_AFTER
            raise StoreUnavailable(f"{self.shown_url}: {error or type(error).__name__}") from None

    def _script(self, name: str, keys: Sequence[str], args: Sequence[Any]) -> Callable[[], Awaitable[Any]]:
        script = self._scripts[name]
        return lambda: script(keys=keys, args=args)

    @property
    def shown_url(self) -> str:
        """The URL without a password."""
        scheme, sep, rest = self.url.partition("://")
        return f"{scheme}{sep}{rest.rpartition('@')[2]}"

    async def ping(self) -> None:
        await self._call(self._redis.ping)

    async def reachable(self) -> bool:
        """Whether the store answers now (at once False while it is known to be down)."""
        try:
            await self.ping()
        except StoreUnavailable:
            return False
        return True

    # -- rate limits -----------------------------------------------------------------------------------

    async def admit(self, limiter: RateLimiter, key: str) -> dict[str, str]:
        """`RateLimiter.admit` over every replica's requests (headers, or the 429 `ApiError`)."""
        rate = limiter.rate
        args = (rate.limit, round(rate.window * 1_000_000))
        admitted, first, last = await self._call(self._script(
            "admit", _keys(f"rate:{key}", "rate:seq"), args))
        if not int(admitted):
            raise limiter.exceeded(float(first) / 1_000_000, float(last) / 1_000_000)
        return limiter.headers(int(first), float(last) / 1_000_000)

    # -- fault rules -----------------------------------------------------------------------------------

    async def pick(self, faults: Faults, request: ImageRequest, key: str | None, fault_header: str | None,
                   latency_header: str | None) -> Fault | None:
        """`Faults.pick` with the scripted rules taken from the store (a rule's `times` consumed once in all)."""
        rule = None
        if not fault_header:  # the request's own fault wins, and leaves the rules alone (as in one process)
            rule_id, stored, hits, left, latency = await self._call(self._script("take", _RULE_KEYS, (
                request.model, request.prompt.lower(), key or "", "0" if key is None else "1")))
            self._apply_latency(faults, latency)
            if stored:
                rule = _rule_of(stored, int(rule_id), int(hits), int(left))
        return faults.pick(request, key, fault_header, latency_header, shared=True, rule=rule)

    # -- the latency every generation gets -------------------------------------------------------------

    async def set_latency(self, faults: Faults, latency: Latency | None) -> None:
        """`PUT /__mock/latency` for every replica (each applies it with its next request's rule lookup)."""
        stored = orjson.dumps(str(latency) if latency else None)
        await self._call(lambda: self._redis.set(_RULE_KEYS[4], stored))
        self._apply_latency(faults, stored)

    async def refresh_latency(self, faults: Faults) -> None:
        """The latency set through any replica, applied here (for `GET /__mock/faults`)."""
        self._apply_latency(faults, await self._call(lambda: self._redis.get(_RULE_KEYS[4])) or b"")

    def _apply_latency(self, faults: Faults, stored: bytes) -> None:
        if stored == self._latency_seen:
            return
        self._latency_seen = stored
        text = orjson.loads(stored) if stored else None
        faults.set_latency(parse_latency(text) if stored else self.own_latency)
        faults.configured = True  # every request still asks the store for its rule

    async def add_rules(self, rules: Iterable[FaultRule]) -> list[FaultRule]:
        added = []
        for rule in rules:
            rule.id = int(await self._call(lambda: self._redis.incr(PREFIX + "rules:ids")))
            stored = orjson.dumps({"m": rule.model, "p": (rule.prompt or "").lower(), "k": rule.key,
                                   "rule": _rule_fields(rule)})

            async def put(rule: FaultRule = rule, stored: bytes = stored) -> None:
                async with self._redis.pipeline(transaction=True) as pipe:
                    pipe.hset(_RULE_KEYS[1], str(rule.id), stored)
                    if rule.times is not None:
                        pipe.hset(_RULE_KEYS[2], str(rule.id), rule.times)
                    pipe.zadd(_RULE_KEYS[0], {str(rule.id): rule.id})
                    await pipe.execute()

            await self._call(put)
            added.append(rule)
        return added

    async def rules(self) -> list[FaultRule]:
        async def read() -> list[Any]:
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.zrange(_RULE_KEYS[0], 0, -1)
                pipe.hgetall(_RULE_KEYS[1])
                pipe.hgetall(_RULE_KEYS[2])
                pipe.hgetall(_RULE_KEYS[3])
                result: list[Any] = await pipe.execute()
                return result

        order, stored, times, hits = await self._call(read)
        rules = []
        for raw_id in order:
            if raw_id in stored:
                left = times.get(raw_id)
                rules.append(_rule_of(stored[raw_id], int(raw_id), int(hits.get(raw_id, 0)),
                                      -1 if left is None else int(left)))
        return rules

    async def remove_rule(self, rule_id: int) -> bool:
        async def remove() -> bool:
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.zrem(_RULE_KEYS[0], str(rule_id))
                for name in _RULE_KEYS[1:4]:
                    pipe.hdel(name, str(rule_id))
                removed, *_ = await pipe.execute()
                return bool(removed)

        return await self._call(remove)

    async def clear_rules(self) -> int:
        return int(await self._call(self._script("clear_rules", _RULE_KEYS, ())))

    # -- the ledger ------------------------------------------------------------------------------------

    async def charge(self, key: str, model: str, cost: Cost, test: str | None) -> bool:
        """`Ledger.charge` against every replica's spend: atomic, so concurrent requests never pass a budget."""
        budget = -1 if self.budget_credits is None else self.budget_credits
        charged = await self._call(self._script("charge", _LEDGER_KEYS, (
            key, model, test or "", cost.credits, cost.images, budget)))
        return bool(int(charged))

    async def usage(self, credits_per_usd: int, budget_usd: float | None) -> dict[str, Any]:
        async def read() -> list[Any]:
            async with self._redis.pipeline(transaction=True) as pipe:
                for name in _LEDGER_KEYS:
                    pipe.hgetall(name)
                result: list[Any] = await pipe.execute()
                return result

        credits, images, requests = await self._call(read)

        def shown(field: bytes) -> dict[str, Any]:
            spent = int(credits.get(field, 0))
            return {"credits": spent, "usd": round(spent / credits_per_usd, 6), "images": int(images.get(field, 0)),
                    "requests": int(requests.get(field, 0))}

        books: dict[str, dict[str, Any]] = {"k": {}, "m": {}, "t": {}}
        for field in credits:
            kind, _, name = field.decode().partition(":")
            if kind in books:
                books[kind][redact(name) if kind == "k" else name] = shown(field)
        return {"total": shown(b"total"), "by_key": books["k"], "by_model": books["m"], "by_test": books["t"],
                "budget_usd": budget_usd, "credits_per_usd": credits_per_usd}

    # -- the journal -----------------------------------------------------------------------------------

    def record(self, item: RawEntry | tuple[Entry, int], images: bytes | None = None) -> asyncio.Task[None]:
        """Keep an entry, and the images of its answer (`image_batch`), in one script run by a task which the
        answer waits for: a client reading the journal through any replica right after its call finds it there."""
        data = _entry_of(item).to_dict()
        del data["id"]  # allocated by the store
        task = asyncio.get_running_loop().create_task(self._record(item[1], orjson.dumps(data), images or b""))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _record(self, size: int, data: bytes, images: bytes) -> None:
        gap, self.unrecorded = self.unrecorded, 0
        try:
            await self._call(self._script("record", _JOURNAL_KEYS, (
                0, size, data, self.journal_size, self.journal_bytes, gap, images)))
        except StoreUnavailable:
            self.unrecorded += gap + 1

    async def entries(self) -> tuple[list[Entry], int]:
        """Every replica's entries, newest first, and how many requests went unrecorded while the store was away."""
        async def read() -> list[Any]:
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.lrange(_JOURNAL_KEYS[0], 0, -1)
                pipe.get(_JOURNAL_KEYS[3])
                result: list[Any] = await pipe.execute()
                return result

        items, unrecorded = await self._call(read)
        entries = []
        for item in items:
            entry_id, _, rest = item.partition(b" ")
            data = orjson.loads(rest.partition(b" ")[2])
            data["id"] = int(entry_id)
            entries.append(Entry.from_dict(data))
        return entries, int(unrecorded or 0) + self.unrecorded

    async def clear_journal(self) -> int:
        """The journal and the ledger cleared (the spend goes with the requests it was booked for)."""
        return int(await self._call(self._script("clear_list", [*_JOURNAL_KEYS[:2], _JOURNAL_KEYS[3],
                                                                 *_LEDGER_KEYS], ())))

    # -- images ----------------------------------------------------------------------------------------

    @staticmethod
    def image_batch(request: ImageRequest, data: Sequence[Any], *, created: float, ttl: float) -> bytes:
        """One success's images as the registry keeps them (`record` writes them with the request's entry)."""
        urls: list[str] | int = len(data)
        if request.response_format == "url":
            urls = [item["url"] for item in data]
        return orjson.dumps([request.model, request.width, request.height, request.fmt, request.response_format,
                             urls, created, ttl])

    async def mark_downloaded(self, name: str, now: float) -> None:
        await self._call(self._script("downloaded", _DOWNLOAD_KEYS, (name, repr(now),
                                                                      max(self.journal_size, 1) * 4)))

    async def images(self, downloaded: bool | None = None) -> list[ImageRecord]:
        async def read() -> list[Any]:
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.lrange(_IMAGE_KEYS[0], 0, -1)
                pipe.hgetall(_DOWNLOAD_KEYS[0])
                pipe.hgetall(_DOWNLOAD_KEYS[1])
                result: list[Any] = await pipe.execute()
                return result

        batches, counts, lasts = await self._call(read)
        records: list[ImageRecord] = []
        for item in batches:
            entry_id, _, rest = item.partition(b" ")
            model, width, height, fmt, response_format, urls, created, ttl = orjson.loads(rest)
            batch = (model, width, height, fmt, response_format, urls, created, ttl, int(entry_id))
            for index in reversed(range(urls if isinstance(urls, int) else len(urls))):
                record = _image_record(batch, None if isinstance(urls, int) else urls[index], index)
                name = record.id.encode()
                record.downloads = int(counts.get(name, 0))
                last = lasts.get(name)
                record.last_download = float(last) if last is not None else None
                if downloaded is None or record.downloaded == downloaded:
                    records.append(record)
        return records

    async def keep_rendered(self, images: dict[str, bytes], ttl: float, keep: int) -> None:
        """Images drawn from uploads, by file name, for any replica to serve: until their URLs expire, the last
        `keep` of them."""
        keys = [PREFIX + "rendered", *(_RENDERED_KEY + name for name in images)]
        await self._call(self._script("keep_rendered", keys, (max(round(ttl * 1000), 1), keep, *images.values())))

    async def rendered(self, name: str) -> bytes | None:
        content: bytes | None = await self._call(lambda: self._redis.get(_RENDERED_KEY + name))
        return content

    async def clear_images(self) -> int:
        count = len(await self.images())
        await self._call(self._script("clear_list", [_IMAGE_KEYS[0], *_DOWNLOAD_KEYS], ()))
        return count

    # -- the proxy's spend guard -------------------------------------------------------------------------

    async def reserve_forward(self, max_requests: int | None, budget_credits: int | None, estimate: int
                              ) -> tuple[str, int, int]:
        """Reserve one forwarded request and its estimated credits against every proxy replica's: "ok", or what
        it would pass ("requests", "budget"); with the count and the credits spent (reserved) after it. One
        script, so replicas racing never pass a cap together."""
        verdict, count, spent = await self._call(self._script("reserve", _PROXY_KEYS, (
            -1 if max_requests is None else max_requests, -1 if budget_credits is None else budget_credits,
            estimate)))
        return verdict.decode(), int(count), int(spent)

    async def settle_forward(self, reserved: int, spent: int, *, forwarded: bool) -> None:
        """A reservation settled: `spent` credits instead of the `reserved` ones; not `forwarded`: the request
        does not count either."""
        await self._call(self._script("settle", _PROXY_KEYS, ("0" if forwarded else "1", spent - reserved)))

    async def forwarding(self) -> tuple[int, int]:
        """The requests forwarded and the credits spent (with those reserved) by every proxy replica."""
        count, spent = await self._call(lambda: self._redis.mget(_PROXY_KEYS))
        return int(count or 0), int(spent or 0)

    async def reset(self) -> None:
        """Everything cleared but the id counters (ids only grow), the latency set for all (a reset leaves the
        latency alone in one process too) and the proxy's spend guard (a reset between tests lifts no cap)."""

        async def clear() -> None:
            names = [name async for name in self._redis.scan_iter(match=PREFIX + "*", count=1000)
                     if name.decode() not in KEPT_BY_RESET]
            if names:
                await self._redis.delete(*names)

        await self._call(clear)
        self.unrecorded = 0

    # -- reads for the dashboard (`dashboard.py`): a page, one entry, counts; never the whole journal ----------

    async def journal_head(self) -> tuple[int, int]:
        """The newest entry's id (0 when empty) and how many entries the journal holds: a cheap change check."""
        async def read() -> list[Any]:
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.lindex(_JOURNAL_KEYS[0], 0)
                pipe.llen(_JOURNAL_KEYS[0])
                result: list[Any] = await pipe.execute()
                return result

        newest, length = await self._call(read)
        return (int(newest.partition(b" ")[0]) if newest else 0), int(length)

    async def journal_slice(self, start: int, count: int, needles: Sequence[bytes] = ()) -> tuple[list[Entry], int]:
        """Entries `start` to `start + count` (newest first), and how many the store gave (fewer: the end).
        `needles`: an entry whose stored JSON lacks any of these bytes is skipped unparsed (a filter's cheap
        necessary condition: `b'"model":"dall-e-3"'`)."""
        items = await self._call(lambda: self._redis.lrange(_JOURNAL_KEYS[0], start, start + count - 1))
        entries = []
        for item in items:
            entry_id, _, rest = item.partition(b" ")
            text = rest.partition(b" ")[2]
            if all(needle in text for needle in needles):
                entries.append(_stored_entry(int(entry_id), text))
        return entries, len(items)

    async def journal_stats(self) -> dict[str, int]:
        """The journal's entry count and estimated bytes."""
        async def read() -> list[Any]:
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.llen(_JOURNAL_KEYS[0])
                pipe.get(_JOURNAL_KEYS[1])
                result: list[Any] = await pipe.execute()
                return result

        length, size = await self._call(read)
        return {"entries": int(length), "bytes": int(size or 0)}

    async def find_entry(self, entry_id: int) -> Entry | None:
        """The entry with this id, if the journal still holds it (one script: the list is halved, not read)."""
        item = await self._call(self._script("find", _JOURNAL_KEYS[:1], (entry_id,)))
        if not item:
            return None
        return _stored_entry(entry_id, item.partition(b" ")[2].partition(b" ")[2])

    async def entry_images(self, entry_id: int) -> list[ImageRecord]:
        """The images of one entry's answer, with their downloads (as `images()` gives them)."""
        item = await self._call(self._script("find", _IMAGE_KEYS, (entry_id,)))
        if not item:
            return []
        model, width, height, fmt, response_format, urls, created, ttl = orjson.loads(item.partition(b" ")[2])
        batch = (model, width, height, fmt, response_format, urls, created, ttl, entry_id)
        records = [_image_record(batch, None if isinstance(urls, int) else urls[index], index)
                   for index in reversed(range(urls if isinstance(urls, int) else len(urls)))]
        if records:
            names = [record.id for record in records]

            async def read() -> list[Any]:
                async with self._redis.pipeline(transaction=True) as pipe:
                    pipe.hmget(_DOWNLOAD_KEYS[0], names)
                    pipe.hmget(_DOWNLOAD_KEYS[1], names)
                    result: list[Any] = await pipe.execute()
                    return result

            counts, lasts = await self._call(read)
            for record, count, last in zip(records, counts, lasts, strict=True):
                record.downloads = int(count or 0)
                record.last_download = float(last) if last is not None else None
        return records


def _stored_entry(entry_id: int, text: bytes) -> Entry:
    data = orjson.loads(text)
    data["id"] = entry_id
    return Entry.from_dict(data)


def _rule_fields(rule: FaultRule) -> dict[str, Any]:
    """What rebuilds a rule with `FaultRule.from_dict` (its key in full: the store is the mock's own)."""
    return {"status": rule.status, "kind": rule.kind, "retry_after": rule.retry_after, "message": rule.message,
            "should_retry": rule.should_retry, "latency": str(rule.latency) if rule.latency else None,
            "stall": rule.stall, "model": rule.model, "prompt": rule.prompt, "key": rule.key}


def _rule_of(stored: bytes, rule_id: int, hits: int, left: int) -> FaultRule:
    rule = FaultRule.from_dict(orjson.loads(stored)["rule"])
    rule.id, rule.hits, rule.times = rule_id, hits, None if left < 0 else left
    return rule


class SharedJournal(Journal):
    """The journal of a mock with `--state`: entries go to the store (`RedisState.record`), ids come from it."""

    def __init__(self, shared: RedisState, capacity: int, max_bytes: int) -> None:
        super().__init__(capacity, max_bytes)
        self.shared = shared

    def next_id(self) -> int:
        return 0  # allocated by the store when the entry (or its images) is written

    def record(self, entry: Entry, size: int | None = None) -> None:
        """An entry made whole by its caller (the proxy's), written to the store without waiting."""
        if self.capacity:
            self.shared.record((entry, estimate_size(entry) if size is None else size))

    def record_raw(self, entry: RawEntry) -> asyncio.Task[None] | None:
        return self.shared.record(entry) if self.capacity else None

    def record_with_images(self, entry: RawEntry, images: bytes) -> asyncio.Task[None] | None:
        return self.shared.record(entry, images) if self.capacity else None
