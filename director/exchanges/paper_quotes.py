"""The paper venue's public quotes: Market models of the book's current step, built on demand
(a sense that needs 150 of 1,000 markets builds 150) and dropped when the step or the book
changes, or a trade moves a quote within the step."""

from __future__ import annotations

from director.exchanges.paper_book import Book
from director.exchanges.paper_sim import SimMarket, Simulator
from director.models import Market


class QuoteCache:
    def __init__(self) -> None:
        self._cache: dict[str, Market] = {}
        self._snapshot: dict[str, Market] | None = None
        self._key: tuple[int, int] | None = None

    def invalidate(self) -> None:
        self._key = None

    def open_markets(self, book: Book) -> dict[str, Market]:
        """Every open market, by ticker (the cache's own dict: copy it to hand it out)."""
        self._fresh(book)
        if self._snapshot is None:
            self._snapshot = {}
            for sim_market in book.sim.open_markets():
                market = self._cache.get(sim_market.ticker) or _public(book.sim, sim_market)
                self._snapshot[sim_market.ticker] = self._cache[sim_market.ticker] = market
        return self._snapshot

    def market(self, book: Book, ticker: str) -> Market | None:
        """One market still in the simulation, open or not; None for one it no longer has."""
        self._fresh(book)
        market = self._cache.get(ticker)
        if market is None:
            sim_market = book.sim.markets.get(ticker)
            if sim_market is None:
                return None
            market = self._cache[ticker] = _public(book.sim, sim_market)
        return market

    def _fresh(self, book: Book) -> None:
        key = (id(book), book.sim.step)
        if key != self._key:
            self._cache.clear()
            self._snapshot = None
            self._key = key


def _public(sim: Simulator, sim_market: SimMarket) -> Market:
    if not sim_market.is_open:
        return sim_market.to_market()
    return sim_market.to_market(sim.depth(sim_market))
