"""Gemini ingress: a tool-use turn through the real `google-genai` SDK
(`models.generate_content_stream`, which asks `:streamGenerateContent?alt=sse`, or
`models.generate_content`), normalised (see matrix_common.py).

Gemini streams carry usage on the chunks (the last one counts); finishReason STOP with
function calls is the tool stop ("tool_use").

usage: gemini_genai.py BASE_URL MODEL --stream|--whole [--tools a,b]
"""
from google import genai
from google.genai import types

from matrix_common import PROMPT, args, main, result, tool_names

STOPS = {"STOP": "stop", "MAX_TOKENS": "length"}


def run():
    a = args(__doc__)
    client = genai.Client(
        api_key="gm-client",
        http_options=types.HttpOptions(base_url=a.base_url, api_version="v1beta", timeout=30_000),
    )
    decls = [
        types.FunctionDeclaration(
            name=n, description=f"tool {n}", parameters=types.Schema(type=types.Type.OBJECT, properties={})
        )
        for n in tool_names(a)
    ]
    config = types.GenerateContentConfig(
        tools=[types.Tool(function_declarations=decls)],
        automatic_function_calling=types.AutomaticFunctionCallingConfig(disable=True),
    )
    problems = []
    if a.stream:
        chunks = list(client.models.generate_content_stream(model=a.model, contents=PROMPT, config=config))
        if not chunks:
            raise AssertionError("empty stream")
    else:
        chunks = [client.models.generate_content(model=a.model, contents=PROMPT, config=config)]
    calls, text, finish, usage = [], "", None, None
    for ch in chunks:
        for cand in ch.candidates or []:
            if (cand.index or 0) != 0:
                problems.append(f"candidate index {cand.index}")
            for part in (cand.content.parts if cand.content else None) or []:
                if part.function_call:
                    fc = part.function_call
                    calls.append({"name": fc.name, "arguments": fc.args or {}, "id": fc.id})
                elif part.text is not None and not part.thought:
                    text += part.text
            if cand.finish_reason:
                if finish is not None:
                    problems.append(f"second finishReason {cand.finish_reason}")
                finish = cand.finish_reason
        if ch.usage_metadata:
            usage = ch.usage_metadata
    if usage is None:
        raise AssertionError("no usageMetadata in the answer")
    if finish is None:
        problems.append("no finishReason")
    finish = finish.value if hasattr(finish, "value") else finish
    stop = STOPS.get(finish, finish)
    if stop == "stop" and calls:
        stop = "tool_use"
    out_tokens = (usage.candidates_token_count or 0) + (usage.thoughts_token_count or 0)
    if usage.total_token_count is not None and usage.total_token_count < (usage.prompt_token_count or 0) + out_tokens:
        problems.append(f"totalTokenCount {usage.total_token_count} < prompt + candidates + thoughts")
    return result(calls, text, usage.prompt_token_count or 0, out_tokens, stop, problems)


if __name__ == "__main__":
    main(run)
