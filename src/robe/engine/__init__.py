"""robe run: the engine. One foreground process that dispatches, executes and folds results
as fast as the machine allows, for machines with or without cron.

What runs where:

- **Dispatch and monitor run in this process** (``robe.engine.loop``), with the same library
  functions cron's ``robe dispatch`` and ``robe monitor`` call and under the same per-wizard
  lock files (``logs/cron-<job>.lock``, which cron's lines take with ``flock -n``): cron and
  robe run never dispatch one wizard at once. One loop thread runs them, one pass at a time,
  so what happened together is written together: a burst of results is one locked write of
  the queue file, a burst of saves one re-read.
- **The executors run in this process** (``robe.execute.Executor``, worker threads); agents
  are child processes in their own process groups, the built-in echo agent runs in-process.
  A result wakes the loop at once.
- **The other scheduled jobs** (report, checkpoint, self-monitor) run as the child process cron
  would run, under the same locks (``robe.engine.jobs``).
- **Watchdog** wakes the loop (``robe.engine.watch``): a person's save of a WORK-QUEUE.md (robe's
  own writes are told apart and wake nothing), a result another executor left in
  ``completed/``, an edit of fleet.yaml (reloaded; a broken one is reported and the last good
  one kept).

What a person sees (``robe.engine.progress``): one line per transition, each queue or
fleet.yaml error once with its file:line and hint (also in ``<fleet>/logs/run.json`` for
``robe status``), and with ``--progress`` a status line of running / queued / done / failed
per wizard and tasks per second.
"""

from .jobs import Options
from .loop import Engine, install_signal_handlers

__all__ = ["Engine", "Options", "install_signal_handlers"]
