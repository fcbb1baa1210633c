"""Run folders read back: finding them under a sweep folder, and reading one run's status,
overrides, metrics, time series and model table (for :mod:`sim.io.collect`).

A run folder holds ``.hydra/overrides.yaml``, ``summary.json`` or ``failed.json``. A run is
``failed`` when it holds ``failed.json`` (whatever else it holds), ``ok`` when its ``done``
marker is present and every checksum in it matches (:func:`sim.io.outputs.verify_run`), and
``incomplete`` otherwise. No other file plays a part: lock files and temporaries are ignored,
and no lock is taken, so reading a sweep never waits for one that is running.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import yaml

from sim.core.secrets import redact
from sim.io import outputs
from sim.io.outputs import FAILED

__all__ = [
    "MODELS",
    "OVERRIDES",
    "SUMMARY",
    "TIME_SERIES",
    "Run",
    "find_runs",
    "is_run",
    "parse_overrides",
    "read_run",
]

OVERRIDES = Path(".hydra") / "overrides.yaml"
SUMMARY = "summary.json"
TIME_SERIES = "time_series.parquet"
MODELS = "models.parquet"  # absent from runs made before it existed


@dataclass
class Run:
    """One run folder as read: its status and why, overrides and parameters, and (for an
    ``ok`` run) its flattened summary metrics, time series and model table (None if the run
    has none)."""

    path: Path
    name: str
    status: str = "incomplete"
    reason: str = ""
    overrides: list[str] = field(default_factory=list)
    params: dict[str, tuple[object, str]] = field(default_factory=dict)  # column -> (value, text)
    identity: tuple | None = None  # canonical overrides, for duplicate detection
    metrics: dict[str, object] = field(default_factory=dict)
    time_series: pd.DataFrame | None = None
    models: pd.DataFrame | None = None


def find_runs(sweep_dir: Path) -> list[Path]:
    """Every run folder under ``sweep_dir`` (itself included), in natural order.

    A run folder holds ``.hydra/overrides.yaml``, ``summary.json`` or ``failed.json``; hidden
    folders and the insides of a run folder are not searched.
    """
    found = []
    for root, dirs, _ in os.walk(sweep_dir):
        folder = Path(root)
        if is_run(folder):
            found.append(folder)
            dirs[:] = []
        else:
            dirs[:] = [d for d in dirs if not d.startswith(".")]
    return sorted(found, key=lambda p: _natural(p.relative_to(sweep_dir).as_posix()))


def is_run(folder: Path) -> bool:
    """Whether ``folder`` holds a run: ``.hydra/overrides.yaml``, ``summary.json`` or
    ``failed.json``."""
    return any((folder / name).is_file() for name in (OVERRIDES, SUMMARY, FAILED))


def _natural(text: str) -> list:
    return [
        (0, int(part), "") if part.isdigit() else (1, 0, part)
        for part in re.split(r"(\d+)", text)
        if part
    ]


def read_run(folder: Path, sweep_dir: Path) -> Run:
    """Read the run in ``folder``; its ``name`` is the folder relative to ``sweep_dir``."""
    run = Run(path=folder, name=folder.relative_to(sweep_dir).as_posix())
    failure = _read_failure(folder) if (folder / FAILED).is_file() else None
    try:
        # Redacted as read: the tables and problem lines never show a secret.
        run.overrides = redact(_read_overrides(folder, failure))
        run.params, run.identity = parse_overrides(run.overrides)
    except (OSError, ValueError) as error:
        run.reason = f"unreadable overrides: {error}"
        return run
    if failure is not None:
        run.status, run.reason = "failed", redact(failure["exception"])
        return run
    if not (folder / outputs.DONE).is_file():
        run.reason = "no done marker (running, unfinished or killed)"
        return run
    if not outputs.verify_run(folder):
        run.reason = "done marker does not match the files (changed, corrupted or missing)"
        return run
    try:
        summary = json.loads((folder / SUMMARY).read_text(encoding="utf-8"))
        if not isinstance(summary, dict):
            raise ValueError("not a JSON object")
    except (OSError, ValueError) as error:
        run.reason = f"unreadable {SUMMARY}: {error}"
        return run
    for name, attribute in ((TIME_SERIES, "time_series"), (MODELS, "models")):
        if name == MODELS and not (folder / name).is_file():
            continue
        try:
            setattr(run, attribute, pd.read_parquet(folder / name, engine="pyarrow"))
        except Exception as error:  # verified, yet missing or unreadable: do not take it
            run.reason = f"unreadable {name}: {error}"
            return run
    run.metrics = _flatten(summary)
    run.status = "ok"
    return run


def _read_failure(folder: Path) -> dict:
    """``failed.json`` as ``{"exception": first line, "overrides": list or None}``."""
    try:
        data = json.loads((folder / FAILED).read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        return {"exception": f"unreadable {FAILED}: {error}", "overrides": None}
    if not isinstance(data, dict):
        return {"exception": f"unreadable {FAILED}: not a JSON object", "overrides": None}
    text = str(data.get("exception") or "").strip()
    if not text:  # fall back on the traceback's last line
        lines = str(data.get("traceback") or "").strip().splitlines()
        text = lines[-1].strip() if lines else "unknown exception"
    return {"exception": text.splitlines()[0], "overrides": data.get("overrides")}


def _read_overrides(folder: Path, failure: dict | None) -> list[str]:
    """The run's override strings: Hydra's record, else the failure's, else none."""
    if (folder / OVERRIDES).is_file():
        try:
            listed = yaml.safe_load((folder / OVERRIDES).read_text(encoding="utf-8"))
        except yaml.YAMLError as error:
            raise ValueError(f"{OVERRIDES.as_posix()}: {error}") from None
        source = OVERRIDES.as_posix()
    elif failure is not None and failure["overrides"] is not None:
        listed, source = failure["overrides"], FAILED
        if isinstance(listed, dict):
            listed = [f"{key}={value}" for key, value in listed.items()]
    else:
        return []
    if listed is None:
        return []
    if not isinstance(listed, list) or not all(isinstance(item, str) for item in listed):
        raise ValueError(f"{source}: not a list of override strings")
    return listed


def parse_overrides(overrides: list[str]) -> tuple[dict[str, tuple[object, str]], tuple]:
    """Column -> (typed value, text after ``=``) and a canonical identity for duplicates.

    Values are typed as Hydra parses them (``0.1`` float, ``3`` int, ``true`` bool); lists
    and mappings keep their override text. Hydra's own overrides are left out.
    """
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import HydraException

    parser = OverridesParser.create()
    params: dict[str, tuple[object, str]] = {}
    identity = []
    for text in overrides:
        try:
            parsed = parser.parse_override(text)
        except HydraException as error:
            raise ValueError(f"cannot parse override {text!r}: {error}") from None
        if parsed.is_hydra_override():
            continue
        key = parsed.key_or_group + (f"@{parsed.package}" if parsed.package else "")
        raw = text.split("=", 1)[1] if "=" in text else ""
        if parsed.is_delete():
            column, value = f"~{key}", True
        else:
            column, value = key, parsed.value()
            if isinstance(value, list | dict):  # tables hold scalars: keep the override text
                value = parsed.get_value_element_as_str()
        params[column] = (value, raw)
        identity.append((column, json.dumps(value, sort_keys=True, default=str)))
    return params, tuple(sorted(identity))


def _flatten(data: dict, prefix: str = "") -> dict[str, object]:
    flat: dict[str, object] = {}
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{name}."))
        elif isinstance(value, list | tuple):
            flat[name] = json.dumps(value, sort_keys=True, default=str)
        else:
            flat[name] = value
    return flat
