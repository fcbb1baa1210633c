"""Every ``python -m sim`` command in the README and in the experiments' READMEs composes and
validates: the documentation and the schema agree (each run of a documented sweep included,
up to the first 40)."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from sim.app.config import compose

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
EXPERIMENTS = sorted((ROOT / "experiments").glob("*/README.md"))
#: Flags of Hydra's command line that select no config value.
FLAGS = {"-m", "--multirun", "--cfg", "job", "--resolve"}
MAX_RUNS_PER_COMMAND = 40


def readme_commands(readme: Path = README) -> list[str]:
    """The argument strings of every ``python -m sim`` line in a README's code blocks,
    continuation lines joined, placeholders such as ``<yours>`` filled in."""
    text = readme.read_text(encoding="utf-8")
    blocks = re.findall(r"```bash\n(.*?)```", text, flags=re.S)
    commands = []
    for block in blocks:
        for line in block.replace("\\\n", " ").splitlines():
            line = line.split("  #")[0].split(" # ")[0]
            found = re.search(r"(?:^|\s)python -m sim(?:\s(.*)|$)", line)
            if found:
                commands.append(re.sub(r"<[^>]+>", "x", found.group(1) or "").strip())
    return commands


def runs_of(arguments: str) -> list[list[str]]:
    """The overrides of each run a command makes (a sweep's runs, from the basic sweeper's
    grammar)."""
    from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
    from hydra.core.override_parser.overrides_parser import OverridesParser

    overrides = [a for a in shlex.split(arguments) if a not in FLAGS and a != "..."]
    parsed = OverridesParser.create().parse_overrides(overrides)
    batches = BasicSweeper.split_arguments(parsed, MAX_RUNS_PER_COMMAND)
    return [list(run) for run in batches[0]] if batches else [[]]


def test_the_readme_shows_commands():
    commands = readme_commands()
    assert len(commands) >= 20
    assert "seed=null" in " ".join(commands)
    assert "operator.audit_power=0.5" in " ".join(commands)


@pytest.mark.parametrize("arguments", readme_commands())
def test_every_readme_command_is_accepted(arguments):
    for overrides in runs_of(arguments):
        compose(overrides)  # raises ConfigError naming the key if the schema refuses it


def one_replicate(arguments: str) -> str:
    """The command with its replicates reduced to the first, so that the first runs of the
    sweep cover every setting rather than one setting's replicates."""
    return re.sub(r"'?replicate=range\((\d+),\d+\)'?", r"replicate=\1", arguments)


def test_one_replicate_keeps_every_setting():
    command = "-m contagion=none,reciprocity 'replicate=range(0,20)' graph.trust_a=1,4"
    assert one_replicate(command) == "-m contagion=none,reciprocity replicate=0 graph.trust_a=1,4"
    assert len(runs_of(one_replicate(command))) == 4


@pytest.mark.parametrize(
    "arguments",
    [one_replicate(arguments) for readme in EXPERIMENTS for arguments in readme_commands(readme)],
)
def test_every_experiment_command_is_accepted(arguments):
    runs = runs_of(arguments)
    assert len(runs) <= MAX_RUNS_PER_COMMAND  # every setting composed, none cut off
    for overrides in runs:
        compose(overrides)
