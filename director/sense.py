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
from director.describe import describe_error
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
from director.sense_status import TradingState, trading_state

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


@dataclass(frozen=True)
class AccountReads:
    """The account as read this cycle; a failed read is a placeholder named in `unknown`."""

    cash: Decimal
    held: list[Position]
    resting: list[Order]
    unknown: list[str]
    health: dict[str, SourceHealth]


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
        detail = describe_error(exc)
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
        account, found, trading = await self._read_account(now)
        if trading.health is not None:
            health[STATUS_SOURCE] = trading.health
        health.update(account.health)
        best = self._best_opportunities(found, now, health, counters)
        baskets = offered_baskets(self.sources, now)
        tickers = sorted(
            {p.market for p in account.held}
            | {o.market for o in account.resting}
            | set(best)
            | basket_tickers(baskets)
        )
        quotes, news_items = await self._quotes_and_news(
            tickers, best, account.held, health, news=news
        )
        markets = {m.ticker: m for m in quotes or []}
        live = _live(best, markets, counters, quotes_read=quotes is not None)

        held, resting, cash = account.held, account.resting, account.cash
        exposures = risk.market_exposures(held, resting)
        equity = risk.equity(cash, held, resting)
        pnl_24h = equity - equity_24h_ago if equity_24h_ago is not None else Decimal(0)
        score = self._risk_score(account, exposures, equity, pnl_24h)
        for probe in self.health_probes:
            health.update(probe(now))
        system_health = SystemHealth(sources=health, counters=counters)
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
            safe_mode_reason=_safe_mode_reason(system_health, safe_mode),
            autonomy=autonomy,
            markets=markets,
            news=news_items,
            exchange=self.exchange.name,
            unknown_data=account.unknown,
            trading_halt=trading.halt,
        )

    def _risk_score(
        self,
        account: AccountReads,
        exposures: dict[str, Decimal],
        equity: Decimal,
        pnl_24h: Decimal,
    ) -> float:
        score = risk.risk_score(
            exposures,
            equity,
            max_exposure=self.risk_settings.max_exposure,
            pnl_24h=pnl_24h,
            daily_loss_limit=self.risk_settings.daily_loss_limit,
        )
        # A score over placeholders means nothing; nothing is sent meanwhile.
        return 0.0 if account.unknown else score

    async def _read_account(
        self, now: datetime
    ) -> tuple[AccountReads, list[tuple[list[Opportunity] | None, SourceHealth]], TradingState]:
        """The account's three reads, every opportunity source and the exchange's trading
        state, all at once."""
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
        # A failed read is unknown, not zero: the placeholders below are flagged so that the
        # guard and the brains never act on them (director/fail_closed.py).
        reads = (("balance", balance[0]), ("positions", positions[0]), ("orders", orders[0]))
        account = AccountReads(
            cash=balance[0] if balance[0] is not None else Decimal(0),
            held=positions[0] or [],
            resting=orders[0] or [],
            unknown=[name for name, value in reads if value is None],
            health={"balance": balance[1], "positions": positions[1], "orders": orders[1]},
        )
        return account, found, trading

    def _best_opportunities(
        self,
        found: Sequence[tuple[list[Opportunity] | None, SourceHealth]],
        now: datetime,
        health: dict[str, SourceHealth],
        counters: dict[str, int],
    ) -> dict[str, Opportunity]:
        """The best unexpired opportunity per market over every source; each source's health
        and counters are recorded on the way."""
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
        return best

    async def _quotes_and_news(
        self,
        tickers: list[str],
        best: dict[str, Opportunity],
        held: list[Position],
        health: dict[str, SourceHealth],
        *,
        news: bool,
    ) -> tuple[list[Market] | None, list[NewsItem]]:
        """The markets' quotes (None when that read failed) and, when asked for, the news on
        them, at once; their health is recorded in `health`."""
        t = self.timeout
        markets_task = timed("markets", self.exchange.get_markets(tickers), t, critical=True)
        news_items: list[NewsItem] = []
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
        health["markets"] = markets_health
        return quotes, news_items


def _live(
    best: dict[str, Opportunity],
    markets: dict[str, Market],
    counters: dict[str, int],
    *,
    quotes_read: bool,
) -> list[Opportunity]:
    """The opportunities on open, quoted markets, best edge first; the rest are counted."""
    live = [o for o in best.values() if (m := markets.get(o.market)) and m.is_open]
    dropped = len(best) - len(live)
    if dropped and quotes_read:
        counters["opportunities.unknown_or_closed"] = dropped
    live.sort(key=lambda o: (-o.edge, o.market))
    return live


def _safe_mode_reason(health: SystemHealth, operator: bool) -> str:
    if health.degraded:
        return "health degraded: " + ", ".join(health.failing)
    return "operator" if operator else ""
