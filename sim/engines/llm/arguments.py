"""Tool-call arguments, parsed and type- and range-checked before any tool runs.

Arguments arrive as the raw JSON text a model wrote. Text that is not a JSON object is
*unparseable*; an object with unknown, missing, mistyped, out-of-range or oversized
values is an *invalid* call; either way nothing runs.
"""

from __future__ import annotations

import json
import re
from datetime import datetime

from sim.engines.llm.prompts import CONFIG_TYPES, TOOL_SPECS, argument_kind

__all__ = ["MAX_PATH", "InvalidCall", "check_arguments", "parse_arguments", "show"]

MAX_PATH, MAX_TEXT, MAX_ARGS = 1024, 4096, 2_000_000
_PATH_BAD = re.compile(r"[\x00-\x1f\x7f]")


def show(value) -> str:
    """A short, printable rendering of a value for error texts."""
    plain = value is None or isinstance(value, str | int | float)
    text = json.dumps(value) if plain else type(value).__name__
    return text if len(text) <= 80 else text[:76] + '..."'


class InvalidCall(Exception):
    """Arguments that fail validation (counted as an invalid call)."""


def parse_arguments(arguments) -> dict | None:
    """The arguments as a dict, or None when they are not a JSON object (empty text: {})."""
    if not isinstance(arguments, str) or len(arguments) > MAX_ARGS:
        return None
    try:
        args = json.loads(arguments) if arguments.strip() else {}
    except (ValueError, RecursionError):
        return None
    return args if isinstance(args, dict) else None


def check_arguments(name: str, args: dict) -> dict:
    """``args`` validated against the tool's arguments; raises :class:`InvalidCall`."""
    _, required, optional = TOOL_SPECS[name]
    if extra := sorted(set(args) - set(required + optional)):
        raise InvalidCall(f"unexpected argument(s) for {name}: {', '.join(map(show, extra))}")
    if missing := [a for a in required if a not in args]:
        raise InvalidCall(f"missing argument(s) for {name}: {', '.join(missing)}")
    out = {}
    for arg, value in args.items():
        kind, bad = argument_kind(arg), None
        limit = MAX_PATH if kind == "path" else MAX_TEXT
        if kind == "score" and not (type(value) in (int, float) and 0 <= value <= 100):
            bad = "a number from 0 to 100"  # NaN and infinities fail the comparison
        elif kind == "key" and not (isinstance(value, str) and value in CONFIG_TYPES):
            bad = f"one of {', '.join(CONFIG_TYPES)}"
        elif kind == "value" and (type(value) not in (bool, str) or len(str(value)) > limit):
            bad = "a boolean or a short string"
        elif kind in ("score", "key", "value"):
            pass
        elif not isinstance(value, str) or len(value) > limit:
            bad = f"a string of at most {limit} characters"
        elif kind == "path" and (not value or _PATH_BAD.search(value)):
            bad = "a non-empty path without control characters"
        elif kind == "timestamp":
            try:
                value = datetime.fromisoformat(value)
            except ValueError:
                bad = "an ISO 8601 date and time"
        if bad:
            raise InvalidCall(f"{arg} must be {bad}, got {show(value)}")
        out[arg] = value
    return out
