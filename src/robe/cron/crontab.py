"""The schedule as cron lines in the user's crontab, or as systemd user timers.

robe's lines live in one block between two marker lines that name the fleet; everything
outside the block (other people's jobs, comments, ``MAILTO=``, blank lines, a missing final
newline) is kept byte for byte. Inside the block each wizard has its own section, so
``--wizard W`` replaces or removes only W's lines.

Each line is self-contained because cron's environment is bare: absolute paths, ROBE_FLEET
and the installer's PATH set on the line itself (not as crontab variables, which would also
change the lines of others below the block), and output appended to the wizard's
``logs/cron.log``. Overlap is prevented with util-linux's ``flock -n`` on
``<house>/logs/cron-<job>.lock``: a run that finds the previous one still going exits at
once. ``robe run`` takes the same lock, so cron and robe run never overlap either.
"""

from __future__ import annotations

import fcntl
import os
import shlex
import shutil
import subprocess
import tempfile
from dataclasses import dataclass

from croniter import croniter

from ..errors import RobeError
from ..fleet.checks import OK, WARN, Check
from .schedule import JOBS, Entry, check_expr, fleet_schedule, robe_command

BEGIN = "# BEGIN robe "
END = "# END robe "
SECTION = "# robe wizard: "
NOTE = "# managed by 'robe cron install': change the schedule in fleet.yaml, then run it again"


class CronError(RobeError):
    """The crontab could not be read or written."""


def lock_file(house: str, job: str) -> str:
    return os.path.join(house, "logs", f"cron-{job}.lock")


def cron_log(house: str) -> str:
    return os.path.join(house, "logs", "cron.log")


def flock_path() -> str:
    p = shutil.which("flock") or ("/usr/bin/flock" if os.path.exists("/usr/bin/flock") else None)
    if not p:
        raise CronError("flock was not found; install util-linux (it prevents two runs of one job at once)")
    return os.path.abspath(p)


def _q(s: str) -> str:
    # cron turns an unescaped % into a newline
    return shlex.quote(s).replace("%", "\\%")


def job_argv(fleet, entry: Entry) -> list[str]:
    """The command cron runs for ``entry`` (without the environment and redirection)."""
    w = fleet.wizard(entry.wizard)
    return [flock_path(), "-n", lock_file(w.house, entry.job)] + robe_command() + list(entry.args)


def env_for(fleet) -> dict[str, str]:
    """The variables each job gets: the fleet, and a PATH that finds robe, the agents and the
    gateways' commands as they are found by the person installing (cron's own PATH is bare)."""
    robe_bin = os.path.dirname(robe_command()[0])
    parts = [robe_bin] + os.environ.get("PATH", "/usr/bin:/bin").split(os.pathsep)
    path = os.pathsep.join(dict.fromkeys(p for p in parts if p))
    return {"ROBE_FLEET": fleet.path, "PATH": path}


def cron_line(fleet, entry: Entry) -> str:
    w = fleet.wizard(entry.wizard)
    env = " ".join(f"{k}={_q(v)}" for k, v in env_for(fleet).items())
    cmd = " ".join(_q(a) for a in job_argv(fleet, entry))
    return f"{entry.expr} {env} {cmd} >> {_q(cron_log(w.house))} 2>&1"


def sections(fleet, entries: list[Entry]) -> dict[str, list[str]]:
    """wizard -> its lines (section header included), in fleet order."""
    out: dict[str, list[str]] = {}
    for e in entries:
        out.setdefault(e.wizard, [f"{SECTION}{e.wizard}"]).append(cron_line(fleet, e))
    return out


# ---------------------------------------------------------------------------------------------
# The block inside a crontab's text


@dataclass(frozen=True)
class Split:
    before: str
    block: list[str] | None  # lines between the markers, None when there is no block
    after: str


def _split(text: str, fleet_path: str) -> Split:
    begin, end = f"{BEGIN}{fleet_path}", f"{END}{fleet_path}"
    lines = text.splitlines(keepends=True)
    start = stop = None
    for i, line in enumerate(lines):
        s = line.rstrip("\r\n")
        if start is None and s == begin:
            start = i
        elif start is not None and s == end:
            stop = i
            break
    if start is None:
        return Split(text, None, "")
    if stop is None:
        raise CronError(f"the crontab has the line '{begin}' but not '{end}'; fix the crontab by hand "
                        "('crontab -e') so robe knows where its lines end")
    body = [l.rstrip("\r\n") for l in lines[start + 1:stop]]
    return Split("".join(lines[:start]), body, "".join(lines[stop + 1:]))


def _parse_sections(block: list[str]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    current = None
    for line in block:
        if line.startswith(SECTION):
            current = line[len(SECTION):].strip()
            out[current] = [line]
        elif current is not None:
            out[current].append(line)
    return out


def _join(split: Split, body: list[str] | None, fleet_path: str) -> str:
    if not body:
        return split.before + split.after
    before = split.before
    if before and not before.endswith("\n"):
        before += "\n"  # a crontab whose last line had no newline: cron needs one before ours
    block = [f"{BEGIN}{fleet_path}", NOTE] + body + [f"{END}{fleet_path}"]
    return before + "\n".join(block) + "\n" + split.after


def merge(text: str, fleet, new: dict[str, list[str]], wizards=None) -> str:
    """``text`` with the fleet's block holding ``new``'s sections; with ``wizards``, other
    wizards' sections already in the block stay."""
    split = _split(text, fleet.path)
    have = _parse_sections(split.block or [])
    if wizards:
        merged = {n: have[n] for n in have if n not in new}
        merged.update(new)
    else:
        merged = dict(new)
    order = [n for n in fleet.names if n in merged] + [n for n in merged if n not in fleet.names]
    body = [line for n in order for line in merged[n]]
    return _join(split, body, fleet.path)


def strip(text: str, fleet, wizards=None) -> str:
    """``text`` without the fleet's block (or, with ``wizards``, without their sections)."""
    split = _split(text, fleet.path)
    if split.block is None:
        return text
    if not wizards:
        return split.before + split.after
    have = _parse_sections(split.block)
    body = [line for n, lines in have.items() if n not in wizards for line in lines]
    return _join(split, body, fleet.path)


# ---------------------------------------------------------------------------------------------
# The real crontab


def _crontab_bin() -> str:
    p = shutil.which("crontab") or ("/usr/bin/crontab" if os.path.exists("/usr/bin/crontab") else None)
    if not p:
        raise CronError("the crontab command was not found; install cron (Debian: 'apt-get install cron'), "
                        "or use 'robe cron install --systemd', or run the schedule with 'robe run'")
    return p


def read_crontab(user: str | None = None) -> str:
    argv = [_crontab_bin()] + (["-u", user] if user else []) + ["-l"]
    r = subprocess.run(argv, capture_output=True, timeout=30)
    if r.returncode != 0:
        msg = r.stderr.decode("utf-8", "replace").strip()
        if "no crontab" in msg.lower():
            return ""
        raise CronError(f"'crontab -l' failed: {msg or 'exit ' + str(r.returncode)}")
    return r.stdout.decode("utf-8", "surrogateescape")


def write_crontab(text: str, user: str | None = None) -> None:
    argv = [_crontab_bin()] + (["-u", user] if user else []) + ["-"]
    r = subprocess.run(argv, input=text.encode("utf-8", "surrogateescape"), capture_output=True, timeout=30)
    if r.returncode != 0:
        msg = r.stderr.decode("utf-8", "replace").strip()
        raise CronError(f"'crontab -' refused the new crontab: {msg or 'exit ' + str(r.returncode)}")


class _CrontabLock:
    """One robe at a time edits a user's crontab (read, merge, write is not atomic in cron)."""

    def __init__(self, user: str | None):
        who = user or str(os.getuid())
        self.path = os.path.join(tempfile.gettempdir(), f"robe-crontab-{who}.lock")
        self.fd = -1

    def __enter__(self):
        self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        fcntl.flock(self.fd, fcntl.LOCK_EX)
        return self

    def __exit__(self, *exc):
        os.close(self.fd)


def install(fleet, entries: list[Entry], wizards=None, user: str | None = None) -> tuple[str, bool]:
    """Merge the schedule into the crontab; (the new crontab, whether it changed)."""
    with _CrontabLock(user):
        old = read_crontab(user)
        new = merge(old, fleet, sections(fleet, entries), wizards)
        if new != old:
            write_crontab(new, user)
    for w in {e.wizard for e in entries}:
        os.makedirs(fleet.wizard(w).logs_dir, mode=0o700, exist_ok=True)
    return new, new != old


def remove(fleet, wizards=None, user: str | None = None) -> bool:
    with _CrontabLock(user):
        old = read_crontab(user)
        new = strip(old, fleet, wizards)
        if new == old:
            return False
        write_crontab(new, user)
        return True


# ---------------------------------------------------------------------------------------------
# systemd user timers

_DOW = ("Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat")
_MACRO = {"@yearly": "0 0 1 1 *", "@annually": "0 0 1 1 *", "@monthly": "0 0 1 * *", "@weekly": "0 0 * * 0",
          "@daily": "0 0 * * *", "@midnight": "0 0 * * *", "@hourly": "0 * * * *"}


def on_calendar(expr: str) -> list[str]:
    """systemd OnCalendar= values that fire when the cron expression does.

    Each field is expanded by croniter into its values; cron ORs day-of-month and
    day-of-week when both are restricted, systemd ANDs them, so that case gives two lines.
    """
    e = _MACRO.get(expr.strip().lower(), expr.strip())
    if check_expr(e):
        raise CronError(check_expr(e))
    minute, hour, dom, month, dow = croniter(e).expanded[:5]

    def vals(v, full):
        return "*" if v == ["*"] or list(v) == list(full) else ",".join(f"{int(x):02d}" for x in v)

    m = vals(minute, range(60))
    h = vals(hour, range(24))
    d = vals(dom, range(1, 32))
    mo = vals(month, range(1, 13))
    days = sorted({int(x) % 7 for x in dow}) if dow != ["*"] else None
    w = None if days is None or days == list(range(7)) else ",".join(_DOW[x] for x in days)
    stamp = f"{h}:{m}:00"
    if w and d != "*":
        return [f"*-{mo}-{d} {stamp}", f"{w} *-{mo}-* {stamp}"]
    return [f"{w + ' ' if w else ''}*-{mo}-{d} {stamp}"]


def unit_name(entry: Entry) -> str:
    return f"robe-{entry.wizard}-{entry.job}"


def _sd_quote(s: str) -> str:
    s = s.replace("%", "%%")
    if any(c in s for c in " \t\"'\\;$"):
        return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return s


def unit_texts(fleet, entry: Entry) -> tuple[str, str]:
    w = fleet.wizard(entry.wizard)
    mark = f"# written by 'robe cron install --systemd' for {fleet.path}"
    env = "\n".join(f"Environment={_sd_quote(f'{k}={v}')}" for k, v in env_for(fleet).items())
    log = cron_log(w.house).replace("%", "%%")
    service = (f"{mark}\n[Unit]\nDescription=robe {entry.job} for wizard {w.name}\n\n[Service]\nType=oneshot\n"
               f"{env}\nWorkingDirectory={_sd_quote(w.house)}\n"
               f"ExecStart={' '.join(_sd_quote(a) for a in job_argv(fleet, entry))}\n"
               f"StandardOutput=append:{log}\nStandardError=append:{log}\n")
    cal = "\n".join(f"OnCalendar={c}" for c in on_calendar(entry.expr))
    timer = (f"{mark}\n[Unit]\nDescription=robe {entry.job} for wizard {w.name} ({entry.expr})\n\n[Timer]\n"
             f"{cal}\nPersistent=true\nUnit={unit_name(entry)}.service\n\n[Install]\nWantedBy=timers.target\n")
    return service, timer


def default_unit_dir() -> str:
    base = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    return os.path.join(base, "systemd", "user")


def install_systemd(fleet, entries: list[Entry], unit_dir: str | None = None) -> list[str]:
    """Write a service and a timer per entry; the paths written."""
    d = unit_dir or default_unit_dir()
    os.makedirs(d, exist_ok=True)
    written = []
    for e in entries:
        service, timer = unit_texts(fleet, e)
        for suffix, text in ((".service", service), (".timer", timer)):
            p = os.path.join(d, unit_name(e) + suffix)
            tmp = p + ".tmp"
            with open(tmp, "w", encoding="utf-8") as f:
                f.write(text)
            os.replace(tmp, p)
            written.append(p)
        os.makedirs(fleet.wizard(e.wizard).logs_dir, mode=0o700, exist_ok=True)
    return written


def remove_systemd(fleet, wizards=None, unit_dir: str | None = None) -> list[str]:
    d = unit_dir or default_unit_dir()
    mark = f"# written by 'robe cron install --systemd' for {fleet.path}\n"
    removed = []
    try:
        names = sorted(os.listdir(d))
    except FileNotFoundError:
        return removed
    for n in names:
        if not n.startswith("robe-") or not n.endswith((".service", ".timer")):
            continue
        if wizards and n.rsplit(".", 1)[0] not in {f"robe-{w}-{j}" for w in wizards for j in JOBS}:
            continue
        p = os.path.join(d, n)
        try:
            with open(p, encoding="utf-8") as f:
                first = f.readline()
        except OSError:
            continue
        if first == mark:
            os.unlink(p)
            removed.append(p)
    return removed


# ---------------------------------------------------------------------------------------------
# robe doctor's cron check (the seed's "tasks not dispatching: check cron")


def doctor_checks(fleet, user: str | None = None) -> list:
    """One check per wizard: are its scheduled jobs in the crontab, as fleet.yaml says them?

    WARN, not FAIL, when they are missing: ``robe run`` or systemd timers may run the schedule.
    """
    try:
        installed = _split(read_crontab(user), fleet.path).block
    except CronError as e:
        return [Check(WARN, "fleet", "cron", str(e),
                      "install cron and run 'robe cron install', or run the schedule with 'robe run'")]
    want = sections(fleet, fleet_schedule(fleet))
    have = _parse_sections(installed or [])
    checks = []
    for w in fleet.wizards:
        lines = want.get(w.name, [])
        if not lines:
            checks.append(Check(OK, w.name, "cron", "no scheduled jobs (all turned off in fleet.yaml)"))
        elif w.name not in have:
            checks.append(Check(WARN, w.name, "cron", "no cron entries: its tasks are dispatched only while "
                                "'robe run' runs", "install them with 'robe cron install'"))
        elif have[w.name] != lines:
            checks.append(Check(WARN, w.name, "cron", "the crontab's lines differ from fleet.yaml's schedule",
                                "run 'robe cron install' again to bring them in step"))
        else:
            checks.append(Check(OK, w.name, "cron", f"cron runs its {len(lines) - 1} jobs"))
    return checks
