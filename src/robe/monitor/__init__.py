"""The monitor (task-monitor): reconcile results, reap leases, reports, git checkpoints.

| module      | owns                                                                        |
|-------------|-----------------------------------------------------------------------------|
| files       | listing a house, reading claims and results, moves into work/archive and    |
|             | completed/archive that never replace a file and finish an interrupted move  |
| reconcile   | one monitor run: fold results, reap dead claims, orphans, one queue write   |
|             | per file, events, archives (robe monitor / task-monitor)                    |
| report      | progress reports and the seed's success metrics (robe report, robe metrics) |
| checkpoint  | git checkpoints of a house or the fleet root, secret refusal, push          |
| history     | status transitions from checkpoint commits and the event log                |

GitPython is imported only inside checkpoint and history.
"""
