"""Meta's per-phone-number throughput cap, shared by every worker process through Redis.

Meta allows each business number a fixed number of messages per second (80 by default,
FACTS.md §4; going over answers 130429). Every Celery worker that sends from a number must
draw from one shared budget, so the state lives in Redis and each decision is one atomic
Lua script. It is written by hand (STYLE.md offers the ``limits`` library, which is not
installed here and whose moving-window strategy would allow bursts of a whole second's
budget at once) because Meta's cap is best met by pacing: slots evenly spaced, taken on
Redis's clock so every worker agrees on the time.

The algorithm is GCRA (the "virtual scheduling" form of a leaky bucket) with no burst:
granted slots are at least ``1/rate`` seconds apart on Redis's clock, so any half-open
one-second window holds at most ``rate`` of them.
"""

from __future__ import annotations

import math
import os
import random
import threading
import time
from dataclasses import dataclass

import redis
from django.conf import settings

from bizmitra import metrics

# KEYS[1]: the limiter's key. ARGV[1]: interval between slots (µs). ARGV[2]: longest
# acceptable wait (µs). Times are µs since the epoch on Redis's clock (TIME), so every
# worker agrees on "now" whatever its own clock says. Numbers go through string.format
# because Lua's tostring keeps only 14 significant digits.
_RESERVE_SLOT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local max_wait = tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now then tat = now end
local wait = tat - now
if wait > max_wait then
  return {0, string.format('%.0f', wait), string.format('%.0f', now)}
end
local next_tat = tat + interval
redis.call('SET', KEYS[1], string.format('%.0f', next_tat), 'PX', math.ceil((next_tat - now) / 1000) + 1000)
return {1, string.format('%.0f', wait), string.format('%.0f', tat)}
"""


@dataclass(frozen=True, slots=True)
class Reservation:
    """The answer of ``ThroughputLimiter.reserve``.

    Granted: the caller owns the slot at ``slot_at`` (Redis time, seconds) and must not
    send before ``wait`` seconds have passed. Refused: the next free slot is ``wait``
    seconds away, more than the caller was willing to wait; nothing was reserved.
    """

    granted: bool
    wait: float
    slot_at: float


class ThroughputLimiter:
    """A named rate (events per second) shared by every process that uses the same Redis.

    Keys are ``<KEY_PREFIX>:ratelimit:<name>`` so parallel test runs and deployments that
    share one Redis never share a budget.
    """

    def __init__(self, *, client: redis.Redis | None = None, prefix: str | None = None) -> None:
        self._client = client
        self.prefix = prefix if prefix is not None else settings.CACHES["default"]["KEY_PREFIX"]
        self._script = None

    @property
    def client(self) -> redis.Redis:
        if self._client is None:
            self._client = _redis_client()
        return self._client

    def key(self, name: str) -> str:
        return f"{self.prefix}:ratelimit:{name}"

    def reserve(self, name: str, *, rate: float, max_wait: float = 0.0) -> Reservation:
        """Reserve the next slot of ``name`` if it is at most ``max_wait`` seconds away."""
        if rate <= 0:
            raise ValueError("rate must be positive")
        if self._script is None:
            self._script = self.client.register_script(_RESERVE_SLOT)
        # Rounded up: a slot spacing a hair too short would let rate+1 into one second.
        interval_us = math.ceil(1_000_000 / rate)
        granted, wait_us, at_us = self._script(keys=[self.key(name)], args=[interval_us, int(max_wait * 1_000_000)])
        return Reservation(granted=bool(int(granted)), wait=int(wait_us) / 1_000_000, slot_at=int(at_us) / 1_000_000)

    def acquire(self, name: str, *, rate: float, max_wait: float) -> Reservation:
        """Take a slot that is due *now*, polling for up to ``max_wait`` seconds.

        Only current slots are taken, never future ones slept towards: on a busy host a
        sleeper wakes late, and late wakers bunch their sends into one of Meta's seconds.
        Taking the slot right before the call keeps the gap between decision and send to
        the call itself. Refused: nothing is held, ``wait`` says when the next slot is free.
        """
        deadline = time.monotonic() + max_wait
        while True:
            reservation = self.reserve(name, rate=rate, max_wait=0)
            if reservation.granted or reservation.wait > deadline - time.monotonic():
                return reservation
            # A little jitter so contenders do not all poll at the same instant.
            metrics.limiter_waited(reservation.wait)
            time.sleep(reservation.wait + random.uniform(0, min(reservation.wait, 0.002)))

    def reset(self, name: str) -> None:
        self.client.delete(self.key(name))


_clients_lock = threading.Lock()
_clients: dict[int, redis.Redis] = {}


def _redis_client() -> redis.Redis:
    # One client per process: a connection pool inherited through fork (Celery prefork)
    # must not be shared with the parent.
    pid = os.getpid()
    with _clients_lock:
        client = _clients.get(pid)
        if client is None:
            client = redis.Redis.from_url(settings.REDIS_URL)
            _clients[pid] = client
        return client


def phone_number_rate(messages_per_second: int) -> float:
    """The send rate we allow ourselves for a number whose Meta cap is ``messages_per_second``.

    A share of the cap (``WHATSAPP_THROUGHPUT_SHARE``, default 0.9) is kept back because
    Meta counts requests when they *arrive*: network jitter between our clock and theirs
    can squeeze perfectly spaced sends into one of their seconds, and inbound messages
    count against the same cap (FACTS.md §4).
    """
    share = float(getattr(settings, "WHATSAPP_THROUGHPUT_SHARE", 0.9))
    return max(messages_per_second * share, 0.1)


def phone_number_limiter_name(phone_number_id: str) -> str:
    return f"wa-mps:{phone_number_id}"


PAIR_RATE_LIMIT_CODE = 131056
"""Meta's "(Business Account, Consumer Account) pair rate limit hit" (FACTS.md §4, §6)."""

PAIR_MIN_BACKOFF_SECONDS = 6.0
"""Meta's pair rate is one message every 6 s to the same user: never come back sooner."""

# Meta: "retry after 4^X seconds, X = 0, 1, 2, ..." (WA/about-the-platform). The count of
# consecutive hits for a pair is kept this long after the last one.
_PAIR_HITS_TTL_SECONDS = 3600


class PairBackoff:
    """Per-recipient backoff after Meta's pair rate limit (131056), shared through Redis.

    Unlike the number's throughput (``ThroughputLimiter``), a pair limit concerns one
    recipient: every worker holds every message to that recipient until the backoff ends,
    and sends to anyone else go on at full speed. The backoff is ``max(6 s, 4^X s)`` for
    the X-th consecutive hit (X from 0), capped by ``WHATSAPP_SEND_RETRY_MAX_SECONDS``.
    """

    def __init__(self, *, client: redis.Redis | None = None, prefix: str | None = None) -> None:
        self._client = client
        self.prefix = prefix if prefix is not None else settings.CACHES["default"]["KEY_PREFIX"]

    @property
    def client(self) -> redis.Redis:
        if self._client is None:
            self._client = _redis_client()
        return self._client

    def _keys(self, phone_number_id: str, recipient: str) -> tuple[str, str]:
        base = f"{self.prefix}:pairlimit:{phone_number_id}:{recipient}"
        return f"{base}:until", f"{base}:hits"

    def hit(self, phone_number_id: str, recipient: str) -> float:
        """Record a 131056 for the pair; the seconds every send to ``recipient`` must wait."""
        until, hits = self._keys(phone_number_id, recipient)
        pipe = self.client.pipeline()
        pipe.incr(hits)
        pipe.expire(hits, _PAIR_HITS_TTL_SECONDS)
        count = int(pipe.execute()[0])
        cap = float(getattr(settings, "WHATSAPP_SEND_RETRY_MAX_SECONDS", 300.0))
        delay = min(max(PAIR_MIN_BACKOFF_SECONDS, 4.0 ** (count - 1)), max(cap, PAIR_MIN_BACKOFF_SECONDS))
        self.client.set(until, "1", px=math.ceil(delay * 1000))
        return delay

    def wait(self, phone_number_id: str, recipient: str) -> float:
        """Seconds left before ``recipient`` may be sent to again (0 when not held)."""
        until, _ = self._keys(phone_number_id, recipient)
        remaining = self.client.pttl(until)
        return remaining / 1000 if remaining and remaining > 0 else 0.0

    def clear(self, phone_number_id: str, recipient: str) -> None:
        self.client.delete(*self._keys(phone_number_id, recipient))
