"""OpenAI embeddings ingress through the real `openai` SDK (`embeddings.create`, which asks
`encoding_format: "base64"` unless told otherwise and decodes the answer to floats).

Prints one JSON line: {"base64": {...}, "float": {...}} with, for each encoding asked,
{"vectors": [[float]], "usage": {"input": prompt_tokens, "total": total_tokens},
"model": str, "indexes": [int], "wire": "base64"|"float"|...} ("wire": how the answer
carried the vectors on the wire, before the SDK decoded them), or {"error": ...} (see
matrix_common.main).

usage: openai_embeddings.py BASE_URL MODEL [--inputs a,b,c]
"""
import argparse

import openai

from matrix_common import main


def run():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("base_url")
    p.add_argument("model")
    p.add_argument("--inputs", default="the first text,the second text")
    a = p.parse_args()
    client = openai.OpenAI(base_url=a.base_url + "/v1", api_key="sk-client", max_retries=0, timeout=30)
    inputs = a.inputs.split(",")
    out = {}
    for encoding in ("base64", "float"):
        kw = {} if encoding == "base64" else {"encoding_format": "float"}
        raw = client.embeddings.with_raw_response.create(model=a.model, input=inputs, **kw)
        resp = raw.parse()
        first = raw.http_response.json()["data"][0]["embedding"]
        wire = "base64" if isinstance(first, str) else "float" if isinstance(first, list) else type(first).__name__
        u = resp.usage
        out[encoding] = {
            "vectors": [list(map(float, d.embedding)) for d in resp.data],
            "indexes": [d.index for d in resp.data],
            "usage": {"input": u.prompt_tokens if u else None, "total": u.total_tokens if u else None},
            "model": resp.model,
            "object": resp.object,
            "wire": wire,
        }
    return out


if __name__ == "__main__":
    main(run)
