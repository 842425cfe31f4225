"""robe's command line: a thin click layer over the library (``robe.Fleet``, ``robe.Queue``).

Each command parses its options, makes one call into the library, prints and exits: 0 success
(including "nothing to do"), 1 a failure, 2 a usage error. Command groups live in sibling
modules, loaded when their command is run (click's documented lazy-loading group), so
``robe --help`` does not import what only ``robe checkpoint`` needs.
"""

from __future__ import annotations

import importlib

import click

from .. import __version__
from ..errors import RobeError
from .common import examples, sentence

#: command name -> "module:attribute", imported on first use.
COMMANDS = {
    "queue": "robe.cli.queue:queue",
    "init": "robe.cli.fleet:init",
    "wizard": "robe.cli.fleet:wizard",
    "gateway": "robe.cli.fleet:gateway",
    "status": "robe.cli.fleet:status",
    "doctor": "robe.cli.fleet:doctor",
    "dispatch": "robe.cli.dispatch:dispatch",
    "cancel": "robe.cli.dispatch:cancel",
    "execute": "robe.cli.execute:execute",
    "cron": "robe.cli.cron:cron",
    "self-monitor": "robe.cli.cron:self_monitor",
    "run": "robe.cli.cron:run",
    "demo": "robe.cli.cron:demo",
    "monitor": "robe.cli.monitor:monitor",
    "report": "robe.cli.monitor:report",
    "metrics": "robe.cli.monitor:metrics",
    "checkpoint": "robe.cli.monitor:checkpoint",
    "history": "robe.cli.monitor:history",
    "answer": "robe.cli.queue:answer",
    "ask": "robe.cli.ask:ask",
    "inbox": "robe.cli.ask:inbox",
    "mcp": "robe.cli.mcp:mcp",
    "spend": "robe.cli.spend:spend",
    "dashboard": "robe.cli.dashboard:dashboard",
}


class LazyGroup(click.Group):
    def list_commands(self, ctx):
        return sorted(set(super().list_commands(ctx)) | set(COMMANDS))

    def get_command(self, ctx, name):
        if name in COMMANDS and name not in self.commands:
            module, attr = COMMANDS[name].split(":")
            self.add_command(getattr(importlib.import_module(module), attr), name)
        return super().get_command(ctx, name)

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except RobeError as e:
            raise click.ClickException(str(e)) from None
        except OSError as e:
            raise click.ClickException(sentence(e)) from None


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
             epilog=examples("robe demo", "robe queue list -w ezra --ready"))
@click.version_option(__version__, "-V", "--version", prog_name="robe", message="%(prog)s %(version)s")
def cli():
    """robe keeps a fleet of AI agents ("wizards") busy from a markdown file.

    A person writes tasks in WORK-QUEUE.md; robe dispatches them to wizards, runs their
    agents, folds results back into the file and keeps a history with git.

    \b
    Start with:
      robe demo                              the whole loop on a throwaway fleet
      robe init ~/wizards                    a fleet of your own
      robe queue validate -f WORK-QUEUE.md   check a queue
    """


def main(argv=None):
    return cli.main(args=argv, prog_name="robe")


def openclaw_work(argv=None):
    """The seed's ``openclaw-work``: the same command and options as ``robe dispatch``."""
    from .dispatch import dispatch

    return dispatch.main(args=argv, prog_name="openclaw-work")


def task_monitor(argv=None):
    """The seed's ``task-monitor``: the same command and options as ``robe monitor``."""
    from .monitor import monitor

    return monitor.main(args=argv, prog_name="task-monitor")


def progress_report(argv=None):
    """The seed's ``progress-report``: the same command and options as ``robe report``."""
    from .monitor import report

    return report.main(args=argv, prog_name="progress-report")
