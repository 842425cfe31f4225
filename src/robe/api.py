"""``robe.Fleet``: a fleet of wizards as one Python object, the one the command line uses.

    >>> from robe import Fleet
    >>> fleet = Fleet.load()                    # --fleet, $ROBE_FLEET, or the nearest fleet.yaml
    >>> [t.id for t in fleet.tasks("ezra", ready=True)]
    ['TASK-001']
    >>> fleet.queue("ezra").add("Summarise the logs", priority="P1")
    >>> report = fleet.dispatch(["ezra"])       # what cron's openclaw-work does
    >>> fleet.execute_once(["ezra"])            # run the claims that are waiting, then return
    >>> fleet.monitor()                         # fold the results back into the queue
    >>> fleet.ask("allegro", "Which port?", asker="ezra")   # a question, answered in ezra's inbox

Each method is one of robe's jobs, run in this process with the same functions (and the
same locks) that cron's commands use.
"""

from __future__ import annotations

import datetime as _dt
from typing import Callable, Iterable

from . import ask as asking
from .checkpoint import CheckpointResult, checkpoint_fleet, history
from .clock import now as _now
from .dispatch import DispatchReport, dispatch, ready_for
from .doctor import Check, doctor
from .execute import Executor, Options
from .fleet import spend as _spend
from .fleet.config import FleetConfig, Wizard, load_fleet
from .fleet.status import WizardStatus, fleet_status
from .monitor import MonitorReport, monitor
from .queue import Task
from .queue.api import Queue
from .report import Report, compute_metrics, write_report
from .routing import queue_key, routed_tasks


def _quiet(_line: str) -> None:
    pass


class Fleet:
    """A fleet as fleet.yaml describes it: its wizards and queues, and robe's jobs on them."""

    def __init__(self, config: FleetConfig):
        self.config = config

    @classmethod
    def load(cls, path: str | None = None) -> "Fleet":
        """Read and validate fleet.yaml: ``path``, else $ROBE_FLEET, else the nearest fleet.yaml in
        this folder or above. FleetError (file:line: key: what; fix) when it is not usable."""
        return cls(load_fleet(path))

    def __repr__(self) -> str:
        return f"Fleet({self.config.path!r})"

    @property
    def path(self) -> str:
        return self.config.path

    @property
    def wizards(self) -> tuple[Wizard, ...]:
        return self.config.wizards

    def wizard(self, name: str) -> Wizard:
        """The wizard called ``name``; FleetError (with the names there are) if none is."""
        return self.config.wizard(name)

    # -- queues
    def queue(self, wizard: str | None = None) -> Queue:
        """The queue file ``wizard`` reads (the first wizard's when None), with the fleet's
        default priority and its wizards as the known assignees."""
        w = self.wizard(wizard) if wizard else self.config.wizards[0]
        return Queue(w.queue, default_priority=self.config.default_priority, known_assignees=self.config.names)

    def queues(self) -> list[Queue]:
        """Every queue file of the fleet, once each (wizards may share one)."""
        seen = {}
        for w in self.config.wizards:
            seen.setdefault(queue_key(w.queue), w.name)
        return [self.queue(name) for name in seen.values()]

    def tasks(self, wizard: str, *, ready: bool = False, path: str | None = None) -> list[Task]:
        """The tasks of ``wizard``'s queue (or of the file at ``path``) that route to it, in file
        order; with ``ready``, what a dispatch run would take for it next, in that order."""
        snap = Queue(path or self.wizard(wizard).queue, default_priority=self.config.default_priority).read()
        return ready_for(self.config, snap, wizard) if ready else routed_tasks(self.config, snap, wizard)

    # -- robe's jobs
    def dispatch(self, wizards: Iterable[str] | None = None, *, dry_run: bool = False, max_claims: int | None = None,
                 gateway: bool = True, out: Callable[[str], None] = _quiet, err: Callable[[str], None] = _quiet,
                 note: Callable[[str], None] | None = None) -> DispatchReport:
        """Claim the next ready tasks (the seed's openclaw-work) for ``wizards`` (all when None).
        ``out`` gets a line per claim, ``err`` the diagnostics, ``note`` the routine ones (busy,
        at capacity, nothing ready; default: ``err``)."""
        return dispatch(self.config, list(wizards) if wizards else None, dry_run=dry_run, max_claims=max_claims,
                        gateway=gateway, out=out, err=err, note=note)

    def execute_once(self, wizards: Iterable[str] | None = None, options: Options | None = None) -> list[dict]:
        """Run every claim waiting in the wizards' work/ folders with their agents, write the
        results, and return their outcomes (the seed's Hermes side, once)."""
        chosen = [self.wizard(n) for n in wizards] if wizards else list(self.config.wizards)
        return Executor(chosen, options, default_priority=self.config.default_priority).run(once=True)

    def cancel(self, task_id: str, *, reason: str = "", wizard: str | None = None):
        """Cancel a task: BLOCKED in its queue, and its running agent stopped (robe cancel)."""
        from .cancel import cancel

        return cancel(self.config, task_id, reason=reason, wizard=wizard)

    def monitor(self, wizards: Iterable[str] | None = None, *, now: _dt.datetime | None = None,
                out: Callable[[str], None] = _quiet, err: Callable[[str], None] = _quiet, **kwargs) -> MonitorReport:
        """Fold results into the queues, reap dead claims, archive (the seed's task-monitor)."""
        return monitor(self.config, list(wizards) if wizards else None, now=now, out=out, err=err, **kwargs)

    def report(self, wizards: Iterable[str] | None = None, *, now: _dt.datetime | None = None) -> Report:
        """Write a progress report (the seed's progress-report) and return it."""
        rep, _paths = write_report(self.config, list(wizards) if wizards else None, now=now)
        return rep

    def metrics(self, wizards: Iterable[str] | None = None) -> list[dict]:
        """The seed's success metrics against their targets."""
        return compute_metrics(self.config, list(wizards) if wizards else None)

    def checkpoint(self, wizards: Iterable[str] | None = None, *, root: bool = False,
                   push: bool = False) -> list[CheckpointResult]:
        """Commit what changed in each house (or the fleet folder, with ``root``) to git."""
        return checkpoint_fleet(self.config, list(wizards) if wizards else None, root=root, push=push)

    def history(self, task_id: str | None = None) -> list[dict]:
        """A task's transitions (all tasks' when None), from checkpoints and the event logs."""
        return history(self.config, task_id)

    def ask(self, wizard: str, question: str, *, asker: str | None = None, task_id: str | None = None,
            priority: str = asking.ASK_PRIORITY, wait: float | None = None) -> asking.Ticket | dict:
        """Ask ``wizard`` a question (robe ask) as ``asker`` (a wizard; you when None): a task in its
        queue. The Ticket; with ``wait`` (seconds), the answer's message once it comes
        (AskTimeout when it does not). AskError when the question would loop or flood."""
        ticket = asking.ask(self.config, wizard, question, asker=asker, task_id=task_id, priority=priority)
        return ticket if wait is None else asking.wait(self.config, ticket, wait)

    def inbox(self, wizard: str | None = None, *, include_read: bool = False, mark_read: bool = True) -> list[dict]:
        """The answers in ``wizard``'s inbox (yours, the fleet's inbox/, when None), oldest first."""
        return asking.inbox(self.config, wizard, include_read=include_read, mark_read=mark_read)

    def spend(self, wizards: Iterable[str] | None = None, *, since: _dt.datetime | None = None,
              now: _dt.datetime | None = None, attempts: bool = False) -> dict:
        """Tokens, cost and agent time per wizard since ``since`` (default: 24 hours ago), today's
        spend against each budget, and who is paused (robe spend --json)."""
        moment = now or _now()
        return _spend.summary(self.config, list(wizards) if wizards else None,
                              since=since or moment - _dt.timedelta(hours=24), now=moment, with_attempts=attempts)

    def status(self, wizards: Iterable[str] | None = None) -> list[WizardStatus]:
        """Each wizard's state (Robed, Unrobed, Lobster, Dead), queue counts and claims."""
        return fleet_status(self.config, list(wizards) if wizards else None)

    def doctor(self) -> list[Check]:
        """The seed's troubleshooting table as checks."""
        return doctor(self.config.path)
