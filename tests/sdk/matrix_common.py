"""Shared by the protocol-matrix drivers (tests/e2e_protocols.rs): argument parsing, the
normalised answer every driver prints, and error capture.

Every driver prints ONE line of JSON on stdout and exits 0, also when the SDK raised (the
Rust test compares and reports; a crash would hide which cell failed how):

    {"tool_calls": [{"name": str, "arguments": <parsed JSON>, "id": str|null}],
     "text": str, "usage": {"input": int, "output": int}, "stop": str,
     "problems": [str, ...]}          # protocol-level oddities the SDK tolerated
or  {"error": "<exception type>: <message>"}

Normalisation (the same in recording.py, which reads the upstream recording):
- usage.input: prompt tokens INCLUDING cache reads and writes (OpenAI semantics);
  usage.output: completion tokens INCLUDING reasoning/thinking tokens.
- stop: "tool_use" (the turn ends to run tools), "stop" (natural end), "length", or the
  protocol's own value when it is none of these. Gemini and Responses have no tool stop
  reason, so there a natural end with function calls is "tool_use".
"""
import argparse
import json
import sys
import traceback


def args(description):
    p = argparse.ArgumentParser(description=description)
    p.add_argument("base_url", help="gateway base URL, e.g. http://127.0.0.1:8000")
    p.add_argument("model", help="model name the client asks for")
    mode = p.add_mutually_exclusive_group(required=True)
    mode.add_argument("--stream", action="store_true", help="streamed turn")
    mode.add_argument("--whole", action="store_true", help="non-streamed turn")
    p.add_argument("--tools", default="get_weather", help="comma-separated tool names to offer")
    return p.parse_args()


def tool_names(a):
    return [t for t in a.tools.split(",") if t]


PROMPT = "Use the tools to answer: what is the weather in Paris?"

# A permissive schema: the recordings call tools with various arguments.
PARAMETERS = {"type": "object", "properties": {}, "additionalProperties": True}


def parse_args_json(raw, problems, where):
    """Tool arguments as JSON: a string is parsed (empty means {}), a dict is kept."""
    if isinstance(raw, (dict, list)):
        return raw
    if raw is None or raw == "":
        return {}
    try:
        return json.loads(raw)
    except ValueError as e:
        problems.append(f"{where}: arguments are not JSON ({e}): {raw!r}")
        return raw


def result(tool_calls, text, usage_in, usage_out, stop, problems):
    return {
        "tool_calls": tool_calls,
        "text": text,
        "usage": {"input": usage_in, "output": usage_out},
        "stop": stop,
        "problems": problems,
    }


def main(run):
    """Runs `run()` (returning a result dict) and prints it, or the error it raised."""
    try:
        out = run()
    except Exception as e:  # noqa: BLE001 - every failure is reported, not raised
        detail = getattr(e, "body", None)
        msg = f"{type(e).__name__}: {e}"
        if detail is not None and str(detail) not in msg:
            msg += f" | body: {detail}"
        out = {"error": msg[:2000], "trace": traceback.format_exc(limit=3)[-1500:]}
    sys.stdout.write(json.dumps(out) + "\n")
