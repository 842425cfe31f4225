"""robe.queue.patterns: regex programs kept between runs must compile to the same patterns."""

import marshal
import os
import re
import subprocess
import sys

from hypothesis import given, settings
from hypothesis import strategies as st

from robe.queue import cachefile, patterns, scan
from robe.queue.model import ID_PATTERN

SCANNER = [
    r"(#{1,6})(?:[ \t]+|$)",
    r"([-+*]|[0-9]{1,9}[.)])([ \t]+|$)",
    rf"({ID_PATTERN})(?=$|[\s:-]|\u2014|\u2013)",
    r"(?:\[[ xX]\][ \t]+)?[A-Za-z][A-Za-z0-9]*[-_]",
    r"[ \t]*(?::|\u2014|\u2013|-(?=[ \t]|$))?[ \t]*",
    r"(\*\*|`|\[|\()?([A-Za-z][A-Za-z0-9_-]*)(\*\*|`|\]|\))?",
    r"(?P<b1>\*\*|__)?(?P<key>[A-Za-z][A-Za-z0-9 _/-]{0,40}?)(?P<b2>\*\*|__)?:",
]


def _fresh(monkeypatch, tmp_path):
    monkeypatch.setenv("ROBE_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(patterns, "_programs", None)


def _same(a: re.Pattern, b: re.Pattern, s: str) -> None:
    assert (a.pattern, a.flags, a.groups, a.groupindex) == (b.pattern, b.flags, b.groups, b.groupindex)
    for pos in range(len(s) + 1):
        ma, mb = a.match(s, pos), b.match(s, pos)
        assert (ma and (ma.span(), ma.groups())) == (mb and (mb.span(), mb.groups()))
    assert a.sub("", s, count=1) == b.sub("", s, count=1)


@settings(max_examples=150, deadline=None)
@given(st.text("#-+*1234567890.) \t[]xX:_`TASKab\u2014\u2013\u00a0", max_size=16))
def test_a_kept_program_matches_as_re_compile_does(s):
    for p in SCANNER:
        _same(patterns.compile(p), re.compile(p), s)


def test_the_program_is_made_once_and_then_read_from_the_cache(monkeypatch, tmp_path):
    _fresh(monkeypatch, tmp_path)
    made = []
    real = patterns._program
    monkeypatch.setattr(patterns, "_program", lambda p: made.append(p) or real(p))
    first = patterns.compile(SCANNER[2])
    assert made == [SCANNER[2]] and os.path.exists(patterns._file())
    monkeypatch.setattr(patterns, "_programs", None)  # as a new process: only the file is left
    again = patterns.compile(SCANNER[2])
    assert made == [SCANNER[2]]
    _same(again, first, "TASK-12: x")


def test_a_new_process_compiles_without_re_s_parser(tmp_path):
    env = dict(os.environ, ROBE_CACHE_DIR=str(tmp_path))
    code = ("import re._parser, robe.queue.scan as s\n"
            "q = s.parse('# P1\\n\\n## TASK-2 Two\\n- Status: PENDING\\n\\n- [ ] TASK-1 PENDING one\\n')\n"
            "assert [t.title for t in q.tasks] == ['Two', 'one'], q\n"
            "print(re._parser.parse.__code__.co_name)\n")
    prime = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert prime.returncode == 0, prime.stderr
    # The second run: re's parser must not be called for the scanner's patterns.
    check = code.replace("import re._parser, robe.queue.scan as s\n",
                         "import re._parser\n"
                         "def refuse(*a, **k): raise AssertionError('compiled again: %r' % (a[:1],))\n"
                         "re._parser.parse = refuse\n"
                         "import robe.queue.scan as s\n")
    r = subprocess.run([sys.executable, "-c", check], env=env, capture_output=True, text=True)
    assert r.returncode == 0 and r.stdout.strip() == "refuse", r.stderr


def test_a_damaged_or_foreign_file_is_a_miss(monkeypatch, tmp_path):
    _fresh(monkeypatch, tmp_path)
    p = SCANNER[1]
    os.makedirs(os.path.dirname(patterns._file()), mode=0o700, exist_ok=True)
    for data in (b"junk", marshal.dumps((("another python",), {p: (0, [1, 2, 3], 2, {}, (None, None, None))})),
                 marshal.dumps((patterns._KEY, {p: (0, [99, 1, 2], 2, {}, (None, None, None))})),
                 marshal.dumps((patterns._KEY, {p: "not a program"}))):
        with open(patterns._file(), "wb") as f:
            f.write(data)
        os.chmod(patterns._file(), 0o600)
        monkeypatch.setattr(patterns, "_programs", None)
        _same(patterns.compile(p), re.compile(p), "- x 12) y")
    # The refused program was replaced by a good one.
    key, programs = marshal.loads(cachefile.read(patterns._file(), 1 << 20))
    assert key == patterns._KEY and programs[p] == patterns._program(p)


def test_a_cache_folder_that_cannot_be_written_is_only_slower(monkeypatch, tmp_path):
    blocked = tmp_path / "file-not-folder"
    blocked.write_text("")
    _fresh(monkeypatch, blocked)
    _same(patterns.compile(SCANNER[0]), re.compile(SCANNER[0]), "## x")



@settings(max_examples=300, deadline=None)
@given(st.text("AZaz09-_\n \u0661\u00c9\uff21/.", max_size=10))
def test_is_valid_id_is_the_id_pattern_without_a_kept_program(s):
    from robe.queue.model import is_valid_id

    assert is_valid_id(s) == bool(re.fullmatch(ID_PATTERN, s))
    assert is_valid_id("TASK-001") and is_valid_id("B2-7") and not is_valid_id("TASK-1/../../x")
