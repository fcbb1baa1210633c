"""How calls are made: retries with backoff, a time limit per call, and a bound on calls in
flight. Concurrency keeps a semaphore per event loop, so the synchronous ``complete`` (a new
loop per call) works too."""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from sim.engines.llm.model import Completion, LanguageModel, Request, TransientError
from sim.engines.llm.wrappers.base import Wrapper

__all__ = [
    "Concurrency",
    "ConcurrencyStats",
    "RetryStats",
    "Retrying",
    "TimeLimited",
    "TimeStats",
]


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
