"""What a recorded upstream answer says, normalised like the matrix drivers' output (see
matrix_common.py), read straight from the recording with nothing but `json`: the
expectation tests/e2e_protocols.rs compares every cell with. Independent of the gateway's
translators on purpose.

usage: recording.py openai|openai_responses|anthropic|gemini FILE
(FILE ending in .sse is a stream, anything else one JSON body)
"""
import json
import sys


def sse_events(raw):
    """(event name or None, parsed data) of every SSE event with JSON data."""
    for block in raw.replace("\r\n", "\n").split("\n\n"):
        name, data = None, []
        for line in block.split("\n"):
            if line.startswith("event:"):
                name = line[6:].strip()
            elif line.startswith("data:"):
                data.append(line[5:].lstrip(" "))
        payload = "\n".join(data).strip()
        if payload and payload != "[DONE]":
            yield name, json.loads(payload)


def args_json(raw):
    if isinstance(raw, (dict, list)):
        return raw
    return json.loads(raw) if raw else {}


def openai_chat(raw, stream):
    if stream:
        slots, text, finish, usage = {}, "", None, None
        for _, ev in sse_events(raw):
            if ev.get("usage"):
                usage = ev["usage"]
            for ch in ev.get("choices", []):
                d = ch.get("delta", {})
                text += d.get("content") or ""
                for tc in d.get("tool_calls") or []:
                    slot = slots.setdefault(tc["index"], {"id": None, "name": "", "args": ""})
                    slot["id"] = tc.get("id") or slot["id"]
                    fn = tc.get("function") or {}
                    slot["name"] += fn.get("name") or ""
                    slot["args"] += fn.get("arguments") or ""
                finish = ch.get("finish_reason") or finish
        calls = [slots[i] for i in sorted(slots)]
    else:
        body = json.loads(raw)
        m = body["choices"][0]["message"]
        calls = [{"id": t["id"], "name": t["function"]["name"], "args": t["function"]["arguments"]} for t in m.get("tool_calls") or []]
        text, finish, usage = m.get("content") or "", body["choices"][0]["finish_reason"], body["usage"]
    stop = {"tool_calls": "tool_use", "stop": "stop", "length": "length"}.get(finish, finish)
    return (
        [{"name": c["name"], "arguments": args_json(c["args"]), "id": c["id"]} for c in calls],
        text,
        usage["prompt_tokens"],
        usage["completion_tokens"],
        stop,
    )


def responses_output(output):
    calls, text = [], ""
    for item in output:
        if item["type"] == "function_call":
            calls.append({"name": item["name"], "arguments": args_json(item["arguments"]), "id": item["call_id"]})
        elif item["type"] == "message":
            text += "".join(p.get("text", "") for p in item.get("content", []) if p["type"] == "output_text")
    return calls, text


def openai_responses(raw, stream):
    if stream:
        final, text = None, ""
        for name, ev in sse_events(raw):
            kind = ev.get("type", name)
            if kind == "response.output_text.delta":
                text += ev["delta"]
            elif kind in ("response.completed", "response.incomplete"):
                final = ev["response"]
        calls, _ = responses_output(final["output"])
    else:
        final = json.loads(raw)
        calls, text = responses_output(final["output"])
    if final["status"] == "completed":
        stop = "tool_use" if calls else "stop"
    elif final["status"] == "incomplete" and (final.get("incomplete_details") or {}).get("reason") == "max_output_tokens":
        stop = "length"
    else:
        stop = final["status"]
    u = final["usage"]
    return calls, text, u["input_tokens"], u["output_tokens"], stop


def anthropic(raw, stream):
    def prompt(u):
        return u.get("input_tokens", 0) + (u.get("cache_read_input_tokens") or 0) + (u.get("cache_creation_input_tokens") or 0)

    if stream:
        blocks, order, text, finish, usage_in, usage_out = {}, [], "", None, 0, 0
        for _, ev in sse_events(raw):
            t = ev.get("type")
            if t == "message_start":
                u = ev["message"]["usage"]
                usage_in, usage_out = prompt(u), u.get("output_tokens", 0)
            elif t == "content_block_start" and ev["content_block"]["type"] == "tool_use":
                b = ev["content_block"]
                blocks[ev["index"]] = {"id": b["id"], "name": b["name"], "args": ""}
                order.append(ev["index"])
            elif t == "content_block_delta":
                d = ev["delta"]
                if d["type"] == "input_json_delta":
                    blocks[ev["index"]]["args"] += d["partial_json"]
                elif d["type"] == "text_delta":
                    text += d["text"]
            elif t == "message_delta":
                finish = ev["delta"].get("stop_reason")
                u = ev.get("usage") or {}
                if "input_tokens" in u:
                    usage_in = prompt(u)
                if "output_tokens" in u:
                    usage_out = u["output_tokens"]
        calls = [{"name": blocks[i]["name"], "arguments": args_json(blocks[i]["args"]), "id": blocks[i]["id"]} for i in order]
    else:
        body = json.loads(raw)
        calls = [{"name": b["name"], "arguments": b["input"], "id": b["id"]} for b in body["content"] if b["type"] == "tool_use"]
        text = "".join(b["text"] for b in body["content"] if b["type"] == "text")
        finish, usage_in, usage_out = body["stop_reason"], prompt(body["usage"]), body["usage"]["output_tokens"]
    stop = {"tool_use": "tool_use", "end_turn": "stop", "stop_sequence": "stop", "max_tokens": "length"}.get(finish, finish)
    return calls, text, usage_in, usage_out, stop


def gemini(raw, stream):
    chunks = [ev for _, ev in sse_events(raw)] if stream else [json.loads(raw)]
    calls, text, finish, usage = [], "", None, {}
    for ch in chunks:
        for cand in ch.get("candidates", []):
            for part in cand.get("content", {}).get("parts", []):
                if "functionCall" in part:
                    fc = part["functionCall"]
                    calls.append({"name": fc["name"], "arguments": fc.get("args", {}), "id": fc.get("id")})
                elif "text" in part and not part.get("thought"):
                    text += part["text"]
            finish = cand.get("finishReason", finish)
        if "usageMetadata" in ch:
            usage = ch["usageMetadata"]
    stop = {"STOP": "stop", "MAX_TOKENS": "length"}.get(finish, finish)
    if stop == "stop" and calls:
        stop = "tool_use"
    out = usage.get("candidatesTokenCount", 0) + usage.get("thoughtsTokenCount", 0)
    return calls, text, usage.get("promptTokenCount", 0), out, stop


KINDS = {"openai": openai_chat, "openai_responses": openai_responses, "anthropic": anthropic, "gemini": gemini}


def expected(kind, path):
    raw = open(path, encoding="utf-8").read()
    calls, text, usage_in, usage_out, stop = KINDS[kind](raw, path.endswith(".sse"))
    return {"tool_calls": calls, "text": text, "usage": {"input": usage_in, "output": usage_out}, "stop": stop}


if __name__ == "__main__":
    print(json.dumps(expected(sys.argv[1], sys.argv[2])))
