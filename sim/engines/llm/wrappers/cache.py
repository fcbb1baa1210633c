"""A disk cache of completions, so a replayed run makes no calls."""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from sim.engines.llm.model import Completion, LanguageModel, Request
from sim.engines.llm.secrets import redact
from sim.engines.llm.wrappers.base import Wrapper

__all__ = ["CacheStats", "Cached"]


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
        # A temporary name new at every write: runs of a parallel sweep share the cache and may
        # write the same entry at once. (Engines do not import sim.io, whose writer is alike.)
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
