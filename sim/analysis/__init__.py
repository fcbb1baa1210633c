"""Analysis of a collected sweep: confidence intervals per parameter setting, paired
differences between designs on common seeds, and bands over seeds for time series. Pure
pandas and scipy; the figures that draw these tables are in :mod:`sim.viz.sweep`.

May import :mod:`sim.core` and :mod:`sim.io` (the collected tables); used by :mod:`sim.app`.
"""

from sim.analysis.intervals import BOOTSTRAP, METHODS, T_INTERVAL, Interval, interval
from sim.analysis.paired import paired_differences
from sim.analysis.summary import summary_table, time_series_bands
from sim.analysis.sweep import AnalysisError, Sweep, read_sweep

__all__ = [
    "BOOTSTRAP",
    "METHODS",
    "T_INTERVAL",
    "AnalysisError",
    "Interval",
    "Sweep",
    "interval",
    "paired_differences",
    "read_sweep",
    "summary_table",
    "time_series_bands",
]
