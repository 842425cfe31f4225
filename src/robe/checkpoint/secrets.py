"""What a checkpoint refuses to commit: a file that seems to hold a secret.

The detectors are Yelp's detect-secrets plugins (AWS keys, GitHub and GitLab tokens, Slack,
Stripe, JWTs, private keys, basic-auth URLs, ...; its entropy and public-IP detectors are
left out: an agent's answer is full of hashes and addresses) and a few of robe's own, written
as detect-secrets plugins, for what it does not know: Google API keys, Hugging Face tokens,
GitHub fine-grained tokens, ``sk-`` API keys, an AWS secret access key, ``.netrc`` and
``.git-credentials`` passwords, and ``NAME_KEY=value`` / ``key: value`` assignments.

Every pattern of robe's own is bounded (no unbounded repeat before a literal it must find),
so a scan takes time in proportion to the file, whatever it holds. A file is scanned whole,
in every encoding robe can read it in: as UTF-8 (undecodable bytes
replaced), and, when it has a UTF-16 or UTF-32 byte order mark or NUL bytes between its
letters, as UTF-16 and UTF-32 too.
"""

from __future__ import annotations

import codecs
import re

from detect_secrets.core.plugins.util import get_mapping_from_secret_type_to_class
from detect_secrets.plugins.base import RegexBasedDetector

#: detect-secrets plugins robe does not use: they flag what every agent's answer holds
LEFT_OUT = ("Base64HighEntropyString", "HexHighEntropyString", "IPPublicDetector", "KeywordDetector")


class GoogleApiKeyDetector(RegexBasedDetector):
    secret_type = "Google API key"
    denylist = (re.compile(r"AIza[0-9A-Za-z_-]{35}"),)


class HuggingFaceTokenDetector(RegexBasedDetector):
    secret_type = "Hugging Face token"
    denylist = (re.compile(r"(?<![A-Za-z0-9_])hf_[A-Za-z0-9]{30,}"),)


class GitHubFineGrainedTokenDetector(RegexBasedDetector):
    secret_type = "GitHub token (github_pat_)"
    denylist = (re.compile(r"github_pat_[A-Za-z0-9_]{22,}"),)


class ApiKeyDetector(RegexBasedDetector):
    secret_type = "API key (sk-...)"
    denylist = (re.compile(r"(?<![A-Za-z0-9_-])sk-[A-Za-z0-9_-]{16,}"),)


class AwsSecretAccessKeyDetector(RegexBasedDetector):
    secret_type = "AWS secret access key"
    denylist = (re.compile(r"aws_secret_access_key[\"']?\s*[:=]\s*[\"']?[A-Za-z0-9/+=]{30,}", re.IGNORECASE),)


class NetrcPasswordDetector(RegexBasedDetector):
    secret_type = "password (.netrc)"
    denylist = (re.compile(r"(?:^|[ \t])(?:machine|login|default)[ \t]+\S{1,256}[^\n]{0,512}?\bpassword[ \t]+\S",
                           re.MULTILINE),
                re.compile(r"^[ \t]*password[ \t]+\S", re.MULTILINE))


class CredentialUrlDetector(RegexBasedDetector):
    secret_type = "password in a URL (.git-credentials)"
    denylist = (re.compile(r"(?<![a-z0-9+.-])[a-z][a-z0-9+.-]{0,15}://[^:/@\s]{1,256}:[^@/\s]{3,256}@[^\s/]", re.IGNORECASE),)


class KeyAssignmentDetector(RegexBasedDetector):
    secret_type = "key assignment (NAME_KEY=value)"
    denylist = (re.compile(r"^[ \t]*(?:export[ \t]+)?[A-Z][A-Z0-9_]{0,60}?(?:KEY|SECRET|TOKEN|PASSWORD|PASSWD)[A-Z0-9_]{0,60}"
                           r"[ \t]*=[ \t]*['\"]?[^\s'\"#]{4,}", re.MULTILINE),)


class YamlKeyDetector(RegexBasedDetector):
    secret_type = "key in YAML (key: value)"
    denylist = (re.compile(r"^[ \t]*(?:api_key|apikey|key|secret|token|password)[ \t]*:[ \t]*['\"]?"
                           r"[A-Za-z0-9_+/=.-]{16,}", re.MULTILINE),)


ROBE_DETECTORS = (GoogleApiKeyDetector, HuggingFaceTokenDetector, GitHubFineGrainedTokenDetector, ApiKeyDetector,
                  AwsSecretAccessKeyDetector, NetrcPasswordDetector, CredentialUrlDetector, KeyAssignmentDetector,
                  YamlKeyDetector)


def _detectors() -> list[RegexBasedDetector]:
    theirs = [cls() for cls in get_mapping_from_secret_type_to_class().values()
              if cls.__name__ not in LEFT_OUT and issubclass(cls, RegexBasedDetector)]
    return theirs + [cls() for cls in ROBE_DETECTORS]


DETECTORS = _detectors()
_BOMS = ((codecs.BOM_UTF32_LE, "utf-32-le"), (codecs.BOM_UTF32_BE, "utf-32-be"),
         (codecs.BOM_UTF16_LE, "utf-16-le"), (codecs.BOM_UTF16_BE, "utf-16-be"))


def texts(data: bytes) -> list[str]:
    """``data`` as text in every encoding robe can read it in."""
    out = [data.decode("utf-8", errors="replace")]
    if b"\0" in data:  # UTF-16 or UTF-32 (with or without a byte order mark), or binary
        for bom, codec in _BOMS:
            if data.startswith(bom):
                out.append(data[len(bom):].decode(codec, errors="replace"))
                break
        else:
            for codec in ("utf-16-le", "utf-16-be", "utf-32-le", "utf-32-be"):
                out.append(data[: len(data) - len(data) % 4].decode(codec, errors="replace"))
    return out


def secret_in(data: bytes) -> str | None:
    """What kind of secret the bytes ``data`` seem to hold, or None."""
    for text in texts(data):
        for detector in DETECTORS:
            if next(iter(detector.analyze_string(text)), None) is not None:
                return detector.secret_type
    return None


def clean(datas: list[bytes]) -> bool:
    """True when none of ``datas`` holds a secret, searching the UTF-8 ones in one go: joined by
    newlines, they hold a match whenever one of them does. False means one of them may: the
    caller then looks at each alone (a match that only the join makes costs that, nothing more)."""
    plain = [d for d in datas if b"\0" not in d]
    return secret_in(b"\n".join(plain)) is None and all(secret_in(d) is None for d in datas if b"\0" in d)
