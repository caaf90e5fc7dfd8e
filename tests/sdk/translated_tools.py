"""The openai SDK against Sluice translating to an Anthropic or Gemini upstream that replays
a recorded answer. The expected tool calls, arguments, finish reason and usage are read from
the recording itself (independently of the gateway's translator) and compared with what the
SDK assembles.

usage: translated_tools.py anthropic|gemini FIXTURE MODEL   (FIXTURE relative to SLUICE_FIXTURES)
"""
import json
import os
import sys

import openai

flavor, fixture, model = sys.argv[1], sys.argv[2], sys.argv[3]
path = os.path.join(os.environ["SLUICE_FIXTURES"], fixture)
raw = open(path, encoding="utf-8").read()
stream = path.endswith(".sse")


def sse_payloads(text):
    for block in text.replace("\r\n", "\n").split("\n\n"):
        for line in block.split("\n"):
            if line.startswith("data:"):
                data = line[5:].strip()
                if data and data != "[DONE]":
                    yield json.loads(data)


def expected_anthropic():
    calls, text, finish, usage = {}, "", None, {}
    events = list(sse_payloads(raw)) if stream else None
    if stream:
        order = []
        for ev in events:
            t = ev.get("type")
            if t == "message_start":
                u = ev["message"]["usage"]
                usage["prompt"] = u.get("input_tokens", 0) + u.get("cache_read_input_tokens", 0) + u.get("cache_creation_input_tokens", 0)
                usage["completion"] = u.get("output_tokens", 0)
            elif t == "content_block_start" and ev["content_block"]["type"] == "tool_use":
                b = ev["content_block"]
                calls[ev["index"]] = {"id": b["id"], "name": b["name"], "args": ""}
                order.append(ev["index"])
            elif t == "content_block_delta":
                d = ev["delta"]
                if d["type"] == "input_json_delta":
                    calls[ev["index"]]["args"] += d["partial_json"]
                elif d["type"] == "text_delta":
                    text += d["text"]
            elif t == "message_delta":
                finish = ev["delta"].get("stop_reason")
                if "output_tokens" in ev.get("usage", {}):
                    usage["completion"] = ev["usage"]["output_tokens"]
        calls = [calls[i] for i in order]
    else:
        body = json.loads(raw)
        calls = [{"id": b["id"], "name": b["name"], "args": json.dumps(b["input"])} for b in body["content"] if b["type"] == "tool_use"]
        text = "".join(b["text"] for b in body["content"] if b["type"] == "text")
        finish = body["stop_reason"]
        u = body["usage"]
        usage = {"prompt": u["input_tokens"] + u.get("cache_read_input_tokens", 0) + u.get("cache_creation_input_tokens", 0), "completion": u["output_tokens"]}
    mapping = {"tool_use": "tool_calls", "end_turn": "stop", "stop_sequence": "stop", "max_tokens": "length"}
    for c in calls:
        c["args"] = json.loads(c["args"] or "{}")
    return calls, text, mapping[finish], usage


def expected_gemini():
    chunks = list(sse_payloads(raw)) if stream else [json.loads(raw)]
    calls, text, finish, usage = [], "", None, {}
    for ch in chunks:
        for cand in ch.get("candidates", []):
            for part in cand.get("content", {}).get("parts", []):
                if "functionCall" in part:
                    fc = part["functionCall"]
                    calls.append({"id": None, "name": fc["name"], "args": fc.get("args", {})})
                elif "text" in part and not part.get("thought"):
                    text += part["text"]
            finish = cand.get("finishReason", finish)
        if "usageMetadata" in ch:
            m = ch["usageMetadata"]
            usage = {"prompt": m.get("promptTokenCount", 0), "completion": m.get("candidatesTokenCount", 0) + m.get("thoughtsTokenCount", 0)}
    fr = "tool_calls" if calls else {"STOP": "stop", "MAX_TOKENS": "length"}.get(finish, "content_filter")
    return calls, text, fr, usage


calls, text, finish, usage = expected_anthropic() if flavor == "anthropic" else expected_gemini()
assert calls, "the recording holds tool calls"

client = openai.OpenAI(base_url=os.environ["SLUICE_BASE_URL"] + "/v1", api_key="unused", max_retries=0)
tools = [{"type": "function", "function": {"name": c["name"], "parameters": {"type": "object", "properties": {}}}} for c in calls]
req = dict(model=model, messages=[{"role": "user", "content": "use the tools"}], tools=tools)
if stream:
    got, got_text, got_finish, got_usage, ids = {}, "", None, None, {}
    for chunk in client.chat.completions.create(stream=True, stream_options={"include_usage": True}, **req):
        if chunk.usage:
            got_usage = chunk.usage
        for ch in chunk.choices:
            got_text += ch.delta.content or ""
            for tc in ch.delta.tool_calls or []:
                slot = got.setdefault(tc.index, {"id": None, "name": "", "args": ""})
                if tc.id:
                    assert slot["id"] in (None, tc.id), "a tool call's id never changes"
                    slot["id"] = tc.id
                if tc.function and tc.function.name:
                    slot["name"] += tc.function.name
                if tc.function and tc.function.arguments:
                    slot["args"] += tc.function.arguments
            if ch.finish_reason:
                got_finish = ch.finish_reason
    assert sorted(got) == list(range(len(got))), f"indexes are consecutive from 0: {sorted(got)}"
    got_calls = [got[i] for i in sorted(got)]
else:
    resp = client.chat.completions.create(**req)
    m = resp.choices[0].message
    got_calls = [{"id": t.id, "name": t.function.name, "args": t.function.arguments} for t in m.tool_calls or []]
    got_text, got_finish, got_usage = m.content or "", resp.choices[0].finish_reason, resp.usage

assert len(got_calls) == len(calls), (got_calls, calls)
for g, e in zip(got_calls, calls):
    assert g["name"] == e["name"], (g, e)
    assert json.loads(g["args"]) == e["args"], (g, e)
    assert g["id"], "every tool call has an id"
    if e["id"]:
        assert g["id"] == e["id"], (g, e)
assert len({g["id"] for g in got_calls}) == len(got_calls), "tool call ids are distinct"
assert got_text == text, (got_text, text)
assert got_finish == finish, (got_finish, finish)
assert got_usage is not None
assert got_usage.prompt_tokens == usage["prompt"], (got_usage, usage)
assert got_usage.completion_tokens == usage["completion"], (got_usage, usage)
assert got_usage.total_tokens == usage["prompt"] + usage["completion"], got_usage
print(f"OK {flavor} {fixture}: {len(got_calls)} tool calls, finish={got_finish}, usage={got_usage.prompt_tokens}/{got_usage.completion_tokens}")
