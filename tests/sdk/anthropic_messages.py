"""Anthropic Messages ingress: a tool-use turn through the real `anthropic` SDK
(`messages.stream(...)` with `get_final_message()`, or `messages.create`), normalised (see
matrix_common.py).

The streamed turn is also read event by event: the text and `input_json_delta`s the
events carry must add up to the final message the SDK assembles.

usage: anthropic_messages.py BASE_URL MODEL --stream|--whole [--tools a,b]
"""
import json

import anthropic

from matrix_common import PARAMETERS, PROMPT, args, main, result, tool_names

STOPS = {"tool_use": "tool_use", "end_turn": "stop", "stop_sequence": "stop", "max_tokens": "length"}


def normalise(msg, problems):
    calls, text = [], ""
    for block in msg.content:
        if block.type == "tool_use":
            if not block.id:
                problems.append(f"tool_use {block.name} has no id")
            calls.append({"name": block.name, "arguments": block.input, "id": block.id})
        elif block.type == "text":
            text += block.text
    u = msg.usage
    usage_in = u.input_tokens + (u.cache_read_input_tokens or 0) + (u.cache_creation_input_tokens or 0)
    return result(calls, text, usage_in, u.output_tokens, STOPS.get(msg.stop_reason, msg.stop_reason), problems)


def run():
    a = args(__doc__)
    client = anthropic.Anthropic(base_url=a.base_url, api_key="sk-ant-client", max_retries=0, timeout=30)
    tools = [{"name": n, "description": f"tool {n}", "input_schema": PARAMETERS} for n in tool_names(a)]
    req = dict(model=a.model, max_tokens=1024, messages=[{"role": "user", "content": PROMPT}], tools=tools)
    problems = []
    if not a.stream:
        msg = client.messages.create(**req)
        if msg.type != "message" or msg.role != "assistant":
            problems.append(f"type {msg.type!r} role {msg.role!r}")
        return normalise(msg, problems)

    kinds, text, partial = [], "", {}
    with client.messages.stream(**req) as stream:
        for ev in stream:
            kinds.append(ev.type)
            if ev.type == "content_block_delta":
                if ev.delta.type == "text_delta":
                    text += ev.delta.text
                elif ev.delta.type == "input_json_delta":
                    partial[ev.index] = partial.get(ev.index, "") + ev.delta.partial_json
        msg = stream.get_final_message()
    if not kinds or kinds[0] != "message_start":
        problems.append(f"first event {kinds[:1]}, expected message_start")
    if "message_stop" not in kinds:
        problems.append("no message_stop event")
    raw_kinds = [k for k in kinds if k not in ("text", "input_json", "citation", "thinking", "signature")]
    if raw_kinds and raw_kinds[-1] != "message_stop":
        problems.append(f"last event {raw_kinds[-1]}, expected message_stop")
    result_ = normalise(msg, problems)
    if result_["text"] != text:
        problems.append(f"text deltas {text!r} != final message text {result_['text']!r}")
    tool_blocks = [i for i, b in enumerate(msg.content) if b.type == "tool_use"]
    for i in tool_blocks:
        streamed = partial.get(i, "")
        try:
            streamed_value = json.loads(streamed) if streamed else {}
        except ValueError as e:
            problems.append(f"block {i}: input_json_delta pieces are not JSON ({e}): {streamed!r}")
            continue
        if streamed_value != msg.content[i].input:
            problems.append(f"block {i}: streamed input {streamed_value} != final input {msg.content[i].input}")
    return result_


if __name__ == "__main__":
    main(run)
