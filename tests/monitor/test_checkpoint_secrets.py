"""A checkpoint commits none of the secrets an adversarial run put in a house: every kind, far
into a file, in UTF-16, under the names credentials files have; and git log -p holds none."""

from __future__ import annotations

import subprocess

from robe.checkpoint.commit import checkpoint

from .helpers import write

# Made-up values in the shapes of real ones (none of them is a working credential).
AWS_ID = "AKIA" + "Q2W3E4R5T6Y7U8I9"
AWS_SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCY" + "Zx9Kq2Lm4N"
GHP = "ghp_" + "aB3dE5fG7hJ9kL1mN3pQ5rS7tU9vW1xY3z5A"
GH_PAT = "github_pat_11A" + "BCDEFG0123456789_abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUV012345"
SLACK = "xoxb-" + "123456789012-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx"
GOOGLE = "AIza" + "SyA-1234567890abcdefghijklmnopqrstu"
HF = "hf_" + "AbCdEfGhIjKlMnOpQrStUvWxYz0123456789"
JWT = ("eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9." "eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwiaWF0IjoxNTE2MjM5MDIyfQ."
       "SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c")
NETRC_PASSWORD = "n3trc-" + "Passw0rd-Value"
SK_FAR = "sk-proj-" + "Far1nto" * 5
SK_UTF16 = "sk-" + "Utf16Encoded" * 3
SECRETS = [AWS_ID, AWS_SECRET, GHP, GH_PAT, SLACK, GOOGLE, HF, JWT, NETRC_PASSWORD, SK_FAR, SK_UTF16]


def git_out(house, *args) -> bytes:
    return subprocess.run(["git", "-C", str(house), *args], capture_output=True, check=True).stdout


def test_a_checkpoint_commits_none_of_the_secrets(one_wizard):
    s = one_wizard
    house = s.house()
    files = {
        "notes/aws.md": f"the access key id is {AWS_ID}\n",
        "notes/aws-secret.ini": f"[default]\naws_secret_access_key = {AWS_SECRET}\n",
        ".aws/credentials": f"[default]\naws_access_key_id = {AWS_ID}\naws_secret_access_key = {AWS_SECRET}\n",
        "notes/github.md": f"token {GHP}\n",
        "notes/github-fine.md": f"fine-grained: {GH_PAT}\n",
        ".git-credentials": f"https://bob:{GHP}@github.com\n",
        "completed/archive/TASK-001.1.txt": f"The answer. Post it with {SLACK} in the header.\n",
        "notes/google.md": f"maps key={GOOGLE}\n",
        "notes/hf.md": f"HF token: {HF}\n",
        "notes/jwt.md": f"session {JWT}\n",
        ".netrc": f"machine api.example.com\n  login bob\n  password {NETRC_PASSWORD}\n",
        "notes/netrc-copy.txt": f"machine api.example.com login bob password {NETRC_PASSWORD}\n",
        "notes/far.md": "y" * (3 << 20) + f"\nthe key: {SK_FAR}\n",
    }
    for rel, text in files.items():
        write(house / rel, text)
    (house / "notes" / "utf16.md").write_bytes(f"notes in UTF-16\nkey: {SK_UTF16}\n".encode("utf-16"))
    with open(s.qpath, "a") as f:  # a person pasted a token into the queue itself
        f.write(f"\n### TASK-050: use the token {GHP} to open the PR\n- Status: BLOCKED\n")
    write(house / "notes" / "plain.md", "nothing secret here\n")
    warnings = []
    r = checkpoint(str(house), name="ezra", queues=(s.qpath,), warn=warnings.append)
    assert r.commit
    committed = git_out(house, "ls-tree", "-r", "--name-only", "HEAD").decode().split("\n")
    assert "notes/plain.md" in committed
    refused = {x.path for x in r.refused}
    expected = {rel for rel in files if not rel.startswith(".")} | {"notes/utf16.md", "WORK-QUEUE.md"}
    assert refused == expected  # the credentials files are kept out by .gitignore before any scan
    for rel in refused:  # every refused file is named in a warning
        assert any(f"not committing {rel}:" in w for w in warnings), rel
    log = git_out(house, "log", "-p", "--all")
    objects = git_out(house, "cat-file", "--batch-all-objects", "--batch")
    for secret in SECRETS:
        assert secret.encode() not in log and secret.encode() not in objects, secret
    assert SK_UTF16.encode("utf-16-le") not in objects
    assert not [p for p in committed if p.startswith((".aws", ".git-credentials", ".netrc"))]
