"""Git checkpoints of the houses (the seed's hourly commit, made safe), and ``robe history``.

| module  | owns                                                                        |
|---------|-----------------------------------------------------------------------------|
| commit  | a house (or the fleet root) as a repository, secret refusal, commit, push    |
| history | a task's transitions from checkpoint commits and the event log               |

GitPython is imported only when a checkpoint or a history is made.
"""

from .commit import CheckpointResult, Refused, checkpoint, checkpoint_fleet
from .history import history, lines

__all__ = ["CheckpointResult", "Refused", "checkpoint", "checkpoint_fleet", "history", "lines"]
