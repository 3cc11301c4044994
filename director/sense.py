"""SENSE: gather every source concurrently, each under its own timeout, into one SystemState.

A source that fails or times out sets its health flag false and the cycle goes on. Exchange
reads are critical: if one fails, health is degraded and the director trades in safe mode.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Protocol, TypeVar

from director import risk
from director.exchanges.base import Exchange
from director.models import (
    Autonomy,
    Market,
    NewsItem,
    Opportunity,
    Order,
    Position,
    SourceHealth,
    SystemHealth,
    SystemState,
)
from director.news import market_terms
from director.sense_baskets import basket_tickers, offered_baskets, tradeable
from director.sense_status import SOURCE as STATUS_SOURCE
from director.sense_status import trading_state

log = logging.getLogger(__name__)
T = TypeVar("T")


class OpportunitySource(Protocol):
    name: str

    async def opportunities(self, now: datetime) -> list[Opportunity]: ...

    def counters(self) -> dict[str, int]:
        """Numbers worth showing in health (bad feed lines, markets scanned, ...)."""
        ...


class NewsSource(Protocol):
    async def fetch(self, terms: set[str]) -> tuple[list[NewsItem], dict[str, SourceHealth]]: ...


@dataclass(frozen=True)
class RiskSettings:
    max_exposure: Decimal
    daily_loss_limit: Decimal


async def timed(
    name: str, work: Awaitable[T], limit_s: float, *, critical: bool = False
) -> tuple[T | None, SourceHealth]:
    """Run one source; never raises (except cancellation)."""
    started = time.perf_counter()
    try:
        result = await asyncio.wait_for(work, limit_s)
    except TimeoutError:
        elapsed = (time.perf_counter() - started) * 1000
        log.warning("source %s timed out after %.1fs", name, limit_s)
        return None, SourceHealth(
            ok=False, detail=f"timeout after {limit_s:g}s", latency_ms=elapsed, critical=critical
        )
    except Exception as exc:
        elapsed = (time.perf_counter() - started) * 1000
        log.warning("source %s failed: %s", name, exc)
        detail = f"{type(exc).__name__}: {exc}"[:200]
        return None, SourceHealth(ok=False, detail=detail, latency_ms=elapsed, critical=critical)
    elapsed = (time.perf_counter() - started) * 1000
    return result, SourceHealth(ok=True, latency_ms=round(elapsed, 2), critical=critical)


class Senser:
    def __init__(
        self,
        exchange: Exchange,
        sources: Sequence[OpportunitySource],
        news: NewsSource | None,
        *,
        timeout: float,
        risk_settings: RiskSettings,
    ) -> None:
        self.exchange = exchange
        self.sources = list(sources)
        self.news = news
        self.timeout = timeout
        self.risk_settings = risk_settings
        # Health sources that are not polled but known in memory (the scripts' heartbeats).
        self.health_probes: list[Callable[[datetime], dict[str, SourceHealth]]] = []

    async def gather(
        self,
        now: datetime,
        *,
        safe_mode: bool,
        autonomy: Autonomy,
        equity_24h_ago: Decimal | None,
        news: bool = True,
    ) -> SystemState:
        health: dict[str, SourceHealth] = {}
        counters: dict[str, int] = {}
        t = self.timeout

        balance_task = timed("balance", self.exchange.get_balance(), t, critical=True)
        positions_task = timed("positions", self.exchange.get_positions(), t, critical=True)
        orders_task = timed("orders", self.exchange.get_resting_orders(), t, critical=True)
        source_tasks = [timed(s.name, s.opportunities(now), t) for s in self.sources]
        (balance, positions, orders), found, trading = await asyncio.gather(
            asyncio.gather(balance_task, positions_task, orders_task),
            asyncio.gather(*source_tasks),
            trading_state(self.exchange, t),  # issue 13: is the exchange taking orders?
        )
        if trading.health is not None:
            health[STATUS_SOURCE] = trading.health
        health["balance"], health["positions"], health["orders"] = (
            balance[1],
            positions[1],
            orders[1],
        )
        # A failed read is unknown, not zero: the placeholders below are flagged so that the
        # guard and the brains never act on them (director/fail_closed.py).
        reads = (("balance", balance[0]), ("positions", positions[0]), ("orders", orders[0]))
        unknown = [name for name, value in reads if value is None]
        cash: Decimal = balance[0] if balance[0] is not None else Decimal(0)
        held: list[Position] = positions[0] or []
        resting: list[Order] = orders[0] or []

        best: dict[str, Opportunity] = {}
        for source, (found_here, source_health) in zip(self.sources, found, strict=True):
            health[source.name] = source_health
            for key, value in source.counters().items():
                counters[f"{source.name}.{key}"] = value
            opportunities: list[Opportunity] = found_here or []
            for opp in opportunities:
                if opp.expires_at <= now:
                    continue
                kept = best.get(opp.market)
                if kept is None or opp.edge > kept.edge:
                    best[opp.market] = opp

        baskets = offered_baskets(self.sources, now)
        tickers = sorted(
            {p.market for p in held}
            | {o.market for o in resting}
            | set(best)
            | basket_tickers(baskets)
        )
        markets_task = timed("markets", self.exchange.get_markets(tickers), t, critical=True)
        if self.news is not None and news:
            # Titles come with opportunities; held markets are known by ticker here.
            named = [Market(ticker=o.market, title=o.title) for o in best.values()]
            named += [Market(ticker=p.market) for p in held]
            terms = market_terms(named)
            news_task = timed("news", self.news.fetch(terms), t)
            (quotes, markets_health), (news_result, news_health) = await asyncio.gather(
                markets_task, news_task
            )
            news_items, feed_health = news_result or ([], {})
            health.update(feed_health)
            if news_result is None:
                health["news"] = news_health
        else:
            quotes, markets_health = await markets_task
            news_items = []
        health["markets"] = markets_health
        markets = {m.ticker: m for m in quotes or []}

        live = [o for o in best.values() if (m := markets.get(o.market)) and m.is_open]
        dropped = len(best) - len(live)
        if dropped and quotes is not None:
            counters["opportunities.unknown_or_closed"] = dropped
        live.sort(key=lambda o: (-o.edge, o.market))

        exposures = risk.market_exposures(held, resting)
        equity = risk.equity(cash, held, resting)
        pnl_24h = equity - equity_24h_ago if equity_24h_ago is not None else Decimal(0)
        score = risk.risk_score(
            exposures,
            equity,
            max_exposure=self.risk_settings.max_exposure,
            pnl_24h=pnl_24h,
            daily_loss_limit=self.risk_settings.daily_loss_limit,
        )
        if unknown:
            score = 0.0  # a score over placeholders means nothing; nothing is sent meanwhile
        for probe in self.health_probes:
            health.update(probe(now))
        system_health = SystemHealth(sources=health, counters=counters)
        reason = ""
        if system_health.degraded:
            reason = "health degraded: " + ", ".join(system_health.failing)
        elif safe_mode:
            reason = "operator"
        return SystemState(
            timestamp=now,
            portfolio_cash=cash,
            open_positions=held,
            pending_orders=resting,
            recent_pnl_24h=pnl_24h,
            system_health=system_health,
            active_opportunities=live,
            basket_opportunities=tradeable(baskets, markets),
            current_risk_score=score,
            equity=equity,
            exposure=sum(exposures.values(), Decimal(0)),
            safe_mode=safe_mode or system_health.degraded,
            safe_mode_reason=reason,
            autonomy=autonomy,
            markets=markets,
            news=news_items,
            exchange=self.exchange.name,
            unknown_data=unknown,
            trading_halt=trading.halt,
        )
