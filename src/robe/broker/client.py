"""The connection to the broker: its URL from fleet.yaml, its password from the environment or
the fleet's .env (never from fleet.yaml), and every Redis fault turned into one sentence."""

from __future__ import annotations

import logging
import os
import threading
from typing import Callable, TypeVar
from urllib.parse import urlsplit, urlunsplit

import redis

from ..errors import RobeError

PASSWORD_ENV = "ROBE_BROKER_PASSWORD"
T = TypeVar("T")
log = logging.getLogger("robe.broker")


class BrokerError(RobeError):
    """The broker cannot be reached or refused a command; the message is one sentence."""


def where(url: str) -> str:
    """The URL as robe prints it: no user name (and there is never a password in it)."""
    p = urlsplit(url)
    netloc = p.hostname or ""
    if p.port:
        netloc += f":{p.port}"
    return urlunsplit((p.scheme, netloc, p.path, "", ""))


def password_for(folder: str) -> str | None:
    """$ROBE_BROKER_PASSWORD, else that line of ``<folder>/.env`` (the fleet's), else None."""
    if os.environ.get(PASSWORD_ENV):
        return os.environ[PASSWORD_ENV]
    try:
        with open(os.path.join(folder, ".env"), encoding="utf-8", errors="replace") as f:
            lines = f.read(64 * 1024).splitlines()
    except OSError:
        return None
    for line in lines:
        key, eq, value = line.strip().removeprefix("export ").partition("=")
        if eq and key.strip() == PASSWORD_ENV:
            value = value.strip()
            if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
                value = value[1:-1]
            return value or None
    return None


class Broker:
    """One broker: a redis-py client (a thread-safe pool) and robe's sentences for its faults."""

    def __init__(self, url: str, password: str | None = None, *, timeout: float = 5.0):
        self.url = url
        self.where = where(url)
        # RESP2 and decoded text: the same Python shapes from every redis-py 8 release and from
        # the scripts; socket_timeout stays above the longest BLOCK robe asks for (1 s).
        self.redis = redis.Redis.from_url(url, password=password, protocol=2, decode_responses=True,
                                          socket_connect_timeout=timeout, socket_timeout=timeout + 2,
                                          health_check_interval=30)
        self._scripts: dict[str, object] = {}

    def __repr__(self) -> str:
        return f"Broker({self.where!r})"

    def call(self, what: str, fn: Callable[[], T]) -> T:
        """Run ``fn`` (redis-py calls); BrokerError with one sentence when it fails."""
        try:
            return fn()
        except redis.exceptions.AuthenticationError as e:
            raise BrokerError(f"the broker at {self.where} refused robe's password ({e}); set {PASSWORD_ENV} "
                              "in the environment or in the fleet's .env") from None
        except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError, OSError) as e:
            raise BrokerError(f"the broker at {self.where} is unreachable while robe {what} "
                              f"({_reason(e)})") from None
        except redis.exceptions.ResponseError as e:
            raise BrokerError(f"the broker at {self.where} refused robe {what}: {e}") from None
        except redis.exceptions.RedisError as e:
            raise BrokerError(f"the broker at {self.where} failed while robe {what}: {e}") from None

    def script(self, name: str, source: str):
        """A server-side script, registered once (redis-py loads it again after a restart)."""
        s = self._scripts.get(name)
        if s is None:
            s = self._scripts[name] = self.redis.register_script(source)
        return s

    def ping(self) -> None:
        self.call("checked it", self.redis.ping)

    def close(self) -> None:
        self.redis.close()


def _reason(e: Exception) -> str:
    text = str(e).strip() or type(e).__name__
    if "Connection refused" in text:
        return "connection refused: is redis-server running there?"
    return text.rstrip(".")


_cache: dict[tuple, Broker] = {}
_cache_lock = threading.Lock()


def broker_for(fleet) -> Broker:
    """The Broker of ``fleet`` (its ``broker`` URL and password), one per process and URL."""
    if not fleet.broker:
        raise BrokerError(f"{fleet.path} names no broker; add 'broker: redis://HOST:6379/0' to it")
    key = (fleet.broker, password_for(fleet.folder))
    with _cache_lock:
        b = _cache.get(key)
        if b is None:
            b = _cache[key] = Broker(fleet.broker, key[1])
        return b


def close_brokers() -> None:
    """Close every Broker this process opened (the end of a run, or of a test)."""
    with _cache_lock:
        for b in _cache.values():
            b.close()
        _cache.clear()


class BrokerLoop:
    """A thread that calls ``step()`` until ``stop()``. While the broker is down it says so once
    (``down()`` gives the sentence), retries with a pause growing to 5 s, and says when the
    broker is back; a bug in one step is logged and the loop goes on."""

    name = "robe broker loop"

    def __init__(self, broker: Broker):
        self.broker = broker
        self.stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._down: str | None = None

    def step(self):
        raise NotImplementedError

    def down(self, e: BrokerError) -> str:
        """What to say (once) when the broker stops answering."""
        return str(e)

    def start(self):
        self._thread = threading.Thread(target=self.run, name=self.name, daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        self.stopping.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout)

    def run(self) -> None:
        pause = 0.5
        while not self.stopping.is_set():
            try:
                self.step()
                pause = 0.5
                if self._down:
                    log.warning("%s: the broker at %s is back", self.name, self.broker.where)
                    self._down = None
            except BrokerError as e:
                if not self._down:
                    log.warning("%s: %s", self.name, self.down(e))
                self._down = str(e)
                self.stopping.wait(pause)
                pause = min(pause * 2, 5.0)
            except Exception:  # a bug in one pass must not stop the loop
                log.exception("%s: a pass failed", self.name)
                self.stopping.wait(1.0)
