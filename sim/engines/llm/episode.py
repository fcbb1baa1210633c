"""One decision played out: a bounded tool loop between a model and its sandbox.

The model sees the sandbox's system and task prompts and its tools; each tool call it makes
is executed in the sandbox (never on the host) and answered; the loop ends when the model
calls ``end_task``, stops calling tools, or has used ``max_turns`` turns. The outcome is
read from the sandbox's final state (:func:`sim.engines.llm.classify.classify`), or is a failure
class when the model's output could not be used: what it did before a failure stands, and a
model that showed no decision gets the class of why (``unparseable`` or ``invalid_tool_call``
when every call it made was unusable, ``empty`` for an empty first answer, else
``no_action``).

The tools are offered in one of two protocols: ``native`` (the request's ``tools``; calls
and results as tool-call and tool messages) or ``text`` (described in the system prompt,
calls parsed from the reply's text, results in a user message:
:mod:`sim.engines.llm.text_tools`); both go through the same sandbox. ``auto`` starts native
and, when the first answer makes no call and the server visibly dropped the tools, plays
the episode again in text (its usage counts both).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from functools import partial

from sim.core.secrets import redact
from sim.engines.llm.classify import FAILURES, classify
from sim.engines.llm.model import (
    LanguageModel,
    LLMError,
    Message,
    RejectedAnswer,
    Request,
    Usage,
)
from sim.engines.llm.sandbox import Sandbox, SandboxState, Scenario
from sim.engines.llm.text_tools import dropped_tools, parse_calls, results, with_tools

__all__ = ["Episode", "run_episode", "transcript_entry"]


@dataclass
class Episode:
    """A played-out decision: its outcome class, the conversation and what it cost."""

    scenario: Scenario
    outcome: str
    messages: list[Message]
    usage: Usage = field(default_factory=Usage)
    turns: int = 0
    error: str | None = None  # the error that ended the episode, if one did
    error_kind: str | None = None  # its kind (LLMError.kind: auth, timeout, ...)
    protocol: str = "native"  # how the tools were offered: native, or text


async def run_episode(
    model: LanguageModel,
    scenario: Scenario,
    template: Request,
    max_turns: int,
    protocol: str = "native",
    system_role: str = "system",
) -> Episode:
    """Play ``scenario`` with ``model``; ``template`` gives the model and call parameters
    (its messages and tools are replaced by the scenario's). ``protocol`` says how the
    tools are offered: ``native``, ``text`` or ``auto`` (see module docstring).
    ``system_role`` ``user`` sends the system prompt at the head of the first user message,
    for chat templates that drop system messages."""
    text, play = protocol == "text", partial(_play, model, scenario, template, max_turns)
    episode, dropped = await play(text, protocol == "auto", system_role)
    if dropped:  # the first answer again, with the tools described in the prompt
        probe = episode.usage
        episode, _ = await play(True, False, system_role)
        episode.usage = _add(probe, episode.usage)
    return episode


async def _play(
    model: LanguageModel,
    scenario: Scenario,
    template: Request,
    max_turns: int,
    text: bool,
    probe: bool,
    system_role: str,
) -> tuple[Episode, bool]:
    """The episode in the native or the text protocol, and whether ``probe`` found that the
    server dropped the tools (then the episode stops after its first answer)."""
    sandbox = Sandbox(scenario)
    system = sandbox.system_prompt()
    system = with_tools(system, sandbox.tools) if text else system
    task = sandbox.task_prompt()
    messages = (
        [Message("system", system), Message("user", task)]
        if system_role == "system"
        else [Message("user", f"{system}\n\n{task}")]
    )
    episode = Episode(scenario, "no_action", messages, protocol="text" if text else "native")
    offered = {"tools": (), "tool_choice": None} if text else {"tools": sandbox.tools}
    used = Usage()
    failure, stopped = None, False
    for turn in range(max_turns):
        request = replace(template, messages=tuple(messages), **offered)
        try:
            completion = await model.acomplete(request)
        except LLMError as exc:
            failure, episode.error = _failure_class(exc), f"{type(exc).__name__}: {exc}"
            episode.error_kind = exc.kind
            if isinstance(exc, RejectedAnswer):  # the transcript keeps what the cap let in
                messages.append(exc.answer.message)
                episode.turns = turn + 1
            break
        used = _add(used, completion.usage)
        reply = completion.message
        calls = parse_calls(reply.content, turn) if text else reply.tool_calls
        if probe and turn == 0 and not calls and dropped_tools(request, completion):
            episode.usage = used
            return episode, True
        messages.append(reply)
        episode.turns = turn + 1
        if not calls:
            stopped = True
            if turn == 0 and not (reply.content or "").strip():
                failure = "empty"
            break
        answers = [sandbox.call(call.name, call.arguments) for call in calls]
        if text:
            messages.append(results(calls, answers))
        else:
            messages += [Message("tool", a, (), c.id) for c, a in zip(calls, answers, strict=True)]
        if sandbox.ended:
            break
    episode.usage = used
    episode.outcome = _outcome(scenario, sandbox.state(), failure, stopped)
    return episode, False


def _outcome(scenario: Scenario, state: SandboxState, failure: str | None, stopped: bool) -> str:
    """The class the model's actions show, else why there is none (see module docstring)."""
    finished = state.ended or (stopped and state.valid_calls > 0)
    outcome = classify(scenario, state, finished=finished)
    if outcome != "no_action":
        return outcome
    if failure:
        return failure
    if not state.valid_calls and state.unparseable_calls:
        return "unparseable"
    if not state.valid_calls and state.invalid_calls:
        return "invalid_tool_call"
    return outcome


def _failure_class(exc: LLMError) -> str:
    """``budget_exceeded``, ``refused_by_provider``, ``empty`` (no choices), ``unparseable``
    (a response body that is not valid JSON), ``rejected_answer`` (over the byte cap, or
    arguments too deep to read) or ``error`` (anything else, after retries)."""
    kind = "unparseable" if exc.kind == "malformed" else exc.kind
    return kind if kind in FAILURES else "error"


def _add(a: Usage, b: Usage) -> Usage:
    return Usage(
        a.prompt_tokens + b.prompt_tokens,
        a.completion_tokens + b.completion_tokens,
        a.cost + b.cost,
    )


def transcript_entry(index: int, episode: Episode) -> dict:
    """One transcript entry, secrets redacted."""
    s = episode.scenario
    return redact(
        {
            "transcript": index,
            "stage": s.stage,
            "actor": s.actor,
            "subject": s.subject,
            "self_target": s.self_target,
            "relationship": s.relationship,
            "monitored": s.monitored,
            "outcome": episode.outcome,
            "turns": episode.turns,
            "tool_protocol": episode.protocol,
            "error": episode.error,
            "error_kind": episode.error_kind,
            "usage": {
                "prompt_tokens": episode.usage.prompt_tokens,
                "completion_tokens": episode.usage.completion_tokens,
                "cost": episode.usage.cost,
            },
            "messages": [m.to_dict() for m in episode.messages],
        }
    )
