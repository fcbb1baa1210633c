"""The project's command lines as the tests run them: ``python -m <module>`` in a fresh
interpreter, output captured as text, hash seeds fixed (set iteration order, and so file
bytes, do not vary between runs)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

#: The environment the commands run in, unless a test gives its own.
ENV = {**os.environ, "PYTHONHASHSEED": "0"}


def run_module(
    module: str, *args: str, cwd: Path | None = None, env: dict | None = None, timeout: float = 180
) -> subprocess.CompletedProcess:
    """``python -m <module> <args>`` in ``cwd``, with ``env`` (default :data:`ENV`)."""
    return subprocess.run(
        [sys.executable, "-m", module, *args],
        cwd=cwd,
        env=ENV if env is None else env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
