"""Building a KalshiExchange on the stand-in, for the tests of issue 13 (limits, status, fees,
ticks, recovery): one place for the fast tuning and the wiring."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import httpx
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey

from director.exchanges.kalshi import KalshiExchange, KalshiSigner, KalshiTuning
from director.exchanges.kalshi.ratelimit import Backoff
from director.models import OrderAction, OrderRequest, Side
from tests.clocks import ManualClock
from tests.kalshi_standin import KalshiStandin

NOW = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)
ATTEMPTS = 4
TLS = httpx.create_ssl_context()  # shared: loading the CA bundle per test is slow


def fast_tuning(**changes: object) -> KalshiTuning:
    base: dict[str, object] = {
        "request_timeout_s": 0.25,
        "max_attempts": ATTEMPTS,
        "backoff": Backoff(0.001, 0.004),
        "seed": 7,
    }
    base.update(changes)
    return KalshiTuning(**base)  # type: ignore[arg-type]


def venue(
    standin: KalshiStandin,
    key: RSAPrivateKey,
    http: httpx.AsyncClient,
    *,
    clock: ManualClock | None = None,
    tuning: KalshiTuning | None = None,
    subaccount: int = 0,
    cancel_order_on_pause: bool = False,
) -> KalshiExchange:
    return KalshiExchange(
        base_url=standin.base_url,
        signer=KalshiSigner(standin.key_id, key),
        clock=clock or ManualClock(NOW),
        http=http,
        reads_per_second=1000,
        writes_per_second=1000,
        tuning=tuning or fast_tuning(),
        subaccount=subaccount,
        cancel_order_on_pause=cancel_order_on_pause,
    )


def order(
    market: str,
    coid: str,
    price: str = "0.40",
    qty: int = 5,
    side: Side = Side.YES,
    action: OrderAction = OrderAction.BUY,
) -> OrderRequest:
    return OrderRequest(
        market=market,
        side=side,
        action=action,
        price=Decimal(price),
        quantity=qty,
        client_order_id=coid,
    )
