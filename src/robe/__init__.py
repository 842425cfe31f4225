"""robe keeps a fleet of AI agents ("wizards") busy from a markdown file.

The Python API, which robe's own command line uses:

    from robe import Fleet, Queue, Status

    queue = Queue("WORK-QUEUE.md")              # one queue file
    queue.add("Rotate the gateway logs", priority="P0", assignee="ezra")
    fleet = Fleet.load("fleet.yaml")            # the wizards, their houses and queues
    fleet.dispatch(); fleet.execute_once(); fleet.monitor()
"""

import importlib

__version__ = "0.2.0"

#: The names ``from robe import ...`` offers, and the module each comes from. They are loaded
#: on first use (PEP 562), so a cron job that needs only the dispatcher does not import the
#: report, git checkpoints and the schedule as well.
_API = {
    "Fleet": "robe.api",
    "Queue": "robe.queue.api",
    "Task": "robe.queue",
    "Status": "robe.queue",
    "Problem": "robe.queue",
    "Snapshot": "robe.queue",
    "QueueError": "robe.queue",
    "ConflictError": "robe.queue",
    "RobeError": "robe.errors",
}
__all__ = [*_API, "__version__"]


def __getattr__(name: str):
    if name in _API:
        return getattr(importlib.import_module(_API[name]), name)
    raise AttributeError(f"module 'robe' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_API))
