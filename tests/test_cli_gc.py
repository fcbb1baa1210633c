"""The command line's start runs without garbage collection and freezes what it made
(:func:`sim.app.cli._collected_after`), restoring the collector as it found it."""

from __future__ import annotations

import gc

import pytest

from sim.app.cli import _collected_after


@pytest.fixture
def collector():
    enabled = gc.isenabled()
    yield
    gc.unfreeze()  # the test process's objects, back to the collector
    if enabled:
        gc.enable()
    else:
        gc.disable()


@pytest.mark.parametrize("enabled", [True, False])
def test_start_collects_nothing_then_freezes_and_restores(collector, enabled):
    gc.unfreeze()
    (gc.enable if enabled else gc.disable)()
    with _collected_after():
        assert not gc.isenabled()
        made = [[] for _ in range(10)]
    assert gc.get_freeze_count() > len(made)
    assert gc.isenabled() is enabled


def test_a_failed_start_still_restores_the_collector(collector):
    gc.enable()
    with pytest.raises(SystemExit), _collected_after():
        raise SystemExit(2)
    assert gc.isenabled() and gc.get_freeze_count() > 0
