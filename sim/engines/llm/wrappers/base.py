"""The base of the wrappers: a :class:`~sim.engines.llm.model.LanguageModel` around another,
with counters that ``usage()`` reports for the whole chain."""

from __future__ import annotations

from dataclasses import asdict

from sim.engines.llm.model import LanguageModel

__all__ = ["Wrapper", "usage"]


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
