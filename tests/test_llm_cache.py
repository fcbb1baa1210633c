"""The cache knows what it answers for, and answers are of bounded size: cache keys, entry
digests, bad entries, the manifest's digest of the answers used, the byte cap on an answer
and the ``rejected_answer`` class. Offline: a loopback server, never a provider."""

from __future__ import annotations

import dataclasses
import hashlib
import importlib.util
import json
import logging
from pathlib import Path

import pandas as pd
import pytest

from sim import run
from sim.core.llm_params import LLMConfig
from sim.core.schema import ConfigError, coerce_config
from sim.engines.llm import litellm_model
from sim.engines.llm.model import Message, RejectedAnswer, Request
from sim.engines.llm.wrappers import build_model, usage
from tests.llm_server import LLMServer, Reply, completion, llm_server_fixture  # noqa: F401

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("litellm") is None, reason="needs the llm extra (litellm)"
)

KEY_ENV, KEY = "PEERSIM_TEST_API_KEY", "sk-test-0123456789abcdefSECRET"
CAP = 65_536
CACHE_LOG = "sim.engines.llm.wrappers.cache"
SMALL = ["population.n_agents=40", "steps=20", "figures=false", "progress=false"]


def ask(server: LLMServer, text: str = "hi", **kw) -> Request:
    return Request("openai/test-model", (Message("user", text),), api_base=server.api_base,
                   timeout=5.0, **kw)  # fmt: skip


def overrides(server: LLMServer, tmp_path: Path, *extra: str) -> list[str]:
    return [
        *SMALL,
        "engine=llm",
        "llm.model=openai/test-model",
        f"llm.api_base={server.api_base}",
        f"llm.api_key_env={KEY_ENV}",
        f"llm.cache_dir={tmp_path / 'cache'}",
        f"llm.max_answer_bytes={CAP}",
        "llm.backoff=0.01",
        "llm.timeout=10",
        *extra,
    ]


# ------------------------------------------------------------------ what a key covers
BASE = Request("openai/m", (Message("user", "hi"),), seed=1, api_base="http://a:1/v1")


@pytest.mark.parametrize(
    ("change", "same"),
    [
        ({"api_base": "http://b:1/v1"}, False),
        ({"api_base": None}, False),
        ({"model": "openai/n"}, False),
        ({"seed": 2}, False),
        ({"temperature": 0.5}, False),
        ({"max_tokens": 10}, False),
        ({"tools": ({"type": "function"},)}, False),
        ({"protocol": "sandbox/2"}, False),
        ({"max_answer_bytes": 2048}, False),
        ({"messages": (Message("user", "ho"),)}, False),
        ({"timeout": 1.0}, True),  # how long to wait does not change the answer
        ({"api_key_env": "OTHER_KEY"}, True),  # nor which variable holds the key
        ({"api_base": "http://user:secret-password@a:1/v1"}, False),
    ],
)
def test_the_key_covers_everything_that_decides_the_answer(change, same):
    assert (dataclasses.replace(BASE, **change).cache_key() == BASE.cache_key()) is same


def test_credentials_in_the_server_address_never_reach_the_key():
    one = dataclasses.replace(BASE, api_base="http://user:one-password@a:1/v1")
    two = dataclasses.replace(BASE, api_base="http://user:two-password@a:1/v1")
    assert one.cache_key() == two.cache_key()  # both redacted to the same address


def test_two_servers_with_one_model_name_never_replay_each_other(llm_server, tmp_path):
    a, b = llm_server(completion("from a")), llm_server(completion("from b"))
    model = build_model(litellm_model.LiteLLMModel(), cache_dir=tmp_path)
    assert model.complete(ask(a)).message.content == "from a"
    assert model.complete(ask(b)).message.content == "from b"
    assert model.complete(ask(a)).message.content == "from a"
    assert (a.count, b.count, usage(model)["cache"]["hits"]) == (1, 1, 1)


# ------------------------------------------------------------------ entries and digests
def warnings(caplog) -> list[str]:
    """What the cache warned about (litellm logs warnings of its own)."""
    said = [r.getMessage() for r in caplog.records if r.name == CACHE_LOG]
    return [why for text in said for why in ("does not match its digest", "could not be read")
            if why in text]  # fmt: skip


def entries(directory: Path) -> list[Path]:
    return sorted(directory.glob("*.json"))


def test_an_edited_entry_is_a_miss_warned_once_and_asked_again(llm_server, tmp_path, caplog):
    server = llm_server(lambda body: completion(f"answer {body['messages'][0]['content']}"))
    requests = [ask(server, str(i)) for i in range(3)]
    first = build_model(litellm_model.LiteLLMModel(), cache_dir=tmp_path)
    originals = [first.complete(r) for r in requests]
    for path in entries(tmp_path):  # the answer changed, the digest left as it was
        entry = json.loads(path.read_text())
        entry["body"]["answer"]["message"]["content"] = "edited"
        path.write_text(json.dumps(entry))
    replay = build_model(litellm_model.LiteLLMModel(), cache_dir=tmp_path)
    with caplog.at_level(logging.WARNING, logger=CACHE_LOG):
        again = [replay.complete(r) for r in requests]
    assert again == originals and server.count == 6  # each asked again, none replayed
    stats = usage(replay)["cache"]
    assert (stats["hits"], stats["misses"], stats["mismatched"], stats["writes"]) == (0, 3, 3, 3)
    assert warnings(caplog) == ["does not match its digest"]
    # Rewritten: the next replay hits every entry again.
    third = build_model(litellm_model.LiteLLMModel(), cache_dir=tmp_path)
    assert [third.complete(r) for r in requests] == originals and server.count == 6


@pytest.mark.parametrize(
    "text",
    [
        '{"format": 2, "sha256": "0", "body": ' + "[" * 10_000 + "]" * 10_000 + "}",
        "[" * 10_000,
        '{"format": 2, "sha256": "0"}',
        "\xff not json",
    ],
    ids=["deep-10000", "deep-unclosed", "no-body", "garbage"],
)
def test_an_unreadable_entry_is_a_miss_not_a_crash(llm_server, tmp_path, caplog, text):
    server = llm_server(completion("fresh"))
    model = build_model(litellm_model.LiteLLMModel(), cache_dir=tmp_path)
    request = ask(server)
    tmp_path.joinpath(f"{request.cache_key()}.json").write_text(text)
    with caplog.at_level(logging.WARNING, logger=CACHE_LOG):
        assert model.complete(request).message.content == "fresh"
    assert server.count == 1 and usage(model)["cache"]["unreadable"] == 1
    assert warnings(caplog) == ["could not be read"]
    assert model.complete(request).message.content == "fresh" and server.count == 1


# ------------------------------------------------------------------ the cap on an answer
def test_the_cap_is_validated():
    with pytest.raises(ConfigError, match=r"^llm.max_answer_bytes: must be in \[1024, "):
        coerce_config(LLMConfig, {"max_answer_bytes": 1000})
    assert LLMConfig().max_answer_bytes == 1_000_000


def test_an_answer_over_the_cap_is_cut_unread_and_not_retried(llm_server):
    body = json.dumps(completion("x" * 30_000_000).body).encode()
    server = llm_server(Reply(200, body))
    model = build_model(litellm_model.LiteLLMModel(), retries=3, backoff=0.001)
    with pytest.raises(RejectedAnswer) as info:
        model.complete(ask(server, max_answer_bytes=CAP))
    assert info.value.answer.message.content == body[:CAP].decode() + (
        f"\n[answer rejected: over llm.max_answer_bytes={CAP}; at most its first {CAP} bytes "
        "are kept above]"
    )
    assert server.count == 1 and usage(model)["retrying"]["retries"] == 0
    assert usage(model)["metered"]["errors_by_kind"] == {"rejected_answer": 1}


def test_an_answer_at_the_cap_passes(llm_server):
    reply = completion("y" * 100, prompt_tokens=11)  # a fixed size
    server = llm_server(reply)
    exact = len(reply.encoded())
    model = litellm_model.LiteLLMModel()
    assert model.complete(ask(server, max_answer_bytes=exact)).message.content == "y" * 100
    with pytest.raises(RejectedAnswer):
        model.complete(ask(server, max_answer_bytes=exact - 1))


def deep_arguments(body) -> Reply:
    """Every answer calls end_task with arguments of 1,000 ``[``."""
    reply = completion(tool_calls=[("end_task", {})])
    reply.body["choices"][0]["message"]["tool_calls"][0]["function"]["arguments"] = "[" * 1000
    return reply


def answers_digest(cache: Path) -> dict:
    lines = "".join(f"{p.stem} {json.loads(p.read_text())['sha256']}\n" for p in entries(cache))
    return {"entries": len(entries(cache)), "sha256": hashlib.sha256(lines.encode()).hexdigest()}


def test_malformed_arguments_get_their_class_one_request_each_and_replay(
    llm_server, tmp_path, monkeypatch
):
    monkeypatch.setenv(KEY_ENV, KEY)
    server = llm_server(deep_arguments)
    first = run(overrides(server, tmp_path), output_dir=tmp_path / "first")
    decisions = first.summary["llm_decisions"]
    assert decisions > 0 and first.summary["llm_outcomes"]["rejected_answer"] == decisions
    assert first.summary["llm_rejected_answers"] == decisions
    assert server.count == first.llm_usage["llm_calls"] == decisions  # one request each
    assert first.llm_usage["llm_retries"] == 0
    assert {t["error_kind"] for t in first.transcripts} == {"rejected_answer"}
    assert all(t["messages"][-1]["content"].endswith("nested too deeply to read; at most "
               f"its first {CAP} bytes are kept above]") for t in first.transcripts)  # fmt: skip
    # The manifest names the answers used; a replay from the cache used the same ones.
    manifest = json.loads((tmp_path / "first" / "manifest.json").read_text())
    assert manifest["llm_answers"] == answers_digest(tmp_path / "cache")
    replay = run(overrides(server, tmp_path), output_dir=tmp_path / "replay")
    assert server.count == decisions
    assert pd.Series(replay.summary).equals(pd.Series(first.summary))  # NaN where undefined
    assert (
        json.loads((tmp_path / "replay" / "manifest.json").read_text())["llm_answers"]
        == (manifest["llm_answers"])
    )


def test_thirty_megabyte_answers_leave_capped_transcripts_and_cache(
    llm_server, tmp_path, monkeypatch
):
    monkeypatch.setenv(KEY_ENV, KEY)
    server = llm_server(Reply(200, json.dumps(completion("x" * 30_000_000).body).encode()))
    result = run(overrides(server, tmp_path), output_dir=tmp_path / "run")
    decisions = result.summary["llm_decisions"]
    assert decisions > 0 and result.summary["llm_outcomes"]["rejected_answer"] == decisions
    assert server.count == result.llm_usage["llm_calls"] == decisions
    assert result.llm_usage["llm_retries"] == 0
    note = f"\n[answer rejected: over llm.max_answer_bytes={CAP}; at most its first {CAP} bytes"
    for transcript in result.transcripts:
        kept = transcript["messages"][-1]["content"]
        assert note in kept and len(kept.split(note)[0].encode()) <= CAP
    room = CAP + 4096  # the entry's or transcript's other fields
    assert (tmp_path / "run" / "transcripts.jsonl").stat().st_size <= decisions * room
    sizes = [p.stat().st_size for p in entries(tmp_path / "cache")]
    assert len(sizes) == decisions and max(sizes) <= room


def test_a_provider_outside_the_capped_client_is_capped_after_reading(llm_server):
    # openrouter/ goes through litellm's own HTTP client: the cap applies to the parsed answer.
    server = llm_server(completion("z" * 5000))
    model = build_model(litellm_model.LiteLLMModel(), retries=3, backoff=0.001)
    with pytest.raises(RejectedAnswer) as info:
        model.complete(
            dataclasses.replace(ask(server, max_answer_bytes=2048), model="openrouter/m")
        )
    assert info.value.answer.message.content == "z" * 2048 + (
        "\n[answer rejected: over llm.max_answer_bytes=2048; at most its first 2048 bytes are "
        "kept above]"
    )
    assert server.count == 1 and usage(model)["retrying"]["retries"] == 0
