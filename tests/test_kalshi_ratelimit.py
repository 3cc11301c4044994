"""The token bucket and backoff, on virtual time."""

from __future__ import annotations

import asyncio
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from director.exchanges.kalshi.ratelimit import Backoff, TokenBucket
from tests.kalshi_standin import VirtualTime


def bucket(rate: float, burst: float | None = None) -> tuple[TokenBucket, VirtualTime]:
    time = VirtualTime()
    return TokenBucket(rate, burst=burst, monotonic=time.monotonic, sleep=time.sleep), time


async def test_a_full_bucket_bursts_then_paces() -> None:
    limiter, time = bucket(rate=10, burst=3)
    waits = [await limiter.acquire() for _ in range(6)]
    assert waits == pytest.approx([0, 0, 0, 0.1, 0.1, 0.1])
    assert time.sleeps == pytest.approx([0.1, 0.1, 0.1])
    assert limiter.acquired == 6


async def test_the_default_burst_is_one_seconds_worth() -> None:
    limiter, time = bucket(rate=20)
    for _ in range(20):
        await limiter.acquire()
    assert time.sleeps == []
    await limiter.acquire()
    assert time.sleeps == pytest.approx([0.05])


async def test_idle_time_refills_up_to_the_burst_only() -> None:
    limiter, time = bucket(rate=10, burst=2)
    time.now += 100  # a long idle spell does not bank more than the burst
    assert limiter.available == pytest.approx(2)
    for _ in range(3):
        await limiter.acquire()
    assert time.sleeps == pytest.approx([0.1])


async def test_concurrent_callers_are_served_first_come_first_served() -> None:
    limiter, time = bucket(rate=4, burst=1)
    served: list[int] = []

    async def caller(n: int) -> None:
        await limiter.acquire()
        served.append(n)

    await asyncio.gather(*(caller(n) for n in range(5)))
    assert served == [0, 1, 2, 3, 4]
    assert time.now == pytest.approx(1000 + 1.0)  # 4 waits of 0.25 s, not more


async def test_defer_holds_everyone_back_and_empties_the_bucket() -> None:
    limiter, _ = bucket(rate=10, burst=5)
    limiter.defer(2.0)
    assert limiter.available == 0
    wait = await limiter.acquire()
    assert wait == pytest.approx(2.1)
    assert await limiter.acquire() == pytest.approx(0.1)


async def test_drain_leaves_the_bucket_empty() -> None:
    limiter, _ = bucket(rate=20)
    limiter.drain()
    assert await limiter.acquire() == pytest.approx(0.05)


async def test_a_request_costing_several_tokens_waits_for_all_of_them() -> None:
    limiter, _ = bucket(rate=10, burst=4)
    assert await limiter.acquire(4) == 0
    assert await limiter.acquire(2) == pytest.approx(0.2)


async def test_a_cost_above_the_burst_waits_for_a_full_bucket_then_leaves_it_in_debt() -> None:
    # The server charges the whole cost: debiting only the burst would let the next request
    # go out early and meet a 429.
    limiter, time = bucket(rate=10, burst=4)
    assert await limiter.acquire(3) == 0
    assert await limiter.acquire(6) == pytest.approx(0.3)  # waits for a full bucket (4)...
    assert limiter.available == 0
    assert await limiter.acquire(1) == pytest.approx(0.3)  # ...then 2 tokens of debt + 1
    time.now += 100
    assert limiter.available == 4  # debt paid, refilled to the burst only


@settings(max_examples=60, deadline=None)
@given(
    rate=st.floats(min_value=0.5, max_value=50),
    burst=st.integers(min_value=1, max_value=10),
    costs=st.lists(st.integers(min_value=1, max_value=25), min_size=1, max_size=30),
)
def test_tokens_granted_never_outrun_burst_plus_rate_whatever_the_costs(
    rate: float, burst: int, costs: list[int]
) -> None:
    """Back to back, costs above the burst included: by the time a request starts, the tokens
    granted so far never exceed burst + rate·elapsed + that request's excess over the burst."""
    limiter, time = bucket(rate, float(burst))
    spent = 0.0

    async def run() -> None:
        nonlocal spent
        for cost in costs:
            await limiter.acquire(cost)
            spent += cost
            assert spent <= burst + rate * time.now + max(0, cost - burst) + 1e-6

    asyncio.run(run())


def test_bad_parameters_are_refused() -> None:
    with pytest.raises(ValueError, match="rate"):
        TokenBucket(0)
    with pytest.raises(ValueError, match="burst"):
        TokenBucket(5, burst=0.5)
    limiter, _ = bucket(rate=5, burst=2)
    with pytest.raises(ValueError, match="positive"):
        limiter.reserve(0)


@settings(max_examples=60, deadline=None)
@given(
    rate=st.floats(min_value=0.5, max_value=50),
    burst=st.integers(min_value=1, max_value=10),
    gaps=st.lists(st.floats(min_value=0, max_value=0.5), min_size=1, max_size=40),
)
def test_never_more_than_burst_plus_rate_times_elapsed(
    rate: float, burst: int, gaps: list[float]
) -> None:
    """Whatever the arrival pattern, grants in any window [t0, t1] never exceed
    burst + rate·(t1 − t0): the property the exchange's own limiter enforces."""
    limiter, time = bucket(rate, float(burst))
    granted: list[float] = []

    async def run() -> None:
        for gap in gaps:
            time.now += gap
            await limiter.acquire()
            granted.append(time.now)

    asyncio.run(run())
    for i, start in enumerate(granted):
        for j in range(i, len(granted)):
            count = j - i + 1
            assert count <= burst + rate * (granted[j] - start) + 1e-6


def test_backoff_grows_exponentially_with_a_guaranteed_minimum() -> None:
    backoff = Backoff(base_s=0.5, cap_s=4.0)
    rng = random.Random(1)
    for attempt, window in [(0, 0.5), (1, 1.0), (2, 2.0), (3, 4.0), (4, 4.0), (60, 4.0)]:
        for _ in range(50):
            assert window / 2 <= backoff.delay(attempt, rng) <= window
    with pytest.raises(ValueError):
        Backoff(base_s=2, cap_s=1)


def test_backoff_is_deterministic_for_a_seed() -> None:
    backoff = Backoff()
    first = [backoff.delay(n, random.Random(42)) for n in range(5)]
    again = [backoff.delay(n, random.Random(42)) for n in range(5)]
    assert first == again
