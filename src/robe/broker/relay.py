"""A host's side of the broker: its wizards' task streams in, their answers out.

The relay turns each message into the claim file the executor already knows
(``work/<ID>.active`` in the wizard's house on this machine), so the executor runs it exactly as
on one machine (its lock, heartbeat file, timeout, process group, output cap). Then it sends the
result back on the wizard's result stream and acknowledges the message, in one script, and
moves the local claim and result to the local archives.

While a claim is here, the relay refreshes its entry in the consumer group (XCLAIM JUSTID: the
entry's idle time is its lease). An executor that dies stops refreshing; once the idle time
passes the wizard's lease, any relay serving that wizard takes the claim over (XAUTOCLAIM) and
runs it again as the next attempt, within max_attempts; a relay starting on the same machine
takes over at once what a dead process of this machine held. Each consumer is one process,
``<host>/<pid>.<start>``.

The broker down: what runs here goes on, results wait in completed/ and go out when it is
back; the relay says so once and retries with a growing pause.
"""

from __future__ import annotations

import json
import logging
import os
import time
from dataclasses import dataclass

from ..clock import stamp
from ..house import ClaimLock, House, positive_int
from ..plumbing import pid_alive, process_start_ticks, read_json, read_regular
from ..queue import is_valid_id
from . import streams as s
from .client import Broker, BrokerError, BrokerLoop, broker_for
from .hub import ensure_group

log = logging.getLogger("robe.broker")
MAX_ANSWER = 4 * 1024 * 1024


@dataclass
class _Owned:
    wizard: str
    task: str
    attempt: int
    #: taken over by another consumer while it was here: its result goes out as a late one
    lost: bool = False


def consumer_name(host: str, pid: int | None = None) -> str:
    pid = pid or os.getpid()
    return f"{host}/{pid}.{process_start_ticks(pid) or 0}"


def _dead_here(consumer: str, host: str) -> bool:
    """A consumer of this machine whose process is gone (same pid and start time, or none)."""
    h, _, rest = consumer.partition("/")
    if h != host:
        return False
    pid_s, _, start_s = rest.partition(".")
    if not pid_s.isdigit():
        return False
    pid = int(pid_s)
    return not (pid_alive(pid) and str(process_start_ticks(pid) or 0) == start_s)


class Relay(BrokerLoop):
    """The broker consumer for the wizards of this machine (``wizards``: those whose claims come
    through the broker). ``prepare_local()`` before the executor starts, then ``start()`` (a
    thread) or ``run()``; ``stop()`` to end."""

    def __init__(self, fleet, wizards, *, broker: Broker | None = None, block_ms: int = 50,
                 beat_interval: float | None = None, takeover_interval: float | None = None,
                 record_interval: float = 5.0):
        self.fleet = fleet
        self.wizards = {w.name: w for w in wizards}
        if not self.wizards:
            raise BrokerError("there is no wizard of this machine to run from the broker")
        super().__init__(broker or broker_for(fleet))
        self.houses = {n: House(w.house, n) for n, w in self.wizards.items()}
        self.host = fleet.host
        self.consumer = consumer_name(self.host)
        self.name = f"broker relay {self.consumer}"
        self.block_ms = block_ms
        shortest = min(w.lease for w in self.wizards.values())
        self.beat_interval = beat_interval or max(0.2, min(5.0, shortest / 4))
        self.takeover_interval = takeover_interval or max(0.2, min(5.0, shortest / 2))
        self.record_interval = record_interval
        self.owned: dict[str, _Owned] = {}
        self.started_at = stamp()
        self._ready = False
        self._last = {"beat": 0.0, "takeover": 0.0, "record": 0.0}
        #: counts for tests and the benchmark
        self.stats = {"received": 0, "finished": 0, "late": 0, "taken_over": 0, "lost": 0}

    def __repr__(self) -> str:
        return f"Relay({self.consumer!r}, {sorted(self.wizards)})"

    # -- before the executor starts ---------------------------------------------------------------
    def prepare_local(self) -> list[str]:
        """Archive the claims a dead process of this machine left in work/ without a result (the
        broker gives them out again, as the next attempt), and kill agents they left running.
        Results they left stay: they go out once the broker is reachable. Needs no broker."""
        moved = []
        for name, house in self.houses.items():
            house.ensure()
            for tid in house.claim_ids():
                if house.has_result(tid):
                    continue
                lock = ClaimLock(house.lock_path(tid))
                if not lock.acquire():
                    continue  # another executor of this machine runs it now
                try:
                    house.kill_leftover_agent(tid)
                    house.archive_claim(tid, house.claim_attempt(tid))
                    moved.append(f"{name}/{tid}")
                finally:
                    lock.release(remove=True)
        if moved:
            log.info("broker relay %s: %d claim(s) left by an earlier executor archived; the broker gives them "
                     "out again", self.consumer, len(moved))
        return moved

    # -- the loop ---------------------------------------------------------------------------------
    def stop(self, timeout: float = 10.0) -> None:
        super().stop(timeout)
        try:  # the last results, and no executor record left behind
            if self._ready:
                self.finish_results()
            self.broker.call("removed this executor's record",
                             lambda: self.broker.redis.hdel(s.EXECUTOR_HASH, self.consumer))
        except BrokerError:
            pass

    def down(self, e: BrokerError) -> str:
        return f"{e}; running claims go on, results wait in completed/, retrying with a growing pause"

    def step(self) -> int:
        """One pass: recover (once), read new claims, send results, heartbeat, take over, report."""
        if not self._ready:
            self.recover()
            self._ready = True
        n = self.read(block_ms=self.block_ms)
        self.finish_results()
        now = time.monotonic()
        if now - self._last["beat"] >= self.beat_interval:
            self._last["beat"] = now
            self.beat()
        if now - self._last["takeover"] >= self.takeover_interval:
            self._last["takeover"] = now
            n += self.take_over()
        if now - self._last["record"] >= self.record_interval:
            self._last["record"] = now
            self.record()
        return n

    def once(self) -> int:
        """Take every claim waiting now (no blocking); the executor's --once runs them after."""
        if not self._ready:
            self.recover()
            self._ready = True
        n = 0
        while True:
            got = self.read(block_ms=0) + self.take_over()
            n += got
            if not got:
                return n

    # -- recovering from a dead process of this machine ------------------------------------------
    def recover(self) -> None:
        b = self.broker
        for name in self.wizards:
            ensure_group(b, s.tasks(name), s.EXECUTORS)
            ensure_group(b, s.results(name), s.HUB)
        self.record()
        dead = set()
        for name in self.wizards:
            stream = s.tasks(name)
            consumers = b.call("listed consumers", lambda: b.redis.xinfo_consumers(stream, s.EXECUTORS))
            for c in consumers:
                cname = c.get("name") if isinstance(c, dict) else None
                if cname and cname != self.consumer and _dead_here(cname, self.host):
                    dead.add(cname)
        if not dead:
            return
        # Results a dead process of this machine wrote but did not send go out first, as its own.
        self.finish_results(extra_owners=dead)
        for name in self.wizards:
            stream = s.tasks(name)
            ids = []
            for c in dead:
                entries = b.call("listed pending claims", lambda c=c: b.redis.xpending_range(
                    stream, s.EXECUTORS, "-", "+", 10_000, consumername=c))
                ids += [e["message_id"] for e in entries]
            if ids:
                self._take(name, "ids", 0, ids)
        for name in self.wizards:
            for c in dead:
                b.call("removed a dead consumer",
                       lambda c=c, name=name: b.redis.xgroup_delconsumer(s.tasks(name), s.EXECUTORS, c))
        b.call("removed dead executors' records", lambda: b.redis.hdel(s.EXECUTOR_HASH, *dead))
        log.info("broker relay %s: took over what %s left", self.consumer, ", ".join(sorted(dead)))

    # -- claims in ---------------------------------------------------------------------------------
    def read(self, block_ms: int | None = None) -> int:
        b = self.broker
        streams = {s.tasks(n): ">" for n in self.wizards}
        resp = b.call("read claims", lambda: b.redis.xreadgroup(s.EXECUTORS, self.consumer, streams, count=100,
                                                                block=block_ms or None))
        n = 0
        for stream, entries in _streams(resp):
            name = stream[len(s.PREFIX + "tasks:"):]
            for msg_id, fields in entries:
                if not fields:
                    continue
                f = s.pairs(fields)
                n += self._materialize(name, msg_id, f, positive_int(_int(f.get("attempt")), 1))
        return n

    def _materialize(self, name: str, msg_id: str, f: dict, attempt: int) -> int:
        """Write the claim into the wizard's house here; the executor takes it from there."""
        house = self.houses[name]
        tid = f.get("id") or ""
        try:
            record = json.loads(f.get("claim") or "")
        except ValueError:
            record = None
        if not is_valid_id(tid) or f.get("wizard") != name or not isinstance(record, dict) or record.get("id") != tid:
            # Not a claim robe published: never a path, never run. Acknowledged so it does not come back.
            log.error("broker relay %s: message %s on %s is not a claim robe published; dropped", self.consumer,
                      msg_id, s.tasks(name))
            self.broker.call("dropped a bad message", lambda: self.broker.redis.xack(s.tasks(name), s.EXECUTORS,
                                                                                     msg_id))
            return 0
        record.update(attempt=attempt, wizard=name, message=msg_id, delivered_to=self.consumer,
                      delivered_at=stamp())
        # The queue is a file on the hub, not here: the executor must not look for it by that path.
        record["hub_queue"] = record.pop("queue", None)
        if os.path.lexists(house.claim_path(tid)):
            old = house.claim_record(tid) or {}
            if old.get("message") == msg_id and old.get("attempt") == attempt:
                self.owned[msg_id] = _Owned(name, tid, attempt)
                return 0
            self._retire_local(house, tid)
        house.ensure()
        if not house.create_claim(record):
            return 0
        self.owned[msg_id] = _Owned(name, tid, attempt)
        self.stats["received"] += 1
        return 1

    def _retire_local(self, house: House, tid: str) -> None:
        """A claim here from an earlier delivery of the task: to the local archives, result and all."""
        lock = ClaimLock(house.lock_path(tid))
        if not lock.acquire():
            return
        try:
            attempt = house.claim_attempt(tid)
            house.kill_leftover_agent(tid)
            house.archive_claim(tid, attempt)
            house.archive_result(tid, house.result_attempt(tid, attempt))
        finally:
            lock.release(remove=True)

    # -- results out -------------------------------------------------------------------------------
    def finish_results(self, extra_owners: set | None = None) -> int:
        """Send every result written here (for a claim this relay holds, or any claim in work/
        with a result: one a dead process left) and acknowledge its message."""
        sent = 0
        for name, house in self.houses.items():
            for tid in house.claim_ids():
                if not os.path.lexists(house.outcome_path(tid)):
                    continue
                rec = house.claim_record(tid) or {}
                msg_id = rec.get("message")
                if not isinstance(msg_id, str):
                    continue
                sent += self._finish(name, house, tid, msg_id, positive_int(rec.get("attempt"), 1), extra_owners)
        return sent

    def _finish(self, name: str, house: House, tid: str, msg_id: str, attempt: int, extra_owners) -> int:
        outcome = read_json(house.outcome_path(tid))
        if outcome is None:
            return 0
        try:
            answer = read_regular(house.answer_path(tid), MAX_ANSWER)[:MAX_ANSWER].decode("utf-8", errors="replace")
        except OSError:
            answer = ""
        outcome["host"] = self.host
        fields = {"kind": "result", "id": tid, "wizard": name, "attempt": attempt, "consumer": self.consumer,
                  "at": stamp(), "message": msg_id, "outcome": json.dumps(outcome, ensure_ascii=False),
                  "answer": answer}
        owners = "," + ",".join([self.consumer, *(extra_owners or ())]) + ","
        script = self.broker.script("finish", s.FINISH)
        mine = self.broker.call("sent a result", lambda: script(
            keys=[s.tasks(name), s.results(name), s.ATTEMPT],
            args=[s.EXECUTORS, owners, msg_id, s.run_key(name, tid), attempt, *s.flat(fields)]))
        # Sent (as ours, or as a late answer of an attempt taken over): the local copies to the archives.
        house.archive_claim(tid, attempt)
        house.archive_result(tid, attempt)
        self.owned.pop(msg_id, None)
        self.stats["finished" if int(mine) else "late"] += 1
        return 1

    # -- heartbeat and takeover -----------------------------------------------------------------
    def beat(self) -> None:
        """Refresh the idle time of every claim this relay holds; a claim another consumer took
        over meanwhile is stopped here (its agent killed, its claim archived when not running)."""
        by_wizard: dict[str, list[str]] = {}
        for msg_id, o in self.owned.items():
            if not o.lost:
                by_wizard.setdefault(o.wizard, []).append(msg_id)
        script = self.broker.script("beat", s.BEAT)
        for name, ids in by_wizard.items():
            lost = self.broker.call("refreshed its claims", lambda name=name, ids=ids: script(
                keys=[s.tasks(name)], args=[s.EXECUTORS, self.consumer, *ids]))
            for msg_id in lost or ():
                o = self.owned[msg_id]
                o.lost = True
                self.stats["lost"] += 1
                house = self.houses[name]
                log.warning("wizard %s: %s (attempt %d) was taken over by another executor; stopping it here",
                            name, o.task, o.attempt)
                if not os.path.lexists(house.outcome_path(o.task)):
                    lock = ClaimLock(house.lock_path(o.task))
                    if lock.acquire():  # not running: nothing to send, archive it
                        try:
                            house.archive_claim(o.task, o.attempt)
                            self.owned.pop(msg_id, None)
                        finally:
                            lock.release(remove=True)
                    else:
                        house.kill_leftover_agent(o.task)

    def take_over(self) -> int:
        """XAUTOCLAIM, per wizard, what idled past the wizard's lease under any consumer."""
        n = 0
        for name, w in self.wizards.items():
            n += self._take(name, "auto", int(w.lease * 1000), [])
        return n

    def _take(self, name: str, mode: str, min_idle_ms: int, ids: list[str]) -> int:
        script = self.broker.script("takeover", s.TAKEOVER)
        got = self.broker.call("took over claims", lambda: script(
            keys=[s.tasks(name), s.results(name), s.ATTEMPT, s.PUBLISHED],
            args=[s.EXECUTORS, self.consumer, min_idle_ms, 100, stamp(), mode, *ids]))
        n = 0
        for msg_id, nxt, raw in got or ():
            f = s.pairs(raw)
            log.warning("wizard %s: took over %s from a silent executor; it runs again as attempt %s", name,
                        f.get("id"), nxt)
            self.stats["taken_over"] += 1
            n += self._materialize(name, msg_id, f, int(nxt))
        return n

    def record(self) -> None:
        """This executor as 'robe status' on the hub shows it."""
        rec = {"host": self.host, "pid": os.getpid(), "started_at": self.started_at, "heartbeat_at": stamp(),
               "wizards": sorted(self.wizards), "running": sorted(o.task for o in self.owned.values())}
        self.broker.call("reported this executor", lambda: self.broker.redis.hset(
            s.EXECUTOR_HASH, self.consumer, json.dumps(rec)))


def _streams(resp):
    if not resp:
        return []
    if isinstance(resp, dict):
        return [(k, v[0] if v and isinstance(v[0], list) and v and not isinstance(v[0], tuple) else v)
                for k, v in resp.items()]
    return resp


def _int(v) -> int:
    try:
        return int(v)
    except (TypeError, ValueError):
        return 0


def this_machine_wizards(fleet, names=None) -> list:
    """The wizards whose executor runs on this machine (all of them without a broker), or the
    named ones; RobeError when a named wizard runs on another machine."""
    chosen = [fleet.wizard(n) for n in dict.fromkeys(names)] if names else list(fleet.wizards)
    if not getattr(fleet, "broker", None):
        return chosen
    elsewhere = [w for w in chosen if not fleet.runs_here(w)]
    if names and elsewhere:
        w = elsewhere[0]
        raise BrokerError(f"wizard {w.name} runs on machine {w.host!r}, not on this one ({fleet.host!r}); run "
                          f"'robe execute' there (or set host: in fleet.yaml, or ROBE_HOST here)")
    mine = [w for w in chosen if fleet.runs_here(w)]
    if not mine:
        raise BrokerError(f"no wizard of {fleet.path} runs on this machine ({fleet.host!r}); the fleet's wizards run "
                          f"on {', '.join(sorted({w.host for w in chosen}))} (set host: in fleet.yaml, or ROBE_HOST)")
    return mine


def relay_for(fleet, wizards) -> Relay | None:
    """The relay for those of ``wizards`` (this machine's) whose claims come through the broker;
    None when none do (then the house folders are the transport, as on one machine)."""
    remote = [w for w in wizards if getattr(fleet, "broker", None) and fleet.via_broker(w)]
    return Relay(fleet, remote) if remote else None


def start_relay(fleet, wizards) -> Relay | None:
    """For a long-running executor on any machine (robe execute, robe run): the started relay
    for those of ``wizards`` that get their claims through the broker, after archiving what a
    dead executor of this machine left (call it before the executor first scans work/); None
    when none do. ``relay.stop()`` at the end sends the last results."""
    relay = relay_for(fleet, wizards)
    if relay is not None:
        relay.prepare_local()
        relay.start()
    return relay
