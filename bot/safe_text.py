"""Making text that came from a member or a provider safe to log, print or show.

`one_line` escapes control characters and line breaks, so such text can neither
forge a log line nor drive a terminal (ANSI escapes, bells, carriage returns).
`member_reason` turns a provider's or the bot's detail into a short plain reason
for a channel: no markup, no server paths. `redact` removes configured secrets,
and each part of one made of parts (fal's `key-id:key-secret`).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

# Unicode categories never printed as they are: controls (C0, C1, DEL), format
# characters (bidi overrides, zero-width), line and paragraph separators.
_UNPRINTED = frozenset({"Cc", "Cf", "Zl", "Zp"})
_TAG = re.compile(r"<[^<>]{0,2000}>")
# An absolute POSIX path of two or more parts: the member gets the last part.
_ABSOLUTE_PATH = re.compile(r"(?<![\w.:/~-])(?:/[^\s/'\"<>]+){2,}")
_AUTH_IN_TEXT = re.compile(r"(?i)\b(bearer|key|token)\s+[A-Za-z0-9._:\-]{8,}")
# Parts of a secret shorter than this are not redacted on their own: too likely to be words.
_SECRET_PART_CHARS = 8
MEMBER_REASON_CHARS = 300


def one_line(text: str) -> str:
    """`text` with every control character, format character and line break escaped."""
    if text.isprintable():
        return text
    return "".join(_escaped(char) for char in text)


def _escaped(char: str) -> str:
    if char == " " or (unicodedata.category(char) not in _UNPRINTED and char.isprintable()):
        return char
    return repr(char)[1:-1] if ord(char) < 0x100 else f"\\u{ord(char):04x}"


def secret_parts(secrets: Iterable[str]) -> tuple[str, ...]:
    """Each secret, then each long enough part of a secret joined with `:`, longest first."""
    found: set[str] = set()
    for secret in secrets:
        if not secret:
            continue
        found.add(secret)
        found.update(part for part in secret.split(":") if len(part) >= _SECRET_PART_CHARS)
    return tuple(sorted(found, key=len, reverse=True))


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    for secret in secret_parts(secrets):
        text = text.replace(secret, "***")
    return _AUTH_IN_TEXT.sub(r"\1 ***", text)


def member_reason(text: str, limit: int = MEMBER_REASON_CHARS) -> str:
    """A short plain reason for a channel: markup dropped, paths cut to their file name, one line."""
    plain = _TAG.sub(" ", text) if _TAG.search(text) else text
    plain = _ABSOLUTE_PATH.sub(lambda found: found.group(0).rsplit("/", 1)[-1], plain)
    plain = one_line(" ".join(plain.split()))
    return plain if len(plain) <= limit else plain[: limit - 1] + "…"
