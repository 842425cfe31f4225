"""Who may use the dashboard: the address it listens on, its token, the Host names it answers,
sessions and their CSRF tokens, and the checks every action passes.

- It listens on loopback unless told otherwise; any other address needs a token (``--token``
  or ROBE_DASHBOARD_TOKEN, 16 characters or more) and it refuses to start without one.
- With a token, every request must carry it: as ``?token=`` once (the answer sets a cookie
  and sends the browser on without it), the cookie, or ``Authorization: Bearer``.
- On loopback it answers only Host names that are loopback, so a web page whose own name
  is made to resolve to 127.0.0.1 (DNS rebinding) cannot read it.
- An action is a POST whose Origin is the dashboard's own and whose ``X-Robe-CSRF`` header
  holds the token of the browser's session (an HMAC of the session cookie with a secret
  made at start-up): another site can neither send it nor read it.

Plain functions and one small class; the web framework is used in ``app``.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import re
import secrets
from urllib.parse import urlsplit

from ..errors import RobeError

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8650
MIN_TOKEN = 16
TOKEN_ENV = "ROBE_DASHBOARD_TOKEN"
SESSION_COOKIE = "robe_session"
AUTH_COOKIE = "robe_auth"
CSRF_HEADER = "x-robe-csrf"
_SESSION_RE = re.compile(r"[A-Za-z0-9_-]{32,64}\Z")
_LOOPBACK_NAMES = ("localhost", "localhost.localdomain", "ip6-localhost")


class DashboardError(RobeError):
    """The dashboard cannot start as asked (an unsafe address without a token, a bad port)."""


def is_loopback(host: str) -> bool:
    """Whether ``host`` (an address or a name, IPv6 with or without brackets) is this machine only."""
    host = host.strip("[]").lower()
    if host in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def parse_address(text: str, default_host: str = DEFAULT_HOST) -> tuple[str, int]:
    """``PORT``, ``HOST:PORT`` or ``[IPv6]:PORT`` as (host, port); DashboardError otherwise."""
    text = text.strip()
    host, port = default_host, text
    if text.startswith("["):
        end = text.find("]")
        if end < 0 or text[end + 1:end + 2] != ":":
            raise DashboardError(f"'{text}' is not an address; write [IPv6]:PORT, for example [::1]:8650")
        host, port = text[1:end], text[end + 2:]
    elif ":" in text:
        host, _, port = text.rpartition(":")
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise DashboardError(f"'{text}' has no usable port; write PORT or HOST:PORT, for example 127.0.0.1:8650")
    if not host:
        raise DashboardError(f"'{text}' has no host; write HOST:PORT, for example 127.0.0.1:8650")
    return host, int(port)


def _host_of(header: str) -> str:
    """The name part of a Host header: ``[::1]:8650`` -> ``::1``, ``localhost:8650`` -> ``localhost``."""
    header = header.strip().lower()
    if header.startswith("["):
        return header[1:header.find("]")] if "]" in header else ""
    return header.rsplit(":", 1)[0] if header.count(":") == 1 else header


class Guard:
    """The dashboard's rules for one server: where it listens, its token, read-only or not."""

    def __init__(self, host: str, port: int, token: str | None = None, *, read_only: bool = False):
        token = token or None
        if not is_loopback(host) and token is None:
            raise DashboardError(f"the dashboard will not listen on {host} without a token: anyone who can reach "
                                 f"that address could act on the fleet. Pass --token, or set {TOKEN_ENV} "
                                 f"({MIN_TOKEN} characters or more), or listen on 127.0.0.1")
        if token is not None and len(token) < MIN_TOKEN:
            raise DashboardError(f"the dashboard's token is {len(token)} characters long; use {MIN_TOKEN} or more "
                                 "(for example: python3 -c 'import secrets; print(secrets.token_urlsafe(24))')")
        self.host, self.port, self.token, self.read_only = host, port, token, read_only
        self.loopback = is_loopback(host)
        self._secret = secrets.token_bytes(32)
        # The auth cookie holds a value derived from the token, not the token itself.
        self._auth = hmac.new(token.encode(), b"robe dashboard auth", hashlib.sha256).hexdigest() if token else ""

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/"

    # -- who is asking
    def host_allowed(self, header: str) -> bool:
        """On loopback, only loopback Host names (no DNS rebinding); elsewhere the token guards."""
        name = _host_of(header)
        if not name:
            return False
        return is_loopback(name) if self.loopback else True

    def token_ok(self, given: str | None) -> bool:
        return self.token is not None and given is not None and hmac.compare_digest(given.encode(), self.token.encode())

    def auth_cookie(self) -> str:
        return self._auth

    def authorized(self, cookie: str | None, authorization: str | None) -> bool:
        """True without a token; else the auth cookie or ``Authorization: Bearer <token>``."""
        if self.token is None:
            return True
        if cookie and hmac.compare_digest(cookie.encode(), self._auth.encode()):
            return True
        if authorization and authorization.lower().startswith("bearer "):
            return self.token_ok(authorization[7:].strip())
        return False

    # -- sessions and CSRF
    @staticmethod
    def new_session() -> str:
        return secrets.token_urlsafe(32)

    @staticmethod
    def session_ok(session: str | None) -> bool:
        return bool(session) and _SESSION_RE.match(session) is not None

    def csrf_for(self, session: str) -> str:
        return hmac.new(self._secret, session.encode(), hashlib.sha256).hexdigest()

    def action_refusal(self, *, host: str, origin: str | None, session: str | None, csrf: str | None) -> str | None:
        """Why an action request must be refused (one sentence), or None when it may go on."""
        if self.read_only:
            return "the dashboard is read-only (started with --read-only); change the queue with robe queue set"
        if not origin:
            return "the request has no Origin header; actions are taken only from the dashboard's own pages"
        parts = urlsplit(origin)
        if parts.scheme not in ("http", "https") or parts.netloc.lower() != host.strip().lower():
            return f"the request comes from another site ({origin}); actions are taken only from the dashboard's pages"
        if not self.session_ok(session) or not csrf or not hmac.compare_digest(csrf.encode(),
                                                                            self.csrf_for(session).encode()):
            return "the page's session token is missing or stale; reload the page and try again"
        return None
