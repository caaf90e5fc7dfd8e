"""OpenAI Responses ingress: a tool-use turn through the real `openai` SDK
(`responses.create`, streamed or not), normalised (see matrix_common.py).

The streamed turn is checked event by event: sequence numbers count up from 0, every
function call's argument deltas add up to its `arguments` at `output_item.done`, and the
final `response.completed` carries the same output the events built.

usage: openai_responses.py BASE_URL MODEL --stream|--whole [--tools a,b]
"""
import openai

from matrix_common import PARAMETERS, PROMPT, args, main, parse_args_json, result, tool_names


def stop_of(resp, has_calls):
    if resp.status == "completed":
        return "tool_use" if has_calls else "stop"
    if resp.status == "incomplete":
        reason = resp.incomplete_details.reason if resp.incomplete_details else None
        return "length" if reason == "max_output_tokens" else f"incomplete:{reason}"
    return str(resp.status)


def from_output(output, problems):
    calls, text = [], ""
    for item in output:
        if item.type == "function_call":
            if not item.call_id:
                problems.append(f"function_call {item.name} has no call_id")
            calls.append(
                {"name": item.name, "arguments": parse_args_json(item.arguments, problems, item.name), "id": item.call_id}
            )
        elif item.type == "message":
            for part in item.content or []:
                if part.type == "output_text":
                    text += part.text
    return calls, text


def run():
    a = args(__doc__)
    client = openai.OpenAI(base_url=a.base_url + "/v1", api_key="sk-client", max_retries=0, timeout=30)
    tools = [
        {"type": "function", "name": n, "description": f"tool {n}", "parameters": PARAMETERS, "strict": False}
        for n in tool_names(a)
    ]
    req = dict(model=a.model, input=PROMPT, tools=tools)
    problems = []
    if not a.stream:
        resp = client.responses.create(**req)
        if resp.object != "response":
            problems.append(f"object {resp.object!r}")
        calls, text = from_output(resp.output, problems)
        u = resp.usage
        if u is None:
            raise AssertionError("no usage in the response")
        return result(calls, text, u.input_tokens, u.output_tokens, stop_of(resp, bool(calls)), problems)

    final, seq, deltas, done_args, text = None, 0, {}, {}, ""
    kinds = []
    for ev in client.responses.create(stream=True, **req):
        kinds.append(ev.type)
        if getattr(ev, "sequence_number", seq) != seq:
            problems.append(f"{ev.type}: sequence_number {ev.sequence_number}, expected {seq}")
        seq = getattr(ev, "sequence_number", seq) + 1
        if ev.type == "response.output_text.delta":
            text += ev.delta
        elif ev.type == "response.function_call_arguments.delta":
            deltas[ev.item_id] = deltas.get(ev.item_id, "") + ev.delta
        elif ev.type == "response.output_item.done" and ev.item.type == "function_call":
            done_args[ev.item.id] = ev.item.arguments
        elif ev.type in ("response.completed", "response.incomplete", "response.failed"):
            if final is not None:
                problems.append(f"second terminal event {ev.type}")
            final = ev.response
        elif ev.type == "error":
            raise AssertionError(f"error event: {ev}")
    if not kinds or kinds[0] != "response.created":
        problems.append(f"first event {kinds[:1]}, expected response.created")
    if final is None:
        raise AssertionError(f"no response.completed; events: {kinds}")
    if kinds[-1] not in ("response.completed", "response.incomplete", "response.failed"):
        problems.append(f"events after the terminal one: last is {kinds[-1]}")
    for item_id, streamed in deltas.items():
        if item_id not in done_args:
            problems.append(f"function call {item_id} streamed arguments but has no output_item.done")
        elif done_args[item_id] != streamed:
            problems.append(f"function call {item_id}: deltas {streamed!r} != done {done_args[item_id]!r}")
    calls, final_text = from_output(final.output, problems)
    if final_text != text:
        problems.append(f"streamed text {text!r} != completed output text {final_text!r}")
    u = final.usage
    if u is None:
        raise AssertionError("response.completed has no usage")
    return result(calls, text, u.input_tokens, u.output_tokens, stop_of(final, bool(calls)), problems)


if __name__ == "__main__":
    main(run)
