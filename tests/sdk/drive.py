"""Sends N chat requests to Sluice and prints a JSON summary: status counts, provider
counts (x-sluice-provider), and the provider sequence. Used by the routing/fault tests.

usage: drive.py N MODEL [--sdk] [--stream] [--extra JSON]
The real openai SDK sends every request; with --sdk any error status raises (the run
fails), otherwise error statuses are counted.
"""
import json
import os
import sys
from collections import Counter

import openai

n, model = int(sys.argv[1]), sys.argv[2]
args = sys.argv[3:]
use_sdk = "--sdk" in args
stream = "--stream" in args
extra = json.loads(args[args.index("--extra") + 1]) if "--extra" in args else {}
base = os.environ["SLUICE_BASE_URL"]
msgs = [{"role": "user", "content": "ping"}]

statuses, providers, seq, errors = Counter(), Counter(), [], []
client = openai.OpenAI(base_url=base + "/v1", api_key="unused", max_retries=0, timeout=30)
for i in range(n):
    try:
        raw = client.chat.completions.with_raw_response.create(model=model, messages=msgs, stream=stream, extra_body=extra)
        resp = raw.parse()
        if stream:
            text = "".join(c.choices[0].delta.content or "" for c in resp if c.choices)
            assert text, "empty stream"
        else:
            assert resp.choices[0].message.content is not None
        p = raw.headers.get("x-sluice-provider")
        statuses[200] += 1
    except openai.APIStatusError as e:
        if use_sdk:
            raise
        statuses[e.status_code] += 1
        p = e.response.headers.get("x-sluice-provider")
        errors.append(str(e)[:300])
    providers[p] += 1
    seq.append(p)
print(json.dumps({"statuses": statuses, "providers": providers, "seq": seq, "errors": errors[:5]}))
