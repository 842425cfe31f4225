"""The monitor (task-monitor): reconcile results, reap leases, reports, git checkpoints."""
