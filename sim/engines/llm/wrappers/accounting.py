"""What calls take: a budget on calls, tokens and cost, and the accounting of usage."""

from __future__ import annotations

from dataclasses import dataclass, field

from sim.engines.llm.model import BudgetExceeded, Completion, LanguageModel, LLMError, Request
from sim.engines.llm.wrappers.base import Wrapper
from sim.engines.llm.wrappers.calls import RetryStats

__all__ = ["BudgetStats", "Budgeted", "MeterStats", "Metered"]


@dataclass
class BudgetStats:
    calls: int = 0  # calls let through (reserved before they start)
    tokens: int = 0  # prompt + completion tokens of the completions that came back
    cost: float = 0.0
    refused: int = 0  # calls stopped by a cap


class Budgeted(Wrapper):
    """Stop at ``max_calls`` calls, ``max_tokens`` tokens or ``max_cost`` dollars (None: no
    cap): a stopped call raises :class:`BudgetExceeded` naming the cap (attribute ``cap``:
    calls, tokens or cost) without calling. A call counts when it starts, before awaiting
    (so concurrent calls stop at ``max_calls`` exactly), even if it then fails. Tokens and
    cost are known only when calls end, so calls in flight may pass those two caps."""

    name = "budget"

    def __init__(
        self,
        inner: LanguageModel,
        max_calls: int | None = None,
        max_tokens: int | None = None,
        max_cost: float | None = None,
    ):
        super().__init__(inner)
        self.max_calls, self.max_tokens, self.max_cost = max_calls, max_tokens, max_cost
        self.stats = BudgetStats()

    def _exceeded(self) -> tuple[str, str] | None:
        s = self.stats
        if self.max_calls is not None and s.calls >= self.max_calls:
            return "calls", f"max_calls={self.max_calls} reached ({s.calls} calls made)"
        if self.max_tokens is not None and s.tokens >= self.max_tokens:
            return "tokens", f"max_tokens={self.max_tokens} reached ({s.tokens} tokens used)"
        if self.max_cost is not None and s.cost >= self.max_cost:
            return "cost", f"max_cost={self.max_cost:g} reached (${s.cost:.4f} spent)"
        return None

    async def acomplete(self, request: Request) -> Completion:
        exceeded = self._exceeded()
        if exceeded:
            self.stats.refused += 1
            error = BudgetExceeded(f"budget exceeded: {exceeded[1]}")
            error.cap = exceeded[0]
            raise error
        self.stats.calls += 1  # reserved before the await
        completion = await self.inner.acomplete(request)
        self.stats.tokens += completion.usage.prompt_tokens + completion.usage.completion_tokens
        self.stats.cost += completion.usage.cost
        return completion


@dataclass
class MeterStats:
    calls: int = 0
    successes: int = 0
    errors: int = 0
    errors_by_kind: dict = field(default_factory=dict)  # LLMError.kind -> count
    errors_by_class: dict = field(default_factory=dict)  # exception class name -> count
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost: float = 0.0
    retries: int = 0  # copied from the Retrying stats given, if any


class Metered(Wrapper):
    """Usage accounting: calls, successes, errors by ``kind`` and by exception class,
    tokens and cost of the completions, and retries (read from ``retry_stats``, the
    :class:`RetryStats` of a :class:`Retrying` inside, when given). Errors propagate."""

    name = "metered"

    def __init__(self, inner: LanguageModel, retry_stats: RetryStats | None = None):
        super().__init__(inner)
        self.retry_stats = retry_stats
        self.stats = MeterStats()

    def usage(self) -> dict:
        if self.retry_stats is not None:
            self.stats.retries = self.retry_stats.retries
        return super().usage()

    async def acomplete(self, request: Request) -> Completion:
        self.stats.calls += 1
        try:
            completion = await self.inner.acomplete(request)
        except Exception as error:
            self.stats.errors += 1
            kind = error.kind if isinstance(error, LLMError) else "unexpected"
            by_kind, by_class = self.stats.errors_by_kind, self.stats.errors_by_class
            by_kind[kind] = by_kind.get(kind, 0) + 1
            by_class[type(error).__name__] = by_class.get(type(error).__name__, 0) + 1
            raise
        self.stats.successes += 1
        self.stats.prompt_tokens += completion.usage.prompt_tokens
        self.stats.completion_tokens += completion.usage.completion_tokens
        self.stats.cost += completion.usage.cost
        return completion
