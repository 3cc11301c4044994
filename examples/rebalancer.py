#!/usr/bin/env python3
"""An example rebalancer that trades through Omega Director instead of around it.

Standard library only. It reads target positions (contracts per market) from a JSON file,
compares them with the director's State of the Union (GET /v1/state), and sends each change as
an intent (POST /v1/intents): the director's guard, autonomy and approval policy decide, and
the answer says what happened. Intent ids are derived from the day, the market and the target,
so running it twice the same day never trades twice (the second answer is `duplicate`).

    OMEGA_API_TOKEN=... python examples/rebalancer.py targets.json

targets.json: {"KXHEAT-24JUL": 0, "KXFED-24": 10}
Environment: OMEGA_API_TOKEN (required), OMEGA_API_URL (default http://127.0.0.1:8787).
Exit code 1 when an intent was blocked.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import urllib.error
import urllib.request
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

NAME = "rebalancer"


# The same few lines stand in each example on purpose: each is one file to copy and adapt.
def call(method: str, path: str, body: Any = None) -> Any:
    url = os.environ.get("OMEGA_API_URL", "http://127.0.0.1:8787").rstrip("/") + path
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method)
    request.add_header("Authorization", f"Bearer {os.environ['OMEGA_API_TOKEN']}")
    request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.load(response)
    except urllib.error.HTTPError as exc:
        raise RuntimeError(f"{method} {path}: {exc.code} {exc.read().decode()[:300]}") from None


def intents(targets: dict[str, int], state: dict[str, Any], day: str) -> list[dict[str, Any]]:
    held = {p["market"]: p["quantity"] for p in state["open_positions"]}
    changes = []
    for market, target in sorted(targets.items()):
        if held.get(market, 0) == target or (market not in held and target == 0):
            continue
        changes.append(
            {
                "intent_id": f"{NAME}-{day}-{market}-{target}",
                "source": NAME,
                "action_type": "rebalance",
                "details": {"market": market, "target_quantity": target},
                "reason": f"target {target} (held {held.get(market, 0)})",
            }
        )
    return changes


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("targets", type=Path, help='JSON: {"MARKET": contracts, ...}')
    args = parser.parse_args()
    targets = {str(k): int(v) for k, v in json.loads(args.targets.read_text()).items()}
    state = call("GET", "/v1/state")
    day = datetime.now(UTC).strftime("%Y%m%d")
    code = 0
    for intent in intents(targets, state, day):
        answer = call("POST", "/v1/intents", intent)
        print(
            f"{intent['details']['market']} → {intent['details']['target_quantity']}: "
            f"{answer['status']} — {answer['reason']}"
        )
        code = 1 if answer["status"] == "blocked" else code
    call("POST", "/v1/heartbeats", {"name": NAME, "every_seconds": 86400, "detail": "ran"})
    return code


if __name__ == "__main__":
    sys.exit(main())
