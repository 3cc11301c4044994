"""Kalshi's Trade API v2 as a package: the request layer, typed errors and models, market data,
execution, and the Exchange port that ties them together.

    http.py          signing (`KalshiAuth`, an httpx.Auth), token buckets, the one retry layer
    limits.py        the account's buckets and endpoint costs (GET /account/limits, …/costs)
    errors.py        typed errors (parse failures, refusals, unknown order state, inactivity)
    responses.py     every response's shape, as pydantic models with required fields
    parsing.py       field-level checks shared by the models
    models.py        markets (with their tick grids), events, order books
    portfolio_models.py   balance, positions, orders, fills, settlements, create/cancel answers
    market_data.py   GET /markets, /events, order books; each Market priced by fee_book.py
    fee_book.py      each market's fees: series fee_type/multiplier, event overrides, waivers
    portfolio.py     the account's balance, positions, orders, fills, settlements (subaccount)
    execution.py     V2 create and cancel; any 409 and unclear creates resolved by lookup
    recovery.py      finding an order by client_order_id, live and past the historical cutoff
    status.py        GET /exchange/status, read in SENSE and before every create
    intents.py       what our orders meant (a sell stays a sell), the orders we have seen
    baskets.py       batched basket sends (issue 13 item 5)
    exchange.py      `KalshiExchange`, the Exchange port
"""

from director.exchanges.kalshi.auth import KalshiSigner, load_private_key, signing_text
from director.exchanges.kalshi.errors import (
    ExchangeInactive,
    KalshiParseError,
    KalshiRequestError,
    KalshiRetriesExhausted,
    OrderStateUnknown,
    error_info,
)
from director.exchanges.kalshi.exchange import KalshiExchange, environment_of
from director.exchanges.kalshi.execution import book_order, format_price, order_body
from director.exchanges.kalshi.http import KalshiHttp
from director.exchanges.kalshi.intents import IntentJournal
from director.exchanges.kalshi.models import KalshiEvent, KalshiMarket, Level, Orderbook, Page
from director.exchanges.kalshi.portfolio_models import KalshiPosition, Settlement
from director.exchanges.kalshi.ratelimit import Backoff, TokenBucket
from director.exchanges.kalshi.tuning import KalshiStats, KalshiTuning

__all__ = [
    "Backoff",
    "ExchangeInactive",
    "IntentJournal",
    "KalshiEvent",
    "KalshiExchange",
    "KalshiHttp",
    "KalshiMarket",
    "KalshiParseError",
    "KalshiPosition",
    "KalshiRequestError",
    "KalshiRetriesExhausted",
    "KalshiSigner",
    "KalshiStats",
    "KalshiTuning",
    "Level",
    "OrderStateUnknown",
    "Orderbook",
    "Page",
    "Settlement",
    "TokenBucket",
    "book_order",
    "environment_of",
    "error_info",
    "format_price",
    "load_private_key",
    "order_body",
    "signing_text",
]
