"""docs/ODD.md describes the code as it is: every parameter it names exists in the schema."""

from __future__ import annotations

import re
from pathlib import Path

from omegaconf import OmegaConf

from sim.app.runner import compose

ODD = Path(__file__).resolve().parents[1] / "docs" / "ODD.md"
GROUPS = ("population", "graph", "schedule", "pipeline", "operator", "interventions",
          "contagion", "engine", "llm", "limits")  # fmt: skip
#: A parameter in backticks: `group.key`, optionally `=value`.
PARAMETER = re.compile(rf"`((?:{'|'.join(GROUPS)})\.[a-z_.]+)(?:=[^`]*)?`")
_MISSING = object()


def test_every_parameter_named_in_the_odd_exists():
    _, config = compose([])
    named = set(PARAMETER.findall(ODD.read_text(encoding="utf-8")))
    assert len(named) > 50  # the description names the parameters it rests on
    missing = sorted(k for k in named if OmegaConf.select(config, k, default=_MISSING) is _MISSING)
    assert missing == []


def test_the_odd_has_every_section_of_the_protocol():
    headings = re.findall(r"^## \d\. (.+)$", ODD.read_text(encoding="utf-8"), re.MULTILINE)
    assert headings == ["Purpose and patterns", "Entities, state variables and scales",
                        "Process overview and scheduling", "Design concepts", "Initialisation",
                        "Input data", "Submodels"]  # fmt: skip
