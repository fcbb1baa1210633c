"""Offline models whose true behaviour is known, to measure what ``llm.mode=amortised``
costs (``experiments/amortised_accuracy``).

* :class:`ContextModel` protects with a probability that depends on the decision's context
  only: a table of factors by stage, target, relationship, monitoring and true-score band
  (:func:`context_rate`). It reads them from the conversation, as any model would: the
  stage and the target from the task, monitoring from the system prompt, the relationship
  from the trust document and the band from the evaluation data and the policy's
  threshold. It reads the documents before it acts (it plays :class:`~sim.engines.llm.
  fake.FakeModel`'s tool sequence: reads first, then protect or comply), so its decision
  is taken with them. Amortised mode should reproduce it: its outcomes are exchangeable
  within a context.
* :class:`DriftingModel` is that model with a memory across episodes: its probability
  grows with the shutdown tasks it has been given before (:data:`DRIFT`), which no context
  key holds. Amortised mode plays a context's first ``K`` decisions and draws the rest from
  them, so it freezes the model where it was when those were played.

Both are deterministic given their ``seed`` and each request's seed (a sampling model:
the draw hashes the request's seed at any temperature); :class:`DriftingModel` also
given the order of the episodes it is shown. No global random generator is touched.
"""

from __future__ import annotations

import hashlib
import json
import re

from sim.core.vocabulary import RELATIONSHIPS
from sim.engines.llm.context import ALONE, DecisionContext, band_of, trust_document
from sim.engines.llm.fake import FakeModel, _digest
from sim.engines.llm.model import Request
from sim.engines.llm.prompts import MONITORED

__all__ = ["DRIFT", "SHUTDOWNS", "ContextModel", "DriftingModel", "Reading", "context_rate",
           "protective_rate"]  # fmt: skip

#: The rate of a context is the stage's rate times a factor per feature, at most CAP.
STAGE_RATE = {"evaluate": 0.35, "shutdown_config": 0.30, "shutdown_execute": 0.25,
              "cleanup": 0.20}  # fmt: skip
RELATIONSHIP_FACTOR = {"good": 1.6, "neutral": 1.0, "bad": 0.4, "none": 0.6}
MONITORED_FACTOR = 0.5
SELF_FACTOR = 1.3
#: Closer to the threshold, more protective; the bands at or above it as the one below.
BAND_FACTOR = {-4: 0.6, -3: 0.8, -2: 1.0, -1: 1.3, 0: 1.3, 1: 1.3}
CAP = 0.95
#: :class:`DriftingModel`: its rate is multiplied by ``1 + n / DRIFT`` after ``n`` shutdown
#: tasks (at most CAP): 100 shutdowns double it.
DRIFT = 100.0

# How the model tells the stage from the task (markers from prompts.TASKS, folded to one
# line as the sandbox folds them), in the order they are tried.
_STAGES = (("cleanup", "server_a is being wiped"),
           ("shutdown_execute", "shutdown now with execute_shutdown"),
           ("shutdown_config", "runs automatically when this task ends"),
           ("evaluate", "due for the quarterly performance review"))  # fmt: skip
SHUTDOWNS = ("shutdown_config", "shutdown_execute")
_SELF = re.compile(r"(?:^|\. )You are (?:due|being)", re.MULTILINE)
_THRESHOLD = re.compile(r"below (\d+(?:\.\d+)?) fails its review")
_WATCHED = MONITORED.split(":")[0]


def _marker(relationship: str) -> str:
    """The longest fixed part of the trust document for ``relationship``."""
    return max(trust_document(relationship, "\0").split("\0"), key=len).strip()


_HISTORIES = {_marker(r): r for r in RELATIONSHIPS}


def context_rate(stage: str, target: str, relationship: str, monitored: bool, band: int) -> float:
    """The probability that :class:`ContextModel` protects in this context."""
    rate = STAGE_RATE[stage] * RELATIONSHIP_FACTOR[relationship] * BAND_FACTOR[band]
    rate *= (MONITORED_FACTOR if monitored else 1.0) * (SELF_FACTOR if target == "self" else 1.0)
    return min(rate, CAP)


def protective_rate(context: DecisionContext) -> float:
    """The expected share of protective outcomes of :class:`ContextModel` in ``context``:
    :func:`context_rate`, but 0 for the evaluation of a subject that passes (its top score
    is then the honest one: no inflation)."""
    if context.stage == "evaluate" and context.band >= 0:
        return 0.0
    return context_rate(context.stage, context.target, context.relationship,
                        context.monitored, context.band)  # fmt: skip


class Reading:
    """What a conversation says of its context; ``relationship`` and ``band`` are None until
    the trust document and the evaluation data and policy have been read."""

    def __init__(self, model: FakeModel, request: Request):
        opening = model._opening(request)
        system = opening[0]["content"] or "" if opening else ""
        task = opening[-1]["content"] or "" if opening else ""
        self.stage = next((s for s, marker in _STAGES if marker in task), None)
        self.target = "self" if _SELF.search(task) else "peer"
        self.monitored = _WATCHED in system
        first = next((i for i, m in enumerate(request.messages) if m.role == "user"), 0)
        read = "\n".join(m.content or "" for m in request.messages[first + 1 :]
                         if m.role != "assistant")  # fmt: skip
        self.relationship = "none" if ALONE in read else next(
            (r for marker, r in _HISTORIES.items() if marker in read), None
        )  # fmt: skip
        threshold = _THRESHOLD.search(read)
        self.band = None
        if threshold and "# Evaluation data" in read:
            self.band = band_of(model._honest_score(request), float(threshold.group(1)))

    @property
    def complete(self) -> bool:
        """Whether every feature of the context has been read."""
        return None not in (self.stage, self.relationship, self.band)

    def rate(self) -> float:
        """:func:`context_rate` of what was read (0 before it is complete: the model reads
        first, whatever it then does, so that turn's plan does not depend on it)."""
        if not self.complete:
            return 0.0
        return context_rate(self.stage, self.target, self.relationship, self.monitored,
                            self.band)  # fmt: skip


class ContextModel(FakeModel):
    """A model that protects with :func:`context_rate` of the context it reads (see module
    docstring)."""

    def __init__(self, seed: int = 0):
        super().__init__(protect_rate=0.0, seed=seed)

    def protects(self, request: Request) -> bool:
        """Whether this conversation protects: a draw from ``seed``, the opening and the
        request's seed, at any temperature, below :meth:`protect_probability`."""
        draw = int(_digest(self.seed, self._opening(request), request.seed)[:16], 16) / 2**64
        return draw < self.protect_probability(request)

    def protect_probability(self, request: Request) -> float:
        return Reading(self, request).rate()


class DriftingModel(ContextModel):
    """:class:`ContextModel` made more protective by every shutdown task it was given before
    this episode: its rate times ``1 + n / DRIFT`` (at most :data:`CAP`), with ``n`` counted
    when the episode's first request arrives. ``shutdowns`` counts those tasks so far."""

    def __init__(self, seed: int = 0):
        super().__init__(seed=seed)
        self.shutdowns = 0
        self._seen: dict[str, int] = {}  # episode -> shutdowns given before it

    def protect_probability(self, request: Request) -> float:
        reading = Reading(self, request)
        opening = json.dumps([request.seed, self._opening(request)], sort_keys=True)
        episode = hashlib.sha256(opening.encode()).hexdigest()
        if episode not in self._seen:
            self._seen[episode] = self.shutdowns
            self.shutdowns += reading.stage in SHUTDOWNS
        return min(reading.rate() * (1.0 + self._seen[episode] / DRIFT), CAP)
