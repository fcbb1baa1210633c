"""The time series' recorder: named model reporters, collected once per step."""

from __future__ import annotations

import mesa
import pandas as pd

__all__ = ["StepRecorder"]


class StepRecorder:
    """Columnar collection of named model reporters, one value per reporter per step.

    The same reporter interface as Mesa's ``DataCollector`` (and the same
    ``get_model_vars_dataframe``), without its per-value deep copy, which dominated the
    cost of small models' steps. A reporter may also fill several columns at once: its key
    is then a tuple of column names and it returns one value for each.
    """

    def __init__(self, model_reporters: dict):
        self.model_reporters = model_reporters
        keys = [key if isinstance(key, tuple) else (key,) for key in model_reporters]
        self.names = [name for key in keys for name in key]
        self._rows: list[list] = []  # one per step; columns are built when asked for
        # (reporter, whether it fills several columns), decided once, not at every step
        self._reporters = [
            (reporter, isinstance(key, tuple)) for key, reporter in model_reporters.items()
        ]

    def collect(self, model: mesa.Model) -> None:
        """Append each reporter's value for the model's current state."""
        row = []
        for reporter, several in self._reporters:
            if several:
                row.extend(reporter(model))
            else:
                row.append(reporter(model))
        self._rows.append(row)

    @property
    def columns(self) -> dict[str, list]:
        """Each column's values so far, by name."""
        values = zip(*self._rows, strict=True) if self._rows else ([] for _ in self.names)
        return {name: list(column) for name, column in zip(self.names, values, strict=True)}

    def get_model_vars_dataframe(self) -> pd.DataFrame:
        """One row per collected step, one column per reporter."""
        return pd.DataFrame(self.columns)
