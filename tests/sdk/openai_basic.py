"""The real `openai` Python SDK against Sluice: non-stream, stream, models, error types.

Run by tests/e2e_sdk.rs with SLUICE_BASE_URL pointing at a gateway whose `gpt-4o`
provider is a mock replaying openai/chat_stream_text_usage.sse and openai/chat_text.json.
Exits non-zero (AssertionError) on any mismatch.
"""
import json
import os
import sys

import openai

base = os.environ["SLUICE_BASE_URL"] + "/v1"
fixtures = os.environ["SLUICE_FIXTURES"]
client = openai.OpenAI(base_url=base, api_key="unused", max_retries=0)

# Non-streamed: the SDK parses the recorded answer; the gateway's extras survive.
rec = json.load(open(os.path.join(fixtures, "openai/chat_text.json")))
resp = client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "Hi"}])
assert resp.choices[0].message.content == rec["choices"][0]["message"]["content"], resp
assert resp.usage.total_tokens == rec["usage"]["total_tokens"]
extra = resp.model_extra or {}
assert extra.get("provider") == "mock-openai", extra
assert isinstance(extra.get("latency_ms"), int)

# Raw response headers.
raw = client.chat.completions.with_raw_response.create(model="gpt-4o", messages=[{"role": "user", "content": "Hi"}])
assert raw.headers.get("x-sluice-provider") == "mock-openai"
assert raw.headers.get("x-request-id")

# Streamed: the SDK assembles the same text as the recording holds; usage when asked.
expected = ""
for block in open(os.path.join(fixtures, "openai/chat_stream_text_usage.sse")).read().split("\n\n"):
    if block.startswith("data: ") and block[6:].strip() != "[DONE]":
        ev = json.loads(block[6:])
        for c in ev.get("choices", []):
            expected += c["delta"].get("content") or ""
text, usage = "", None
stream = client.chat.completions.create(
    model="gpt-4o",
    messages=[{"role": "user", "content": "Hi"}],
    stream=True,
    stream_options={"include_usage": True},
)
for chunk in stream:
    if chunk.usage:
        usage = chunk.usage
    for c in chunk.choices:
        text += c.delta.content or ""
assert text == expected, (text, expected)
assert usage is not None and usage.total_tokens > 0

# Without include_usage the gateway's own usage request is invisible to the client.
n_usage = 0
for chunk in client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "Hi"}], stream=True):
    n_usage += chunk.usage is not None
assert n_usage == 0

# Models.
ids = [m.id for m in client.models.list()]
assert "gpt-4o" in ids and "mock-openai:gpt-4o" in ids, ids
assert client.models.retrieve("gpt-4o").id == "gpt-4o"

# Error types the SDK raises from Sluice's envelope.
try:
    client.chat.completions.create(model="no-such-model", messages=[{"role": "user", "content": "x"}])
    raise SystemExit("expected NotFoundError")
except openai.NotFoundError as e:
    assert e.status_code == 404 and e.body["code"] == "model_not_found", e.body
try:
    client.chat.completions.create(model="gpt-4o", messages="not a list")
    raise SystemExit("expected BadRequestError")
except openai.BadRequestError as e:
    assert e.status_code == 400 and e.body["param"] == "messages", e.body
try:
    client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "x"}], temperature=7)
    raise SystemExit("expected BadRequestError")
except openai.BadRequestError as e:
    assert "temperature" in e.message
bad_key = openai.OpenAI(base_url=os.environ["SLUICE_KEYED_URL"] + "/v1", api_key="wrong", max_retries=0)
try:
    bad_key.models.list()
    raise SystemExit("expected AuthenticationError")
except openai.AuthenticationError as e:
    assert e.status_code == 401
good_key = openai.OpenAI(base_url=os.environ["SLUICE_KEYED_URL"] + "/v1", api_key="ck-good", max_retries=0)
assert good_key.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "x"}]).choices

print("openai SDK", openai.__version__, "OK")
