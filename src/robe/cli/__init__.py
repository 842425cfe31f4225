"""robe's command line: a thin click layer over the library.

Command groups live in sibling modules and are imported only when invoked, so
``robe --version`` and ``robe --help`` stay fast (git, watchdog and mistune are heavy).
"""

from __future__ import annotations

import importlib
import os
import sys

import click

from .. import __version__

#: command name -> "module:attribute", imported on first use.
COMMANDS = {
    "queue": "robe.cli.queue:queue",
    "init": "robe.cli.fleet:init",
    "wizard": "robe.cli.fleet:wizard",
    "gateway": "robe.cli.fleet:gateway",
    "status": "robe.cli.fleet:status",
    "doctor": "robe.cli.fleet:doctor",
    "dispatch": "robe.cli.dispatch:dispatch",
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
}


def _short_options_without_difflib() -> None:
    """Let click match ``-f`` without importing difflib.

    click tries every option as a long one first; when ``-f`` is not one, it builds a "did
    you mean" list with difflib (importing it: ~3 M instructions, ~1.5 ms a command here),
    then drops that error and matches the short option. For such an argument (one that does
    not begin with a two-character prefix such as ``--``, so the short match always follows)
    the first miss is raised without the suggestions nobody sees. A mistyped long option
    still gets them. Skipped if this click's parser is not shaped as expected.
    """
    from click import parser

    cls = getattr(parser, "_OptionParser", None) or getattr(parser, "OptionParser", None)
    match = getattr(cls, "_match_long_opt", None)
    if match is None or getattr(match, "_robe", False):
        return

    def _match_long_opt(self, opt, explicit_value, state):
        if opt not in self._long_opt and opt[:2] not in self._opt_prefixes:
            raise click.NoSuchOption(opt, ctx=self.ctx)
        return match(self, opt, explicit_value, state)

    _match_long_opt._robe = True
    cls._match_long_opt = _match_long_opt


_short_options_without_difflib()


class LazyGroup(click.Group):
    def list_commands(self, ctx):
        return sorted(set(super().list_commands(ctx)) | set(COMMANDS))

    def get_command(self, ctx, name):
        if name in COMMANDS and name not in self.commands:
            module, attr = COMMANDS[name].split(":")
            self.add_command(getattr(importlib.import_module(module), attr), name)
        return super().get_command(ctx, name)

    def invoke(self, ctx):
        from ..errors import RobeError
        from ..queue.model import QueueError

        try:
            return super().invoke(ctx)
        except (QueueError, RobeError) as e:
            raise click.ClickException(str(e)) from None
        except OSError as e:
            # Anything the library did not turn into a sentence: still one line, exit 1.
            raise click.ClickException(f"{e.strerror or e}{': ' + e.filename if e.filename else ''}") from None


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, "-V", "--version", prog_name="robe", message="%(prog)s %(version)s")
def cli():
    """robe keeps a fleet of AI agents ("wizards") busy from a markdown file.

    A person writes tasks in WORK-QUEUE.md; robe dispatches them to wizards, runs their
    agents, folds results back into the file and keeps a history with git.

    \b
    Start with:
      robe queue validate -f WORK-QUEUE.md   check a queue
      robe queue list -f WORK-QUEUE.md       see what is in it
    """


def _run(command, argv, prog_name: str):
    """Run a click command; from a console script (``argv`` None), end without teardown.

    A Python interpreter's teardown (freeing every object, one by one) took 8-10 ms of
    ``robe --version`` here and ~16 ms of a dispatch that has parsed 1,000 tasks: a third of
    the command's own work, paid by every cron run for nothing. So once the command is done,
    a console script flushes stdout and stderr, runs the atexit handlers (logging and the
    like) and ends with os._exit. Whenever that is not plainly safe (a flush fails, as on a
    closed pipe; a thread still runs; an exit with a message) it exits the usual way.
    Called with ``argv`` (from Python, from tests) it behaves like click's ``main``.
    """
    if argv is not None:
        return command.main(args=argv, prog_name=prog_name)
    try:
        command.main(args=None, prog_name=prog_name)
        code = 0
    except SystemExit as e:
        code = e.code
    if code is None:
        code = 0
    import atexit

    threads = sys.modules.get("threading")
    run_exitfuncs = getattr(atexit, "_run_exitfuncs", None)
    if (not isinstance(code, int) or run_exitfuncs is None
            or (threads is not None and threads.active_count() > 1)):
        sys.exit(code)
    run_exitfuncs()  # runs and clears them: the usual exit below would not run them twice
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except Exception:
        sys.exit(code)  # the interpreter reports it as it always does
    os._exit(code & 0xFF)


def main(argv=None):
    return _run(cli, argv, "robe")


def _not_yet(name: str):
    def run():
        click.echo(f"{name}: not yet available in robe {__version__}; run 'robe --help' for what is", err=True)
        sys.exit(1)
    return run


def openclaw_work(argv=None):
    """The seed's ``openclaw-work``: the same command and options as ``robe dispatch``."""
    from .dispatch import dispatch

    return _run(dispatch, argv, "openclaw-work")


def task_monitor(argv=None):
    """The seed's ``task-monitor``: the same command and options as ``robe monitor``."""
    from .monitor import monitor

    return _run(monitor, argv, "task-monitor")


def progress_report(argv=None):
    """The seed's ``progress-report``: the same command and options as ``robe report``."""
    from .monitor import report

    return _run(report, argv, "progress-report")
