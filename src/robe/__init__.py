"""robe: a file-based, cron-driven work-queue orchestrator for a fleet of AI agents."""

__version__ = "0.1.0"
