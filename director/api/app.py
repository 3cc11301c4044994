"""The local API's routes (DESIGN.md, "The local API"), over a running Director.

Every /v1 request needs `Authorization: Bearer <OMEGA_API_TOKEN>`, compared in constant time;
a missing or wrong one is a 401 that changes nothing and is logged (never the token). A bad body
is a 422 whose `error` names the field. The OpenAPI page (/docs, /openapi.json) is public: it
describes the API and reads nothing from the director.
"""

from __future__ import annotations

import hmac
import logging
from typing import Annotated, Any

from fastapi import Body, Depends, FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import SecretStr, ValidationError

from director.api.limits import BodyLimit
from director.api.opportunities import MAX_LINES_PER_POST, ApiOpportunities
from director.api.schemas import (
    HealthOut,
    IntentIn,
    IntentOut,
    OpportunitiesOut,
    Rejection,
    ScriptOut,
)
from director.director import Director
from director.heartbeats import Beat, Heartbeats, Problem
from director.models import ACTION_ADAPTER, Action, SystemState
from director.submit import SubmissionError

log = logging.getLogger(__name__)


def first_error(errors: list[Any], drop: int = 0) -> str:
    """'field.sub: message' for the first pydantic error; `drop` leading loc parts are skipped
    (FastAPI's "body", a tagged union's tag)."""
    if not errors:
        return "invalid request"
    first = errors[0]
    loc = [str(p) for p in first.get("loc", ())][drop:]
    where = ".".join(loc)
    msg = str(first.get("msg", "invalid"))
    return f"{where}: {msg}" if where else msg


def _bearer_check(token: SecretStr) -> Any:
    expected = token.get_secret_value().encode()

    async def check(request: Request) -> None:
        header = request.headers.get("authorization", "")
        scheme, _, given = header.partition(" ")
        ok = scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), expected)
        if not ok:
            why = "no bearer token" if not given else "wrong token"
            client = request.client.host if request.client else "?"
            log.warning(
                "local API: refused %s %s from %s (%s)",
                request.method,
                request.url.path,
                client,
                why,
            )
            raise HTTPException(
                401, "missing or wrong bearer token", {"WWW-Authenticate": "Bearer"}
            )

    return check


def parse_intent(intent: IntentIn) -> Action:
    """The intent's action, validated as a plan's action is; a 422 names the field."""
    try:
        return ACTION_ADAPTER.validate_python(
            {"action_type": intent.action_type, "details": intent.details}
        )
    except ValidationError as exc:
        errors = list(exc.errors())
        loc = tuple(errors[0].get("loc", ())) if errors else ()
        if not loc:  # the tag itself: no such action type
            raise HTTPException(422, f"action_type: {first_error(errors)}") from None
        # Inside the tagged union a location is (tag, "details", field, ...).
        message = first_error(errors, drop=1 if loc[0] == intent.action_type else 0)
        raise HTTPException(422, message) from None


class _Routes:
    """The endpoints, over one director (FastAPI takes bound methods as endpoints)."""

    def __init__(
        self, director: Director, heartbeats: Heartbeats, opportunities: ApiOpportunities
    ) -> None:
        self.director = director
        self.heartbeats = heartbeats
        self.opportunities = opportunities

    async def post_heartbeat(self, beat: Beat) -> ScriptOut:
        """A script says it is alive and how often it will say so."""
        try:
            script = self.heartbeats.beat(beat, self.director.clock())
        except ValueError as exc:
            raise HTTPException(422, str(exc)) from None
        return ScriptOut.of(script, late=False)

    async def delete_heartbeat(self, name: str) -> dict[str, bool]:
        """Forget a retired script, so its silence stops counting."""
        return {"removed": await self.heartbeats.remove(name)}

    async def post_opportunities(
        self, body: Annotated[dict[str, Any] | list[Any], Body()]
    ) -> OpportunitiesOut:
        """One opportunity feed line, or a list of them (the JSON Lines feed's format)."""
        lines = body if isinstance(body, list) else [body]
        if len(lines) > MAX_LINES_PER_POST:
            raise HTTPException(422, f"body: at most {MAX_LINES_PER_POST} lines a request")
        accepted, rejected = self.opportunities.post(lines, self.director.clock())
        return OpportunitiesOut(
            accepted=accepted, rejected=[Rejection(index=r.index, error=r.error) for r in rejected]
        )

    async def post_intent(self, intent: IntentIn) -> IntentOut:
        """Another script's trade, through the director's guard, policy and executors."""
        action = parse_intent(intent)
        try:
            answer = await self.director.submit_action(
                action, origin=intent.source, key=f"intent:{intent.intent_id}", note=intent.reason
            )
        except SubmissionError as exc:
            raise HTTPException(422, str(exc)) from None
        return IntentOut(
            status=answer.status.value,
            reason=answer.reason,
            approval_id=answer.approval_id,
            order_id=answer.order_id,
        )

    async def get_state(self) -> SystemState:
        """The State of the Union, freshly sensed (read-only; without news headlines, so that
        a script polling it never makes the director fetch every news feed)."""
        return await self.director.sense(news=False)

    async def get_health(self) -> HealthOut:
        """The director is up; every script, and the critical ones down now."""
        now, heartbeats = self.director.clock(), self.heartbeats
        scripts, down = [], []
        for script in heartbeats.scripts():
            problem = script.problem(now, heartbeats.grace)
            scripts.append(ScriptOut.of(script, late=problem is Problem.SILENT))
            if problem is not Problem.NONE and script.critical:
                down.append(script.name)
        return HealthOut(
            cycle_running=self.director.running,
            next_cycle_at=self.director.next_cycle_at,
            scripts=scripts,
            degraded_by=down,
        )


async def _invalid(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = list(exc.errors())
    drop = 1 if errors and errors[0].get("loc", ("",))[0] == "body" else 0
    return JSONResponse(
        {"error": first_error(errors, drop), "detail": _plain(errors)}, status_code=422
    )


async def _http(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    return JSONResponse({"error": exc.detail}, exc.status_code, headers=exc.headers)


def create_app(director: Director, heartbeats: Heartbeats, opportunities: ApiOpportunities) -> Any:
    token = director.settings.api_token
    assert token is not None, "the local API is on only with OMEGA_API_TOKEN"
    app = FastAPI(
        title="Omega Director local API",
        version="1",
        description="Heartbeats, opportunities and intents from the trader's scripts. "
        "Every /v1 request needs `Authorization: Bearer <OMEGA_API_TOKEN>`.",
    )
    app.add_middleware(BodyLimit)
    app.add_exception_handler(RequestValidationError, _invalid)
    app.add_exception_handler(HTTPException, _http)
    routes = _Routes(director, heartbeats, opportunities)
    table: list[tuple[str, str, Any, Any]] = [
        ("POST", "/v1/heartbeats", routes.post_heartbeat, ScriptOut),
        ("DELETE", "/v1/heartbeats/{name}", routes.delete_heartbeat, None),
        ("POST", "/v1/opportunities", routes.post_opportunities, OpportunitiesOut),
        ("POST", "/v1/intents", routes.post_intent, IntentOut),
        ("GET", "/v1/state", routes.get_state, SystemState),
        ("GET", "/v1/health", routes.get_health, HealthOut),
    ]
    auth = [Depends(_bearer_check(token))]
    for method, path, endpoint, model in table:
        kwargs = {"response_model": model} if model is not None else {}
        app.add_api_route(path, endpoint, methods=[method], dependencies=auth, **kwargs)
    return app


def _plain(errors: list[Any]) -> list[dict[str, Any]]:
    """Errors as JSON: locations and messages (pydantic's `ctx` may hold exceptions)."""
    return [
        {"loc": [str(p) for p in e.get("loc", ())], "msg": str(e.get("msg", ""))} for e in errors
    ]
