#!/usr/bin/env python3
"""An example scanner that reports to Omega Director: its opportunities, and a heartbeat.

Standard library only. It reads candidate markets from a CSV file (market,edge,confidence,side)
— stand-in for whatever your own scanner computes — posts them to the director's local API,
then beats: `ok` with a one-line summary, or `failed` with the error, so the director (and you,
in Telegram) know at once when the scanner stops working.

    OMEGA_API_TOKEN=... python examples/scanner.py candidates.csv --every 3600

Environment: OMEGA_API_TOKEN (required), OMEGA_API_URL (default http://127.0.0.1:8787).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

NAME = "heat-scanner"


# The same few lines stand in each example on purpose: each is one file to copy and adapt.
def call(method: str, path: str, body: Any = None) -> Any:
    url = os.environ.get("OMEGA_API_URL", "http://127.0.0.1:8787").rstrip("/") + path
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method)
    request.add_header("Authorization", f"Bearer {os.environ['OMEGA_API_TOKEN']}")
    request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=15) as response:
            return json.load(response)
    except urllib.error.HTTPError as exc:
        raise RuntimeError(f"{method} {path}: {exc.code} {exc.read().decode()[:300]}") from None


def scan(path: Path) -> list[dict[str, Any]]:
    with path.open(newline="") as handle:
        return [
            {
                "market": row["market"],
                "edge": float(row["edge"]),
                "confidence": float(row["confidence"]),
                "side": row.get("side") or "yes",
                "expires_in_hours": 2,
                "source": NAME,
            }
            for row in csv.DictReader(handle)
        ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("candidates", type=Path, help="CSV: market,edge,confidence[,side]")
    parser.add_argument("--every", type=float, default=3600, help="seconds until the next run")
    parser.add_argument("--critical", action="store_true", help="its failure stops new orders")
    args = parser.parse_args()
    beat = {"name": NAME, "every_seconds": args.every, "critical": args.critical}
    try:
        lines = scan(args.candidates)
        answer = call("POST", "/v1/opportunities", lines)
    except Exception as exc:  # tell the director, then fail like any cron job would
        call("POST", "/v1/heartbeats", {**beat, "status": "failed", "detail": str(exc)[:400]})
        print(f"{NAME}: failed: {exc}", file=sys.stderr)
        return 1
    for rejected in answer["rejected"]:
        print(f"line {rejected['index']} rejected: {rejected['error']}", file=sys.stderr)
    detail = f"{answer['accepted']} posted, {len(answer['rejected'])} rejected"
    status = "ok" if not answer["rejected"] else "degraded"
    call("POST", "/v1/heartbeats", {**beat, "status": status, "detail": detail})
    print(f"{NAME}: {detail}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
