"""The schedule: crontab and systemd install, and the embedded scheduler (robe run)."""
