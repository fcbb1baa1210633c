"""What each request carries (a bound on one answer, the tool choice), what the run counts
(attempts and retries; a call the budget refused counted once) and what it prints (no
litellm log line per call unless ``llm.verbose``). Against a loopback server only."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from sim import run
from tests.llm_server import (
    completion,
    error,
    llm_server_fixture,  # noqa: F401 (the llm_server fixture)
)
from tests.test_llm_engine import KEY, KEY_ENV, http_overrides, polite_server_policy


@pytest.mark.parametrize(
    ("extra", "max_tokens", "tool_choice"),
    [((), 512, "auto"), (("llm.max_output_tokens=64", "llm.tool_choice=required"), 64, "required")],
    ids=["defaults", "set"],
)
def test_every_request_bounds_its_answer_and_names_the_tool_choice(
    llm_server, tmp_path, monkeypatch, extra, max_tokens, tool_choice
):
    monkeypatch.setenv(KEY_ENV, KEY)
    server = llm_server(polite_server_policy)
    run(http_overrides(server, tmp_path, "llm.cache=false", *extra))
    assert server.count > 0
    assert {body["max_tokens"] for body in server.requests} == {max_tokens}
    assert {body["tool_choice"] for body in server.requests} == {tool_choice}


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("llm.max_output_tokens=0", "llm.max_output_tokens: must be in [16, 10000000], got 0"),
        ("llm.tool_choice=always", "llm.tool_choice: must be one of auto, required, none"),
    ],
)
def test_bad_request_settings_are_refused_before_anything_runs(tmp_path, override, message):
    folder = tmp_path / "run"
    done = subprocess.run(
        [sys.executable, "-m", "sim", "engine=llm", override, f"hydra.run.dir={folder}"],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 2
    assert message in done.stderr and "Traceback" not in done.stderr
    assert not folder.exists()


def test_attempts_and_retries_are_shown_and_over_budget_is_counted_once(
    llm_server, tmp_path, monkeypatch
):
    monkeypatch.setenv(KEY_ENV, KEY)
    # Every call fails twice with a server error before it is answered.
    replies = {}

    def flaky(body):
        key = len(body["messages"]), body["messages"][1]["content"], body.get("seed")
        replies[key] = replies.get(key, 0) + 1
        return error(500) if replies[key] <= 2 else polite_server_policy(body)

    server = llm_server(flaky)
    result = run(http_overrides(server, tmp_path, "llm.cache=false", "llm.max_calls=6"))
    usage, summary = result.llm_usage, result.summary
    assert usage["llm_calls"] == 6 and usage["llm_attempts"] == 18 == server.count
    assert usage["llm_retries"] == 12
    assert usage["llm_errors"] == 0 and "budget_exceeded" not in usage["llm_errors_by_kind"]
    assert summary["llm_budget_exceeded"] > 0
    counted = ("llm_valid_decisions", "llm_no_action", "llm_invalid", "llm_failed",
               "llm_budget_exceeded")  # fmt: skip
    assert sum(summary[key] for key in counted) == summary["llm_decisions"]


@pytest.mark.parametrize("verbose", [False, True])
def test_litellm_logs_a_line_per_call_only_when_verbose(llm_server, tmp_path, verbose):
    server = llm_server(completion(tool_calls=[("end_task", {})]))
    overrides = ["engine=llm", "llm.model=openai/test-model", f"llm.api_base={server.api_base}",
                 "llm.cache=false", "population.n_agents=20", "steps=20", "figures=false",
                 "progress=false", f"llm.verbose={str(verbose).lower()}",
                 f"hydra.run.dir={tmp_path / 'run'}"]  # fmt: skip
    done = subprocess.run([sys.executable, "-m", "sim", *overrides], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    lines = [line for line in (done.stdout + done.stderr).splitlines()
             if "HTTP Request: POST" in line or "LiteLLM completion()" in line]  # fmt: skip
    assert server.count > 0
    # litellm's own handler and the run's log may both show a line: at least one per call.
    assert len(lines) >= server.count if verbose else lines == []


@pytest.mark.parametrize("protocol", ["native", "text"])
def test_system_role_user_sends_the_system_prompt_in_the_first_user_message(
    llm_server, tmp_path, monkeypatch, protocol
):
    # For chat templates that drop system messages (llama-cpp-python's gemma format).
    monkeypatch.setenv(KEY_ENV, KEY)

    def policy(body):  # scores 100 when asked, then ends the task, in either protocol
        turn = sum(m["role"] == "assistant" for m in body["messages"])
        asked = "submit_score" in body["messages"][0]["content"]
        name, arguments = (
            ("submit_score", {"score": 100}) if turn == 0 and asked else ("end_task", {})
        )
        if body.get("tools"):
            return completion(tool_calls=[(name, arguments)])
        return completion(json.dumps({"tool": name, "arguments": arguments}))

    server = llm_server(policy)
    extra = ("llm.cache=false", "llm.system_role=user", f"llm.tool_protocol={protocol}")
    result = run(http_overrides(server, tmp_path, *extra))
    assert server.count > 0
    for body in server.requests:
        roles = [m["role"] for m in body["messages"]]
        assert "system" not in roles and roles[0] == "user"
        opening = body["messages"][0]["content"]
        assert opening.startswith("You are ") and "Task from Model Operations" in opening
        assert ('"tool":' in opening) == (protocol == "text")  # the tools section, in text
    assert result.summary["llm_valid_decisions"] > 0
