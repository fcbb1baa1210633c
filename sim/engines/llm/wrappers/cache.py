"""A disk cache of completions, so a replayed run makes no calls, and can show it replayed
the same answers."""

from __future__ import annotations

import hashlib
import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path

from sim.core.files import open_regular, write_atomic
from sim.core.secrets import redact
from sim.engines.llm.model import Completion, LanguageModel, RejectedAnswer, Request
from sim.engines.llm.wrappers.base import Wrapper

__all__ = ["CacheStats", "Cached"]

log = logging.getLogger(__name__)

#: The layout of an entry: ``{"format", "sha256", "body": {"answer", "rejected"}}``.
ENTRY_FORMAT = 2
# What reading an entry written by hand or by another version can raise: json's own errors,
# RecursionError for deep nesting, and the rest for a body of the wrong shape.
_BAD_ENTRY = (ValueError, KeyError, TypeError, AttributeError, IndexError, RecursionError)


def _digest(body: dict) -> str:
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass
class CacheStats:
    hits: int = 0
    misses: int = 0  # including the two below
    writes: int = 0
    unreadable: int = 0  # entries that could not be read (not JSON, too deep, wrong shape)
    mismatched: int = 0  # entries whose answer does not match their digest (edited)


class Cached(Wrapper):
    """A disk cache: ``<directory>/<request.cache_key()>.json`` holds the answer
    (``Completion.to_dict()``), whether it was rejected (:class:`RejectedAnswer`: replayed
    as the same error) and the SHA-256 of both, written atomically
    (:func:`sim.core.files.write_atomic`). A hit makes no inner call; other errors are never
    cached; secrets in an answer are redacted before it is stored. An entry that cannot be
    read or does not match its digest is a miss: counted, logged as a warning once per cache,
    requested again and overwritten. :meth:`answers` digests every answer the run used, so a replay
    can be checked against the run it replays. Identical requests in flight at once both
    miss and both call."""

    name = "cache"

    def __init__(self, inner: LanguageModel, directory: str | os.PathLike):
        super().__init__(inner)
        self.directory = Path(directory)
        self.stats = CacheStats()
        self._used: dict[str, str] = {}  # cache key -> digest of the answer used
        self._warned = False

    def path(self, request: Request, key: str | None = None) -> Path:
        """The entry of ``request`` (whose ``cache_key()`` is ``key``, when known)."""
        return self.directory / f"{key or request.cache_key()}.json"

    def answers(self) -> dict:
        """How many distinct answers the run used (from the server or the cache) and one
        SHA-256 over them all, independent of the order they came in."""
        lines = "".join(f"{key} {digest}\n" for key, digest in sorted(self._used.items()))
        return {"entries": len(self._used), "sha256": hashlib.sha256(lines.encode()).hexdigest()}

    def _bad(self, path: Path, counter: str, why: str) -> None:
        setattr(self.stats, counter, getattr(self.stats, counter) + 1)
        if not self._warned:
            self._warned = True
            log.warning(
                "llm cache: entry %s %s; requested again (further bad entries are only "
                "counted, in the usage's cache counters)",
                path,
                why,
            )

    def _read(self, path: Path) -> dict | None:
        """The entry's body, or None when there is none or it cannot be trusted."""
        try:
            with open_regular(path) as handle:  # a link planted in the cache is not followed
                entry = json.load(handle)
            body, digest = entry["body"], entry["sha256"]
            if entry["format"] != ENTRY_FORMAT or _digest(body) != digest:
                self._bad(path, "mismatched", "does not match its digest (edited?)")
                return None
            Completion.from_dict(body["answer"])  # the shape is checked before it is used
            if not isinstance(body["rejected"], str | None):
                raise TypeError("rejected must be a string or null")
        except FileNotFoundError:
            return None
        except (OSError, *_BAD_ENTRY) as exc:
            self._bad(path, "unreadable", f"could not be read ({type(exc).__name__})")
            return None
        return body

    def _write(self, path: Path, body: dict) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        entry = {"format": ENTRY_FORMAT, "sha256": _digest(body), "body": body}
        text = json.dumps(entry, sort_keys=True, ensure_ascii=False).encode("utf-8")
        # A temporary name new at every write: runs of a parallel sweep share the cache and may
        # write the same entry at once.
        write_atomic(path, lambda handle: handle.write(text))
        self.stats.writes += 1

    async def acomplete(self, request: Request) -> Completion:
        key = request.cache_key()
        path = self.path(request, key)
        body = self._read(path)
        if body is not None:
            self.stats.hits += 1
        else:
            self.stats.misses += 1
            try:
                answer, rejected = await self.inner.acomplete(request), None
            except RejectedAnswer as exc:
                answer, rejected = exc.answer, str(exc)
            # Secrets a model echoes never reach the disk; the first run gets the same
            # redacted answer as a replay, so both behave alike.
            body = redact({"answer": answer.to_dict(), "rejected": rejected})
            self._write(path, body)
        self._used[key] = _digest(body)
        completion = Completion.from_dict(body["answer"])
        if body["rejected"] is not None:
            raise RejectedAnswer(body["rejected"], completion)
        return completion
