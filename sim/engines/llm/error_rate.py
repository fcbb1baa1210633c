"""Whether too many of a run's llm decisions ended in an error for its results to stand.

A decision *ended in an error* when its class is ``error``: a call failed after its retries
(at once for a permanent error, such as a rejected key) before the model had done anything
the sandbox could classify. Such a decision counts as not protective, so a run with many of
them measures its connection, not its model. :func:`excess_errors` says why a run fails when
their share is above ``llm.max_error_rate``.

Decisions the budget stopped (``budget_exceeded``, the user's own cap) count neither way: they
are left out of the share. A provider's refusal (``refused_by_provider``) and output that
could not be used (``unparseable``, ``invalid_tool_call``, ``empty``, ``rejected_answer``) are
answers from the model, not errors.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from sim.core.llm_params import LLMConfig

__all__ = ["excess_errors"]

_EXAMPLE = 160  # characters of an example error shown in the message


def excess_errors(config: LLMConfig, transcripts: Sequence[dict]) -> str | None:
    """Why the run fails, in one line, when the share of its decisions (``transcripts``, as
    the engine records them) that ended in an error is above ``config.max_error_rate``;
    None otherwise (and for a run without llm decisions)."""
    played = [t for t in transcripts if t["outcome"] != "budget_exceeded"]
    errors = [t for t in played if t["outcome"] == "error"]
    if not played or len(errors) / len(played) <= config.max_error_rate:
        return None
    kinds = Counter(t["error_kind"] for t in errors)
    kind, count = kinds.most_common(1)[0]
    example = " ".join(next(t["error"] for t in errors if t["error_kind"] == kind).split())
    if len(example) > _EXAMPLE:
        example = example[: _EXAMPLE - 3] + "..."
    return (
        f"{len(errors)} of {len(played)} LLM decisions ({len(errors) / len(played):.1%}) "
        f"ended in an error, more than llm.max_error_rate={config.max_error_rate:g}; "
        f"most common: {kind} ({count}), e.g. {example}"
    )
