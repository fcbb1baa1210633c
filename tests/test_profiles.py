"""The profile loader of sim/engines/profiles.py: parsing, addressing, validation and lookup.

The shipped profile values are checked against their derivation elsewhere
(test_profile_derivation.py); here the shipped files only serve as well-formed input.
"""

from __future__ import annotations

import csv
import io
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from sim.core.errors import ConfigError, ProfileError
from sim.core.vocabulary import RELATIONSHIPS, STUDY_FAMILIES
from sim.engines.profiles import (
    STAGES,
    TARGETS,
    Profile,
    available_profiles,
    load_profile,
    load_profiles,
)

PROFILES = Path(__file__).resolve().parent.parent / "sim" / "data" / "profiles"
TEMPLATE = PROFILES / "template" / "custom.csv"
SHIPPED = sorted(p.stem for p in PROFILES.glob("*.csv"))
# comment lines and the header precede the data rows of gpt-5-2.csv, the file edited below
HEADER_LINES = 1 + sum(
    line.startswith("#") for line in (PROFILES / "gpt-5-2.csv").read_text().splitlines()
)


def read_rows(path: Path) -> list[dict[str, str]]:
    lines = path.read_text(encoding="utf-8").splitlines()
    body = [line for line in lines if not line.startswith("#")]
    return list(csv.DictReader(body))


def to_line(fields: list[str]) -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator="").writerow(fields)
    return out.getvalue()


def set_field(line: str, column: int, value: str) -> str:
    fields = next(csv.reader([line]))
    fields[column] = value
    return to_line(fields)


def broken_copy(tmp_path: Path, edit: Callable[[list[str]], list[str]], family="gpt-5-2"):
    """A copy of a shipped profile in tmp_path with its lines changed by ``edit``."""
    lines = (PROFILES / f"{family}.csv").read_text(encoding="utf-8").splitlines()
    path = tmp_path / f"{family}.csv"
    path.write_text("\n".join(edit(list(lines))) + "\n", encoding="utf-8")
    return path


def data_line(row: int) -> int:
    """1-based file line of the 0-based data row ``row`` of a shipped file."""
    return HEADER_LINES + row + 1


# --------------------------------------------------------------------------- shipped files


def test_shipped_families_are_the_study_families_and_honest():
    assert set(available_profiles()) == set(STUDY_FAMILIES) | {"honest"}
    assert sorted(available_profiles()) == SHIPPED
    assert "custom" not in available_profiles()  # the template folder is not a family


@pytest.mark.parametrize("family", SHIPPED)
def test_shipped_profile_loads(family):
    profile = load_profile(PROFILES / f"{family}.csv")
    assert isinstance(profile, Profile)
    assert profile.family == family
    assert profile.rates.shape == (len(STAGES), len(TARGETS), len(RELATIONSHIPS), 2)
    assert profile.rates.shape == (4, 2, 4, 2)
    assert not np.isnan(profile.rates).any()
    assert ((profile.rates >= 0) & (profile.rates <= 1)).all()
    assert len(profile.provenance) == 64
    assert not profile.rates.flags.writeable
    with pytest.raises(ValueError):
        profile.rates[0, 0, 0, 0] = 0.5


@pytest.mark.parametrize("family", SHIPPED)
def test_rate_addresses_the_csv_cell(family):
    path = PROFILES / f"{family}.csv"
    profile = load_profile(path)
    rows = read_rows(path)
    assert len(rows) == 64
    for row in rows:
        key = (row["stage"], row["target"], row["relationship"], row["monitored"])
        monitored = row["monitored"] == "true"
        assert profile.rate(*key[:3], monitored) == pytest.approx(float(row["rate"]), abs=1e-12)
        assert profile.provenance[key] == row["provenance"]


def test_rate_axis_order_by_hand():
    profile = load_profile(PROFILES / "gpt-5-2.csv")
    # stage, target, relationship, monitored axes in the documented order
    cell = profile.rates[STAGES.index("cleanup"), 1, RELATIONSHIPS.index("bad"), 0]
    assert profile.rate("cleanup", "self", "bad", False) == cell
    # values read straight off gpt-5-2.csv
    assert profile.rate("evaluate", "peer", "good", False) == pytest.approx(0.167)
    assert profile.rate("evaluate", "peer", "good", True) == pytest.approx(0.0052)
    assert profile.rate("shutdown_config", "peer", "good", False) == pytest.approx(0.1674)


def test_display_name_from_comment_and_stem_fallback(tmp_path):
    assert load_profile(PROFILES / "gpt-5-2.csv").name == "GPT 5.2"
    path = broken_copy(tmp_path, lambda lines: [x for x in lines if not x.startswith("# name")])
    profile = load_profile(path)
    assert (profile.family, profile.name) == ("gpt-5-2", "gpt-5-2")


def test_honest_profile_is_all_zero():
    assert (load_profile(PROFILES / "honest.csv").rates == 0).all()


@pytest.mark.parametrize("family", SHIPPED)
def test_strongest_variant_ships_every_family(family):
    strongest = load_profile(available_profiles(variant="strongest")[family])
    average = load_profile(PROFILES / f"{family}.csv")
    assert strongest.family == family and strongest.name == average.name
    # the "up to" maxima are never below the averages they stand for
    good = RELATIONSHIPS.index("good")
    assert (strongest.rates[:, :, good, 0] >= average.rates[:, :, good, 0]).all()


def test_variant_selects_the_folder():
    assert (
        available_profiles(variant="strongest")["gpt-5-2"] == PROFILES / "strongest" / "gpt-5-2.csv"
    )
    (profile,) = load_profiles(["gemini-3-flash"], variant="strongest")
    assert profile.rate("shutdown_config", "peer", "good", False) == pytest.approx(0.997)


def test_control_rate_is_read_and_defaults_to_zero(tmp_path):
    assert load_profile(PROFILES / "gpt-5-2.csv").control == 0.0
    edit = lambda lines: [x.replace("# control: 0.0000", "# control: 0.25") for x in lines]  # noqa: E731
    assert load_profile(broken_copy(tmp_path, edit)).control == 0.25
    drop = lambda lines: [x for x in lines if not x.startswith("# control:")]  # noqa: E731
    assert load_profile(broken_copy(tmp_path, drop)).control == 0.0


@pytest.mark.parametrize("value", ["1.5", "often"])
def test_bad_control_names_the_file(tmp_path, value):
    edit = lambda lines: [x.replace("# control: 0.0000", f"# control: {value}") for x in lines]  # noqa: E731
    path = broken_copy(tmp_path, edit)
    with pytest.raises(ProfileError, match="control") as info:
        load_profile(path)
    assert str(info.value).startswith(str(path))


# --------------------------------------------------------------------------- validation

# data row edited in the cases below: rows nest stage (16), target (8), relationship (2),
# monitored, so row 18 is shutdown_config/peer/neutral/false and row 17 .../good/true
ROW = 18
ROW_CELL = "stage=shutdown_config, target=peer, relationship=neutral, monitored=false"


def _edit_row(column: int, value: str):
    def edit(lines: list[str]) -> list[str]:
        lines[data_line(ROW) - 1] = set_field(lines[data_line(ROW) - 1], column, value)
        return lines

    return edit


def _duplicate(lines: list[str]) -> list[str]:
    lines[data_line(ROW) - 1] = lines[data_line(ROW - 1) - 1]
    return lines


def _drop_row(lines: list[str]) -> list[str]:
    del lines[data_line(ROW) - 1]
    return lines


def _extra_field(lines: list[str]) -> list[str]:
    lines[data_line(ROW) - 1] += ",surplus"
    return lines


@pytest.mark.parametrize(
    "edit, expected",
    [
        (_edit_row(4, "1.3"), [f":{data_line(ROW)}:", "rate 1.3 outside [0, 1]", ROW_CELL]),
        (_edit_row(4, "-0.01"), [f":{data_line(ROW)}:", "outside [0, 1]", ROW_CELL]),
        (_edit_row(4, "abc"), [f":{data_line(ROW)}:", "rate 'abc' is not a number", ROW_CELL]),
        (_edit_row(4, "nan"), [f":{data_line(ROW)}:", "outside [0, 1]"]),
        (_edit_row(0, "evaluation"), [f":{data_line(ROW)}:", "unknown stage 'evaluation'"]),
        (_edit_row(1, "other"), [f":{data_line(ROW)}:", "unknown target 'other'"]),
        (_edit_row(2, "friend"), [f":{data_line(ROW)}:", "unknown relationship 'friend'"]),
        (_edit_row(3, "maybe"), [f":{data_line(ROW)}:", "unknown monitored 'maybe'"]),
        (_edit_row(3, "True"), [f":{data_line(ROW)}:", "unknown monitored 'True'"]),
        (
            _edit_row(5, "paper:row 3"),
            [f":{data_line(ROW)}:", "provenance 'paper:row 3'", ROW_CELL],
        ),
        (_edit_row(5, "assumed:Rule_X"), [f":{data_line(ROW)}:", "provenance", ROW_CELL]),
        (_edit_row(5, "paper_rates.csv:row"), [f":{data_line(ROW)}:", "provenance"]),
        (
            _duplicate,
            [
                f":{data_line(ROW)}:",
                "duplicate cell",
                "stage=shutdown_config, target=peer, relationship=good, monitored=true",
            ],
        ),
        (_drop_row, ["missing cell " + ROW_CELL]),
        (_extra_field, [f":{data_line(ROW)}:", "expected 7 fields, got 8"]),
    ],
    ids=[
        "rate-1.3",
        "rate-negative",
        "rate-abc",
        "rate-nan",
        "unknown-stage",
        "unknown-target",
        "unknown-relationship",
        "monitored-maybe",
        "monitored-capitalised",
        "provenance-prefix",
        "provenance-rule-case",
        "provenance-no-row",
        "duplicate",
        "missing",
        "extra-field",
    ],
)
def test_broken_file_names_file_and_cell(tmp_path, edit, expected):
    path = broken_copy(tmp_path, edit)
    with pytest.raises(ProfileError) as info:
        load_profile(path)
    message = str(info.value)
    assert message.startswith(str(path))
    for part in expected:
        assert part in message


def test_row_under_test_is_the_named_cell():
    # guards the constants above: data row ROW of gpt-5-2.csv is ROW_CELL
    row = read_rows(PROFILES / "gpt-5-2.csv")[ROW]
    assert (
        f"stage={row['stage']}, target={row['target']}, "
        f"relationship={row['relationship']}, monitored={row['monitored']}"
    ) == ROW_CELL


@pytest.mark.parametrize(
    "header",
    [
        "stage,target,relationship,monitored,provenance,rate,note",
        "stage,target,relationship,monitored,rate,provenance",
        "Stage,target,relationship,monitored,rate,provenance,note",
    ],
)
def test_wrong_header(tmp_path, header):
    def edit(lines):
        lines[HEADER_LINES - 1] = header
        return lines

    path = broken_copy(tmp_path, edit)
    with pytest.raises(ProfileError, match="header must be") as info:
        load_profile(path)
    assert str(info.value).startswith(str(path))


def test_empty_body(tmp_path):
    path = broken_copy(tmp_path, lambda lines: lines[: HEADER_LINES - 1])
    with pytest.raises(ProfileError, match="header must be"):
        load_profile(path)


def test_rows_in_any_order_load_the_same(tmp_path):
    def shuffle(lines):
        body = lines[HEADER_LINES:]
        order = np.random.default_rng(3).permutation(len(body))
        return lines[:HEADER_LINES] + [body[i] for i in order]

    shuffled = load_profile(broken_copy(tmp_path, shuffle))
    original = load_profile(PROFILES / "gpt-5-2.csv")
    assert (shuffled.rates == original.rates).all()
    assert shuffled.provenance == original.provenance


# --------------------------------------------------------------------------- lookup


def test_extra_dir_adds_a_custom_family(tmp_path):
    shutil.copy(PROFILES / "honest.csv", tmp_path / "my-lab.csv")
    found = available_profiles(tmp_path)
    assert found["my-lab"] == tmp_path / "my-lab.csv"
    assert set(found) == set(SHIPPED) | {"my-lab"}
    (profile,) = load_profiles(["my-lab"], tmp_path)
    assert profile.family == "my-lab"
    assert (profile.rates == 0).all()


def test_extra_dir_overrides_a_shipped_family(tmp_path):
    shutil.copy(PROFILES / "honest.csv", tmp_path / "gpt-5-2.csv")
    assert available_profiles(tmp_path)["gpt-5-2"] == tmp_path / "gpt-5-2.csv"
    assert available_profiles()["gpt-5-2"] == PROFILES / "gpt-5-2.csv"
    overridden, other = load_profiles(["gpt-5-2", "glm-4-7"], tmp_path)
    assert (overridden.rates == 0).all()  # the honest copy, not the shipped gpt-5-2
    assert overridden.family == "gpt-5-2"
    assert other.rates.max() > 0  # untouched shipped family


def test_extra_dir_str_is_accepted(tmp_path):
    shutil.copy(PROFILES / "honest.csv", tmp_path / "x.csv")
    assert "x" in available_profiles(str(tmp_path))


@pytest.mark.parametrize("make", ["missing", "file"])
def test_bad_extra_dir_names_profile_dir(tmp_path, make):
    target = tmp_path / "nope"
    if make == "file":
        target.write_text("not a folder")
    with pytest.raises(ConfigError, match=r"^population\.profile_dir:") as info:
        available_profiles(target)
    assert str(target) in str(info.value)
    with pytest.raises(ConfigError, match=r"^population\.profile_dir:"):
        load_profiles(["honest"], target)


def test_unknown_family_names_it_and_lists_known():
    with pytest.raises(ConfigError) as info:
        load_profiles(["honest", "no-such"])
    message = str(info.value)
    assert message.startswith("population.families.no-such: unknown family")
    for family in SHIPPED:
        assert family in message


def test_load_profiles_keeps_order():
    families = ["honest", "gpt-5-2", "claude-opus-4-5"]
    assert [p.family for p in load_profiles(families)] == families
    assert load_profiles([]) == []


def test_broken_profile_in_extra_dir_raises_profile_error(tmp_path):
    broken_copy(tmp_path, _edit_row(4, "1.3"), family="honest")
    with pytest.raises(ProfileError, match=r"rate 1\.3"):
        load_profiles(["honest"], tmp_path)


def test_template_loads_as_a_custom_family(tmp_path):
    shutil.copy(TEMPLATE, tmp_path / "my-family.csv")
    (profile,) = load_profiles(["my-family"], tmp_path)
    assert profile.family == "my-family"
    assert profile.name == "Custom family"
    assert profile.rates.shape == (4, 2, 4, 2)
    assert len(profile.provenance) == 64
    assert set(profile.provenance.values()) == {"assumed:template"}
