"""The hub's side of the broker: publish each claim once, and take what other machines send back
(answers, and claims taken over from a dead executor) into the hub's houses.

The hub's files stay the truth. A claim is still ``work/<ID>.active`` in the hub's house,
made with O_EXCL before anything is published; an answer from another machine is written to
the hub's ``completed/<ID>.txt`` and ``.json`` exactly as a local executor writes it, so the
monitor folds it, and reports, history and checkpoints read it, as they always did.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass, field

from ..clock import stamp
from ..house import House, positive_int
from ..plumbing import atomic_write, json_bytes, private_dir, read_json
from ..queue import is_valid_id
from ..queue.events import append_event
from . import streams as s
from .client import Broker, BrokerError, BrokerLoop, broker_for

log = logging.getLogger(__name__)
#: records taken from one wizard's result stream in one monitor run (the rest wait for the next)
MAX_PER_RUN = 20_000
BATCH = 500


@dataclass
class Ingested:
    """What one pass over the result streams took in."""

    results: int = 0
    lost: int = 0
    late: int = 0
    duplicates: int = 0
    #: per wizard, the task IDs whose claim or result changed (the monitor looks at these)
    tasks: dict = field(default_factory=dict)
    #: idempotence keys of attempts the hub is done publishing (dropped with the batch's ack)
    forget: list = field(default_factory=list)

    def to_dict(self) -> dict:
        return {"results": self.results, "lost": self.lost, "late": self.late, "duplicates": self.duplicates}


def ensure_group(b: Broker, stream: str, group: str) -> None:
    """The consumer group on ``stream`` (created at the start of the stream, with the stream)."""
    seen = b.__dict__.setdefault("_groups", set())
    if (stream, group) in seen:
        return

    def create():
        try:
            b.redis.xgroup_create(stream, group, id="0", mkstream=True)
        except Exception as e:  # noqa: BLE001 - BUSYGROUP: it exists, which is what we want
            if "BUSYGROUP" not in str(e):
                raise
    b.call(f"created the group {group} on {stream}", create)
    seen.add((stream, group))


# --- publishing claims -------------------------------------------------------------------------


def message_fields(wizard: str, record: dict, last_attempt: int) -> dict:
    attempt = positive_int(record.get("attempt"), 1)
    return {"id": record["id"], "wizard": wizard, "attempt": attempt, "last_attempt": max(last_attempt, attempt),
            "key": s.claim_key(wizard, record["id"], attempt), "claim": json.dumps(record, ensure_ascii=False),
            "published_at": stamp()}


def publish_claims(b: Broker, items: list[tuple[str, dict, int]]) -> list[tuple[str, bool]]:
    """Publish claims on their wizards' task streams, each (wizard, claim record, last attempt
    it may run as) at most once: the idempotence key is wizard/ID/attempt, so a dispatcher
    that repeats a publish (a crash between claim and publish, a repair) delivers nothing new.
    Returns (message ID, published now) per item; BrokerError when the broker cannot be used."""
    if not items:
        return []
    script = b.script("publish", s.PUBLISH)
    for wizard in dict.fromkeys(w for w, _, _ in items):
        ensure_group(b, s.tasks(wizard), s.EXECUTORS)

    def run():
        pipe = b.redis.pipeline(transaction=False)
        for wizard, record, last in items:
            f = message_fields(wizard, record, last)
            script(keys=[s.tasks(wizard), s.PUBLISHED, s.ATTEMPT],
                   args=[f["key"], s.run_key(wizard, record["id"]), f["attempt"], *s.flat(f)], client=pipe)
        return pipe.execute()
    return [(str(mid), bool(int(new))) for mid, new in b.call("published claims", run)]


def publish_fleet(b: Broker, fleet, text: str) -> None:
    """The hub's fleet.yaml, for 'robe init --join' on a new machine."""
    value = json.dumps({"hub": fleet.hub, "yaml": text, "published_at": stamp()}, ensure_ascii=False)
    b.call("published the fleet", lambda: b.redis.set(s.FLEET, value))


def joined_fleet(b: Broker) -> dict:
    """What the hub published: {hub, yaml, published_at}; BrokerError when nothing is there."""
    raw = b.call("read the hub's fleet", lambda: b.redis.get(s.FLEET))
    try:
        data = json.loads(raw) if raw else None
    except ValueError:
        data = None
    if not isinstance(data, dict) or not isinstance(data.get("yaml"), str) or not data.get("hub"):
        raise BrokerError(f"the broker at {b.where} holds no fleet from a hub yet; run 'robe dispatch' on the hub "
                          "(it publishes its fleet.yaml there), then join again")
    return data


def executors(b: Broker) -> list[dict]:
    """Every executor process that reported to the broker: consumer, host, pid, wizards,
    started_at, heartbeat_at, running."""
    raw = b.call("read the executors", lambda: b.redis.hgetall(s.EXECUTOR_HASH))
    out = []
    for consumer, value in sorted((raw or {}).items()):
        try:
            rec = json.loads(value)
        except ValueError:
            continue
        if isinstance(rec, dict):
            rec["consumer"] = consumer
            out.append(rec)
    return out


def server_facts(b: Broker) -> dict:
    """For robe doctor: version, and whether AOF or RDB snapshots are on."""
    def read():
        server, persistence = b.redis.info("server"), b.redis.info("persistence")
        save = b.redis.config_get("save").get("save", "")
        return server, persistence, save
    server, persistence, save = b.call("read its facts", read)
    return {"version": str(server.get("valkey_version") or server.get("redis_version") or "?"),
            "server": "valkey" if server.get("valkey_version") or server.get("server_name") == "valkey" else "redis",
            "aof": str(persistence.get("aof_enabled")) == "1", "rdb": bool(str(save).strip())}


# --- taking results in -------------------------------------------------------------------------


def ingest(b: Broker, wizards, *, by: str, limit: int = MAX_PER_RUN) -> Ingested:
    """Read the result streams of ``wizards`` (the hub's Wizard records) into their houses.

    Each record is applied, then acknowledged and deleted: a record read again (the monitor
    died before its ack) finds its work done and changes nothing (idempotent by task and
    attempt). The caller holds each wizard's dispatch lock, as for any change to its claims.
    """
    got = Ingested()
    for w in wizards:
        stream = s.results(w.name)
        ensure_group(b, stream, s.HUB)
        house = House(w.house, w.name)
        taken = 0
        for start in ("0", ">"):  # what an earlier run read but did not acknowledge, then what is new
            while taken < limit:
                resp = b.call("read results", lambda: b.redis.xreadgroup(s.HUB, s.HUB, {stream: start}, count=BATCH))
                entries = _entries(resp)
                if not entries:
                    break
                done = []
                for msg_id, fields in entries:
                    if fields:
                        _apply(house, w, s.pairs(fields), got, by=by)
                    done.append(msg_id)
                taken += len(entries)

                def ack(ids=done, keys=list(got.forget)):
                    pipe = b.redis.pipeline(transaction=True)
                    pipe.xack(stream, s.HUB, *ids)
                    pipe.xdel(stream, *ids)
                    if keys:
                        pipe.hdel(s.PUBLISHED, *keys)
                    return pipe.execute()
                b.call("acknowledged results", ack)
                got.forget.clear()
                if len(entries) < BATCH:
                    break
    return got


def _entries(resp) -> list:
    if not resp:
        return []
    if isinstance(resp, dict):
        return [e for v in resp.values() for e in (v[0] if v and isinstance(v[0], list) else v)]
    return [e for _, es in resp for e in es]


def _apply(house: House, w, f: dict, got: Ingested, *, by: str) -> None:
    tid, kind = f.get("id") or "", f.get("kind")
    attempt = _int(f.get("attempt"))
    if not is_valid_id(tid) or f.get("wizard") != w.name or not attempt:
        log.warning("wizard %s: a result record that names %r (wizard %r, attempt %r) is not robe's; dropped",
                    w.name, tid, f.get("wizard"), f.get("attempt"))
        return
    house.ensure()
    rec = house.claim_record(tid) if os.path.lexists(house.claim_path(tid)) else None
    current = positive_int((rec or {}).get("attempt"), 0) or None
    got.tasks.setdefault(w.name, set()).add(tid)
    if kind == "result":
        _result(house, w, tid, attempt, current, f, got, by=by)
    elif kind == "lost":
        _lost(house, w, tid, attempt, current, rec, f, got, by=by)
    else:
        log.warning("wizard %s: %s: a result record of unknown kind %r; dropped", w.name, tid, kind)


def _int(v) -> int:
    try:
        n = int(v)
    except (TypeError, ValueError):
        return 0
    return n if n > 0 else 0


def _outcome(w, tid: str, attempt: int, f: dict) -> dict:
    try:
        out = json.loads(f.get("outcome") or "")
    except ValueError:
        out = None
    if not isinstance(out, dict):
        out = {"status": "FAILED", "error": "the executor's outcome could not be read", "exit_code": None}
    out.update(id=tid, wizard=w.name, attempt=attempt)
    out.setdefault("host", s.host_of(f.get("consumer") or ""))
    return out


def _result(house: House, w, tid: str, attempt: int, current: int | None, f: dict, got: Ingested, *, by: str) -> None:
    answer = (f.get("answer") or "").encode("utf-8")
    there = positive_int((_read_json(house.outcome_path(tid)) or {}).get("attempt"), 0)
    if current == attempt and not there and not os.path.lexists(house.answer_path(tid)):
        house.write_result(tid, answer, _outcome(w, tid, attempt, f))
        got.results += 1
        got.forget.append(s.claim_key(w.name, tid, attempt))
        return
    if current == attempt and there == attempt:
        got.duplicates += 1
        return
    # Not the claim the hub holds now (its attempt was taken over, or it was folded already):
    # the answer is kept in the archive under its attempt, and changes nothing.
    if current != attempt:  # the hub holds no claim of that attempt: a new one publishes again
        got.forget.append(s.claim_key(w.name, tid, attempt))
    if _archive_late(house, tid, attempt, answer, _outcome(w, tid, attempt, f)):
        got.late += 1
        append_event(house.events, tid, None, None, by=by, attempt=attempt, event="late", wizard=w.name,
                     detail=f"a result of attempt {attempt} from {f.get('consumer') or '?'} came after that attempt "
                            "had ended; kept in completed/archive/, nothing folded")
    else:
        got.duplicates += 1


def _archive_late(house: House, tid: str, attempt: int, answer: bytes, outcome: dict) -> bool:
    txt = house.path(house.completed_archive, tid, f".{attempt}.txt")
    meta = house.path(house.completed_archive, tid, f".{attempt}.json")
    if os.path.lexists(meta):
        return False
    private_dir(house.completed_archive)
    if not os.path.lexists(txt):
        atomic_write(txt, answer)
    atomic_write(meta, json_bytes(outcome))
    return True


def lost_detail(f: dict, attempt: int, nxt: int | None) -> str:
    idle = _int(f.get("idle_ms"))
    prev = f.get("from") or "?"
    taker = f.get("by") or "?"
    said = (f"attempt {attempt} lost: its executor {prev} (host {s.host_of(prev)}) was silent for "
            f"{idle / 1000:.0f} s, past its lease; taken over by {taker}")
    return said + (f" as attempt {nxt}" if nxt else "; no attempts left")


def _lost(house: House, w, tid: str, attempt: int, current: int | None, rec: dict | None, f: dict, got: Ingested,
          *, by: str) -> None:
    nxt = _int(f.get("next")) or None
    detail = lost_detail(f, attempt, nxt)
    if current is None and nxt and house.claim_archived(tid, attempt) and not house.claim_archived(tid, nxt):
        # A monitor stopped between archiving the old claim and writing the new one: finish it.
        archived = _read_json(house.path(house.work_archive, tid, f".{attempt}.active"))
        if archived is not None and not _done_since(house, tid, attempt):
            house.create_claim(_next_claim(archived, nxt, f))
            got.lost += 1
        return
    if current != attempt:
        got.duplicates += 1
        return
    got.lost += 1
    got.forget.append(s.claim_key(w.name, tid, attempt))
    if nxt:
        # The archive first, then the new claim; the task stays IN_PROGRESS in the queue.
        append_event(house.events, tid, "IN_PROGRESS", "IN_PROGRESS", by=by, attempt=attempt, event="takeover",
                     wizard=w.name, next=nxt, detail=detail, host=s.host_of(f.get("by") or ""))
        house.archive_claim(tid, attempt)
        house.create_claim(_next_claim(rec or {"id": tid, "wizard": w.name}, nxt, f))
        return
    if not house.has_result(tid):  # no attempts left: a FAILED result the monitor folds as any other
        outcome = {"id": tid, "wizard": w.name, "attempt": attempt, "status": "FAILED", "exit_code": None,
                   "error": detail, "agent": None, "started_at": None, "finished_at": f.get("at") or stamp(),
                   "duration_s": 0.0, "truncated": False, "host": s.host_of(f.get("from") or ""),
                   "spend": {"input_tokens": None, "output_tokens": None, "total_tokens": None, "cost_usd": None,
                             "reported_by": None, "seconds": 0.0}}
        house.write_result(tid, f"[robe: {detail}]\n".encode("utf-8"), outcome)


def _done_since(house: House, tid: str, attempt: int) -> bool:
    return any(house.claim_archived(tid, a) for a in range(attempt + 1, attempt + 50))


def _next_claim(rec: dict, nxt: int, f: dict) -> dict:
    new = dict(rec)
    new.update(attempt=nxt, claimed_at=f.get("at") or stamp(), claimed_by=f.get("by") or "",
               taken_over_from=f.get("from") or "")
    return new


def _read_json(path: str) -> dict | None:
    return read_json(path)



# --- waking the hub ----------------------------------------------------------------------------


class ResultWatch(BrokerLoop):
    """Calls ``wake()`` whenever results (or takeovers) from other machines wait on the broker
    for ``wizards`` (the hub's wizards that run elsewhere), so that a long-running hub (robe run)
    folds them at once with ``monitor()`` instead of at its next scheduled monitor. ``start()``
    (a thread), ``stop()``; the broker down: said once, retried with a growing pause."""

    name = "broker result watch"

    def __init__(self, b: Broker, wizards, wake, *, block_ms: int = 1000):
        super().__init__(b)
        self.streams = [s.results(w.name) for w in wizards]
        self.wake = wake
        self.block_ms = block_ms
        self.last: dict[str, str] = {}

    def down(self, e: BrokerError) -> str:
        self.last = {}
        return f"{e}; results from other machines wait there until it is back"

    def step(self) -> None:
        b = self.broker
        if not self.last:  # what waited before the watch (re)started, then only what is new
            lengths = b.call("counted results", lambda: [b.redis.xlen(k) for k in self.streams])
            self.last = {k: "$" for k in self.streams}
            if any(lengths):
                self.wake()
        resp = b.call("watched results", lambda: b.redis.xread(self.last, count=100, block=self.block_ms))
        got = False
        for stream, entries in (resp.items() if isinstance(resp, dict) else resp or []):
            entries = entries[0] if entries and isinstance(entries[0], list) else entries
            if entries:
                self.last[stream], got = entries[-1][0], True
        if got:
            self.wake()


def watch_results(fleet, wake) -> ResultWatch | None:
    """For a hub that runs for long (robe run): a started ResultWatch over the wizards of
    ``fleet`` that run on other machines, calling ``wake()`` when their results wait; None when
    the fleet has no broker or no such wizard."""
    remote = [w for w in fleet.wizards if fleet.broker and fleet.via_broker(w)]
    if not remote or fleet.host != fleet.hub:
        return None
    return ResultWatch(broker_for(fleet), remote, wake).start()
