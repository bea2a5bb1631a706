"""The one rule for text that enters Trygg from outside: which characters are refused. Pure.

Control characters (C0 and DEL) have no place in names, addresses or comments, and some do
harm downstream: PostgreSQL refuses a NUL in any text, XML 1.0 cannot carry most of them,
and newlines forge log lines. Lone surrogates cannot be encoded as UTF-8 at all. So:

- a *line* (names, addresses, ids, values) refuses every C0 control, DEL and surrogate;
- a *text* (free-text descriptions, comments, notes) also allows tab, newline and carriage
  return.

The patterns are written so that pydantic's Rust regex, Python's ``re`` and JSON Schema's
ECMA-262 regex all read them alike (surrogates are not expressible in the first; pydantic
refuses them before any pattern runs, and the Python checks here refuse them too).
"""

from __future__ import annotations

import re
from typing import Final

LINE_PATTERN: Final = r"^[^\x00-\x1f\x7f]*$"
TEXT_PATTERN: Final = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f]*$"
_LINE_BAD: Final = re.compile("[\x00-\x1f\x7f\ud800-\udfff]")
_TEXT_BAD: Final = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")
# Escaped for storage and logs: everything a line refuses, plus the backslash itself, so an
# escaped text can never be mistaken for one that carried the escape sequence literally.
_ESCAPE: Final = re.compile("[\\\\\x00-\x1f\x7f\ud800-\udfff]")


def refusal(value: str, *, multiline: bool = False) -> str | None:
    """Why ``value`` is refused (naming the first bad character and its position), or None
    when it is acceptable as a line (or, with ``multiline``, as a text)."""
    bad = (_TEXT_BAD if multiline else _LINE_BAD).search(value)
    if bad is None:
        return None
    code = ord(bad.group())
    what = "surrogate" if 0xD800 <= code <= 0xDFFF else "control character"
    return f"{what} U+{code:04X} at position {bad.start()} is not allowed"


def is_clean(value: str, *, multiline: bool = False) -> bool:
    """True when :func:`refusal` has nothing to say about ``value``."""
    return (_TEXT_BAD if multiline else _LINE_BAD).search(value) is None


def _escaped(match: re.Match[str]) -> str:
    char = match.group()
    return "\\\\" if char == "\\" else f"\\u{ord(char):04x}"


def escape(value: str) -> str:
    """``value`` with backslashes, control characters and surrogates written as escapes
    (``\\u0000``): safe for SQL text columns, XML and a single log line."""
    return _ESCAPE.sub(_escaped, value)
