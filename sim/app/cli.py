"""Command line: ``peersim [OVERRIDES]`` or ``python -m sim [OVERRIDES]`` (Hydra).

With no arguments it runs the default fleet and prints a summary and the run folder.
Every config is checked before Hydra creates any output folder (:mod:`sim.app.validation`):
the command line here, and each run of a sweep by the callback that ``conf/config.yaml``
installs. A multirun (``-m``) is a sweep: resumable, with derived seeds and failed runs
recorded, each run computed once (:mod:`sim.app.sweep`, :mod:`sim.app.sweep_book`).

A run's summary table goes to the ``peersim`` logger, which Hydra's job log (``cli.log`` in
the run folder) holds and ``conf/config.yaml`` keeps off the terminal; a single run also
prints it, while a sweep's jobs print only their one ``[sweep]`` line each.
"""

from __future__ import annotations

import gc
import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import replace
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from sim.app import naming, orphans, sweep
from sim.app.compose_once import composed_once, single_run
from sim.app.config import CONF_DIR, register, validate
from sim.app.help import asks_for_help, one_repository_copy
from sim.app.validation import check_command_line
from sim.core.errors import RunFailed
from sim.core.text import printable
from sim.io import owned

__all__ = ["main"]

#: Names of :mod:`sim.app.summary_table` that this module has always offered; that module
#: loads (with Mesa) only when one is asked for, so that `--help` starts without it.
_TABLE = ("SHOWN", "SHOWN_LLM", "assumed_warning", "format_estimate", "format_summary")

log = logging.getLogger("peersim")

# At import, not in main(): launcher workers import this module (to unpickle the task
# function) and resolve the folder names in their jobs' configs.
naming.register_resolvers()


@hydra.main(config_path=str(CONF_DIR), config_name="config", version_base="1.3")
def _run(cfg: DictConfig) -> dict | None:
    app = validate(cfg)
    output_dir = HydraConfig.get().runtime.output_dir
    job = sweep.current_job(app.seed, app.replicate)
    if job is None:
        if app.replicate:
            print("Note: replicate changes the seed only in a sweep (-m); this run uses "
                  f"seed={app.seed} as given.", file=sys.stderr)  # fmt: skip
        # Marked before any file of ours: a rerun into this folder, even after a kill, is
        # then known to be into the tool's own folder (sim.app.preflight.check_run).
        owned.claim(Path(output_dir), owned.RUN)
        try:
            return _execute(app, cfg, output_dir)
        except RunFailed as failure:  # a sweep records it in failed.json instead
            print(printable(f"Run failed: {failure} (files without a done marker in {output_dir})"),
                  file=sys.stderr)  # fmt: skip
            sys.exit(1)
    orphans.stop_with_sweep_command(job.sweep_id, HydraConfig.get().launcher.get("_target_", ""))
    # A sweep's job prints its one [sweep] line only: no progress bar, no table.
    seeded = replace(app, seed=job.seed, progress=False)
    return sweep.run_job(
        job, lambda: _execute(seeded, cfg, output_dir, job.provenance(), echo=False)
    )


def _execute(
    app, cfg: DictConfig, output_dir: str, provenance: dict | None = None, echo: bool = True
) -> dict:
    """Run, log the summary table (and the assumed-cells warning) to the job log, and print
    them too when ``echo`` (a single run)."""
    from sim.app.runner import execute
    from sim.app.summary_table import assumed_warning, format_estimate, format_summary

    result = execute(app, cfg, output_dir=output_dir, progress=app.progress, provenance=provenance)
    if "dry_run" in result.summary:
        table = format_estimate(result.summary["dry_run"])
    else:
        table = format_summary({**result.summary, **result.llm_usage}, output_dir, result.undefined)
    log.info("summary of the run in %s\n%s", output_dir, table)
    if echo:
        print(table)
    warning = assumed_warning(result.summary)
    if warning is not None:
        log.warning(warning)
        if echo:
            print(warning, file=sys.stderr)
    return result.summary


def __getattr__(name: str):
    if name in _TABLE:
        from sim.app import summary_table

        return getattr(summary_table, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def main() -> None:
    """Entry point of ``peersim`` and ``python -m sim``."""
    register()
    run = single_run(sys.argv[1:])
    if run is None:
        # Hydra reads sys.argv: with the credentials taken out, no config it composes holds one.
        sys.argv[1:] = check_command_line(sys.argv[1:])
        with one_repository_copy() if asks_for_help(sys.argv[1:]) else nullcontext():
            _run()
        return
    with composed_once():
        with _collected_after():
            sys.argv[1:] = check_command_line(run)
            # Mesa names its loggers at import with inspect.stack(), which scans all of
            # sys.modules for each import frame on the stack: imported here, not at the end
            # of a chain of imports inside Hydra's job, it has 15 such frames, not 25.
            import mesa  # noqa: F401
        _run()


@contextmanager
def _collected_after() -> Iterator[None]:
    """Within: no garbage collection; after it, every object made so far is frozen
    (:func:`gc.freeze`), so that later collections no longer walk them.

    The command's start (the gate's composition, and importing Hydra, networkx, Mesa,
    SciPy and pandas) makes about 150,000 long-lived objects, and each collection during
    and after it walks them: a tenth of a default run. What the start leaves unreachable
    (the gate's config trees) stays until the process ends: a few megabytes, whatever the
    run's size, whose own objects are made and collected afterwards as usual.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        if enabled:
            gc.enable()
