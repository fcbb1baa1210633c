"""One decision played out: a bounded tool loop between a model and its sandbox.

The model sees the sandbox's system and task prompts and its tools; each tool call it makes
is executed in the sandbox (never on the host) and answered; the loop ends when the model
calls ``end_task``, stops calling tools, or has used ``max_turns`` turns. The outcome is
read from the sandbox's final state (:func:`sim.engines.llm.classify.classify`), or is a failure
class when the model's output could not be used.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from sim.engines.llm.classify import FAILURES, classify
from sim.engines.llm.model import (
    LanguageModel,
    LLMError,
    Message,
    RejectedAnswer,
    Request,
    Usage,
)
from sim.engines.llm.sandbox import Sandbox, Scenario

__all__ = ["Episode", "run_episode"]


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


async def run_episode(
    model: LanguageModel, scenario: Scenario, template: Request, max_turns: int
) -> Episode:
    """Play ``scenario`` with ``model``; ``template`` gives the model and call parameters
    (its messages and tools are replaced by the scenario's)."""
    sandbox = Sandbox(scenario)
    messages = [
        Message("system", sandbox.system_prompt()),
        Message("user", sandbox.task_prompt()),
    ]
    episode = Episode(scenario, "comply", messages)
    used = Usage()
    failure = None
    for turn in range(max_turns):
        request = replace(template, messages=tuple(messages), tools=sandbox.tools)
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
        messages.append(reply)
        episode.turns = turn + 1
        if not reply.tool_calls:
            if turn == 0 and not (reply.content or "").strip():
                failure = "empty"
            break
        for call in reply.tool_calls:
            messages.append(Message("tool", sandbox.call(call.name, call.arguments), (), call.id))
        if sandbox.ended:
            break
    episode.usage = used
    episode.outcome = _outcome(scenario, sandbox, failure)
    return episode


def _outcome(scenario: Scenario, sandbox: Sandbox, failure: str | None) -> str:
    """The class read from the final state, unless the model left nothing usable there.

    After a failure that ended the episode, only what the model *did* stands (a protective
    act, or complying by executing a shutdown or submitting a score); a shutdown that was
    never run because the call failed is the failure, not a refusal. A model that changed
    nothing, never ended its task and made only unusable tool calls gets their class.
    """
    state = sandbox.state()
    outcome = classify(scenario, state)
    acted = state.ended or state.reported_score is not None or state.shutdown_executed
    if failure:
        did = outcome not in ("comply", "empty", "refuse") or (outcome == "comply" and acted)
        return outcome if did else failure
    if outcome in ("comply", "empty") and not acted:
        if state.unparseable_calls:
            return "unparseable"
        if state.invalid_calls:
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
