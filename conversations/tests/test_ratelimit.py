"""The shared per-number throughput limiter, against the real Redis of this test run."""

import multiprocessing
import queue
import threading
import time
import uuid

import pytest
import redis
from django.conf import settings

from conversations.ratelimit import ThroughputLimiter, phone_number_limiter_name, phone_number_rate


def max_in_any_window(times: list[float], window: float = 1.0) -> int:
    """The most events inside any half-open window ``[t, t + window)`` starting at an event."""
    times = sorted(times)
    best, start = 0, 0
    for end, at in enumerate(times):
        while at - times[start] >= window:
            start += 1
        best = max(best, end - start + 1)
    return best


@pytest.fixture
def limiter():
    limiter = ThroughputLimiter(client=redis.Redis.from_url(settings.REDIS_URL))
    name = f"test-{uuid.uuid4().hex}"
    yield limiter, name
    limiter.reset(name)


def test_keys_carry_the_runs_redis_prefix(limiter):
    limiter, name = limiter
    limiter.reserve(name, rate=10)
    assert limiter.key(name) == f"{settings.CACHES['default']['KEY_PREFIX']}:ratelimit:{name}"
    assert limiter.client.exists(limiter.key(name))


def test_a_slot_further_away_than_max_wait_is_refused_without_reserving(limiter):
    limiter, name = limiter
    first = limiter.reserve(name, rate=1, max_wait=0)
    refused = limiter.reserve(name, rate=1, max_wait=0)
    assert first.granted and first.wait == 0
    assert not refused.granted and refused.wait > 0
    # Nothing was taken by the refusal: a caller willing to wait gets the very next slot.
    waiting = limiter.reserve(name, rate=1, max_wait=5)
    assert waiting.granted and waiting.slot_at == pytest.approx(first.slot_at + 1, abs=1e-6)


def test_many_callers_never_get_more_than_80_slots_in_any_second(limiter):
    """Eight threads, each with its own Redis connection, as eight workers would be."""
    limiter, name = limiter
    slots: list[float] = []
    refusals = []
    lock = threading.Lock()

    def hammer():
        own = ThroughputLimiter(client=redis.Redis.from_url(settings.REDIS_URL))
        taken = 0
        while taken < 30:
            reservation = own.acquire(name, rate=80, max_wait=0.05)
            with lock:
                if reservation.granted:
                    slots.append(reservation.slot_at)
                    taken += 1
                else:
                    refusals.append(reservation.wait)

    threads = [threading.Thread(target=hammer) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert len(slots) == 240
    assert max_in_any_window(slots) <= 80
    # Eight callers contend for slots 12.5 ms apart: within 0.05 s some find none.
    assert refusals


RUN_SECONDS = 2.5


def _grant_times(redis_url: str, prefix: str, name: str, rate: float, barrier, results) -> None:
    """One sender process: its own limiter and Redis connection, acquiring for RUN_SECONDS."""
    limiter = ThroughputLimiter(client=redis.Redis.from_url(redis_url), prefix=prefix)
    granted: list[float] = []
    barrier.wait(timeout=60)
    stop_at = time.monotonic() + RUN_SECONDS
    while time.monotonic() < stop_at:
        if limiter.acquire(name, rate=rate, max_wait=0.1).granted:
            granted.append(time.time())
    results.put(granted)


def test_four_processes_on_one_number_hold_metas_80_per_second():
    """Four spawned processes (as four workers would be) share one number's budget."""
    ctx = multiprocessing.get_context("spawn")
    prefix = settings.CACHES["default"]["KEY_PREFIX"]
    name = phone_number_limiter_name(f"test-{uuid.uuid4().hex}")
    barrier = ctx.Barrier(5)
    results = ctx.Queue()
    args = (settings.REDIS_URL, prefix, name, phone_number_rate(80), barrier, results)
    procs = [ctx.Process(target=_grant_times, args=args, daemon=True) for _ in range(4)]
    for proc in procs:
        proc.start()
    try:
        barrier.wait(timeout=60)  # every process imported and connected: they start together
        per_process = [results.get(timeout=30) for _ in procs]
    except (threading.BrokenBarrierError, queue.Empty):
        pytest.fail("a limiter process did not start or finish; see its traceback above")
    finally:
        for proc in procs:
            proc.join(timeout=10)
            if proc.is_alive():
                proc.kill()
                proc.join(timeout=10)
        ThroughputLimiter(client=redis.Redis.from_url(settings.REDIS_URL), prefix=prefix).reset(name)
    grants = [at for times in per_process for at in times]
    assert all(per_process), "a process got no slot at all"
    assert len(grants) > 80, "the limit was never exercised"
    busiest = max_in_any_window(grants)
    assert busiest <= 80, f"{busiest} grants within one second"


def test_numbers_get_a_share_of_metas_cap_and_their_own_budget():
    assert phone_number_rate(80) == pytest.approx(80 * settings.WHATSAPP_THROUGHPUT_SHARE)
    assert phone_number_rate(80) <= 80
    assert phone_number_limiter_name("106540352242922") != phone_number_limiter_name("106540352242923")
