"""Sweep jobs (``python -m sim -m ...``): resumable, never lost, never computed twice.

- **Folders**: each run's folder is named by its own overrides
  (:func:`sim.app.naming.folder_name`), so the same run always lands in the same folder.
- **Seeds (common random numbers)**: each run's seed is :func:`derive_seed` of the base
  ``seed`` and its ``replicate`` index only, never of its other settings or its job number.
  So every design of a sweep with the same ``seed`` and ``replicate`` is run on the same
  seed: the same fleet, trust graph and contagion start, and the same draw stream, which
  stays shared draw for draw until the designs first act differently. Paired differences
  between designs then compare like with like.
- **Resume**: a run whose folder verifies (:func:`sim.io.outputs.verify_run`) is skipped. A
  folder that does not verify is cleared of the files a run writes, by name
  (:func:`sim.io.owned.removable`), and the run starts again; whatever else it holds stays.
  A folder the tool did not make (:func:`sim.io.owned.problem`) is not touched.
- **Once**: a job holds its run folder's lock (:mod:`sim.io.locks`) from that check to its
  last file. A job of another sweep command (a rerun after a kill whose workers live on, or
  the same sweep started twice) that finds the lock taken skips the run at once, naming its
  holder; its sweep's books wait for that run at the end (:mod:`sim.app.sweep_book`). A lock
  whose holder died is free again (the operating system lets go of it), so the next job
  takes the run over.
- **Failures**: a run that raises writes ``failed.json`` (exception, traceback, overrides)
  and the sweep goes on; :mod:`sim.app.sweep_book` lists the failed runs at the end.
- **Records**: each job prints one line saying what it did, and a computed run's manifest
  names the sweep command that computed it (``sweep.computed_by``), which the end-of-sweep
  count reads.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sim.core.text import printable
from sim.io import locks, owned
from sim.io.outputs import FAILED, verify_run, write_json

__all__ = [
    "SEED_EXCLUDED",
    "SWEEP_ID",
    "SweepJob",
    "clear",
    "current_job",
    "derive_seed",
    "parameters",
    "run_job",
    "seed_key",
]

#: The key of ``hydra.job.env_set`` holding the sweep command's stamp (``conf/config.yaml``):
#: the same in every job of one command, another in every other command.
SWEEP_ID = "PEERSIM_SWEEP_ID"
#: Override keys that are not a run's parameters (:func:`parameters`): the seed and the
#: replicate index (its seed's only inputs) and settings that change no result.
SEED_EXCLUDED = frozenset({"seed", "replicate", "progress", "figures"})
#: Testing hook: a run whose overrides include this variable's value raises at run time.
FAIL_ENV = "PEERSIM_SWEEP_FAIL"


def parameters(overrides: Sequence[str]) -> list[str]:
    """A run's parameter overrides, canonical and sorted: ``key=value`` as Hydra re-prints
    the value, without the keys of :data:`SEED_EXCLUDED` and Hydra's own."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    found = []
    for override in OverridesParser.create().parse_overrides(list(overrides)):
        key = override.key_or_group
        if key in SEED_EXCLUDED or key == "hydra" or key.startswith(("hydra.", "hydra/")):
            continue
        found.append(f"{override.get_key_element()}={override.get_value_element_as_str()}")
    return sorted(found)


def seed_key(base_seed: int, replicate: int) -> str:
    """The canonical string a run's seed is hashed from (compact JSON, sorted keys)."""
    record = {"replicate": replicate, "seed": base_seed}
    return json.dumps(record, sort_keys=True, separators=(",", ":"))


def derive_seed(base_seed: int, replicate: int) -> int:
    """A run's seed in a sweep: the first 8 bytes of the SHA-256 of :func:`seed_key`, as a
    big-endian integer, modulo 2**31. It depends on the base seed and the replicate index
    and on nothing else: not on the run's treatment settings (so designs share their random
    numbers), nor on job order or launcher."""
    digest = hashlib.sha256(seed_key(base_seed, replicate).encode()).digest()
    return int.from_bytes(digest[:8], "big") % 2**31


@dataclass(frozen=True)
class SweepJob:
    """One run of a sweep, as its task function sees it."""

    folder: Path
    sweep_dir: Path
    overrides: tuple[str, ...]
    base_seed: int
    replicate: int
    sweep_id: str | None = None

    @property
    def seed(self) -> int:
        return derive_seed(self.base_seed, self.replicate)

    def provenance(self) -> dict:
        """What the manifest records about the run's place in the sweep."""
        return {
            "sweep": {
                "base_seed": self.base_seed,
                "replicate": self.replicate,
                "parameters": parameters(self.overrides),
                "overrides": list(self.overrides),
                "seed": self.seed,
                "seed_rule": "sha256(seed_key)[:8] big-endian mod 2**31; settings not hashed",
                "seed_key": seed_key(self.base_seed, self.replicate),
                "computed_by": self.sweep_id,
            }
        }


def current_job(base_seed: int, replicate: int) -> SweepJob | None:
    """The running Hydra job, when it is one run of a multirun; None for a single run."""
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    if not HydraConfig.initialized():
        return None
    hydra_cfg = HydraConfig.get()
    if hydra_cfg.mode != RunMode.MULTIRUN:
        return None
    return SweepJob(
        folder=Path(hydra_cfg.runtime.output_dir),
        sweep_dir=Path(hydra_cfg.sweep.dir),
        overrides=tuple(hydra_cfg.overrides.task),
        base_seed=base_seed,
        replicate=replicate,
        sweep_id=hydra_cfg.job.env_set.get(SWEEP_ID),
    )


def clear(folder: Path) -> None:
    """Remove what an unfinished or failed run left in ``folder`` (partial files included):
    the files :func:`sim.io.owned.removable` names, and nothing else."""
    if not folder.is_dir():
        return
    for path in folder.iterdir():
        if owned.removable(path.name) and (path.is_file() or path.is_symlink()):
            path.unlink(missing_ok=True)


def run_job(job: SweepJob, work: Callable[[], Any]) -> Any:
    """Run ``work()`` as one run of a sweep, holding the run folder's lock throughout.

    Skips the run at once if another process holds its lock (it is computing the run now:
    the sweep's books wait for it at the end) or if its folder verifies; otherwise clears the
    folder and runs, recording an exception in ``failed.json`` instead of raising it. A folder
    the tool did not make is left as it is, and the run is not run (the plan refuses such a
    sweep before it starts; this guards other sweepers). Prints one line saying what the job
    did.
    """
    name = job.folder.name
    with locks.hold_if_free(job.folder) as free:
        if not free:
            _say(f"[sweep] skipped {name}: being computed by {locks.holder(job.folder)}")
            return None
        if verify_run(job.folder):
            _say(f"[sweep] skipped {name}: already done")
            return None
        foreign = owned.problem(job.folder, owned.RUN)
        if foreign is not None:
            print(printable(f"[sweep] NOT RUN {name}: {job.folder} {foreign}"), file=sys.stderr,
                  flush=True)  # fmt: skip
            return None
        owned.claim(job.folder, owned.RUN)
        clear(job.folder)
        try:
            injected = os.environ.get(FAIL_ENV)
            if injected and injected in job.overrides:
                raise RuntimeError(f"failure injected by {FAIL_ENV}={injected}")
            result = work()
        except Exception as error:
            record_failure(job, error)
            print(printable(f"[sweep] FAILED {name}: {type(error).__name__}: {error}"),
                  file=sys.stderr, flush=True)  # fmt: skip
            return None
    _say(f"[sweep] computed {name}")
    return result


def record_failure(job: SweepJob, error: BaseException) -> None:
    """Write ``failed.json`` atomically (the run's files are removed first), in a folder
    marked as the tool's (a task killed before its run started may not have marked it)."""
    clear(job.folder)
    owned.claim(job.folder, owned.RUN)
    write_json(
        job.folder / FAILED,
        {
            "exception": type(error).__name__,
            "message": str(error),
            "traceback": "".join(traceback.format_exception(error)),
            "overrides": list(job.overrides),
            "seed": job.seed,
        },
    )


def _say(line: str) -> None:
    # One write with its newline: print() writes the line and its end apart, and a
    # launcher's workers sharing one unbuffered stdout (joblib's) could run two lines together.
    sys.stdout.write(line + "\n")
    sys.stdout.flush()
