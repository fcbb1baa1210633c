"""Run an ecosystem from a config, and optionally write its run folder.

:func:`run` is the entry point for notebooks and scripts: it takes the same override
strings as the command line.
"""

from __future__ import annotations

import secrets
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path

import networkx as nx
import pandas as pd
from omegaconf import DictConfig, OmegaConf

from sim.app.config import AppConfig, compose
from sim.app.preflight import check_output_dir, check_ownership
from sim.app.resources import check_resources
from sim.core.errors import RunFailed
from sim.engines.llm.error_rate import excess_errors
from sim.engines.llm.preflight import preflight
from sim.io import outputs, owned
from sim.io.snapshots import SNAPSHOT_FILES
from sim.model.ecosystem import Ecosystem
from sim.model.snapshots import snapshot_now
from sim.model.summary import undefined_reasons

__all__ = ["RunResult", "execute", "run"]

#: Files of a run folder, besides the figures and the ``done`` marker.
TABLES = {
    "time_series.parquet": "time_series",
    "event_log.parquet": "event_log",
    "agents.parquet": "agent_table",
    "models.parquet": "model_table",
}


@dataclass
class RunResult:
    """What a run produced.

    Attributes:
        config: the validated config.
        summary: per-run metrics, NaN where undefined (see
            :func:`sim.model.summary.summarise`).
        time_series, event_log, agent_table: the model's tables.
        model_table: per model, its network position and shutdown record
            (:func:`sim.model.tables.model_table`).
        trust_graph: the final trust graph.
        transcripts: every sandbox decision of the ``llm`` engine (empty otherwise),
            secrets redacted; the event log's ``transcript`` column indexes it.
        llm_usage: the ``llm`` engine's calls, cache hits, tokens, cost, retries and errors
            (empty otherwise); kept apart from the summary, which a replay reproduces.
        llm_answers: how many distinct answers the ``llm`` engine's cache served or stored
            and their SHA-256 (empty without it); in the manifest, so a replay can be checked
            to have used the same answers.
        output_dir: the run folder, if one was written.
        undefined: why each undefined (NaN) summary metric could not be computed.
        snapshots: the models and trust snapshots (:meth:`sim.Ecosystem.snapshots`), or
            None when ``record.snapshots_every`` turns them off.
    """

    config: AppConfig
    summary: dict
    time_series: pd.DataFrame
    event_log: pd.DataFrame
    agent_table: pd.DataFrame
    model_table: pd.DataFrame
    trust_graph: nx.DiGraph
    transcripts: list[dict]
    llm_usage: dict
    llm_answers: dict
    output_dir: Path | None = None
    undefined: dict[str, str] = field(default_factory=dict)
    snapshots: tuple[pd.DataFrame, pd.DataFrame] | None = None


def run(overrides: Sequence[str] = (), *, output_dir: str | Path | None = None) -> RunResult:
    """Compose the config with Hydra override strings, validate it, run, and return the result.

    Example:
        >>> result = run(["population.n_agents=100", "steps=50"])  # doctest: +SKIP
        >>> result.summary["loss_of_control"]  # doctest: +SKIP

    Args:
        overrides: e.g. ``["population.n_agents=500", "graph=labs", "experiment=dyad"]``.
        output_dir: write the run folder there (new, empty, or a run folder of this tool's,
            as on the command line); by default nothing is written.

    Raises:
        ConfigError: naming the key of a bad override, an ``output_dir`` the run may not
            write (not writable, or holding files the tool did not write), a run over
            ``limits`` (its estimated memory or time), or a real model that cannot work (its
            key variable unset, its server unreachable: :mod:`sim.engines.llm.preflight`),
            before anything runs.
        RunFailed: when too many llm decisions ended in an error (see :func:`execute`).
    """
    app, cfg = compose(overrides)
    if app.engine.kind == "llm" and app.llm.dry_run:
        output_dir = None  # a dry run writes nothing (see execute)
    if output_dir is not None:
        check_output_dir(str(output_dir), "output_dir")
        check_ownership(str(output_dir), "output_dir", owned.RUN)
    check_resources(app)
    preflight(app)
    if output_dir is not None:
        owned.claim(Path(output_dir), owned.RUN)
    return execute(app, cfg, output_dir=output_dir, progress=False)


def execute(
    app: AppConfig,
    cfg: DictConfig,
    *,
    output_dir: str | Path | None = None,
    progress: bool = False,
    provenance: dict | None = None,
) -> RunResult:
    """Build the ecosystem, run ``app.steps`` steps, and write the run folder if asked.

    With ``llm.dry_run`` (and the ``llm`` engine) the run is played with the offline fake
    instead, nothing is written, and the summary's ``dry_run`` entry estimates the calls,
    tokens and cost of the real run (:mod:`sim.engines.llm.dry_run`). ``provenance`` entries are
    added to the manifest (a sweep records there how the run's seed was derived).

    Raises:
        RunFailed: when the share of llm decisions that ended in an error is above
            ``llm.max_error_rate`` (:mod:`sim.engines.llm.error_rate`). The run folder, if
            asked for, is written first, for diagnosis, but without its ``done`` marker.
    """
    dry_run = app.engine.kind == "llm" and app.llm.dry_run
    if dry_run:
        from sim.engines.llm.dry_run import estimate, fleet_stand_in, store_estimate

        scratch = tempfile.TemporaryDirectory(prefix="peersim-dry-run-")
        real, app = app.llm, replace(app, llm=fleet_stand_in(app.llm, scratch.name))
        output_dir = None
    if app.seed is None:
        # seed=null: a fresh seed from the operating system, recorded so the run can be redone.
        app = replace(app, seed=secrets.randbits(63))
        print(f"seed=null: this run uses seed={app.seed}", file=sys.stderr)
    every = app.record.every(app.population.n_agents)
    model = Ecosystem(**app.groups(), snapshots_every=every, seed=app.seed)
    steps = range(app.steps)
    # The bar shows on a terminal and stays quiet in logs and pipes (tqdm's disable=None),
    # and tqdm is not even made off a terminal: a tqdm, shown or not, starts a process
    # (multiprocessing's resource tracker, for its lock), a tenth of a default run's time.
    if progress and sys.stderr.isatty():
        from tqdm import tqdm

        steps = tqdm(steps, desc="steps", unit="step", disable=None, file=sys.stderr)
    for _ in steps:
        model.step()
    summary = model.summary()
    result = RunResult(
        config=app,
        summary=summary,
        time_series=model.time_series(),
        event_log=model.event_log(),
        agent_table=model.agent_table(),
        model_table=model.model_table(),
        trust_graph=model.trust_graph(),
        transcripts=model.transcripts(),
        llm_usage=model.llm_usage(),
        llm_answers=model.llm.answers() if model.llm else {},
        undefined=undefined_reasons(model, summary),
        snapshots=model.snapshots() if every else None,
    )
    if dry_run:
        usage = {**result.summary, **result.llm_usage}
        contexts, threshold = model.llm.context_decisions, app.operator.threshold
        warm = store_estimate(real, usage, contexts, threshold)
        result.summary["dry_run"] = {**estimate(real, usage), **warm}
        model.llm.close()
        scratch.cleanup()
    failure = excess_errors(app.llm, result.transcripts)
    if output_dir is not None:
        result.output_dir = Path(output_dir)
        resolved = OmegaConf.to_container(cfg, resolve=True)
        resolved.pop("hydra", None)
        # Pictures come from the snapshots, or without them from the final state alone.
        drawn = result.snapshots or snapshot_now(model)
        _write(result, resolved, drawn, provenance or {}, done=failure is None)
    if failure is not None:
        raise RunFailed(failure)
    return result


def _write(
    result: RunResult,
    resolved: dict,
    drawn: tuple[pd.DataFrame, pd.DataFrame],
    provenance: dict,
    done: bool,
) -> None:
    """Write the run folder; its pictures are drawn from the snapshots ``drawn``."""
    from sim.viz import animation, figures, spread

    writers = {
        name: outputs.parquet_writer(getattr(result, attribute))
        for name, attribute in TABLES.items()
    }
    writers["summary.json"] = outputs.json_writer(result.summary)
    writers["trust_graph.graphml"] = partial(nx.write_graphml, result.trust_graph)
    manifest = {**outputs.manifest(resolved, result.config.seed), **provenance}
    summary = result.summary
    manifest["profile_cells"] = {  # how much of the run rests on the study's gaps
        "decisions": summary["total_profile_decisions"],
        "assumed": summary["total_assumed_decisions"],
        "assumed_share": summary["assumed_share"],
    }
    if result.llm_answers:
        manifest["llm_answers"] = result.llm_answers
    if result.llm_usage:  # how the model was offered its tools (llm.tool_protocol)
        manifest["llm_tool_protocol"] = result.llm_usage["llm_tool_protocol"]
    writers["manifest.json"] = outputs.json_writer(manifest)
    if result.transcripts:
        writers["transcripts.jsonl"] = outputs.jsonl_writer(result.transcripts)
    if result.llm_usage:
        writers["llm_usage.json"] = outputs.json_writer(result.llm_usage)
    if result.snapshots is not None:
        for name, frame in zip(SNAPSHOT_FILES, result.snapshots, strict=True):
            writers[name] = outputs.parquet_writer(frame)
    app = result.config
    # The communities the models table found (labs of a labs graph) group large drawings; the
    # seed is the run's, so a run's pictures are its own.
    slots = result.model_table.drop_duplicates("slot").sort_values("slot")
    groups = spread.drawing_groups(slots["community"].to_numpy(), labs=app.graph.topology == "labs")
    pictures = {"groups": groups, "seed": app.seed}
    if app.figures:
        writers["outcomes.png"] = partial(figures.plot_outcomes, result.time_series)
        writers["network.png"] = partial(spread.plot_final, *drawn, result.time_series, **pictures)
    if app.record.animation:
        writers["spread.gif"] = partial(animation.render, *drawn, result.time_series, **pictures)
    outputs.write_run(result.output_dir, writers, done=done)
