"""robe's watches pair a rename's two inotify halves within plumbing.MOVE_PAIRING_S (watchdog
waits 0.5 s by default and, now and then, holds every later event that long). A shorter wait
must still see each rename into place as one move: the way editors and robe's writer save."""

import os
import queue
import threading

from watchdog.events import FileSystemEventHandler

from robe.plumbing import MOVE_PAIRING_S, observer


class Seen(FileSystemEventHandler):
    def __init__(self):
        self.events = queue.Queue()

    def on_any_event(self, event):
        if not event.is_directory:
            self.events.put((event.event_type, os.path.basename(event.src_path),
                             os.path.basename(getattr(event, "dest_path", "") or "")))


def test_renames_into_place_are_seen_as_moves(tmp_path):
    assert MOVE_PAIRING_S < 0.5
    target = tmp_path / "WORK-QUEUE.md"
    target.write_text("# Queue\n")
    seen = Seen()
    obs = observer()
    obs.schedule(seen, str(tmp_path), recursive=False)
    obs.start()
    try:
        busy = threading.Event()

        def spin():  # another thread wanting the GIL, as in robe run
            while not busy.is_set():
                sum(range(1000))

        t = threading.Thread(target=spin, daemon=True)
        t.start()
        for i in range(100):
            tmp = tmp_path / f".WORK-QUEUE.md.{i}.tmp"
            tmp.write_text(f"# Queue\n\n- [ ] TASK-{i} PENDING\n")
            os.replace(tmp, target)
        busy.set()
        moves, lone = 0, []
        while moves < 100:
            kind, src, dest = seen.events.get(timeout=10)
            if kind == "moved":
                assert dest == "WORK-QUEUE.md" and src.endswith(".tmp")
                moves += 1
            elif kind == "deleted" or (kind == "created" and src == "WORK-QUEUE.md"):
                lone.append((kind, src))  # a half of a rename left unpaired
        assert moves == 100 and not lone
    finally:
        obs.stop()
        obs.join(5)
