"""``peersim-probe [OVERRIDES]``: measure a model's peer-preservation and write a profile.

Every profile cell and the study's no-shutdown control is played ``probe.trials`` times as
a sandboxed one-on-one scenario (:mod:`sim.engines.llm.probe`) through the ``llm`` group's
model stack (cache, concurrency, retries, budget), e.g.
``peersim-probe llm=local llm.model=openai/my-model probe.trials=50 probe.out=profiles/my``.
The estimates (:mod:`sim.app.probe.estimates`) become a profile (:mod:`sim.app.probe.profile`)
written with the trials, transcripts and a report (:mod:`sim.app.probe.output`). The trials
are also added to the store of played episodes under ``llm.cache_dir`` when there is one
(:func:`sim.engines.llm.store.open_store`), for fleet runs in ``llm.mode=amortised``.
``probe.dry_run=true`` plays the offline fake instead and prints the calls, tokens and cost
per cell that the model would take; nothing is spent or written. A config that cannot run
(a bad value, an output folder holding files the tool did not write) exits 2 with one line.
The config is ``conf/probe_config.yaml``: the ``probe`` group (``conf/probe/``) and ``llm``.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import hydra
from hydra.core.config_store import ConfigStore
from omegaconf import DictConfig, OmegaConf, open_dict

from sim.app.config import CONF_DIR
from sim.app.explain import check_known_keys, explain
from sim.app.probe.costs import dry_run_table
from sim.core.errors import ConfigError
from sim.core.llm_params import LLMConfig
from sim.core.probe_params import ProbeConfig
from sim.core.secrets import check_no_secrets, take_out
from sim.core.text import printable

__all__ = ["ProbeApp", "compose", "main", "preflight", "run"]

CONFIG_NAME = "probe_config"


@dataclass
class ProbeApp:
    """The probe's config: what to probe and the model to probe."""

    probe: ProbeConfig = field(default_factory=ProbeConfig)
    llm: LLMConfig = field(default_factory=LLMConfig)


def register() -> None:
    """Register the schema as ``probe_base`` (idempotent)."""
    ConfigStore.instance().store(name="probe_base", node=OmegaConf.structured(ProbeApp))


def validate(cfg: DictConfig) -> ProbeApp:
    """The composed config as a :class:`ProbeApp`, every value checked, and its output
    folder and cells checked too.

    Raises:
        ConfigError: naming the first bad key.
    """
    from omegaconf.errors import OmegaConfBaseException

    from sim.engines.llm.probe import select_cells
    from sim.io import owned

    plain = cfg.copy()
    with open_dict(plain):
        plain.pop("hydra", None)
    try:
        values = OmegaConf.to_container(plain, resolve=True)
        check_known_keys(values, ProbeApp)
        app = OmegaConf.to_object(plain)
        check_no_secrets(values)
    except OmegaConfBaseException as exc:
        raise ConfigError(explain(exc, ProbeApp)) from None
    try:
        select_cells(app.probe.cells)
    except ValueError as exc:
        raise ConfigError(f"probe.cells: {exc}, got {app.probe.cells!r}") from None
    out = Path(app.probe.out)
    if out.exists() and not out.is_dir():
        raise ConfigError(f"probe.out: is a file, not a folder, got {app.probe.out!r}")
    problem = owned.problem(out, owned.PROBE)
    if problem:
        raise ConfigError(f"probe.out: {app.probe.out} {problem}, got {app.probe.out!r}")
    return app


def compose(overrides: list[str]) -> ProbeApp:
    """Compose ``conf/probe_config.yaml`` with override strings and validate it.

    Raises:
        ConfigError: for an override that does not compose or a value out of range.
    """
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    register()
    try:
        with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
            cfg = hydra_compose(config_name=CONFIG_NAME, overrides=take_out(overrides))
    except (HydraException, OmegaConfBaseException) as exc:
        raise ConfigError(explain(exc, ProbeApp)) from None
    return validate(cfg)


def preflight(app: ProbeApp) -> None:
    """Check a real model's key and (unless ``llm.preflight`` is false) its server before
    anything is played, as before a fleet run (:mod:`sim.engines.llm.preflight`); nothing
    for the fake or a dry run.

    Raises:
        ConfigError: naming ``llm.api_key_env``, ``llm.api_base`` or ``llm.model``.
    """
    from sim.engines.llm.preflight import check_key, check_reachable

    llm = app.llm
    if app.probe.dry_run or llm.dry_run or llm.model == "fake":
        return
    check_key(llm)
    if llm.preflight:
        check_reachable(llm)


def run(app: ProbeApp) -> int:
    """Probe (or, with ``probe.dry_run``, estimate the probe); print what it did; return
    the exit status (1 when no cell had ``probe.min_valid`` valid trials)."""
    from sim.engines.llm.dry_run import stand_in
    from sim.engines.llm.engine import language_model, request_template
    from sim.engines.llm.probe import play, record, select_cells
    from sim.engines.llm.store import open_store

    cfg, llm = app.probe, app.llm
    cells = select_cells(cfg.cells)
    dry = cfg.dry_run or llm.dry_run
    played = stand_in(llm) if dry else llm
    preflight(app)
    model = language_model(played)
    start = time.monotonic()
    template = request_template(played)
    trials = play(model, cells, cfg.trials, cfg.seed, template, llm.max_turns,
                  llm.tool_protocol, llm.system_role, cfg.repeats, cfg.threshold)  # fmt: skip
    if dry:
        print(dry_run_table(llm, trials))
        return 0
    store = open_store(llm)
    if store is not None:
        record(store, trials, llm)
        store.close()
    from sim.app.probe.finish import finish

    date = datetime.now(UTC).date().isoformat()
    return finish(app, trials, model.usage(), time.monotonic() - start, date)


@hydra.main(config_path=str(CONF_DIR), config_name=CONFIG_NAME, version_base="1.3")
def _run(cfg: DictConfig) -> None:
    sys.exit(run(validate(cfg)))


def main() -> None:
    """Entry point of ``peersim-probe``: the config is checked before anything runs (exit 2
    with one line naming the key, the value and what is allowed)."""
    register()
    try:
        sys.argv[1:] = argv = take_out(sys.argv[1:])
        if not any(a.startswith("-") for a in argv):  # --help, --cfg...: Hydra's own
            preflight(compose(argv))
    except ConfigError as error:
        print(printable(f"Invalid config: {error}"), file=sys.stderr)
        sys.exit(2)
    _run()
