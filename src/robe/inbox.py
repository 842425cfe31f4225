"""Inboxes: where the answer to an ask is delivered (docs/contracts.md).

``<house>/inbox/`` for a wizard, ``<root>/inbox/`` for the people of the fleet; one JSON file
per message, named ``<wizard>.<ID>.<attempt>.json``, moved to ``inbox/read/`` once read.
"""

from __future__ import annotations

import os
import re

from .clock import stamp
from .house import HouseError, _fsync_dirs, _move_keep
from .plumbing import UnsafePath, atomic_write, json_bytes, listdir, private_dir, read_json, take_lock
from .queue import is_valid_id

_MESSAGE_ID_RE = re.compile(r"\A[a-z][a-z0-9-]{0,62}\.[A-Z][A-Z0-9]*-[0-9]+\.[0-9]{1,9}\Z")
#: how long a writer waits for an inbox's lock (it is held for one small write)
INBOX_LOCK_S = 10.0


def message_id(sender: str, task_id: str, attempt: int) -> str:
    """``<wizard>.<ID>.<attempt>``: the name of the answer a wizard gave to an ask (a plain file
    name, checked: the ask's task ID passed ``is_valid_id``)."""
    mid = f"{sender}.{task_id}.{attempt}"
    if not _MESSAGE_ID_RE.match(mid) or not is_valid_id(task_id):
        raise UnsafePath(f"{mid!r} is not a message name (wizard.TASK-ID.attempt)")
    return mid


def answer_message(*, sender: str, to: str, task_id: str, queue: str, status: str, attempt: int, title: str,
                   question: str, answer: str, error: str | None, ask_task: str | None, chain) -> dict:
    """The message that brings an ask's answer to its asker (docs/contracts.md)."""
    return {"id": message_id(sender, task_id, attempt), "kind": "answer", "from": sender, "to": to,
            "task": task_id, "queue": os.path.realpath(queue), "status": status, "title": title,
            "question": question, "answer": answer, "error": error, "attempt": attempt, "ask_task": ask_task,
            "chain": list(chain), "sent_at": stamp()}


def inbox_for(who: str | None, houses: dict[str, str], root: str) -> "Inbox":
    """The inbox of ``who``: ``inbox/`` in its house when it is a wizard (``houses``: wizard name ->
    house folder), else the inbox of the fleet's people, ``<root>/inbox/``."""
    return Inbox(os.path.join(houses[who] if who in houses else root, "inbox"))


class Inbox:
    """A folder of messages, one JSON file each (docs/contracts.md): ``<house>/inbox/`` for a
    wizard, ``<root>/inbox/`` for the people of the fleet. A message that was read moves to
    ``inbox/read/``; robe deletes none. Writers take ``inbox/.lock``, so one answer is one
    message however many deliver it (the monitor, and a waiting asker that saw it first)."""

    def __init__(self, folder: str):
        self.folder = os.path.abspath(folder)
        self.read_folder = os.path.join(self.folder, "read")
        self.lock_file = os.path.join(self.folder, ".lock")

    def __repr__(self) -> str:
        return f"Inbox({self.folder!r})"

    def _path(self, mid: str, read: bool = False) -> str:
        if not _MESSAGE_ID_RE.match(mid or ""):
            raise UnsafePath(f"{mid!r} is not a message name (wizard.TASK-ID.attempt)")
        return os.path.join(self.read_folder if read else self.folder, mid + ".json")

    def _lock(self) -> int:
        for d in (self.folder, self.read_folder):
            if os.path.islink(d):
                raise HouseError(f"{d} is a link; robe keeps messages only in a plain folder there")
        fd = take_lock(self.lock_file, INBOX_LOCK_S)
        if fd is None:
            raise HouseError(f"{self.lock_file} stayed locked for {INBOX_LOCK_S:g} s; try again")
        return fd

    def deliver(self, message: dict, *, read: bool = False) -> bool:
        """Write ``message`` (its ``id`` names the file; in read/ with ``read``) unless it is here
        already, read or not; True when written."""
        mid = message["id"]
        fd = self._lock()
        try:
            if os.path.lexists(self._path(mid)) or os.path.lexists(self._path(mid, read=True)):
                return False
            if read:
                private_dir(self.read_folder)
            atomic_write(self._path(mid, read=read), json_bytes(message))
            return True
        finally:
            os.close(fd)

    def messages(self, *, include_read: bool = False, prefix: str = "") -> list[dict]:
        """The messages (those whose name starts with ``prefix``), oldest first, each with
        ``read`` (True once moved to read/)."""
        out = []
        folders = [(self.folder, False)] + ([(self.read_folder, True)] if include_read else [])
        for folder, read in folders:
            for name in listdir(folder):
                if not name.startswith(prefix) or not name.endswith(".json") or not _MESSAGE_ID_RE.match(name[:-5]):
                    continue
                msg = read_json(os.path.join(folder, name))
                if msg is not None:
                    msg["id"], msg["read"] = name[:-5], read
                    out.append(msg)
        return sorted(out, key=lambda m: (str(m.get("sent_at") or ""), m["id"]))

    def mark_read(self, mid: str) -> bool:
        """Move a message to read/; False when it is not (or no longer) unread."""
        src = self._path(mid)
        fd = self._lock()
        try:
            if not os.path.lexists(src):
                return False
            private_dir(self.read_folder)
            moved = _move_keep(src, self.read_folder, mid, ".json")
            _fsync_dirs(self.folder, self.read_folder)
            return moved is not None
        finally:
            os.close(fd)
