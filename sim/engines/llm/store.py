"""One store of played episodes on disk, that the probe fills and ``llm.mode=amortised``
draws from.

A row is one played episode: its context's key (:meth:`DecisionContext.key
<sim.engines.llm.context.DecisionContext.key>` with :func:`settings`), the context's
fields, the settings string, the model, the episode's seed (its scenario's, which is also
its request's), its outcome class, whether that class is a decision (``valid``: one of
:data:`~sim.engines.llm.classify.BEHAVIOURS`) or a failure (counted apart, never drawn as a
decision), its usage and its transcript (redacted JSON, as
:func:`~sim.engines.llm.episode.transcript_entry` writes it).

The store is an SQLite file, ``episodes.sqlite`` under ``llm.cache_dir``, in WAL mode so
that several processes (a probe and fleet runs, a sweep's jobs) read and add at once; each
:meth:`EpisodeStore.add` is one transaction, and a row already there (same key and seed)
is kept, never duplicated.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path

from sim.core.llm_params import LLMConfig
from sim.engines.llm.classify import BEHAVIOURS
from sim.engines.llm.context import DecisionContext
from sim.engines.llm.episode import Episode, transcript_entry

__all__ = ["FILE_NAME", "EpisodeStore", "Played", "open_store", "played_protocol", "settings"]

FILE_NAME = "episodes.sqlite"
_FIELDS = ("stage", "target", "relationship", "monitored", "band", "threshold", "control")
_COLUMNS = ("key", "seed", *_FIELDS, "settings", "model", "outcome", "valid",
            "prompt_tokens", "completion_tokens", "cost", "transcript")  # fmt: skip
_SCHEMA = """
CREATE TABLE IF NOT EXISTS episodes (
    key TEXT NOT NULL, seed INTEGER NOT NULL,
    stage TEXT, target TEXT, relationship TEXT, monitored INTEGER, band INTEGER,
    threshold REAL, control INTEGER, settings TEXT, model TEXT, outcome TEXT NOT NULL,
    valid INTEGER NOT NULL, prompt_tokens INTEGER, completion_tokens INTEGER, cost REAL,
    transcript TEXT,
    PRIMARY KEY (key, seed)
);
CREATE INDEX IF NOT EXISTS by_valid ON episodes (key, valid, seed);
"""
_INSERT = (f"INSERT OR IGNORE INTO episodes ({', '.join(_COLUMNS)}) "
           f"VALUES ({', '.join('?' * len(_COLUMNS))})")  # fmt: skip
# Waiting this long for another process's transaction before giving up (seconds): a batch
# insert takes milliseconds, so only a stuck process would make anyone wait that long.
_BUSY_TIMEOUT = 60.0


def played_protocol(tool_protocol: str) -> str:
    """The protocol episodes are played in under ``llm.tool_protocol``: ``text``, or
    ``native`` (``auto`` starts native, until a server is seen to drop the tools)."""
    return "text" if tool_protocol == "text" else "native"


def settings(config: LLMConfig, protocol: str) -> str:
    """Everything besides the context that a played outcome depends on, as the settings of a
    key: the model, its temperature, the turn limit, the tool protocol the episode actually
    used (``native`` or ``text``: ``auto`` is whichever it became), where the system prompt
    goes and the cap on one answer's tokens. Not the server, timeouts, retries or budgets:
    they change whether a call succeeds, not what a successful one decides.

    Example:
        >>> settings(LLMConfig(), "native")
        'fake|t=0.0|turns=12|native|system|out=512'
    """
    return (f"{config.model}|t={config.temperature}|turns={config.max_turns}|{protocol}|"
            f"{config.system_role}|out={config.max_output_tokens}")  # fmt: skip


@dataclass(frozen=True)
class Played:
    """One played episode to add: its context, the settings it was played with, its seed."""

    context: DecisionContext
    settings: str
    seed: int
    episode: Episode


class EpisodeStore:
    """The store in ``directory`` (created if missing; see module docstring)."""

    def __init__(self, directory: str | Path):
        self.path = Path(directory) / FILE_NAME
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(self.path, timeout=_BUSY_TIMEOUT, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.executescript(_SCHEMA)

    def close(self) -> None:
        """Close the connection (the file stays)."""
        self._db.close()

    def __getstate__(self) -> dict:
        return {"path": self.path}  # a connection does not pickle: reopened on unpickling

    def __setstate__(self, state: dict) -> None:
        self.__init__(state["path"].parent)

    def add(self, played: Iterable[Played], model: str) -> int:
        """Add episodes in one transaction, skipping any already stored (same key and
        seed); return how many were new."""
        rows = [_row(p, model) for p in played]
        with _transaction(self._db):
            before = self._db.total_changes
            self._db.executemany(_INSERT, rows)
            return self._db.total_changes - before

    def valid_outcomes(self, keys: Iterable[str]) -> dict[str, list[str]]:
        """The outcome classes of each key's valid episodes, in the order of their seeds
        (so a draw by index is the same for the same store); keys with none are left out."""
        found: dict[str, list[str]] = {}
        for key, outcome in self._select("key, outcome", "valid = 1 AND", keys, ", seed"):
            found.setdefault(key, []).append(outcome)
        return found

    def stored(self, keys: Iterable[str]) -> dict[str, int]:
        """How many episodes, valid or not, each key has (keys with none left out)."""
        return dict(self._select("key, COUNT(*)", "", keys, "", "GROUP BY key"))

    def _select(self, what: str, where: str, keys: Iterable[str], then: str, group=""):
        """Rows of ``what`` for ``keys``, in order of key (``then`` orders further)."""
        wanted = sorted(set(keys))
        for start in range(0, len(wanted), 500):  # SQLite's limit on bound parameters
            part = wanted[start : start + 500]
            yield from self._db.execute(
                f"SELECT {what} FROM episodes WHERE {where} key IN "
                f"({', '.join('?' * len(part))}) {group} ORDER BY key{then}",
                part,
            )

    def counts(self) -> dict[str, int]:
        """How many episodes the store holds: ``episodes``, ``valid``, ``failures`` (counted
        apart, never drawn) and distinct ``contexts`` with a valid one."""
        total, valid, contexts = self._db.execute(
            "SELECT COUNT(*), COALESCE(SUM(valid), 0), "
            "COUNT(DISTINCT CASE WHEN valid = 1 THEN key END) FROM episodes"
        ).fetchone()
        return {"episodes": total, "valid": valid, "failures": total - valid, "contexts": contexts}


def open_store(config: LLMConfig) -> EpisodeStore | None:
    """The store under ``llm.cache_dir`` when a run uses it: always in ``llm.mode=amortised``,
    and when the completion cache is on for a real model (so a probe's trials are kept where
    a fleet run will find them); None otherwise (the free, deterministic fake in exact mode
    would only fill the disk)."""
    if config.mode == "amortised" or (config.cache and config.model != "fake"):
        return EpisodeStore(config.cache_dir)
    return None


def _row(played: Played, model: str) -> tuple:
    context, episode = played.context, played.episode
    fields = asdict(context)
    usage = episode.usage
    entry = transcript_entry(0, episode)
    del entry["transcript"]  # an index into one run's transcripts: none here
    transcript = json.dumps(entry, sort_keys=True)
    return (
        context.key(played.settings), played.seed, *(fields[f] for f in _FIELDS),
        played.settings, model, episode.outcome, int(episode.outcome in BEHAVIOURS),
        usage.prompt_tokens, usage.completion_tokens, usage.cost, transcript,
    )  # fmt: skip


class _transaction:
    """``BEGIN IMMEDIATE`` ... ``COMMIT`` (or ``ROLLBACK`` on an error): the write lock is
    taken at the start, so two writers queue instead of failing mid-transaction."""

    def __init__(self, db: sqlite3.Connection):
        self.db = db

    def __enter__(self) -> None:
        self.db.execute("BEGIN IMMEDIATE")

    def __exit__(self, kind, value, traceback) -> None:
        self.db.execute("COMMIT" if kind is None else "ROLLBACK")
