"""`omega-director beat …` and `omega-director intent --from FILE.json`: shell and cron scripts
talk to the running director's local API (OMEGA_API_TOKEN, OMEGA_API_LISTEN).

Exit codes: 0 done; 1 an intent was blocked; 2 the request could not be made or was refused
(the director not running, a wrong token, a bad body) — one line on stderr says which.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx

from director.describe import describe_error
from director.setting_parsers import parse_listen
from director.settings import Settings

TIMEOUT_SECONDS = 15.0


class ClientError(Exception):
    """One line for stderr; exit code 2."""


def add_script_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    beat = sub.add_parser("beat", help="tell the running director this script is alive")
    beat.add_argument("name", help="the script's name, e.g. heat-scanner")
    beat.add_argument(
        "--every", type=float, required=True, metavar="SECONDS", help="when the next beat is due"
    )
    beat.add_argument("--status", choices=("ok", "degraded", "failed"), default="ok")
    beat.add_argument("--detail", default="", help="one line on what happened")
    beat.add_argument(
        "--critical", action="store_true", help="its silence or failure stops new orders"
    )
    intent = sub.add_parser("intent", help="send a trade through the running director's guard")
    intent.add_argument(
        "--from",
        dest="source_file",
        type=Path,
        required=True,
        metavar="FILE.json",
        help='{"intent_id", "source", "action_type", "details", "reason"}, or a list of them',
    )


def base_url(listen: str) -> str:
    host, port = parse_listen(listen)
    # A director listening on every address is reached on this machine's loopback.
    host = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(host, host)
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def run_script_command(settings: Settings, args: argparse.Namespace) -> int:
    try:
        if settings.api_token is None:
            raise ClientError("OMEGA_API_TOKEN is not set: the local API is off")
        url = base_url(settings.api_listen)
        headers = {"Authorization": f"Bearer {settings.api_token.get_secret_value()}"}
        with httpx.Client(base_url=url, headers=headers, timeout=TIMEOUT_SECONDS) as http:
            if args.command == "beat":
                return _beat(http, args)
            return _intents(http, _read_intents(args.source_file))
    except ClientError as exc:
        print(f"omega-director: {exc}", file=sys.stderr)
        return 2


def _post(http: httpx.Client, path: str, body: Any) -> Any:
    try:
        response = http.post(path, json=body)
    except httpx.ConnectError:
        raise ClientError(
            f"the director is not running (nothing listens on {http.base_url}; "
            "start `omega-director run` with OMEGA_API_TOKEN set)"
        ) from None
    except httpx.HTTPError as exc:
        raise ClientError(f"the director did not answer ({describe_error(exc)})") from None
    if response.status_code == 401:
        raise ClientError("the director refused the token (OMEGA_API_TOKEN differs from its own)")
    try:
        data = response.json()
    except ValueError:
        raise ClientError(f"the director answered {response.status_code}, not JSON") from None
    if response.status_code != 200:
        error = data.get("error") if isinstance(data, dict) else None
        raise ClientError(f"refused ({response.status_code}): {error or data}")
    return data


def _beat(http: httpx.Client, args: argparse.Namespace) -> int:
    body = {
        "name": args.name,
        "every_seconds": args.every,
        "status": args.status,
        "detail": args.detail,
        "critical": args.critical,
    }
    data = _post(http, "/v1/heartbeats", body)
    due = datetime.fromisoformat(str(data["next_due_at"]))
    print(f"{data['name']}: {data['status']}, next beat due by {due:%Y-%m-%d %H:%M:%S} UTC")
    return 0


def _read_intents(path: Path) -> list[Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ClientError(f"cannot read {path}: {exc.strerror or exc}") from None
    except ValueError as exc:
        raise ClientError(f"{path} is not JSON: {exc}") from None
    intents = data if isinstance(data, list) else [data]
    if not intents or not all(isinstance(i, dict) for i in intents):
        raise ClientError(f"{path}: expected an intent object or a list of them")
    return intents


def _intents(http: httpx.Client, intents: list[Any]) -> int:
    code = 0
    for intent in intents:
        answer = _post(http, "/v1/intents", intent)
        line = f"{intent.get('intent_id')}: {answer['status']} — {answer['reason']}"
        if answer.get("approval_id") is not None:
            line += f" (approval #{answer['approval_id']})"
        if answer.get("order_id"):
            line += f" (order {answer['order_id']})"
        print(line)
        if answer["status"] == "blocked":
            code = 1
    return code
