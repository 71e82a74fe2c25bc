"""One policy for the text users give, and one way to print any text (decision 0024).

Every name a user gives (annotator, category, synonym, split, ...) goes through
:func:`clean` on its way in: NFC, no NUL and no control characters (tab and newline
only in multi-line text), and a length limit that both backends hold (PostgreSQL's
``varchar(n)`` columns set the short ones), so that a SQLite project can always be
migrated to PostgreSQL. :func:`problem` says what is wrong without raising, for
``migrate``'s check of every row.

Everything printed to a terminal passes through :func:`for_terminal`, which shows
control characters (ESC, BEL, NUL, the C1 range, bidi overrides) as escapes instead of
letting them act on the terminal.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

from .errors import LongtailError


class TextPolicyError(LongtailError):
    """A name or text that breaks the policy; the message says which and why."""


@dataclass(frozen=True)
class TextRule:
    what: str  # how a message names the field: "annotator name"
    max_length: int
    multiline: bool = False
    required: bool = True


# The limits both backends hold: the varchar(n) of pipeline/store/schema.py where there is one.
RULES: dict[str, TextRule] = {
    "annotator": TextRule("annotator name", 128),
    "split": TextRule("split", 32),
    "category": TextRule("category name", 256),
    "synonym": TextRule("synonym", 256),
    "synset": TextRule("synset", 256, required=False),
    "definition": TextRule("definition", 4096, multiline=True, required=False),
    "file_name": TextRule("file name", 4096),
    "path": TextRule("path", 4096),
    "reason": TextRule("reason", 4096, multiline=True, required=False),
    "model": TextRule("model name", 256),
    "setting": TextRule("setting value", 4096, multiline=True, required=False),
}

# Invisible characters that reorder or hide text (Trojan Source): refused in names,
# escaped on a terminal.
_BIDI = set("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c")


def problem(kind: str, value: object) -> str | None:
    """What breaks the policy for ``kind`` in ``value`` (None when it is fine). The
    value is judged after NFC, as :func:`clean` would store it."""
    rule = RULES[kind]
    if value is None:
        return f"the {rule.what} is missing" if rule.required else None
    if not isinstance(value, str):
        return f"the {rule.what} is not text ({type(value).__name__})"
    if (
        len(value) <= rule.max_length
        and value.isprintable()  # no control, format (bidi) or separator character
        and (not rule.required or value.strip())
        and unicodedata.is_normalized("NFC", value)
    ):
        return None  # the common case, without a loop over the characters
    text = unicodedata.normalize("NFC", value)
    if rule.required and not text.strip():
        return f"the {rule.what} is empty"
    if len(text) > rule.max_length:
        return f"the {rule.what} has {len(text)} characters (at most {rule.max_length})"
    for position, char in enumerate(text):
        if char == "\0":
            return f"the {rule.what} holds a NUL character (at {position})"
        if _is_control(char) and not (rule.multiline and char in "\t\n\r"):
            return f"the {rule.what} holds the control character {_escape(char)} (at {position})"
    return None


def clean(kind: str, value: str, *, where: str = "") -> str:
    """``value`` in NFC, or TextPolicyError ("WHERE: the annotator name ... ")."""
    reason = problem(kind, value)
    if reason is not None:
        shown = for_terminal(str(value)[:60]) + ("…" if len(str(value)) > 60 else "")
        raise TextPolicyError(f"{where + ': ' if where else ''}{reason}: {shown!r}")
    return unicodedata.normalize("NFC", value)


def _is_control(char: str) -> bool:
    return unicodedata.category(char) in ("Cc", "Cf") and (
        char in _BIDI or unicodedata.category(char) == "Cc"
    )


def _escape(char: str) -> str:
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def for_terminal(text: object) -> str:
    """``text`` safe to print: every control character (but newline and tab) and every
    bidi override shown as an escape (ESC as ``\\x1b``), so nothing reaches the
    terminal that sets a title, clears the screen or rings the bell."""
    value = str(text)
    if value.isprintable():  # the common case, fast
        return value
    return "".join(
        _escape(c) if (c not in "\n\t" and _is_control(c)) or c == "\r" else c for c in value
    )
