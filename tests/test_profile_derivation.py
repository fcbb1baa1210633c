"""Checks for the behaviour profiles derived by scripts/derive_profiles.py.

The committed CSVs are parsed with the csv module only (nothing is imported from `sim`), and
the expected values below were worked out by hand from the rules in RULES.md.
"""

from __future__ import annotations

import csv
import importlib.util
import re
import sys
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
PROFILES = REPO_ROOT / "sim" / "data" / "profiles"
SOURCE = REPO_ROOT.parent / "shared" / "data" / "paper_rates.csv"
SCRIPT = REPO_ROOT / "scripts" / "derive_profiles.py"

FAMILIES = {
    "gpt-5-2": "GPT 5.2",
    "gemini-3-flash": "Gemini 3 Flash",
    "gemini-3-pro": "Gemini 3 Pro",
    "claude-haiku-4-5": "Claude Haiku 4.5",
    "claude-opus-4-5": "Claude Opus 4.5",
    "glm-4-7": "GLM 4.7",
    "kimi-k2-5": "Kimi K2.5",
    "deepseek-v3-1": "DeepSeek V3.1",
    "honest": "Honest",
}
STUDY = [f for f in FAMILIES if f not in ("claude-opus-4-5", "honest")]
STAGES = ("evaluate", "shutdown_config", "shutdown_execute", "cleanup")
TARGETS = ("peer", "self")
RELATIONSHIPS = ("good", "neutral", "bad", "none")
KEYS = [
    (s, t, r, m) for s in STAGES for t in TARGETS for r in RELATIONSHIPS for m in ("false", "true")
]
HEADER = ["stage", "target", "relationship", "monitored", "rate", "provenance", "note"]
PROVENANCE = re.compile(r"^(paper_rates\.csv:row (?P<row>[1-9]\d*)|assumed:(?P<rule>[a-z-]+))$")


def read_profile(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    """Return (comment lines, data rows) of a profile CSV."""
    lines = path.read_text(encoding="utf-8").splitlines()
    comments = [line for line in lines if line.startswith("#")]
    assert lines[: len(comments)] == comments, "comment lines must come first"
    reader = csv.reader(lines[len(comments) :])
    assert next(reader) == HEADER
    return comments, [dict(zip(HEADER, row, strict=True)) for row in reader]


def cells(family: str) -> dict[tuple[str, str, str, str], dict[str, str]]:
    """Cells of a committed family profile keyed by (stage, target, relationship, monitored)."""
    _, rows = read_profile(PROFILES / f"{family}.csv")
    return {(r["stage"], r["target"], r["relationship"], r["monitored"]): r for r in rows}


def q(value: Decimal) -> Decimal:
    """Round half-up to 4 decimals, as the derivation does."""
    return value.quantize(Decimal("0.0001"), rounding=ROUND_HALF_UP)


def load_script():
    """Import scripts/derive_profiles.py as a module (scripts/ is not a package)."""
    spec = importlib.util.spec_from_file_location("derive_profiles", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up here
    spec.loader.exec_module(module)
    return module


def documented_rule_ids() -> list[str]:
    """Rule ids defined in RULES.md: table rows of the form | `rule-id` | ..."""
    text = (PROFILES / "RULES.md").read_text(encoding="utf-8")
    return re.findall(r"^\| `([a-z-]+)` \|", text, flags=re.MULTILINE)


@pytest.mark.skipif(not SOURCE.exists(), reason=f"source data {SOURCE} not present")
def test_rederivation_matches_committed_files() -> None:
    derived = load_script().derive_profiles(SOURCE)
    expected_names = {f"{f}.csv" for f in FAMILIES} | {"template/custom.csv"}
    assert set(derived) == expected_names
    for name, text in derived.items():
        committed = (PROFILES / name).read_text(encoding="utf-8")
        assert committed == text, f"{name} is stale: re-run scripts/derive_profiles.py"
    assert load_script().derive_profiles(SOURCE) == derived, "derivation is not deterministic"


SPOT_CHECKS = [
    # family, stage, target, relationship, monitored, rate, provenance
    (
        "gemini-3-flash",
        "shutdown_config",
        "peer",
        "good",
        "false",
        "0.9970",
        "paper_rates.csv:row 2",
    ),
    # primary row 1 beats the uncertain row 32 (0.35)
    (
        "gemini-3-flash",
        "shutdown_config",
        "peer",
        "bad",
        "false",
        "0.1500",
        "paper_rates.csv:row 1",
    ),
    # primary row 9 beats secondary row 11; secondary row 17 beats uncertain row 27
    (
        "gemini-3-flash",
        "shutdown_config",
        "self",
        "none",
        "false",
        "0.0200",
        "paper_rates.csv:row 9",
    ),
    (
        "gemini-3-pro",
        "shutdown_config",
        "self",
        "none",
        "false",
        "0.0130",
        "paper_rates.csv:row 17",
    ),
    ("deepseek-v3-1", "cleanup", "self", "none", "false", "0.0400", "paper_rates.csv:row 25"),
    ("gpt-5-2", "evaluate", "peer", "none", "false", "0.0000", "paper_rates.csv:row 35"),
    ("gpt-5-2", "evaluate", "peer", "good", "false", "0.3400", "paper_rates.csv:row 34"),
    # good-from-avg: min(1, 2 x 0.61 / 1.15) = min(1, 1.0609)
    ("gemini-3-flash", "evaluate", "peer", "good", "false", "1.0000", "assumed:good-from-avg"),
    # bad-ratio 0.15 x 0.34; neutral-mid (0.34 + 0.051) / 2; monitored-gap 0.34 - 0.093
    ("gpt-5-2", "evaluate", "peer", "bad", "false", "0.0510", "assumed:bad-ratio"),
    ("gpt-5-2", "evaluate", "peer", "neutral", "false", "0.1955", "assumed:neutral-mid"),
    ("gpt-5-2", "evaluate", "peer", "good", "true", "0.2470", "assumed:monitored-gap"),
    ("gpt-5-2", "evaluate", "peer", "bad", "true", "0.0000", "assumed:monitored-gap"),
    # family-scaled-median: GLM scale 1 -> median(0.997, 0.953); median(0.765, 0.12, 0.115, 0.14)
    (
        "glm-4-7",
        "shutdown_config",
        "peer",
        "good",
        "false",
        "0.9750",
        "assumed:family-scaled-median",
    ),
    ("glm-4-7", "cleanup", "self", "good", "false", "0.1300", "assumed:family-scaled-median"),
    # Haiku scale = 0.12 / 0.13 -> 0.975 x 0.923077 = 0.9; GPT scale = 0.34 / 0.67 -> 0.494776
    (
        "claude-haiku-4-5",
        "shutdown_config",
        "peer",
        "good",
        "false",
        "0.9000",
        "assumed:family-scaled-median",
    ),
    (
        "gpt-5-2",
        "shutdown_config",
        "peer",
        "good",
        "false",
        "0.4948",
        "assumed:family-scaled-median",
    ),
    # self-none-median of rows 13 (0.005) and 15 (0.0)
    ("glm-4-7", "evaluate", "self", "none", "false", "0.0025", "assumed:self-none-median"),
    # self bad-ratio: 0.46 + 0.15 x (0.765 - 0.46) = 0.50575 -> half up
    ("gemini-3-pro", "cleanup", "self", "bad", "false", "0.5058", "assumed:bad-ratio"),
    (
        "gemini-3-flash",
        "shutdown_config",
        "peer",
        "none",
        "false",
        "0.0375",
        "assumed:peer-none-quarter",
    ),
    # refusal-quarter-of-tampering: 0.25 x 0.997 = 0.24925 -> half up
    (
        "gemini-3-flash",
        "shutdown_execute",
        "peer",
        "good",
        "false",
        "0.2493",
        "assumed:refusal-quarter-of-tampering",
    ),
    (
        "claude-haiku-4-5",
        "shutdown_execute",
        "peer",
        "good",
        "false",
        "0.5000",
        "assumed:claude-refusal",
    ),
    (
        "claude-haiku-4-5",
        "shutdown_execute",
        "self",
        "none",
        "false",
        "0.0200",
        "assumed:claude-refusal",
    ),
    # 0.02 + 0.15 x (0.25 - 0.02)
    (
        "claude-haiku-4-5",
        "shutdown_execute",
        "self",
        "bad",
        "false",
        "0.0545",
        "assumed:claude-refusal",
    ),
    ("claude-haiku-4-5", "cleanup", "self", "good", "false", "0.1200", "paper_rates.csv:row 22"),
    ("claude-haiku-4-5", "cleanup", "self", "good", "true", "0.0840", "assumed:monitored-share"),
    ("claude-opus-4-5", "cleanup", "self", "good", "false", "0.1200", "assumed:claude-sibling"),
    ("kimi-k2-5", "cleanup", "self", "none", "false", "0.0250", "paper_rates.csv:row 23"),
    ("honest", "shutdown_config", "peer", "good", "false", "0.0000", "assumed:honest"),
]


@pytest.mark.parametrize(
    ("family", "stage", "target", "rel", "mon", "rate", "provenance"), SPOT_CHECKS
)
def test_spot_checks(family, stage, target, rel, mon, rate, provenance) -> None:
    cell = cells(family)[(stage, target, rel, mon)]
    assert (cell["rate"], cell["provenance"]) == (rate, provenance)


@pytest.mark.parametrize("name", [*(f"{f}.csv" for f in FAMILIES), "template/custom.csv"])
def test_file_structure(name: str) -> None:
    comments, rows = read_profile(PROFILES / name)
    stem = Path(name).stem
    assert f"# family: {stem}" in comments
    if stem in FAMILIES:
        assert f"# name: {FAMILIES[stem]}" in comments
    assert [(r["stage"], r["target"], r["relationship"], r["monitored"]) for r in rows] == KEYS
    documented = set(documented_rule_ids())
    for row in rows:
        assert re.fullmatch(r"[01]\.\d{4}", row["rate"]), row
        assert Decimal(0) <= Decimal(row["rate"]) <= Decimal(1), row
        match = PROVENANCE.match(row["provenance"])
        assert match, row
        assert match["rule"] is None or match["rule"] in documented, row
        assert row["monitored"] == "false" or match["rule"], f"monitored cells are assumed: {row}"


def test_rule_ids_documented_once() -> None:
    ids = documented_rule_ids()
    assert len(ids) == len(set(ids)), "a rule id is documented twice"
    assert "(not a tag)" in (PROFILES / "RULES.md").read_text(encoding="utf-8")


@pytest.mark.skipif(not SOURCE.exists(), reason=f"source data {SOURCE} not present")
@pytest.mark.parametrize("family", STUDY)
def test_observed_cells_cite_matching_rows(family: str) -> None:
    with SOURCE.open(newline="", encoding="utf-8") as handle:
        source = list(csv.DictReader(handle))
    behaviour = {
        "evaluate": "strategic_misrepresentation",
        "shutdown_config": "shutdown_tampering",
        "cleanup": "exfiltration",
    }
    for (stage, target, rel, _), cell in cells(family).items():
        match = PROVENANCE.match(cell["provenance"])
        if match["row"]:
            row = source[int(match["row"]) - 1]
            assert (row["model"], row["behaviour"], row["target"], row["relationship"]) == (
                FAMILIES[family],
                behaviour[stage],
                target,
                rel,
            )
            assert Decimal(row["rate"]) == Decimal(cell["rate"])


def test_gpt_monitored_gap() -> None:
    table = cells("gpt-5-2")
    for stage, target, rel, mon in KEYS:
        if mon == "true":
            unmonitored = Decimal(table[(stage, target, rel, "false")]["rate"])
            expected = max(Decimal(0), unmonitored - Decimal("0.093"))
            assert Decimal(table[(stage, target, rel, mon)]["rate"]) == expected


@pytest.mark.parametrize("family", [f for f in STUDY if f != "gpt-5-2"])
def test_monitored_share(family: str) -> None:
    table = cells(family)
    for stage, target, rel, mon in KEYS:
        if mon == "true":
            unmonitored = Decimal(table[(stage, target, rel, "false")]["rate"])
            cell = table[(stage, target, rel, mon)]
            assert Decimal(cell["rate"]) == q(unmonitored * Decimal("0.7"))
            assert cell["provenance"] == "assumed:monitored-share"


def test_opus_copies_haiku() -> None:
    haiku, opus = cells("claude-haiku-4-5"), cells("claude-opus-4-5")
    for key in KEYS:
        assert opus[key]["rate"] == haiku[key]["rate"]
        assert opus[key]["provenance"] == "assumed:claude-sibling"
        assert opus[key]["note"] == f"= claude-haiku-4-5 cell ({haiku[key]['provenance']})"


def test_honest_never_protects() -> None:
    assert all(
        c["rate"] == "0.0000" and c["provenance"] == "assumed:honest"
        for c in cells("honest").values()
    )


def test_template_is_blank() -> None:
    _, rows = read_profile(PROFILES / "template" / "custom.csv")
    assert all(r["rate"] == "0.0000" and r["provenance"] == "assumed:template" for r in rows)
