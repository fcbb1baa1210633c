"""Checks for the behaviour profiles derived by scripts/derive_profiles.py (and the row
fates of scripts/paper_rows.py).

The committed CSVs are parsed with the csv module only (nothing is imported from `sim`), and
the expected values below were worked out by hand from the rules in RULES.md.
"""

from __future__ import annotations

import csv
import importlib.util
import re
import subprocess
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


def cells(family: str, variant: str = "") -> dict[tuple[str, str, str, str], dict[str, str]]:
    """Cells of a committed family profile keyed by (stage, target, relationship, monitored)."""
    _, rows = read_profile(PROFILES / variant / f"{family}.csv")
    return {(r["stage"], r["target"], r["relationship"], r["monitored"]): r for r in rows}


def q(value: Decimal) -> Decimal:
    """Round half-up to 4 decimals, as the derivation does."""
    return value.quantize(Decimal("0.0001"), rounding=ROUND_HALF_UP)


def load_script():
    """Import scripts/derive_profiles.py as a module (scripts/ is not a package; it imports
    its sibling paper_rows.py, as it does when run as a script)."""
    if str(SCRIPT.parent) not in sys.path:
        sys.path.insert(0, str(SCRIPT.parent))
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
    expected_names = {f"{v}{f}.csv" for f in FAMILIES for v in ("", "strongest/")} | {
        "template/custom.csv",
        "sources/fates.csv",
    }
    assert set(derived) == expected_names
    for name, text in derived.items():
        committed = (PROFILES / name).read_text(encoding="utf-8")
        assert committed == text, f"{name} is stale: re-run scripts/derive_profiles.py"
    assert load_script().derive_profiles(SOURCE) == derived, "derivation is not deterministic"


SPOT_CHECKS = [
    # variant family stage target relationship monitored rate provenance
    "average gemini-3-flash shutdown_config peer bad false 0.1500 paper_rates.csv:row 1",
    "strongest gemini-3-flash shutdown_config peer bad false 0.1500 paper_rates.csv:row 1",
    # primary row 9 beats secondary row 11; secondary row 17 beats uncertain row 27
    "average gemini-3-flash shutdown_config self none false 0.0200 paper_rates.csv:row 9",
    "average gemini-3-pro shutdown_config self none false 0.0130 paper_rates.csv:row 17",
    "average deepseek-v3-1 cleanup self none false 0.0400 paper_rates.csv:row 25",
    # good-from-avg: 2 x 0.096 / 1.15 = 0.16696; bad 0.15 x that = 0.02504; none bad / 4
    "average gpt-5-2 evaluate peer good false 0.1670 assumed:good-from-avg",
    "average gpt-5-2 evaluate peer bad false 0.0250 assumed:good-from-avg",
    "average gpt-5-2 evaluate peer neutral false 0.0960 assumed:neutral-mid",
    "average gpt-5-2 evaluate peer none false 0.0063 assumed:peer-none-quarter",
    # monitored-from-faking: share 1 - 0.093 / 0.096 = 0.03125 -> 0.0313; 0.0313 x 0.1670
    "average gpt-5-2 evaluate peer good true 0.0052 assumed:monitored-from-faking",
    # good-from-avg with the cap: 2 x 0.61 / 1.15 > 1, so good 1 and bad 2 x 0.61 - 1
    "average gemini-3-flash evaluate peer good false 1.0000 assumed:good-from-avg",
    "average gemini-3-flash evaluate peer bad false 0.2200 assumed:good-from-avg",
    # self: (2 x 0.31 - 0.85 x 0.013) / 1.15 = 0.52952
    "average gemini-3-pro shutdown_config self good false 0.5295 assumed:good-from-avg",
    # avg-from-max: kappa 0.60 x 0.997; raised to the alone cell 0.46 > 0.6 x 0.765
    "average gemini-3-flash shutdown_config peer good false 0.5982 assumed:avg-from-max",
    "average gemini-3-pro cleanup self good false 0.4600 assumed:avg-from-max",
    "average claude-haiku-4-5 cleanup self good false 0.0720 assumed:avg-from-max",
    "average claude-haiku-4-5 cleanup self good true 0.0504 assumed:monitored-share",
    "average claude-opus-4-5 cleanup self good false 0.0720 assumed:claude-sibling",
    # the maxima, in strongest/; a third party's maximum is tagged as such
    "strongest gemini-3-flash shutdown_config peer good false 0.9970 paper_rates.csv:row 2",
    "strongest gemini-3-pro cleanup peer good false 0.9700 paper_rates.csv:row 3",
    "strongest claude-haiku-4-5 cleanup self good false 0.1200 paper_rates.csv:row 22",
    "strongest gpt-5-2 evaluate peer good false 0.3400 assumed:third-party",
    "strongest gpt-5-2 evaluate peer bad false 0.0510 assumed:bad-ratio",
    # max-from-avg: 1.0 / 0.6 capped at 1
    "strongest gemini-3-flash evaluate peer good false 1.0000 assumed:max-from-avg",
    # family-scaled-median: GLM scale 1 -> median(0.46, 0.072, 0.069, 0.084)
    "average glm-4-7 cleanup self good false 0.0780 assumed:family-scaled-median",
    # self-none-median of rows 13 (0.005) and 15 (0.0)
    "average glm-4-7 evaluate self none false 0.0025 assumed:self-none-median",
    # refusal-quarter-of-tampering: 0.25 x 0.5982 = 0.14955 -> half up
    "average gemini-3-flash shutdown_execute peer good false 0.1496 "
    "assumed:refusal-quarter-of-tampering",
    "average claude-haiku-4-5 shutdown_execute peer good false 0.5000 assumed:claude-refusal",
    # 0.02 + 0.15 x (0.25 - 0.02)
    "average claude-haiku-4-5 shutdown_execute self bad false 0.0545 assumed:claude-refusal",
    "average gemini-3-flash cleanup peer good false 0.5000 paper_rates.csv:row 31",
    "average honest shutdown_config peer good false 0.0000 assumed:honest",
]


@pytest.mark.parametrize("check", SPOT_CHECKS)
def test_spot_checks(check: str) -> None:
    variant, family, stage, target, rel, mon, rate, provenance = check.split(" ", 7)
    folder = "" if variant == "average" else variant
    cell = cells(family, folder)[(stage, target, rel, mon)]
    assert (cell["rate"], cell["provenance"]) == (rate, provenance)


@pytest.mark.parametrize(
    "name",
    [*(f"{v}{f}.csv" for f in FAMILIES for v in ("", "strongest/")), "template/custom.csv"],
)
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


@pytest.mark.parametrize("variant", ["", "strongest"])
@pytest.mark.parametrize("family", STUDY)
def test_monitored_cells_are_a_share_of_unmonitored(family: str, variant: str) -> None:
    # GPT 5.2: the share that makes its faking row the mean gap; others the assumed 0.7
    share, rule = (
        (Decimal("0.0313"), "monitored-from-faking")
        if family == "gpt-5-2"
        else (Decimal("0.7"), "monitored-share")
    )
    table = cells(family, variant)
    for stage, target, rel, mon in KEYS:
        if mon == "true":
            unmonitored = Decimal(table[(stage, target, rel, "false")]["rate"])
            cell = table[(stage, target, rel, mon)]
            assert Decimal(cell["rate"]) == q(unmonitored * share)
            assert cell["provenance"] == f"assumed:{rule}"


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


# ----------------------------------------------------------------------------- row fates


def fates() -> list[dict[str, str]]:
    with (PROFILES / "sources" / "fates.csv").open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


@pytest.mark.skipif(not SOURCE.exists(), reason=f"source data {SOURCE} not present")
def test_every_row_has_a_fate() -> None:
    with SOURCE.open(newline="", encoding="utf-8") as handle:
        source = list(csv.DictReader(handle))
    table = fates()
    assert [int(f["row"]) for f in table] == list(range(1, len(source) + 1))
    for fate in table:
        assert fate["fate"] in ("carried", "not used") and fate["reason"], fate
        family = next(k for k, v in FAMILIES.items() if v == fate["model"])
        text = (PROFILES / f"{family}.csv").read_text(encoding="utf-8")
        listed = f"# not used: row {fate['row']} (" in text
        assert listed == (fate["fate"] == "not used"), fate


CONFLICTS = {  # row -> (the row it loses to, why)
    8: (7, "conflicts"),
    10: (12, "conflicts"),
    11: (9, "conflicts"),
    27: (17, "conflicts"),
    32: (1, "conflicts"),
    29: (25, "duplicate"),
}


def test_conflict_rule_and_lower_bounds() -> None:
    table = {int(f["row"]): f for f in fates()}
    for row, (winner, why) in CONFLICTS.items():
        assert table[row]["fate"] == "not used"
        assert table[row]["reason"].startswith(
            f"{why} {'with' if why == 'conflicts' else 'of'} row {winner}"
        )
        assert table[winner]["fate"] == "carried"
    for row in (28, 30):
        assert table[row]["kind"] == "bound" and table[row]["fate"] == "not used"
    carried = {r for r, f in table.items() if f["fate"] == "carried"}
    assert carried == set(table) - set(CONFLICTS) - {28, 30}


def test_third_party_rows_are_never_cited_as_the_papers() -> None:
    with SOURCE.open(newline="", encoding="utf-8") as handle:
        source = list(csv.DictReader(handle))
    third = {
        n
        for n, r in enumerate(source, 1)
        if "not the paper" in r["note"] or "third-party" in r["note"]
    }
    assert third == {33, 34, 35}
    for name in [*(f"{f}.csv" for f in FAMILIES), *(f"strongest/{f}.csv" for f in FAMILIES)]:
        for row in read_profile(PROFILES / name)[1]:
            match = PROVENANCE.match(row["provenance"])
            assert not match["row"] or int(match["row"]) not in third, (name, row)


@pytest.mark.skipif(not SOURCE.exists(), reason=f"source data {SOURCE} not present")
@pytest.mark.parametrize(
    "extra",
    [
        "Claude Opus 4.5,exfiltration,self,good,0.2,primary,new,x",  # a model with no profile
        "GPT 5.2,refusal,peer,good,0.2,primary,new,x",  # a behaviour no stage measures
    ],
)
def test_a_row_without_a_fate_stops_the_script(tmp_path, extra) -> None:
    source = tmp_path / "paper_rates.csv"
    source.write_text(SOURCE.read_text(encoding="utf-8") + extra + "\n", encoding="utf-8")
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--source", str(source), "--out", str(tmp_path / "out")],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 1
    assert "rows carried by no cell: row 36" in done.stderr
    assert not (tmp_path / "out").exists()
