"""The dashboard's web application (Starlette): its pages, the live feed, the actions, and
the gate every request passes (``Gate``: Host names, the token, the session cookie, the
Origin of a WebSocket and the security headers).

Each page is a template whose live part is a template of its own (``<page>_live.html``): a
page that hears of a change through its WebSocket (``/live``) fetches its URL again with the
header ``X-Robe-Fragment: 1`` and gets that part alone. Fragments are kept per change (the
hub's version), so twenty open pages cost one rendering per change, not twenty.

Why a WebSocket and not server-sent events: a browser opens at most six HTTP/1.1 connections
to one host, and each event stream holds one for good, so a seventh dashboard tab would never
load. WebSockets do not count against that limit.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import threading
from collections import OrderedDict
from urllib.parse import urlencode

import jinja2
from starlette.applications import Starlette
from starlette.datastructures import MutableHeaders
from starlette.requests import HTTPConnection, Request
from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates
from starlette.websockets import WebSocket, WebSocketDisconnect

from ..api import Fleet
from ..queue import PRIORITIES, ConflictError, QueueError, is_valid_id
from .actions import ActionError, perform
from .board import NOBODY, STATUSES, Filters, QueueCache, build_board
from .live import Hub, Watcher
from .pages import charts, failures, fleet_rows, metrics_and_charts, task_page
from .security import AUTH_COOKIE, CSRF_HEADER, SESSION_COOKIE, Guard

log = logging.getLogger(__name__)
HERE = os.path.dirname(os.path.abspath(__file__))
#: seconds between a live feed's checks for the server stopping
POLL = 1.0
FRAGMENTS_KEPT = 64
MAX_ACTION_BYTES = 64 * 1024
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
       "form-action 'self'; base-uri 'none'; frame-ancestors 'none'")
#: the topics each page listens to (see robe.dashboard.live)
TOPICS = {"fleet": "queue work results executor", "board": "queue work", "task": "queue work results events",
          "failures": "queue results events", "metrics": "queue events results"}


def _age(seconds) -> str:
    if seconds is None:
        return "-"
    s = int(max(seconds, 0))
    return f"{s} s" if s < 120 else (f"{s // 60} min" if s < 7200 else f"{s // 3600} h {(s % 3600) // 60:02d} min")


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(os.path.join(HERE, "templates")), autoescape=True,
                             trim_blocks=True, lstrip_blocks=True, undefined=jinja2.StrictUndefined)
    env.filters["age"] = _age
    env.filters["urlencode_query"] = lambda d: urlencode(d)
    return env


class Dashboard:
    """One dashboard over one fleet: its caches, its live hub and its Starlette app."""

    def __init__(self, fleet: Fleet, guard: Guard):
        self.fleet = fleet
        self.guard = guard
        self.cache = QueueCache(fleet.config)
        self.hub = Hub()
        self.watcher = Watcher(fleet, self._changed)
        self.stopping = threading.Event()
        self.templates = Jinja2Templates(env=_environment())
        self._fragments: OrderedDict = OrderedDict()
        self._fragments_lock = threading.Lock()
        routes = [
            Route("/", self.fleet_page), Route("/board", self.board_page),
            Route("/task/{queue}/{task_id}", self.task_view), Route("/failures", self.failures_page),
            Route("/metrics", self.metrics_page), Route("/charts/{name}.svg", self.chart),
            WebSocketRoute("/live", self.live), Route("/action", self.action, methods=["POST"]),
            Mount("/static", StaticFiles(directory=os.path.join(HERE, "static")), name="static"),
            Route("/favicon.ico", lambda _request: Response(status_code=204)),  # no icon, and no 404 for one
        ]
        self.app = Gate(Starlette(routes=routes, lifespan=self._lifespan), guard)

    # -- life
    @contextlib.asynccontextmanager
    async def _lifespan(self, _app):
        self.hub.bind(asyncio.get_running_loop())
        self.watcher.start()
        try:
            yield
        finally:
            self.hub.close()
            self.watcher.stop()

    def _changed(self, topics: set[str], paths: set[str]) -> None:
        if "queue" in topics:
            for p in paths:
                self.cache.refresh(p)
        self.hub.changed(topics)

    # -- rendering
    def _render(self, request: Request, page: str, context: dict) -> Response:
        fragment = request.headers.get("x-robe-fragment") == "1"
        context = {**context, "page": page, "read_only": self.guard.read_only, "topics": TOPICS[page],
                   "wizards": self.fleet.config.names, "statuses": STATUSES, "priorities": PRIORITIES,
                   "fleet_path": self.fleet.path}
        if fragment:
            html = self.templates.get_template(f"{page}_live.html").render(context)
            return HTMLResponse(html, headers={"Cache-Control": "no-store"})
        context["csrf"] = self.guard.csrf_for(request.scope["robe_session"])
        return self.templates.TemplateResponse(request, f"{page}.html", context,
                                               headers={"Cache-Control": "no-store"})

    def _kept(self, request: Request, make) -> Response:
        """A fragment already rendered since the last change, or a new one (kept)."""
        if request.headers.get("x-robe-fragment") != "1":
            return make()
        key = (request.url.path, request.url.query, self.hub.version)
        with self._fragments_lock:
            body = self._fragments.get(key)
        if body is not None:
            return HTMLResponse(body, headers={"Cache-Control": "no-store"})
        response = make()
        if response.status_code == 200:
            with self._fragments_lock:
                self._fragments[key] = response.body
                while len(self._fragments) > FRAGMENTS_KEPT:
                    self._fragments.popitem(last=False)
        return response

    # -- pages (plain functions: Starlette runs them in its thread pool, off the event loop)
    def fleet_page(self, request: Request) -> Response:
        return self._kept(request, lambda: self._render(request, "fleet", {
            "rows": fleet_rows(self.fleet, self.cache)}))

    def board_page(self, request: Request) -> Response:
        names = self.fleet.config.names
        f = Filters.parse(request.query_params, names)
        return self._kept(request, lambda: self._render(request, "board", {
            "board": build_board(self.cache, f), "f": f, "nobody": NOBODY}))

    def task_view(self, request: Request) -> Response:
        queue, tid = request.path_params["queue"], request.path_params["task_id"]
        if queue not in self.fleet.config.names or not is_valid_id(tid):
            return _not_found("There is no such task: the address names a wizard of the fleet and a task ID.")

        def make():
            detail = task_page(self.fleet, self.cache, queue, tid)
            if detail is None:
                return _not_found(f"{tid} is not in {queue}'s queue (any more).")
            return self._render(request, "task", {"d": detail})
        return self._kept(request, make)

    def failures_page(self, request: Request) -> Response:
        return self._kept(request, lambda: self._render(request, "failures", {
            "rows": failures(self.fleet, self.cache)}))

    def metrics_page(self, request: Request) -> Response:
        def make():
            rows, svgs = metrics_and_charts(self.fleet, self.cache)
            return self._render(request, "metrics", {"metrics": rows, "charts": svgs})
        return self._kept(request, make)

    def chart(self, request: Request) -> Response:
        svgs = charts(self.fleet, self.cache)
        name = request.path_params["name"]
        if name not in svgs:
            return _not_found("The charts are throughput.svg and burndown.svg.")
        return Response(svgs[name], media_type="image/svg+xml", headers={"Cache-Control": "no-store"})

    # -- live
    async def live(self, ws: WebSocket) -> None:
        """The live feed of one open page: ``{"hello": version}``, then ``{"change": [topics]}``
        after each change. The page sends nothing; what it sends is read only to notice that
        it went away."""
        await ws.accept()
        sub = self.hub.subscribe()
        gone = asyncio.Event()

        async def read():
            try:
                while (await ws.receive())["type"] != "websocket.disconnect":
                    pass
            finally:
                gone.set()

        reader = asyncio.create_task(read())
        try:
            await ws.send_text(json.dumps({"hello": self.hub.version}))
            while not gone.is_set() and not self.stopping.is_set():
                topics = await sub.next(POLL)
                if topics is None:
                    break
                if topics and not gone.is_set():
                    await ws.send_text(json.dumps({"change": sorted(topics)}))
        except (WebSocketDisconnect, RuntimeError, OSError):
            pass  # the page went away while we wrote to it
        finally:
            self.hub.unsubscribe(sub)
            reader.cancel()
            if not gone.is_set():
                with contextlib.suppress(RuntimeError, OSError):
                    await ws.close()

    # -- actions
    async def action(self, request: Request) -> Response:
        why = self.guard.action_refusal(host=request.headers.get("host", ""), origin=request.headers.get("origin"),
                                        session=request.cookies.get(SESSION_COOKIE),
                                        csrf=request.headers.get(CSRF_HEADER))
        if why:
            return JSONResponse({"ok": False, "message": why}, status_code=403)
        body = await request.body()
        if len(body) > MAX_ACTION_BYTES:
            return JSONResponse({"ok": False, "message": "the action is too large"}, status_code=413)
        try:
            data = json.loads(body or b"null")
        except ValueError:
            return JSONResponse({"ok": False, "message": "an action is a JSON object"}, status_code=400)
        client = request.client.host if request.client else ""
        try:
            done = await asyncio.to_thread(perform, self.fleet, data, client)
        except ConflictError as e:
            return JSONResponse({"ok": False, "message": str(e), "conflict": True}, status_code=409)
        except ActionError as e:
            return JSONResponse({"ok": False, "message": str(e)}, status_code=e.status)
        except QueueError as e:
            return JSONResponse({"ok": False, "message": str(e)}, status_code=400)
        log.info("dashboard: %s (%s)", done.message, client)
        return JSONResponse({"ok": True, "message": done.message, "task": done.task})


def _not_found(message: str) -> Response:
    return PlainTextResponse(message, status_code=404, headers={"Cache-Control": "no-store"})


class Gate:
    """Every request passes here first (a plain ASGI wrapper, so event streams stay streams):
    the Host name, the token, the session cookie, and the security headers on every answer."""

    def __init__(self, app, guard: Guard):
        self.app = app
        self.guard = guard

    async def __call__(self, scope, receive, send):
        if scope["type"] == "websocket":
            return await self._websocket(scope, receive, send)
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        request = Request(scope)
        g = self.guard
        if not g.host_allowed(request.headers.get("host", "")):
            return await _plain(421, "This dashboard answers only to its own address (loopback).")(scope, receive, send)
        cookies = []
        if g.token is not None and not g.authorized(request.cookies.get(AUTH_COOKIE),
                                                    request.headers.get("authorization")):
            given = request.query_params.get("token")
            if request.method == "GET" and g.token_ok(given):
                rest = {k: v for k, v in request.query_params.items() if k != "token"}
                target = request.url.path + ("?" + urlencode(rest) if rest else "")
                response = RedirectResponse(target, status_code=303)
                response.set_cookie(AUTH_COOKIE, g.auth_cookie(), httponly=True, samesite="strict")
                return await _secured(response)(scope, receive, send)
            return await _plain(401, "This dashboard needs its token: open it once as "
                                     f"{g.url}?token=<the token> (or send Authorization: Bearer).")(
                scope, receive, send)
        session = request.cookies.get(SESSION_COOKIE)
        if not g.session_ok(session):
            session = g.new_session()
            cookies.append(f"{SESSION_COOKIE}={session}; HttpOnly; SameSite=Strict; Path=/")
        scope["robe_session"] = session

        async def send_secured(message):
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                _security_headers(headers)
                for c in cookies:
                    headers.append("set-cookie", c)
            await send(message)

        await self.app(scope, receive, send_secured)

    async def _websocket(self, scope, receive, send):
        """A WebSocket is not bound by the same-origin rule: a page of any site could open one
        to loopback. So the handshake must come from the dashboard's own page (its Origin),
        to an allowed Host, with the token's cookie when there is a token."""
        conn = HTTPConnection(scope)
        g = self.guard
        host = conn.headers.get("host", "")
        origin = conn.headers.get("origin", "")
        same = origin.split("://", 1)[-1].lower() == host.lower() and origin.split("://", 1)[0] in ("http", "https")
        if not (g.host_allowed(host) and same and g.authorized(conn.cookies.get(AUTH_COOKIE),
                                                                 conn.headers.get("authorization"))):
            await receive()  # the websocket.connect message
            await send({"type": "websocket.close", "code": 1008})  # refused before accept: HTTP 403
            return
        await self.app(scope, receive, send)


def _security_headers(headers: MutableHeaders) -> None:
    headers["Content-Security-Policy"] = CSP
    headers["X-Content-Type-Options"] = "nosniff"
    headers["X-Frame-Options"] = "DENY"
    # same-origin (not no-referrer): with no-referrer a browser sends "Origin: null" on a POST
    headers["Referrer-Policy"] = "same-origin"


def _plain(status: int, text: str) -> Response:
    return _secured(PlainTextResponse(text, status_code=status, headers={"Cache-Control": "no-store"}))


def _secured(response: Response) -> Response:
    _security_headers(response.headers)
    return response
