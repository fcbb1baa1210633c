"""Text from outside (input files, file names, a model's answers) made safe to print.

A terminal obeys control characters: an escape sequence in a file name or an answer could
recolour, rewrite or hide what the tool prints. :func:`printable` shows every such character
as an escape (``\\x1b``, ``\\u202e``) instead, keeping newlines and tabs.
"""

from __future__ import annotations

import unicodedata

__all__ = ["printable"]

_KEPT = frozenset("\n\t")


def printable(text: str) -> str:
    """``text`` with every control or format character (Unicode categories Cc and Cf:
    escape sequences, carriage returns, bidirectional overrides) shown as a Python escape,
    but newlines and tabs."""
    return "".join(
        _escape(c) if c not in _KEPT and unicodedata.category(c) in ("Cc", "Cf") else c
        for c in text
    )


def _escape(character: str) -> str:
    code = ord(character)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"
