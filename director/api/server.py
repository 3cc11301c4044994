"""The local API's server: uvicorn inside the director's own event loop, beside the heartbeat
watchdog. Started by `omega-director run` (console or Telegram) when OMEGA_API_TOKEN is set."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Iterator

import uvicorn

from director.api.app import create_app
from director.api.opportunities import ApiOpportunities
from director.director import Director
from director.heartbeats import Heartbeats
from director.setting_parsers import parse_listen
from director.settings import SettingsError
from director.watchdog import DEFAULT_TICK_SECONDS, Watchdog

log = logging.getLogger(__name__)

STOP_SECONDS = 5.0
# As uvicorn's own default: a burst of new connections is queued, not dropped (a dropped SYN
# costs its client a 1 s retransmission).
BACKLOG = 2048


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        # SIGINT/SIGTERM belong to the director (it stops between cycles); uvicorn's own
        # handlers would stop only the API and then re-raise the signal.
        yield


def bind(listen: str) -> socket.socket:
    """The listening socket, bound here so a busy port is one clear line, not uvicorn's exit."""
    host, port = parse_listen(listen)
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
        sock = socket.socket(family, kind, proto)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind(address)
            sock.listen(BACKLOG)
        except BaseException:
            sock.close()
            raise
    except OSError as exc:
        raise SettingsError(
            f"OMEGA_API_LISTEN: cannot listen on {listen}: {exc.strerror or exc}"
        ) from None
    sock.setblocking(False)
    return sock


class LocalApi:
    def __init__(
        self,
        director: Director,
        heartbeats: Heartbeats,
        opportunities: ApiOpportunities,
        sock: socket.socket,
        tick_seconds: float = DEFAULT_TICK_SECONDS,
    ) -> None:
        self.director = director
        self.heartbeats = heartbeats
        self.opportunities = opportunities
        self.sock = sock
        self.watchdog = Watchdog(heartbeats, director.reporter, director.clock, tick_seconds)
        app = create_app(director, heartbeats, opportunities)
        config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off")
        self.server = _Server(config)
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    @property
    def url(self) -> str:
        host, port = self.sock.getsockname()[:2]
        return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"

    async def start(self) -> None:
        serving = asyncio.create_task(self.server.serve(sockets=[self.sock]), name="local-api")
        self._tasks = [serving, asyncio.create_task(self.watchdog.run(self._stop), name="watchdog")]
        while not self.server.started:
            if serving.done():
                await self.stop()
                raise SettingsError(f"OMEGA_API_LISTEN: the local API did not start on {self.url}")
            await asyncio.sleep(0.01)
        log.info("local API listening on %s (OpenAPI at %s/docs)", self.url, self.url)

    async def stop(self) -> None:
        self.server.should_exit = True
        self._stop.set()
        for task in self._tasks:
            try:
                await asyncio.wait_for(task, STOP_SECONDS)
            except (TimeoutError, asyncio.CancelledError):
                log.warning("%s did not stop in %gs", task.get_name(), STOP_SECONDS)
            except Exception:
                log.exception("%s failed", task.get_name())
        self.sock.close()


async def start_local_api(
    director: Director, *, tick_seconds: float = DEFAULT_TICK_SECONDS
) -> LocalApi | None:
    """Heartbeats, the API's opportunity source and the server, when OMEGA_API_TOKEN is set."""
    settings = director.settings
    if settings.api_token is None:
        return None
    heartbeats = Heartbeats(director.store, settings.heartbeat_grace_seconds)
    await heartbeats.load()
    # The same bound as the JSON Lines feed's (OMEGA_FEED_MAX_MARKETS).
    opportunities = ApiOpportunities(settings.feed_max_markets)
    api = LocalApi(director, heartbeats, opportunities, bind(settings.api_listen), tick_seconds)
    director.heartbeats = heartbeats
    director.senser.health_probes.append(heartbeats.health)
    director.senser.sources.append(opportunities)
    await api.start()
    director.resources.push_async_callback(api.stop)  # the first thing the director closes
    return api
