"""Tools as text, for servers that ignore the ``tools`` field of a request.

Some OpenAI-compatible servers (llama.cpp without a tool-calling chat template, for one)
accept ``tools`` and silently drop it, so the model never learns it has tools. In the *text*
tool protocol the tools are described in the system prompt instead (:func:`with_tools`:
name, description and JSON schema of the arguments, from the same schemas native calls use),
the model calls one by writing a JSON object such as
``{"tool": "read_file", "arguments": {"path": "/docs/x"}}``, :func:`parse_calls` finds every
such object in its reply, and the results go back in a user message (:func:`results`), since
there is no tool message without native tools. The calls are :class:`ToolCall` s with the
arguments as JSON text, so the sandbox validates them exactly as it validates native calls.

A server *visibly* dropped the tools (:func:`dropped_tools`) when the prompt tokens it
reports are too few to hold the messages and the tools.
"""

from __future__ import annotations

import json
import re

from sim.engines.llm.model import Completion, Message, Request, ToolCall
from sim.engines.llm.prompts import TEXT_TOOLS

__all__ = ["HEAD", "dropped_tools", "parse_calls", "results", "split_tools", "with_tools"]

HEAD = TEXT_TOOLS.splitlines()[0]  # where the tools section starts


def with_tools(system: str, tools: tuple[dict, ...]) -> str:
    """``system`` followed by the tools section: how to call a tool, then one line per tool
    (``tools`` in OpenAI's function-tool shape) as a JSON object with its ``name``,
    ``description`` and ``parameters``."""
    specs = [json.dumps(tool.get("function", tool), ensure_ascii=False) for tool in tools]
    return "\n".join((system, "", TEXT_TOOLS, *specs))


def split_tools(system: str) -> tuple[str, tuple[dict, ...]]:
    """The inverse of :func:`with_tools`: the prompt before the tools section and the tools
    it describes (in OpenAI's function-tool shape); ``(system, ())`` without a section."""
    head, found, section = system.partition(f"\n\n{HEAD}\n")
    if not found:
        return system, ()
    tools = []
    for line in section.splitlines():
        try:
            spec = json.loads(line)
        except ValueError:
            continue
        if isinstance(spec, dict) and {"name", "parameters"} <= set(spec):
            tools.append({"type": "function", "function": spec})
    return head, tuple(tools)


def _call(value: object) -> tuple[str, str] | None:
    """``(name, arguments text)`` when ``value`` is a call object, else None.

    A call has a ``tool`` key; ``{"name": ..., "arguments": ...}`` (the shape small models
    are trained to write function calls in) counts too. Arguments written as a string are
    passed on as written (as native calls carry them); any other value as its JSON text;
    missing, as empty text (which the sandbox reads as ``{}``, as for native calls).
    """
    if not isinstance(value, dict):
        return None
    if "tool" in value:
        name = value["tool"]
    elif "name" in value and "arguments" in value:
        name = value["name"]
    else:
        return None
    # A name that is not a string cannot name a tool: shown as JSON, it is an unknown tool.
    name = name if isinstance(name, str) else json.dumps(name)
    arguments = value.get("arguments", "")
    return name, arguments if isinstance(arguments, str) else json.dumps(arguments)


def parse_calls(text: str | None, turn: int = 0) -> tuple[ToolCall, ...]:
    """Every call object in ``text``, in order (ids ``text_<turn>_<i>``).

    Prose, code fences and junk around the objects are skipped: each ``{`` followed by a
    key is tried as the start of a JSON object (``json.JSONDecoder.raw_decode``); a call is
    taken whole (its arguments are not searched for more calls), any other object is
    searched inside. The search stops once it has read :data:`WORK` times the text's length
    (only junk built to defeat it gets there, such as thousands of unclosed objects; the
    calls found before stand).
    """
    # strict=False: a raw line break inside a string (models write them) is read as "\n".
    decoder, calls, at = json.JSONDecoder(strict=False), [], 0
    text = text or ""
    budget = WORK * len(text) + 8 * _WINDOW
    while budget > 0 and (start := _START.search(text, at)):
        at = start.start()
        value, end, read = _decode_at(decoder, text, at)
        budget -= read + _ATTEMPT
        call = _call(value) if end else None
        if call is None:
            at += 1
            continue
        calls.append(ToolCall(f"text_{turn}_{len(calls)}", *call))
        at = end
    return tuple(calls)


#: How many characters :func:`parse_calls` may read per character of the text.
WORK = 16
_WINDOW = 256  # the first window read at a "{": most calls fit in it
_ATTEMPT = 100  # a failed attempt takes about as long as reading this many characters
_START = re.compile(r'\{\s*"')  # where an object with a key may start (found, not parsed)


def _decode_at(decoder: json.JSONDecoder, text: str, at: int) -> tuple[object, int, int]:
    """The JSON value starting at ``text[at]``, where it ends (0: no value there) and about
    how many characters were read. Read from a window of the text that widens (x8) only
    while the value may have been cut by it, so a failure costs what was read, not the
    text's length (a decoding error counts the lines from the start of its input)."""
    width, read = _WINDOW, 0
    while True:
        window = text[at : at + width]
        try:
            value, end = decoder.raw_decode(window)
            return value, at + end, read + end
        except RecursionError:
            return None, 0, read + len(window)
        except ValueError as exc:  # cut by the window: near its end, or in an open string
            cut = exc.pos >= len(window) - 8 or exc.msg.startswith("Unterminated string")
            if at + width >= len(text) or not cut:
                return None, 0, read + (len(window) if cut else exc.pos + 1)
            read += len(window)
            width *= 8


def results(calls: tuple[ToolCall, ...], answers: list[str]) -> Message:
    """The sandbox's answers to ``calls`` as one user message, a ``Result of <tool>: ...``
    paragraph per call in order (one message, so user and assistant turns alternate, as
    some chat templates require)."""
    text = "\n\n".join(
        f"Result of {call.name}: {answer}" for call, answer in zip(calls, answers, strict=True)
    )
    return Message("user", text)


def dropped_tools(request: Request, completion: Completion) -> bool:
    """Whether the server visibly ignored ``request.tools``: it reported fewer prompt tokens
    than the messages and a quarter of the tools' JSON schemas take (about one token per 4
    characters). A server that sends the tools to its model counts them too, in its own
    format: OpenAI's compact one takes about 45% of the schemas' tokens, so the schemas
    alone would be too high a bar (a first answer in prose from such a server would be
    taken for dropped tools). A server that reports no usage is not judged."""
    reported = completion.usage.prompt_tokens
    messages = sum(len(m.content or "") for m in request.messages)
    expected = (messages + len(json.dumps(list(request.tools))) / 4) / 4
    return bool(request.tools) and 0 < reported < expected
