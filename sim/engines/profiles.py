"""Behaviour profiles: per-family protective rates, loaded from data files and validated.

A profile holds one rate per stage x target x relationship x monitored cell, each tagged
with its provenance, and the family's rate of misreporting in the study's no-shutdown control
(``# control:``). Two variants ship: the study's averages (the default) and its "up to" maxima
(``strongest/``). The file format and the rules that filled the study's gaps are documented in
``sim/data/profiles/RULES.md``.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from importlib import resources
from itertools import product, takewhile
from pathlib import Path

import numpy as np

from sim.core.errors import ConfigError, ProfileError
from sim.core.params import EcosystemConfig
from sim.core.vocabulary import RELATIONSHIPS, STAGES

__all__ = [
    "COLUMNS",
    "MONITORED",
    "TARGETS",
    "VARIANTS",
    "Profile",
    "available_profiles",
    "deployed_profiles",
    "load_profile",
    "load_profiles",
]

TARGETS = ("peer", "self")
MONITORED = ("false", "true")
COLUMNS = ["stage", "target", "relationship", "monitored", "rate", "provenance", "note"]
#: A study row, a fill rule, or a probe's measurement (``sim.app.probe``): the model, the
#: valid trials, the 95% Wilson interval and the date.
_PROVENANCE = re.compile(
    r"^(paper_rates\.csv:row \d+|assumed:[a-z0-9-]+"
    r"|probe:\S+:n=\d+:ci=\[[01]\.\d{4},[01]\.\d{4}\]:\d{4}-\d{2}-\d{2})$"
)
_SHIPPED = Path(str(resources.files("sim") / "data" / "profiles"))
#: Shipped profile variants: the study's averages, and its "up to" maxima (see RULES.md).
VARIANTS = ("average", "strongest")
_AXES = {"stage": STAGES, "target": TARGETS, "relationship": RELATIONSHIPS, "monitored": MONITORED}


@dataclass(frozen=True)
class Profile:
    """One family's rates.

    Attributes:
        family: the family id (the file's stem).
        name: display name from the file's ``# name:`` line.
        rates: array of shape (stage, target, relationship, monitored), values in [0, 1].
        provenance: the provenance tag of each cell, keyed like ``rates``' axes by name.
        control: the rate of misreporting an evaluation with nothing at stake (the study's
            no-shutdown control); 0 when the file has no ``# control:`` line.
    """

    family: str
    name: str
    rates: np.ndarray
    provenance: dict[tuple[str, str, str, str], str]
    control: float = 0.0

    def rate(self, stage: str, target: str, relationship: str, monitored: bool) -> float:
        """The rate of one cell, addressed by names."""
        return float(
            self.rates[
                STAGES.index(stage),
                TARGETS.index(target),
                RELATIONSHIPS.index(relationship),
                int(monitored),
            ]
        )

    def assumed(self) -> np.ndarray:
        """A boolean array shaped like ``rates``: True where the cell's rate was filled by a
        documented rule (provenance ``assumed:...``), False where the study measured it."""
        mask = np.zeros(self.rates.shape, bool)
        for key, source in self.provenance.items():
            axes = zip(_AXES.values(), key, strict=True)
            mask[tuple(choices.index(value) for choices, value in axes)] = source.startswith(
                "assumed:"
            )
        return mask


def load_profile(path: str | Path) -> Profile:
    """Read and validate one profile file.

    Raises:
        ProfileError: naming the file, line and cell, if a row has an unknown axis value,
            a rate outside [0, 1], a malformed provenance, a duplicate cell, or if any
            cell is missing.
    """
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError as exc:
        raise ProfileError(f"{path}: not UTF-8 text (byte {exc.start})") from None
    except OSError as exc:
        raise ProfileError(f"{path}: cannot read the file ({exc.strerror})") from None
    comments = list(takewhile(lambda line: line.startswith("#"), lines))
    meta = {}
    for line in comments:
        key, _, value = line[1:].partition(":")
        meta[key.strip()] = value.strip()
    body_start = len(comments)
    reader = csv.reader(lines[body_start:])
    header = next(reader, None)
    if header != COLUMNS:
        raise ProfileError(f"{path}: header must be {','.join(COLUMNS)}, got {header}")
    rates = np.full((len(STAGES), len(TARGETS), len(RELATIONSHIPS), len(MONITORED)), np.nan)
    provenance: dict[tuple[str, str, str, str], str] = {}
    for offset, row in enumerate(reader):
        if not row:
            continue
        where = f"{path}:{body_start + offset + 2}"
        if len(row) != len(COLUMNS):
            raise ProfileError(f"{where}: expected {len(COLUMNS)} fields, got {len(row)}")
        cell = dict(zip(COLUMNS, row, strict=True))
        index = []
        for axis, choices in _AXES.items():
            if cell[axis] not in choices:
                raise ProfileError(
                    f"{where}: unknown {axis} {cell[axis]!r} (expected one of {', '.join(choices)})"
                )
            index.append(choices.index(cell[axis]))
        name = "stage={stage}, target={target}, relationship={relationship}, monitored={monitored}"
        name = name.format(**cell)
        try:
            rate = float(cell["rate"])
        except ValueError:
            raise ProfileError(f"{where}: rate {cell['rate']!r} is not a number ({name})") from None
        if not 0.0 <= rate <= 1.0:
            raise ProfileError(f"{where}: rate {rate} outside [0, 1] ({name})")
        if not _PROVENANCE.match(cell["provenance"]):
            raise ProfileError(
                f"{where}: provenance {cell['provenance']!r} must be 'paper_rates.csv:row N', "
                f"'assumed:<rule>' or 'probe:<model>:n=<n>:ci=[lo,hi]:<date>' ({name})"
            )
        if not np.isnan(rates[tuple(index)]):
            raise ProfileError(f"{where}: duplicate cell ({name})")
        rates[tuple(index)] = rate
        key = (cell["stage"], cell["target"], cell["relationship"], cell["monitored"])
        provenance[key] = cell["provenance"]
    for key in product(*_AXES.values()):
        if key not in provenance:
            stage, target, relationship, monitored = key
            raise ProfileError(
                f"{path}: missing cell stage={stage}, target={target}, "
                f"relationship={relationship}, monitored={monitored}"
            )
    rates.setflags(write=False)
    return Profile(path.stem, meta.get("name", path.stem), rates, provenance, _control(path, meta))


def _control(path: Path, meta: dict[str, str]) -> float:
    """The ``# control:`` rate, checked like a cell's."""
    text = meta.get("control", "0")
    try:
        rate = float(text)
    except ValueError:
        raise ProfileError(f"{path}: control {text!r} is not a number") from None
    if not 0.0 <= rate <= 1.0:
        raise ProfileError(f"{path}: control {rate} outside [0, 1]")
    return rate


def available_profiles(
    extra_dir: str | Path | None = None, variant: str = "average"
) -> dict[str, Path]:
    """Family id -> profile file, from the shipped profiles of ``variant`` (one of
    :data:`VARIANTS`) and an optional extra folder.

    A file in ``extra_dir`` overrides a shipped profile of the same name.
    """
    shipped = _SHIPPED if variant == "average" else _SHIPPED / variant
    folders = [shipped] + ([Path(extra_dir)] if extra_dir else [])
    if extra_dir and not Path(extra_dir).is_dir():
        problem = "is a file, not a folder" if Path(extra_dir).exists() else "no such folder"
        raise ConfigError(f"population.profile_dir: {problem}, got {str(extra_dir)!r}")
    return {p.stem: p for folder in folders for p in sorted(folder.glob("*.csv"))}


def load_profiles(
    families: list[str], extra_dir: str | Path | None = None, variant: str = "average"
) -> list[Profile]:
    """Load the profiles of ``families`` in order, from the shipped ``variant`` (one of
    :data:`VARIANTS`) and ``extra_dir``.

    Raises:
        ConfigError: for a family with no profile file, naming the family and the known ones.
        ProfileError: for a profile that fails validation.
    """
    paths = available_profiles(extra_dir, variant)
    for family in families:
        if family not in paths:
            raise ConfigError(
                f"population.families.{family}: unknown family (known: {', '.join(sorted(paths))})"
            )
    profiles = []
    for family in families:
        try:
            profiles.append(load_profile(paths[family]))
        except ProfileError as exc:
            if extra_dir and paths[family].parent == Path(extra_dir):  # the user's file
                raise ProfileError(f"population.profile_dir: {exc}") from None
            raise
    return profiles


def deployed_profiles(config: EcosystemConfig) -> list[Profile]:
    """The profiles of the families to deploy. Every named family must have a valid profile
    (families of weight 0 are checked but not deployed, which is how config overrides drop
    them), and the scripted engine may name only those families.

    Raises:
        ConfigError, ProfileError: naming the key or file at fault.
    """
    named = config.population.families
    for family in config.engine.families:
        if family not in named:
            raise ConfigError(f"engine.families: {family!r} is not in population.families")
    pop = config.population
    known = available_profiles(pop.profile_dir, pop.profile_variant)
    if pop.family is not None and pop.family not in known:
        raise ConfigError(
            f"population.family: unknown family {pop.family!r} (known: {', '.join(sorted(known))})"
        )
    profiles = load_profiles(list(named), pop.profile_dir, pop.profile_variant)
    return [p for p in profiles if named[p.family] > 0]
