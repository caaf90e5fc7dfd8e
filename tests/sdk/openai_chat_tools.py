"""OpenAI Chat Completions ingress: a tool-use turn through the real `openai` SDK
(`chat.completions.create`, streamed with include_usage, or not), normalised (see
matrix_common.py).

usage: openai_chat_tools.py BASE_URL MODEL --stream|--whole [--tools a,b]
"""
import openai

from matrix_common import PARAMETERS, PROMPT, args, main, parse_args_json, result, tool_names

STOPS = {"tool_calls": "tool_use", "stop": "stop", "length": "length"}


def run():
    a = args(__doc__)
    client = openai.OpenAI(base_url=a.base_url + "/v1", api_key="sk-client", max_retries=0, timeout=30)
    tools = [
        {"type": "function", "function": {"name": n, "description": f"tool {n}", "parameters": PARAMETERS}}
        for n in tool_names(a)
    ]
    req = dict(model=a.model, messages=[{"role": "user", "content": PROMPT}], tools=tools)
    problems = []
    if a.stream:
        slots, text, finish, usage, n_usage = {}, "", None, None, 0
        for chunk in client.chat.completions.create(stream=True, stream_options={"include_usage": True}, **req):
            if chunk.object != "chat.completion.chunk":
                problems.append(f"chunk object {chunk.object!r}")
            if chunk.usage:
                usage = chunk.usage
                n_usage += 1
            for ch in chunk.choices:
                if ch.index != 0:
                    problems.append(f"choice index {ch.index}")
                text += ch.delta.content or ""
                for tc in ch.delta.tool_calls or []:
                    slot = slots.setdefault(tc.index, {"id": None, "name": "", "args": ""})
                    if tc.id:
                        if slot["id"] not in (None, tc.id):
                            problems.append(f"tool call {tc.index} changed id {slot['id']} -> {tc.id}")
                        slot["id"] = tc.id
                    if tc.function and tc.function.name:
                        slot["name"] += tc.function.name
                    if tc.function and tc.function.arguments:
                        slot["args"] += tc.function.arguments
                if ch.finish_reason:
                    if finish is not None:
                        problems.append(f"second finish_reason {ch.finish_reason}")
                    finish = ch.finish_reason
        if sorted(slots) != list(range(len(slots))):
            problems.append(f"tool call indexes are not 0..n: {sorted(slots)}")
        if n_usage != 1:
            problems.append(f"{n_usage} usage chunks (expected 1)")
        calls = [slots[i] for i in sorted(slots)]
    else:
        resp = client.chat.completions.create(**req)
        if resp.object != "chat.completion":
            problems.append(f"object {resp.object!r}")
        m = resp.choices[0].message
        calls = [{"id": t.id, "name": t.function.name, "args": t.function.arguments} for t in m.tool_calls or []]
        text, finish, usage = m.content or "", resp.choices[0].finish_reason, resp.usage
    for c in calls:
        if not c["id"]:
            problems.append(f"tool call {c['name']} has no id")
    if len({c["id"] for c in calls}) != len(calls):
        problems.append("tool call ids are not distinct")
    if usage is None:
        raise AssertionError("no usage in the answer")
    if usage.total_tokens != usage.prompt_tokens + usage.completion_tokens:
        problems.append(f"total_tokens {usage.total_tokens} != prompt + completion")
    tool_calls = [
        {"name": c["name"], "arguments": parse_args_json(c["args"], problems, c["name"]), "id": c["id"]} for c in calls
    ]
    return result(tool_calls, text, usage.prompt_tokens, usage.completion_tokens, STOPS.get(finish, finish), problems)


if __name__ == "__main__":
    main(run)
