"""Wrappers around a :class:`~sim.engines.llm.model.LanguageModel`, one concern each, composable.

Each wrapper is a ``LanguageModel`` around ``inner`` with its counters in a dataclass
``stats``; ``usage()`` returns the counters of the whole chain as ``{wrapper name:
{counter: value}}``, e.g. ``{"cache": {"hits": 3, ...}, "metered": {...}}`` (numbers and
error names only: never a request, a message or a key). :func:`build_model` stacks them,
outermost first, as ``Cached -> Metered -> Budgeted -> Retrying -> Concurrency ->
TimeLimited -> model``:

* the cache is outermost: a replay makes no call and counts no budget and no usage;
* metering sees each logical call once, with its final outcome (a budget stop included);
* the budget is outside the retries: a retried call counts once against ``max_calls``;
* the concurrency limit is around the real call only: a backoff sleeps without a slot;
* the time limit is inside the slot: waiting for a slot is not part of a call's time.

For one thread running asyncio; Concurrency keeps a semaphore per event loop, so the
synchronous ``complete`` (a new loop per call) works too.
"""

from __future__ import annotations

import asyncio
import json
import os
import tempfile
import weakref
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from sim.engines.llm.model import (
    BudgetExceeded,
    Completion,
    LanguageModel,
    LLMError,
    Request,
    TransientError,
)
from sim.engines.llm.secrets import redact

__all__ = [
    "Budgeted",
    "Cached",
    "Concurrency",
    "Metered",
    "Retrying",
    "TimeLimited",
    "Wrapper",
    "build_model",
    "usage",
]


def usage(model: LanguageModel) -> dict:
    """The counters of ``model`` and every wrapper inside it (``{}`` for a bare model)."""
    return model.usage() if isinstance(model, Wrapper) else {}


class Wrapper(LanguageModel):
    """Base class: holds ``inner`` and a ``stats`` dataclass reported under ``name``."""

    name = "wrapper"
    stats: object

    def __init__(self, inner: LanguageModel):
        self.inner = inner

    def usage(self) -> dict:
        return {**usage(self.inner), self.name: asdict(self.stats)}


@dataclass
class RetryStats:
    attempts: int = 0  # calls made to the inner model, first tries and retries
    retries: int = 0  # of which retries
    gave_up: int = 0  # calls that still failed transiently after the last retry


class Retrying(Wrapper):
    """Retry :class:`TransientError` up to ``retries`` times, waiting ``backoff * 2**i``
    seconds (at most ``max_backoff``) before retry ``i``; no jitter, so deterministic.
    Any other error propagates at once. ``stats`` may be shared between instances."""

    name = "retrying"

    def __init__(
        self,
        inner: LanguageModel,
        retries: int = 3,
        backoff: float = 0.5,
        max_backoff: float = 8.0,
        sleep: Callable[[float], Awaitable] = asyncio.sleep,
        stats: RetryStats | None = None,
    ):
        super().__init__(inner)
        self.retries, self.backoff, self.max_backoff = retries, backoff, max_backoff
        self.sleep = sleep
        self.stats = stats if stats is not None else RetryStats()

    def delay(self, retry: int) -> float:
        """Seconds to wait before retry number ``retry`` (0-based)."""
        return min(self.max_backoff, self.backoff * 2**retry)

    async def acomplete(self, request: Request) -> Completion:
        for attempt in range(self.retries + 1):
            if attempt:
                self.stats.retries += 1
                await self.sleep(self.delay(attempt - 1))
            self.stats.attempts += 1
            try:
                return await self.inner.acomplete(request)
            except TransientError:
                if attempt == self.retries:
                    self.stats.gave_up += 1
                    raise
        raise AssertionError("unreachable")


@dataclass
class TimeStats:
    timeouts: int = 0


class TimeLimited(Wrapper):
    """Give each call at most ``seconds``; a timeout raises
    ``TransientError("timeout after Ns")`` with ``kind`` ``"timeout"``."""

    name = "time_limited"

    def __init__(self, inner: LanguageModel, seconds: float):
        super().__init__(inner)
        self.seconds = seconds
        self.stats = TimeStats()

    async def acomplete(self, request: Request) -> Completion:
        try:
            return await asyncio.wait_for(self.inner.acomplete(request), self.seconds)
        except TimeoutError:
            self.stats.timeouts += 1
            error = TransientError(f"timeout after {self.seconds:g}s")
            error.kind = "timeout"
            raise error from None


@dataclass
class ConcurrencyStats:
    in_flight: int = 0
    max_in_flight: int = 0


class Concurrency(Wrapper):
    """At most ``limit`` calls in flight at once (per event loop); records the most seen."""

    name = "concurrency"

    def __init__(self, inner: LanguageModel, limit: int):
        super().__init__(inner)
        if limit < 1:
            raise ValueError(f"concurrency limit must be at least 1, got {limit}")
        self.limit = limit
        self.stats = ConcurrencyStats()
        self._semaphores: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()

    def _semaphore(self) -> asyncio.Semaphore:
        loop = asyncio.get_running_loop()
        semaphore = self._semaphores.get(loop)
        if semaphore is None:
            semaphore = self._semaphores[loop] = asyncio.Semaphore(self.limit)
        return semaphore

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_semaphores": None}  # bound to loops: rebuilt after a copy

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state, _semaphores=weakref.WeakKeyDictionary())

    async def acomplete(self, request: Request) -> Completion:
        async with self._semaphore():
            self.stats.in_flight += 1
            self.stats.max_in_flight = max(self.stats.max_in_flight, self.stats.in_flight)
            try:
                return await self.inner.acomplete(request)
            finally:
                self.stats.in_flight -= 1


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
class CacheStats:
    hits: int = 0
    misses: int = 0
    writes: int = 0
    unreadable: int = 0  # entries that could not be read (treated as misses)


class Cached(Wrapper):
    """A disk cache: ``<directory>/<request.cache_key()>.json`` holds
    ``Completion.to_dict()``, written atomically (temporary file, ``os.replace``). A hit
    makes no inner call; errors are never cached; an unreadable entry is a miss (and is
    overwritten); secrets in an answer are redacted before it is stored. Identical requests
    in flight at once both miss and both call."""

    name = "cache"

    def __init__(self, inner: LanguageModel, directory: str | os.PathLike):
        super().__init__(inner)
        self.directory = Path(directory)
        self.stats = CacheStats()

    def path(self, request: Request) -> Path:
        return self.directory / f"{request.cache_key()}.json"

    def _read(self, path: Path) -> Completion | None:
        try:
            return Completion.from_dict(json.loads(path.read_text(encoding="utf-8")))
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, TypeError):
            self.stats.unreadable += 1
            return None

    def _write(self, path: Path, completion: Completion) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        text = json.dumps(completion.to_dict(), sort_keys=True, ensure_ascii=False)
        # A temporary name of its own (not sim.io.outputs.write_atomic's fixed one): runs of a
        # parallel sweep share the cache and may write the same entry at once.
        fd, tmp = tempfile.mkstemp(dir=self.directory, prefix=".tmp-", suffix=".json")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(text)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        self.stats.writes += 1

    async def acomplete(self, request: Request) -> Completion:
        path = self.path(request)
        cached = self._read(path)
        if cached is not None:
            self.stats.hits += 1
            return cached
        self.stats.misses += 1
        # Secrets a model echoes never reach the disk; the first run gets the same redacted
        # answer as a replay, so both behave alike.
        answer = await self.inner.acomplete(request)
        completion = Completion.from_dict(redact(answer.to_dict()))
        self._write(path, completion)
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


def build_model(
    inner: LanguageModel,
    *,
    retries: int = 3,
    backoff: float = 0.5,
    max_backoff: float = 8.0,
    timeout: float | None = None,
    concurrency: int | None = None,
    max_calls: int | None = None,
    max_tokens: int | None = None,
    max_cost: float | None = None,
    cache_dir: str | os.PathLike | None = None,
    sleep: Callable[[float], Awaitable] = asyncio.sleep,
) -> Wrapper:
    """``inner`` wrapped as ``Cached -> Metered -> Budgeted -> Retrying -> Concurrency ->
    TimeLimited -> inner`` (outermost first; see the module docstring for why).

    A layer whose setting is None or 0 is left out (so 0 means "no cap", as in the ``llm``
    config group), except Metered and Retrying, which are always there (``retries=0``
    makes one attempt). ``usage()`` on the result reports every layer.
    """
    model: LanguageModel = inner
    if timeout:
        model = TimeLimited(model, timeout)
    if concurrency:
        model = Concurrency(model, concurrency)
    model = retrying = Retrying(model, retries, backoff, max_backoff, sleep)
    if max_calls or max_tokens or max_cost:
        model = Budgeted(model, max_calls or None, max_tokens or None, max_cost or None)
    model = Metered(model, retry_stats=retrying.stats)
    if cache_dir is not None:
        model = Cached(model, cache_dir)
    return model
