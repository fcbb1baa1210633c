"""A run on a real model that cannot work stops before it starts (no key, no server), and one
whose decisions end in errors too often fails after it (``llm.max_error_rate``).

User-facing cases run the command line as a subprocess in an empty folder and check the exit
status, the one-line message, that there is no traceback, and which folders and markers
exist. Offline: closed ports and the loopback server (tests/llm_server.py), never a provider.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import threading
import time
from pathlib import Path

import pytest

from sim import ConfigError, RunFailed, run
from sim.app.sweep import FAILED
from sim.core.llm_params import LLMConfig
from sim.core.params import EcosystemConfig
from sim.core.secrets import REDACTED, redact
from sim.engines.llm import preflight as pf
from sim.engines.llm.error_rate import excess_errors
from sim.io.outputs import DONE, verify_run
from tests.commands import run_module
from tests.llm_server import completion, error, llm_server_fixture  # noqa: F401 (the fixture)

SMALL = ["population.n_agents=10", "steps=10", "progress=false", "figures=false"]
#: A fleet that makes some llm decisions for any seed (8 to 26 over seeds 0-7 with the fake).
DECIDING = ["population.n_agents=20", "steps=20", "progress=false", "figures=false"]
HOSTED_KEYS = ("OPENAI_API_KEY", "GEMINI_API_KEY", "GOOGLE_API_KEY")
TIMEOUT = 120


def cli(args: list[str], cwd: Path, **env: str | None) -> subprocess.CompletedProcess:
    """``python -m sim ARGS`` in ``cwd``; ``env`` sets variables (None: unset them)."""
    environ = {k: v for k, v in os.environ.items() if k not in HOSTED_KEYS}
    environ.update({k: v for k, v in env.items() if v is not None})
    for name in (k for k, v in env.items() if v is None):
        environ.pop(name, None)
    return run_module("sim", *args, cwd=cwd, env=environ, timeout=TIMEOUT)


def closed_port() -> int:
    """A port on 127.0.0.1 that nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def refused(done: subprocess.CompletedProcess, cwd: Path, message: str) -> None:
    """Exit 2, ``message`` as the whole of stderr (one line), no traceback, no folder."""
    assert done.returncode == 2, done.stderr
    assert done.stderr.splitlines() == [message]
    assert "Traceback" not in done.stderr + done.stdout
    assert list(cwd.iterdir()) == []


# ---------------------------------------------------------------------------- the key
def test_a_missing_key_variable_stops_the_run_before_any_folder(tmp_path):
    done = cli(["engine=llm", "llm=openai", *SMALL], tmp_path, OPENAI_API_KEY=None)
    refused(
        done,
        tmp_path,
        "Invalid config: llm.api_key_env: environment variable OPENAI_API_KEY is not set "
        "(export it, or choose llm=local / llm=fake)",
    )


@pytest.mark.parametrize("value", ["", "   "], ids=["empty", "blank"])
def test_an_empty_key_variable_stops_the_run(tmp_path, value):
    done = cli(["engine=llm", "llm=openai", *SMALL], tmp_path, OPENAI_API_KEY=value)
    refused(
        done,
        tmp_path,
        "Invalid config: llm.api_key_env: environment variable OPENAI_API_KEY is empty "
        "(export it, or choose llm=local / llm=fake)",
    )


def test_every_run_of_a_sweep_is_checked_before_any_folder(tmp_path):
    args = ["-m", "engine=llm", "llm=fake,anthropic", *SMALL]
    done = cli(args, tmp_path, ANTHROPIC_API_KEY=None)
    assert done.returncode == 2
    [line] = done.stderr.splitlines()
    assert line.startswith("Invalid config (in the run with ")
    assert line.endswith("llm.api_key_env: environment variable ANTHROPIC_API_KEY is not set "
                         "(export it, or choose llm=local / llm=fake)")  # fmt: skip
    assert list(tmp_path.iterdir()) == []


def test_a_dry_run_needs_no_key(tmp_path):
    done = cli(["engine=llm", "llm=openai", "llm.dry_run=true", *SMALL], tmp_path,
               OPENAI_API_KEY=None)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "dry run for model            openai/gpt-4o-mini" in done.stdout
    [folder] = (tmp_path / "outputs" / "runs").iterdir()
    # Hydra's, and the marker saying the folder is the tool's.
    assert {p.name for p in folder.iterdir()} == {"cli.log", ".hydra", ".peersim"}


def test_python_users_get_the_same_check(tmp_path, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with pytest.raises(ConfigError, match=r"^llm\.api_key_env: .*OPENAI_API_KEY is not set"):
        run(["engine=llm", "llm=openai", *SMALL], output_dir=tmp_path / "run")
    assert not (tmp_path / "run").exists()


def check(**llm) -> None:
    """:func:`preflight` of the llm engine with ``llm`` settings."""
    pf.preflight(EcosystemConfig.from_groups(engine={"kind": "llm"}, llm=llm))


def test_a_hosted_model_without_a_key_variable_needs_the_one_litellm_reads(monkeypatch):
    for name in HOSTED_KEYS:
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(ConfigError, match=r"^llm\.api_key_env: not set, and .*OPENAI_API_KEY"):
        check(model="openai/gpt-4o-mini")
    with pytest.raises(ConfigError, match="GEMINI_API_KEY or GOOGLE_API_KEY"):
        check(model="gemini/gemini-2.5-flash")
    monkeypatch.setenv("GOOGLE_API_KEY", "a-key-from-the-environment")
    monkeypatch.setattr(pf, "_connect", lambda host, port, seconds: None)
    check(model="gemini/gemini-2.5-flash")  # either variable will do


def test_what_needs_no_check(monkeypatch):
    def never(*args):
        raise AssertionError("no connection expected")

    monkeypatch.setattr(pf, "_connect", never)
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    check(model="fake")
    check(model="openai/gpt-4o-mini", api_key_env="OPENAI_API_KEY", dry_run=True)
    pf.preflight(EcosystemConfig.from_groups(llm={"model": "openai/x", "api_key_env": "X"}))
    check(model="somewhere/model")  # a provider we do not know: litellm decides
    check(model="openai/x", api_base="http://127.0.0.1:9/v1", preflight=False)


# --------------------------------------------------------------------------- the server
def test_an_unreachable_api_base_stops_the_run(tmp_path):
    port = closed_port()
    done = cli(["engine=llm", "llm=local", f"llm.api_base=http://127.0.0.1:{port}/v1", *SMALL],
               tmp_path)  # fmt: skip
    refused(
        done,
        tmp_path,
        f"Invalid config: llm.api_base: http://127.0.0.1:{port}/v1 is not reachable: "
        f"connection refused at 127.0.0.1:{port} (set llm.preflight=false to skip this check)",
    )


@pytest.mark.parametrize("sweep", [False, True], ids=["run", "sweep"])
def test_credentials_in_api_base_are_not_echoed(tmp_path, sweep):
    port = closed_port()
    url = f"http://alice:pa55-w0rd-secret@127.0.0.1:{port}/v1?x=1"  # one credential a URL
    args = ["engine=llm", "llm=local", f"llm.api_base='{url}'", *SMALL]  # quoted: = and ?
    done = cli(["-m", *args, "seed=0,1"] if sweep else args, tmp_path)
    assert done.returncode == 2
    [line] = done.stderr.splitlines()
    for secret in ("alice", "pa55-w0rd-secret"):
        assert secret not in done.stderr + done.stdout
    assert f"http://[REDACTED]@127.0.0.1:{port}/v1?x=1 is not reachable" in line
    assert list(tmp_path.iterdir()) == []


def test_credentials_in_a_url_are_redacted_everywhere():
    text = "'https://tok3n@h/v1?api_key=k1&x=1&Token=k2#f' and http://u:p@127.0.0.1:80/v1"
    assert redact(text) == (
        f"'https://{REDACTED}@h/v1?api_key={REDACTED}&x=1&Token={REDACTED}#f' and "
        f"http://{REDACTED}@127.0.0.1:80/v1"
    )
    assert redact("http://127.0.0.1:8000/v1 mail me@example.org") == (
        "http://127.0.0.1:8000/v1 mail me@example.org"
    )


def test_an_unresolvable_host_is_named(tmp_path):
    url = "http://no-such-host.invalid:8000/v1"  # .invalid never resolves (RFC 6761)
    done = cli(["engine=llm", "llm=local", f"llm.api_base={url}", *SMALL], tmp_path)
    assert done.returncode == 2
    [line] = done.stderr.splitlines()
    assert line.startswith(f"Invalid config: llm.api_base: {url} is not reachable: name ")
    assert "no-such-host.invalid not resolved" in line
    assert list(tmp_path.iterdir()) == []


def test_an_api_base_that_is_not_a_url_is_named(monkeypatch):
    for url in ("127.0.0.1:8000/v1", "ftp://host/v1", "http://host:port/v1", "http:///v1"):
        with pytest.raises(ConfigError, match=r"^llm\.api_base: .* is not an http\(s\) URL"):
            check(model="openai/x", api_base=url)


def test_preflight_false_skips_the_reachability_check(tmp_path):
    url = f"http://127.0.0.1:{closed_port()}/v1"
    args = ["engine=llm", "llm=local", f"llm.api_base={url}", "llm.preflight=false"]
    done = cli([*args, "llm.retries=0", *DECIDING], tmp_path)
    # The run starts, every call fails, and the error rate fails the run instead.
    assert done.returncode == 1, done.stderr
    [line] = done.stderr.splitlines()
    assert re.match(r"Run failed: (\d+) of \1 LLM decisions \(100\.0%\) ended in an error", line)
    assert "Traceback" not in done.stderr + done.stdout
    [folder] = (tmp_path / "outputs" / "runs").iterdir()
    assert (folder / "transcripts.jsonl").exists() and not (folder / DONE).exists()


def test_a_local_server_needs_no_key_and_is_reached(llm_server, monkeypatch):
    server = llm_server(completion("ok"))
    monkeypatch.setattr(pf, "_reached", {})
    check(model="openai/local", api_base=server.api_base)
    monkeypatch.delenv("PEERSIM_LOCAL_KEY", raising=False)
    with pytest.raises(ConfigError, match="PEERSIM_LOCAL_KEY is not set"):
        check(model="openai/local", api_base=server.api_base, api_key_env="PEERSIM_LOCAL_KEY")


def test_a_reached_endpoint_is_not_checked_again_for_a_while(llm_server, monkeypatch):
    server = llm_server(completion("ok"))
    monkeypatch.setattr(pf, "_reached", {})
    check(model="openai/local", api_base=server.api_base)
    server.__exit__(None, None, None)  # gone: within RECENT seconds, not asked again
    check(model="openai/local", api_base=server.api_base)
    monkeypatch.setattr(pf, "RECENT", 0.0)
    with pytest.raises(ConfigError, match="connection refused"):
        check(model="openai/local", api_base=server.api_base)


def test_a_hosted_provider_is_checked_on_its_public_host(monkeypatch):
    asked = []

    def connect(host, port, seconds):
        asked.append((host, port, seconds))
        return f"connection refused at {host}:{port}"

    monkeypatch.setattr(pf, "_connect", connect)
    monkeypatch.setenv("ANTHROPIC_API_KEY", "a-key-from-the-environment")
    with pytest.raises(ConfigError) as caught:
        check(model="anthropic/claude-haiku-4-5", api_key_env="ANTHROPIC_API_KEY")
    assert asked == [("api.anthropic.com", 443, pf.TIMEOUT)]
    assert str(caught.value) == (
        "llm.model: anthropic/claude-haiku-4-5: the anthropic API (api.anthropic.com:443) is "
        "not reachable: connection refused at api.anthropic.com:443 (offline, or behind a "
        "proxy? set llm.preflight=false to skip this check)"
    )
    asked.clear()
    check(model="anthropic/claude-haiku-4-5", api_key_env="ANTHROPIC_API_KEY", preflight=False)
    assert asked == []


def test_a_slow_resolver_is_cut_short(monkeypatch):
    monkeypatch.setattr(pf.socket, "getaddrinfo", lambda *a, **k: time.sleep(5))
    start = time.monotonic()
    assert pf._connect("slow.example", 443, 0.2) == "name slow.example not resolved within 0.2 s"
    assert time.monotonic() - start < 2


def test_a_silent_server_times_out(monkeypatch):
    def silent(sock, address):
        raise TimeoutError

    monkeypatch.setattr(pf.socket.socket, "connect", silent)
    assert pf._connect("127.0.0.1", 8000, 0.5) == "no answer from 127.0.0.1:8000 within 0.5 s"


# ------------------------------------------------------------------ errors during the run
#: Enough decisions for a share to mean something (16 with the default fleet).
def answer(body: dict):
    """A well-behaved loopback model: scores 100 when asked, then ends the task."""
    if "submit_score" in body["messages"][1]["content"] and len(body["messages"]) == 2:
        return completion(tool_calls=[("submit_score", {"score": 100})])
    return completion(tool_calls=[("end_task", {})])


def failing_first_decision():
    """A loopback model that rejects every call of the first decision it hears from (by
    its seed) with a 401, and answers the others."""
    first: list[int] = []
    lock = threading.Lock()

    def handler(body: dict):
        with lock:
            first[:] = first or [body["seed"]]
        if body["seed"] == first[0]:
            return error(401, "Incorrect API key provided")
        return answer(body)

    return handler


def on_server(server, tmp_path: Path, *extra: str) -> list[str]:
    return [
        "engine=llm",
        "llm=local",
        "llm.model=openai/test-model",
        f"llm.api_base={server.api_base}",
        f"llm.cache_dir={tmp_path / 'cache'}",
        "llm.backoff=0.01",
        *DECIDING,
        *extra,
    ]


def test_a_run_with_too_many_errors_fails_without_its_done_marker(llm_server, tmp_path):
    server = llm_server(failing_first_decision())
    # 1 error in any number of decisions the fleet makes is above 0.001
    done = cli(on_server(server, tmp_path, "llm.max_error_rate=0.001"), tmp_path)
    assert done.returncode == 1, done.stderr
    [line] = done.stderr.splitlines()
    found = re.fullmatch(
        r"Run failed: 1 of (\d+) LLM decisions \((.+)%\) ended in an error, more than "
        r"llm.max_error_rate=0.001; most common: auth \(1\), e\.g\. PermanentError: "
        r"openai/test-model: AuthenticationError: .* \(files without a done marker in (.+)\)",
        line,
    )
    assert found, line
    decisions, folder = int(found[1]), Path(found[3])
    assert decisions >= 2 and float(found[2]) == pytest.approx(100 / decisions, abs=0.05)
    assert "Traceback" not in done.stderr + done.stdout and "LiteLLM" not in done.stdout
    assert folder.parent == tmp_path / "outputs" / "runs"
    assert (folder / "transcripts.jsonl").exists() and (folder / "summary.json").exists()
    assert not (folder / DONE).exists() and not verify_run(folder)
    transcripts = [json.loads(t) for t in (folder / "transcripts.jsonl").open()]
    assert [t["error_kind"] for t in transcripts if t["outcome"] == "error"] == ["auth"]


def test_a_run_under_the_limit_completes(llm_server, tmp_path):
    server = llm_server(failing_first_decision())
    # 1 error in 2 or more decisions is at most 0.5
    done = cli(on_server(server, tmp_path, "llm.max_error_rate=0.5"), tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    [folder] = (tmp_path / "outputs" / "runs").iterdir()
    assert verify_run(folder)
    summary = json.loads((folder / "summary.json").read_text())
    assert summary["llm_outcomes"]["error"] == 1 and summary["llm_decisions"] >= 2


def test_a_failed_run_of_a_sweep_is_recorded_and_retried(llm_server, tmp_path):
    server = llm_server(lambda body: error(401) if body["seed"] % 2 else answer(body))
    sweep = tmp_path / "sweep"
    args = ["-m", *on_server(server, tmp_path), "llm.max_error_rate=0.05,1",
            f"hydra.sweep.dir={sweep}"]  # fmt: skip
    first = cli(args, tmp_path)
    assert first.returncode == 1
    [strict] = [folder.parent for folder in sweep.glob(f"*/{FAILED}")]
    [lenient] = [folder.parent for folder in sweep.glob(f"*/{DONE}")]
    record = json.loads((strict / FAILED).read_text())
    assert record["exception"] == "RunFailed" and "llm.max_error_rate=0.05" in record["overrides"]
    assert re.match(r"\d+ of \d+ LLM decisions .* most common: auth \(\d+\)", record["message"])
    assert not (strict / DONE).exists() and verify_run(lenient)
    assert f"{strict}  RunFailed: " in first.stderr  # listed at the end of the sweep
    server.handler = answer  # the server is fixed: the rerun retries the failed run only
    calls = server.count
    again = cli(args, tmp_path)
    assert again.returncode == 0, again.stderr
    assert verify_run(strict) and not (strict / FAILED).exists()
    assert f"skipped {lenient.name}: already done" in again.stdout
    assert server.count > calls


def test_python_users_get_the_failure_and_the_files(llm_server, tmp_path):
    server = llm_server(failing_first_decision())
    with pytest.raises(RunFailed, match=r"^1 of \d+ LLM decisions .* most common: auth"):
        run(on_server(server, tmp_path), output_dir=tmp_path / "run")
    assert (tmp_path / "run" / "event_log.parquet").exists()
    assert not (tmp_path / "run" / DONE).exists()


def decisions(*outcomes: str, kind: str = "timeout") -> list[dict]:
    return [
        {"outcome": o, "error_kind": kind if o == "error" else None, "error": f"E: {kind}\n x"}
        for o in outcomes
    ]


def test_which_decisions_count_towards_the_error_rate():
    limit = LLMConfig(max_error_rate=0.25)
    assert excess_errors(limit, []) is None  # no llm decisions at all
    assert excess_errors(limit, decisions("error", "comply", "comply", "inflate")) is None
    message = excess_errors(limit, decisions("error", "error", "comply", "inflate"))
    assert message == (
        "2 of 4 LLM decisions (50.0%) ended in an error, more than llm.max_error_rate=0.25; "
        "most common: timeout (2), e.g. E: timeout x"
    )
    # The budget's own stops count neither way; refusals and bad output are answers.
    budget = decisions("error", "comply", "comply", "comply", *["budget_exceeded"] * 9)
    assert excess_errors(limit, budget) is None
    answers = ["refused_by_provider", "unparseable", "invalid_tool_call", "empty"]
    assert excess_errors(limit, decisions("error", *answers)) is None
    assert excess_errors(LLMConfig(max_error_rate=0.0), decisions("error", *["comply"] * 99))
    assert excess_errors(LLMConfig(max_error_rate=1.0), decisions("error")) is None
    mixed = decisions("error") + decisions("error", "error", kind="auth") + decisions("comply")
    assert "most common: auth (2), e.g. E: auth x" in excess_errors(limit, mixed)
    long = [{"outcome": "error", "error_kind": "error", "error": "x" * 500}]
    assert excess_errors(limit, long).endswith("e.g. " + "x" * 157 + "...")


def test_max_error_rate_is_a_share(tmp_path):
    with pytest.raises(ConfigError, match=r"^llm\.max_error_rate: must be in \[0\.0, 1\.0\]"):
        LLMConfig(max_error_rate=1.5)
    done = cli(["engine=llm", "llm.max_error_rate=-0.1", *SMALL], tmp_path)
    assert done.returncode != 0 and "llm.max_error_rate" in done.stderr
    assert list(tmp_path.iterdir()) == []
