"""Text from outside (input files, file names, a model's answers) made safe to print.

A terminal obeys control characters: an escape sequence in a file name or an answer could
recolour, rewrite or hide what the tool prints. :func:`printable` shows every such character
as an escape (``\\x1b``, ``\\u202e``) instead, keeping newlines and tabs.

:func:`setting_label` writes a parameter setting as its overrides, for tables, figures and
messages alike.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence

__all__ = ["printable", "setting_label"]

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


def setting_label(keys: Sequence[str], values: Sequence[object]) -> str:
    """A parameter setting as overrides: ``"contagion=none, graph=ws"``; ``"all runs"``
    without keys; an unset parameter (None, NaN, NA) shows as ``default``.

    Example:
        >>> setting_label(["contagion", "graph"], ["none", None])
        'contagion=none, graph=default'
    """
    if not keys:
        return "all runs"
    import pandas as pd  # here, not at the top: every command line prints through this module

    shown = ("default" if pd.isna(v) else v for v in values)
    return ", ".join(f"{k}={v}" for k, v in zip(keys, shown, strict=True))
