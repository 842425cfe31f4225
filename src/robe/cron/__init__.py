"""The schedule: the seed's cron table per wizard, its crontab and systemd install, the
embedded scheduler (robe run), self-monitor and the demo.

| module      | owns                                                                       |
|-------------|----------------------------------------------------------------------------|
| schedule    | jobs, defaults, overrides from fleet.yaml, cron expressions (croniter)      |
| crontab     | the managed block in the user's crontab; systemd user timers and services   |
| runner      | robe run: executors in-process, jobs as child processes, file events        |
| selfmonitor | robe self-monitor: services, gateways, executors, logs/uptime.jsonl          |
| demo        | robe demo: a throwaway fleet of the seed's three wizards, drained            |
| demo_queue  | a copy of examples/WORK-QUEUE.md for installed wheels                        |
"""
