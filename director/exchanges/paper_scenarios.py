"""Named market regimes for the paper simulator (`backtest --scenario NAME`).

A scenario changes how markets move and how much liquidity they offer, never how they settle:
in every scenario the hidden probability is a martingale and settles YES with its own value.
`base` is the regime of the live paper venue; the others stress one thing each.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Scenario:
    name: str
    vol_scale: float = 1.0  # × each market's own volatility
    jumps_scale: float = 1.0  # × each market's own news frequency
    # Share of the remaining uncertainty one piece of news resolves (uniform in this range).
    jump_size: tuple[float, float] = (0.15, 0.5)
    tail_dof: int | None = None  # Student-t diffusion shocks of this many degrees of freedom
    common_share: float = 0.0  # correlation of every market's shocks with one common factor
    depth_scale: float = 1.0  # × contracts offered at each price level
    spread_add: int = 0  # cents added to every market's spread
    crowd_lag: float = 0.0  # share of a news move the crowd's price misses at first

    def __post_init__(self) -> None:
        low, high = self.jump_size
        if not 0.0 < low <= high < 1.0:
            raise ValueError(f"jump_size must be within (0, 1), got {self.jump_size}")
        if not 0.0 <= self.common_share < 1.0 or not 0.0 <= self.crowd_lag < 1.0:
            raise ValueError("common_share and crowd_lag must be in [0, 1)")
        if self.tail_dof is not None and self.tail_dof < 3:
            raise ValueError("tail_dof must be at least 3 (finite variance)")


SCENARIOS: dict[str, Scenario] = {
    s.name: s
    for s in (
        Scenario("base"),
        # Frequent, large news that the crowd under-reacts to, then catches up with.
        Scenario("news-shock", jumps_scale=5.0, jump_size=(0.3, 0.8), crowd_lag=0.6),
        # A sixth of the depth and wider spreads: impact and queues dominate.
        Scenario("liquidity-drought", depth_scale=0.15, spread_add=3),
        # Every market's moves, and its news, share one factor: losses come together.
        Scenario("correlated", common_share=0.8),
        # Student-t(3) moves and bigger news: rare, violent repricings.
        Scenario("fat-tails", tail_dof=3, jumps_scale=1.5, jump_size=(0.4, 0.9)),
    )
}


def scenario_named(name: str) -> Scenario:
    """The scenario called `name`, or ValueError listing the known ones."""
    found = SCENARIOS.get(name)
    if found is None:
        raise ValueError(f"unknown scenario {name!r}: choose from {', '.join(SCENARIOS)}")
    return found
