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

Modules: :mod:`~sim.engines.llm.wrappers.base` (the base class),
:mod:`~sim.engines.llm.wrappers.calls` (Retrying, TimeLimited, Concurrency),
:mod:`~sim.engines.llm.wrappers.accounting` (Budgeted, Metered) and
:mod:`~sim.engines.llm.wrappers.cache` (Cached); all are importable from here. For one
thread running asyncio.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable

from sim.engines.llm.model import LanguageModel
from sim.engines.llm.wrappers.accounting import Budgeted, Metered
from sim.engines.llm.wrappers.base import Wrapper, usage
from sim.engines.llm.wrappers.cache import Cached
from sim.engines.llm.wrappers.calls import Concurrency, Retrying, TimeLimited

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
