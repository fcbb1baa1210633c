"""Secrets in configuration values never reach a written byte (issue 24): a credential
inside ``llm.api_base`` is taken out before Hydra composes, sent as the provider expects,
and found in no file, folder name or output line of a run, a sweep or a collect; a key
given as a config value is refused in one line that does not show it."""

from __future__ import annotations

import base64
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from sim import run
from sim.core.errors import ConfigError
from sim.core.secrets import (
    CREDENTIALS_ENV,
    REDACTED,
    Credential,
    check_no_secrets,
    credential_for,
    redact,
    take_out,
)
from tests.llm_server import LLMServer, completion

#: No known key shape: only taking it out, not a pattern, keeps it from the outputs.
SECRET = "PLANTED0123456789abcdefXYZ"
SHAPED = "sk-PLANTED0123456789abcdef"
BASIC = "Basic " + base64.b64encode(f"alice:{SECRET}".encode()).decode()
ENV_NAME = "PEERSIM_PLANTED_TOKEN"
NEEDLES = (SECRET, SHAPED, BASIC.split()[1])
SMALL = ["engine=llm", "llm.model=openai/test-model", "population.n_agents=12", "steps=4",
         "schedule.interval=2", "figures=false", "progress=false", "llm.backoff=0.01",
         "llm.timeout=20", "llm.cache_dir=cache"]  # fmt: skip
TIMEOUT = 300
#: How each way of planting the secret puts it in the URL, and the header the server gets.
WAYS = {
    "basic": (lambda base: base.replace("http://", f"http://alice:{SECRET}@"), BASIC),
    "userinfo_key": (lambda base: base.replace("http://", f"http://apikey:{SECRET}@"),
                     f"Bearer {SECRET}"),
    "query_key": (lambda base: f"{base}?key={SECRET}", f"Bearer {SECRET}"),
    "env_var": (lambda base: base.replace("http://", f"http://:{SECRET}@"), f"Bearer {SECRET}"),
}  # fmt: skip


def polite(body: dict):
    return completion(tool_calls=[("end_task", {})])


def command(args: list[str], cwd: Path, *, env_secret: bool = False, program=("-m", "sim")):
    env = {k: v for k, v in os.environ.items() if k != CREDENTIALS_ENV}
    env |= {"PYTHONHASHSEED": "0", **({ENV_NAME: SECRET} if env_secret else {})}
    return subprocess.run(
        [sys.executable, *program, *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )


def quoted(override: str) -> str:
    """An override whose value Hydra's grammar takes only quoted (``?key=...``)."""
    key, _, value = override.partition("=")
    return f"{key}={value}" if "?" not in value else f'{key}="{value}"'


def assert_nowhere(root: Path, *texts: str) -> int:
    """No needle in any path under ``root``, any byte of its files, any cell of its Parquet
    tables (compressed on disk) or any of ``texts``; returns how many files were read."""
    files = 0
    for path in root.rglob("*"):
        assert not any(n in str(path) for n in NEEDLES), path
        if path.is_file():
            files += 1
            data = path.read_bytes()
            assert not any(n.encode() in data for n in NEEDLES), path
            if path.suffix == ".parquet":
                table = pd.read_parquet(path)
                cells = [str(c) for c in [*table.to_numpy().ravel(), *table.columns]]
                assert not any(n in c for n in NEEDLES for c in cells), path
    for text in texts:
        assert not any(n in text for n in NEEDLES), text
    return files


def authorizations(server: LLMServer) -> set[str]:
    return {v for h in server.headers for k, v in h.items() if k.lower() == "authorization"}


@pytest.mark.parametrize("way", WAYS)
def test_a_single_run_sends_the_credential_and_writes_it_nowhere(way, tmp_path):
    url, header = WAYS[way]
    with LLMServer(polite) as server:
        done = command(
            [*SMALL, quoted(f"llm.api_base={url(server.api_base)}")],
            tmp_path,
            env_secret=way == "env_var",
        )
        assert done.returncode == 0, done.stderr
        assert server.count > 0
        assert authorizations(server) == {header}
    (folder,) = (tmp_path / "outputs" / "runs").iterdir()
    base = server.api_base
    shown = f"{base}?key={REDACTED}" if way == "query_key" else base.replace("//", f"//{REDACTED}@")
    assert shown in (folder / ".hydra" / "overrides.yaml").read_text()
    assert f"api_base: {shown}\n" in (folder / ".hydra" / "config.yaml").read_text()
    assert {p.name for p in (tmp_path / "cache").iterdir()}  # the cache was written, and read
    assert assert_nowhere(tmp_path, done.stdout, done.stderr) >= 10


def test_a_sweep_and_its_collected_tables_hold_no_credential(tmp_path):
    """Each job runs in a joblib worker, which gets its config and the environment only."""
    servers = {way: LLMServer(polite).__enter__() for way in WAYS}
    try:
        urls = [WAYS[way][0](server.api_base) for way, server in servers.items()]
        values = ",".join(f'"{u}"' for u in urls)
        joblib = ["hydra/launcher=joblib", "hydra.launcher.n_jobs=2"]
        args = ["-m", *joblib, *SMALL, f"llm.api_base={values}"]
        swept = command(args, tmp_path, env_secret=True)
        assert swept.returncode == 0, swept.stderr
        for way, server in servers.items():
            assert server.count > 0
            assert authorizations(server) == {WAYS[way][1]}, way
    finally:
        for server in servers.values():
            server.__exit__(None, None, None)
    (sweep,) = (tmp_path / "outputs" / "multirun").iterdir()
    runs = sorted(p.name for p in sweep.iterdir() if p.is_dir() and not p.name.startswith("."))
    assert len(runs) == 4 and all(REDACTED in name for name in runs)
    collected = command([str(sweep)], tmp_path, program=("-m", "sim.app.collect"))
    assert collected.returncode == 0, collected.stderr
    table = pd.read_parquet(sweep / "runs.parquet")
    assert table["status"].tolist() == ["ok"] * 4
    assert all(REDACTED in value for value in table["llm.api_base"])
    assert (sweep / "multirun.yaml").is_file() and (sweep / "sweep.json").is_file()
    texts = (swept.stdout, swept.stderr, collected.stdout, collected.stderr)
    assert assert_nowhere(tmp_path, *texts) >= 40


def test_sim_run_takes_the_credential_out_too(tmp_path, monkeypatch):
    monkeypatch.setenv(CREDENTIALS_ENV, "")  # restored (unset) after the test
    with LLMServer(polite) as server:
        url = WAYS["basic"][0](server.api_base)
        cache = f"llm.cache_dir={tmp_path / 'cache'}"
        result = run([*SMALL, cache, f"llm.api_base={url}"], output_dir=tmp_path / "run")
        assert server.count > 0 and authorizations(server) == {BASIC}
    assert result.config.llm.api_base == server.api_base.replace("//", f"//{REDACTED}@")
    assert assert_nowhere(tmp_path) >= 8


REFUSED = {
    "api_key": (["+llm.api_key=" + SECRET], "llm.api_key: unknown key"),
    "api_key_shaped": (["+llm.api_key=" + SHAPED], "llm.api_key: unknown key"),
    "api_key_env": (["llm.api_key_env=" + SHAPED], "llm.api_key_env: must be the NAME"),
    "api_key_env_unshaped": (["llm.api_key_env=" + SECRET], "llm.api_key_env: must be the NAME"),
    "env_value": ([f"llm.cache_dir=cache-{SECRET}"], "llm.cache_dir: holds a secret"),
    "url_and_key_env": (
        [f"llm.api_base=http://:{SECRET}@127.0.0.1:9/v1", "llm.api_key_env=MY_KEY"],
        "llm.api_key_env: must be null when llm.api_base carries a credential",
    ),
    "two_credentials": (
        [f'llm.api_base="http://u:{SECRET}@127.0.0.1:9/v1?token={SECRET}"'],
        "llm.api_base: carries more than one credential",
    ),
}


@pytest.mark.parametrize("sweep", [False, True], ids=["run", "sweep"])
@pytest.mark.parametrize("case", REFUSED)
def test_a_secret_given_as_a_value_is_refused_without_showing_it(case, sweep, tmp_path):
    overrides, message = REFUSED[case]
    args = ["-m", *SMALL, *overrides, "seed=1,2"] if sweep else [*SMALL, *overrides]
    # The secret in the environment only where a case needs it: else redacting the
    # environment's values would hide it, whatever the case's own redaction does.
    done = command(args, tmp_path, env_secret=case == "env_value")
    assert done.returncode == 2, done.stderr
    (line,) = done.stderr.splitlines()
    assert line.startswith("Invalid config") and message in line, line
    assert not (tmp_path / "outputs").exists()
    assert_nowhere(tmp_path, done.stdout, done.stderr)


def test_take_out_keeps_each_url_whole_in_the_environment_only(monkeypatch):
    monkeypatch.setenv(CREDENTIALS_ENV, "")  # restored (unset) after the test
    taken = take_out(
        [
            f"llm.api_base=http://alice:{SECRET}@h:1/v1,http://:{SECRET}x@h:2/v1",
            f'llm.api_base="http://h:3/v1?a=1&api_key={SECRET}&b=2"',
            "llm.api_base=http://h:4/v1?a=1",
            "seed=3",
        ]
    )
    assert taken == [
        f"llm.api_base='http://{REDACTED}@h:1/v1','http://{REDACTED}@h:2/v1'",
        f'llm.api_base="http://h:3/v1?a=1&api_key={REDACTED}&b=2"',
        "llm.api_base=http://h:4/v1?a=1",
        "seed=3",
    ]
    assert SECRET in os.environ[CREDENTIALS_ENV]
    assert credential_for(f"http://{REDACTED}@h:1/v1") == Credential(
        "http://h:1/v1", basic=f"alice:{SECRET}"
    )
    assert credential_for(f"http://{REDACTED}@h:2/v1") == Credential(
        "http://h:2/v1", api_key=SECRET + "x"
    )
    assert credential_for(f"http://h:3/v1?a=1&api_key={REDACTED}&b=2") == Credential(
        "http://h:3/v1?a=1&b=2", api_key=SECRET
    )
    assert credential_for("http://h:4/v1?a=1") is None
    # Once taken out, the credential is a secret everywhere: logs, messages, files.
    assert redact(f"x {SECRET} {BASIC}") == f"x {REDACTED} Basic {REDACTED}"
    with pytest.raises(ConfigError, match="differ only in their credentials"):
        take_out([f"llm.api_base=http://bob:{SECRET}@h:1/v1"])
    with pytest.raises(ConfigError, match=r"is not known to this process") as error:
        credential_for(f"http://{REDACTED}@elsewhere/v1")
    assert SECRET not in str(error.value)


def test_a_config_value_holding_a_secret_is_refused(monkeypatch):
    monkeypatch.setenv(ENV_NAME, SECRET)
    check_no_secrets({"llm": {"api_base": f"http://{REDACTED}@h/v1", "model": "x"}, "n": 3})
    with pytest.raises(ConfigError) as error:
        check_no_secrets({"llm": {"model": "x", "cache_dir": f"/tmp/{SECRET}/c"}})
    assert str(error.value).startswith("llm.cache_dir: holds a secret")
    assert str(error.value).endswith(f"got '/tmp/{REDACTED}/c'")
