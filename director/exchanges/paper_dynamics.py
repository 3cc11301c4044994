"""How the paper simulator's hidden probabilities move: every move is an exact martingale.

A binary market's probability p moves by p(1 − p) × w with w symmetric and |w| < 1, so it
stays in (0, 1) and E[p'] = p; news resolves a share h of the remaining uncertainty towards an
outcome drawn with the current probabilities (p + h(1 − p) with probability p, p − hp
otherwise), again E[p'] = p. An exclusive event's probabilities move by pairwise transfers of
that shape and by news towards one outcome drawn with the probabilities. Settling YES with
the probability at close then gives P(YES | p_t) = p_t at every earlier t: the hidden value is
what settles, so prices made from it are calibrated.
"""

from __future__ import annotations

import hashlib
import itertools
import math
import random
from typing import TYPE_CHECKING

from director.exchanges.paper_scenarios import Scenario

if TYPE_CHECKING:
    from director.exchanges.paper_sim import SimMarket

_MAX_W = 0.95  # |w|: a step never moves more than 95% of the way to 0 or 1
_MIN_P = 1e-9


def clamp(value: float, low: float, high: float) -> float:
    return low if value < low else high if value > high else value


def sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


def logit(p: float) -> float:
    p = clamp(p, _MIN_P, 1.0 - _MIN_P)
    return math.log(p / (1.0 - p))


def softmax(xs: list[float]) -> list[float]:
    top = max(xs)
    exps = [math.exp(x - top) for x in xs]
    total = sum(exps)
    return [e / total for e in exps]


def shock(rng: random.Random, scenario: Scenario) -> float:
    """A unit-variance symmetric shock: normal, or Student-t in the fat-tails scenario."""
    z = rng.gauss(0.0, 1.0)
    dof = scenario.tail_dof
    if dof is None:
        return z
    chi2 = sum(rng.gauss(0.0, 1.0) ** 2 for _ in range(dof))
    return z / math.sqrt(chi2 / dof) / math.sqrt(dof / (dof - 2))


def mixed(own: float, common: float, share: float) -> float:
    """A unit-variance shock correlated `share` with the common one."""
    return share * common + math.sqrt(1.0 - share * share) * own


def diffuse(p: float, sd: float, z: float) -> float:
    w = clamp(sd * z, -_MAX_W, _MAX_W)  # clamping a symmetric draw keeps it symmetric
    return p + p * (1.0 - p) * w


def news(p: float, h: float, u: float) -> float:
    """Towards YES with probability p (u uniform in [0, 1)), else towards NO."""
    return p + h * (1.0 - p) if u < p else p - h * p


def transfer(ps: list[float], i: int, j: int, sd: float, z: float) -> None:
    """Move probability between outcomes i and j in place; the sum is unchanged."""
    a, b = ps[i], ps[j]
    delta = clamp(sd * z, -_MAX_W, _MAX_W) * a * b / (a + b)
    ps[i], ps[j] = a + delta, b - delta


def news_exclusive(ps: list[float], h: float, u: float) -> list[float]:
    """Towards one outcome, drawn with the probabilities (u uniform in [0, 1))."""
    winner = pick(ps, u)
    return [(1.0 - h) * p + (h if i == winner else 0.0) for i, p in enumerate(ps)]


def pick(ps: list[float], u: float) -> int:
    """The index u (uniform in [0, 1)) falls on when ps are laid end to end."""
    total = 0.0
    for i, p in enumerate(ps):
        total += p
        if u < total:
            return i
    return len(ps) - 1  # a float sum a hair below 1


def log_weights(ps: list[float]) -> list[float]:
    """Weights whose softmax is `ps` (ps sums to 1)."""
    return [math.log(max(p, _MIN_P)) for p in ps]


def derive_seed(*parts: int | str) -> int:
    """A 64-bit seed from any parts, stable across runs and platforms (unlike hash())."""
    text = "\x1f".join(str(p) for p in parts).encode()
    return int.from_bytes(hashlib.blake2b(text, digest_size=8).digest(), "big")


def unit_draws(count: int, *parts: int | str) -> tuple[float, ...]:
    """`count` (at most 8) independent uniform numbers in [0, 1) fixed by their parts: for
    noise that must not depend on anything else drawn (no shared RNG stream)."""
    text = "\x1f".join(str(p) for p in parts).encode()
    digest = hashlib.blake2b(text, digest_size=8 * count).digest()
    return tuple(int.from_bytes(digest[i : i + 8], "big") / 2.0**64 for i in range(0, 8 * count, 8))


def standard_normal(u1: float, u2: float) -> float:
    """Box-Muller: a standard normal from two uniforms in [0, 1)."""
    return math.sqrt(-2.0 * math.log(1.0 - u1)) * math.cos(2.0 * math.pi * u2)


def no_arbitrage(markets: list[SimMarket]) -> None:
    """Quotes of mutually exclusive outcomes, as arbitrageurs leave them: buying every YES
    costs at least $1 and selling every YES brings at most $1 (so buying every NO costs at
    least what it pays). Widens quotes a cent at a time, dearest outcomes first."""
    by_price = sorted(markets, key=lambda m: -(m.yes_bid or 0))  # stable: ties keep seq order
    asks = [m.yes_ask or 0 for m in by_price]
    bids = [m.yes_bid or 0 for m in by_price]
    for i in itertools.cycle(range(len(asks))):  # ends: 99 × (2 or more outcomes) > 100
        if sum(asks) >= 100:
            break
        asks[i] = min(asks[i] + 1, 99)
    for i in itertools.cycle(range(len(bids))):
        if sum(bids) <= 100:
            break
        bids[i] = max(bids[i] - 1, 1)
    for market, bid, ask in zip(by_price, bids, asks, strict=True):
        market.yes_bid, market.yes_ask = bid, ask
