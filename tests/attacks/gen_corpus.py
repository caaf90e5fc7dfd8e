#!/usr/bin/env python3
"""Writes the malformed-request corpus into tests/attacks/corpus/ (one file per case).

Name prefixes (see tests/attacks/corpus.rs): `json-*.json` is a request body POSTed to
/v1/chat/completions with a correct Content-Length; `raw-*.http` is sent byte for byte and
must get at least one complete answer below 500; `noreq-*.http` holds bytes from which no
request can be parsed (a clean close is acceptable). Run from anywhere; it replaces the
directory's generated files.
"""

import json
import os

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "corpus")

MSG = '[{"role":"user","content":"hi"}]'


def chat(**fields):
    """A chat body with `model: echo` and one message, fields overridden by raw JSON text."""
    base = {"model": '"echo"', "messages": MSG}
    base.update(fields)
    return ("{" + ",".join(f'"{k}":{v}' for k, v in base.items()) + "}").encode()


JSON = {
    # Not JSON / truncated.
    "truncated-object": b'{"model":"echo","messages":[{"role":"user","content":"hi"',
    "truncated-string": b'{"model":"ec',
    "truncated-after-colon": b'{"model":',
    "empty-body": b"",
    "whitespace-only": b" \n\t\r ",
    "top-level-null": b"null",
    "top-level-array": b"[]",
    "top-level-string": b'"echo"',
    "top-level-number": b"123",
    "top-level-true": b"true",
    "trailing-garbage": chat() + b" xyz",
    "trailing-second-object": chat() + chat(),
    "trailing-comma": b'{"model":"echo","messages":' + MSG.encode() + b",}",
    "single-quotes": b"{'model':'echo','messages':[]}",
    "js-comments": b'{/* c */"model":"echo","messages":' + MSG.encode() + b"}",
    "nan-literal": chat(temperature="NaN"),
    "infinity-literal": chat(temperature="Infinity"),
    "bom-prefixed": b"\xef\xbb\xbf" + chat(),
    "utf16le-body": chat().decode().encode("utf-16-le"),
    "unquoted-key": b'{model:"echo","messages":' + MSG.encode() + b"}",
    # Wrong types for every field.
    "model-number": chat(model="1"),
    "model-null": chat(model="null"),
    "model-array": chat(model='["echo"]'),
    "model-object": chat(model='{"name":"echo"}'),
    "model-bool": chat(model="true"),
    "model-empty": chat(model='""'),
    "model-missing": b'{"messages":' + MSG.encode() + b"}",
    "messages-missing": b'{"model":"echo"}',
    "messages-object": chat(messages="{}"),
    "messages-string": chat(messages='"hi"'),
    "messages-number": chat(messages="7"),
    "messages-null": chat(messages="null"),
    "messages-empty": chat(messages="[]"),
    "messages-numbers": chat(messages="[1,2,3]"),
    "messages-nulls": chat(messages="[null]"),
    "messages-strings": chat(messages='["hi"]'),
    "message-role-number": chat(messages='[{"role":1,"content":"hi"}]'),
    "message-role-unknown": chat(messages='[{"role":"wizard","content":"hi"}]'),
    "message-role-missing": chat(messages='[{"content":"hi"}]'),
    "message-content-number": chat(messages='[{"role":"user","content":42}]'),
    "message-content-object": chat(messages='[{"role":"user","content":{"a":1}}]'),
    "message-content-bool": chat(messages='[{"role":"user","content":false}]'),
    "message-content-part-text-number": chat(messages='[{"role":"user","content":[{"type":"text","text":5}]}]'),
    "message-content-part-no-type": chat(messages='[{"role":"user","content":[{"text":"x"}]}]'),
    "message-content-part-image-bad": chat(messages='[{"role":"user","content":[{"type":"image_url","image_url":7}]}]'),
    "message-tool-calls-string": chat(messages='[{"role":"assistant","tool_calls":"x"},{"role":"user","content":"hi"}]'),
    "message-tool-call-args-object": chat(messages='[{"role":"assistant","tool_calls":[{"id":"1","type":"function","function":{"name":"f","arguments":{"a":1}}}]},{"role":"tool","tool_call_id":"1","content":"r"}]'),
    "stream-string": chat(stream='"yes"'),
    "stream-number": chat(stream="1"),
    "stream-null": chat(stream="null"),
    "stream-options-string": chat(stream="true", stream_options='"x"'),
    "stream-options-usage-string": chat(stream="true", stream_options='{"include_usage":"yes"}'),
    "temperature-string": chat(temperature='"hot"'),
    "temperature-huge": chat(temperature="1e308"),
    "temperature-overflow": chat(temperature="1e400"),
    "temperature-negative": chat(temperature="-1"),
    "temperature-underflow": chat(temperature="1e-400"),
    "top-p-string": chat(top_p='"x"'),
    "max-tokens-negative": chat(max_tokens="-5"),
    "max-tokens-u64-overflow": chat(max_tokens="18446744073709551616"),
    "max-tokens-float": chat(max_tokens="1.5"),
    "max-tokens-string": chat(max_tokens='"100"'),
    "max-tokens-10000-digits": chat(max_tokens="9" * 10000),
    "n-huge": chat(n="4294967296"),
    "stop-number": chat(stop="7"),
    "stop-numbers": chat(stop="[1,2]"),
    "tools-string": chat(tools='"x"'),
    "tools-object": chat(tools="{}"),
    "tools-nulls": chat(tools="[null]"),
    "tool-function-missing": chat(tools='[{"type":"function"}]'),
    "tool-function-name-number": chat(tools='[{"type":"function","function":{"name":5}}]'),
    "tool-parameters-string": chat(tools='[{"type":"function","function":{"name":"f","parameters":"x"}}]'),
    "tool-parameters-ref-loop": chat(tools='[{"type":"function","function":{"name":"f","parameters":{"$ref":"#"}}}]'),
    "tool-choice-number": chat(tool_choice="3"),
    "tool-choice-bad-object": chat(tool_choice='{"type":"function","function":7}'),
    "response-format-string": chat(response_format='"json"'),
    "provider-pin-number": chat(provider="5"),
    "provider-pin-unknown": chat(provider='"no-such-provider"'),
    "backend-pin-array": chat(backend='["echo"]'),
    "fallback-providers-string": chat(fallback_providers='"echo"'),
    "fallback-providers-numbers": chat(fallback_providers="[1,2]"),
    "timeout-negative": chat(timeout="-1"),
    "timeout-string": chat(timeout='"30"'),
    "timeout-huge": chat(timeout="1e300"),
    "retry-count-negative": chat(retry_count="-1"),
    "retry-count-u64-overflow": chat(retry_count="18446744073709551616"),
    "retry-count-string": chat(retry_count='"2"'),
    # Deep nesting (10,000 levels).
    "deep-arrays-10000-in-field": chat(metadata="[" * 10000 + "]" * 10000),
    "deep-objects-10000-in-field": chat(metadata='{"a":' * 10000 + "1" + "}" * 10000),
    "deep-arrays-10000-in-content": chat(messages='[{"role":"user","content":' + "[" * 10000 + "]" * 10000 + "}]"),
    "deep-arrays-10000-top-level": b"[" * 10000 + b"]" * 10000,
    "deep-unclosed-100000": b'{"model":"echo","x":' + b"[" * 100000,
    # Encodings and bytes.
    "invalid-utf8-in-content": b'{"model":"echo","messages":[{"role":"user","content":"\xff\xfe\xfd"}]}',
    "invalid-utf8-in-key": b'{"model":"echo","\xc3\x28":1,"messages":' + MSG.encode() + b"}",
    "invalid-utf8-in-model": b'{"model":"echo\xe2\x28\xa1","messages":' + MSG.encode() + b"}",
    "overlong-utf8-slash": b'{"model":"echo\xc0\xaf","messages":' + MSG.encode() + b"}",
    "lone-surrogate-escape": chat(messages='[{"role":"user","content":"\\ud800"}]'),
    "lone-surrogate-in-model": chat(model='"echo\\udc00"'),
    "bad-unicode-escape": chat(messages='[{"role":"user","content":"\\uZZZZ"}]'),
    "short-unicode-escape": chat(messages='[{"role":"user","content":"\\u12"}]'),
    "backslash-at-end": b'{"model":"echo","messages":[{"role":"user","content":"abc\\',
    "raw-nul-in-string": b'{"model":"echo","messages":[{"role":"user","content":"a\x00b"}]}',
    "raw-nul-between-tokens": b'{"model":"echo",\x00"messages":' + MSG.encode() + b"}",
    "raw-control-chars-in-string": b'{"model":"echo","messages":[{"role":"user","content":"\x01\x02\x1b[31m"}]}',
    "escaped-nul-in-content": chat(messages='[{"role":"user","content":"a\\u0000b"}]'),
    "escaped-nul-in-model": chat(model='"echo\\u0000x"'),
    "model-crlf-header-injection": chat(model='"echo\\r\\nx-injected: 1"'),
    "model-path-traversal": chat(model='"echo/../../../etc/passwd"'),
    "model-unicode-escaped-echo": chat(model='"\\u0065\\u0063\\u0068\\u006f"'),
    "model-10kb": chat(model='"' + "m" * 10240 + '"'),
    # Duplicate keys.
    "duplicate-model": b'{"model":"echo","model":"gpt-nonexistent","messages":' + MSG.encode() + b"}",
    "duplicate-messages": b'{"model":"echo","messages":' + MSG.encode() + b',"messages":"x"}',
    "duplicate-stream-types": b'{"model":"echo","stream":true,"stream":"x","messages":' + MSG.encode() + b"}",
    # Size-ish.
    "key-100kb": chat(**{"k" * 100000: "1"}),
    "string-100kb-escapes": chat(messages='[{"role":"user","content":"' + "\\u00e9" * 17000 + '"}]'),
    "number-negative-zero": chat(temperature="-0.0"),
}


def http(s):
    return s.encode("latin-1") if isinstance(s, str) else s


CHAT = chat()
CL = str(len(CHAT))

RAW = {
    # Request lines.
    "http09-get-blank-line": "GET /\r\n\r\n",
    "http10-get-health": "GET /health HTTP/1.0\r\n\r\n",
    "http10-keepalive": "GET /health HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
    "http10-chat": b"POST /v1/chat/completions HTTP/1.0\r\nContent-Type: application/json\r\nContent-Length: " + CL.encode() + b"\r\n\r\n" + CHAT,
    "version-1-2": "GET /health HTTP/1.2\r\nHost: x\r\nConnection: close\r\n\r\n",
    "version-2-0-over-h1": "GET /health HTTP/2.0\r\nHost: x\r\nConnection: close\r\n\r\n",
    "version-9-9": "GET /health HTTP/9.9\r\nHost: x\r\nConnection: close\r\n\r\n",
    "version-lowercase": "GET /health http/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    "version-garbage-suffix": "GET /health HTTP/1.1x\r\nHost: x\r\nConnection: close\r\n\r\n",
    "method-absurd": "FROBNICATE /v1/chat/completions HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    "method-10kb": "M" * 10240 + " / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    "method-lowercase": "get /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    "method-connect": "CONNECT evil.example:443 HTTP/1.1\r\nHost: evil.example:443\r\nConnection: close\r\n\r\n",
    "method-trace": "TRACE / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    "method-options-asterisk": "OPTIONS * HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    "method-delete-chat": "DELETE /v1/chat/completions HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    "method-head-models": "HEAD /v1/models HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    "method-get-chat-with-body": b"GET /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: " + CL.encode() + b"\r\nConnection: close\r\n\r\n" + CHAT,
    "method-post-models-with-body": b"POST /v1/models HTTP/1.1\r\nHost: x\r\nContent-Length: " + CL.encode() + b"\r\nConnection: close\r\n\r\n" + CHAT,
    "request-line-tabs": "GET\t/health\tHTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    "request-line-extra-spaces": "GET  /health  HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    "leading-empty-lines": "\r\n\r\nGET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    "bare-lf-line-endings": "GET /health HTTP/1.1\nHost: x\nConnection: close\n\n",
    # Paths.
    "path-absolute-uri": "GET http://evil.example/v1/models HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    "path-authority-form": "GET evil.example:80 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    "path-no-leading-slash": "GET v1/models HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    "path-64kb": "GET /v1/models/" + "a" * 65536 + " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    "path-dotdot": "GET /../../../../etc/passwd HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    "path-encoded-dotdot-models": "GET /v1/models/..%2F..%2Fetc%2Fpasswd HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    "path-raw-nul": b"GET /v1/models/\x00 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    "path-percent-nul": "GET /v1/models/%00 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    "path-percent-invalid": "GET /v1/models/%zz% HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    "path-percent-then-multibyte": b"GET /v1/models/%a\xc3\xa9 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    "path-percent-lone-lead-byte": "GET /v1/models/%c3 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    "path-raw-utf8": b"GET /v1/models/\xc3\xa9\xe2\x82\xac HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    "path-raw-invalid-utf8": b"GET /v1/models/\xff\xfe HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    "path-with-space": "GET /v1/ models HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    "path-query-only": "GET ?x=1 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    "path-fragment": "GET /v1/models#frag HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    # Headers.
    "header-no-colon": "GET /health HTTP/1.1\r\nHost: x\r\nFoo bar\r\nConnection: close\r\n\r\n",
    "header-space-before-colon": "GET /health HTTP/1.1\r\nHost : x\r\nConnection: close\r\n\r\n",
    "header-obs-fold": "GET /health HTTP/1.1\r\nHost: x\r\nX-Fold: a\r\n b\r\nConnection: close\r\n\r\n",
    "header-nul-in-value": b"GET /health HTTP/1.1\r\nHost: x\r\nX-A: a\x00b\r\nConnection: close\r\n\r\n",
    "header-bare-cr-injection": b"GET /health HTTP/1.1\r\nHost: x\r\nX-A: b\rX-Injected: c\r\nConnection: close\r\n\r\n",
    "header-name-invalid-chars": "GET /health HTTP/1.1\r\nHost: x\r\nX(y): z\r\nConnection: close\r\n\r\n",
    "header-name-empty": "GET /health HTTP/1.1\r\nHost: x\r\n: value\r\nConnection: close\r\n\r\n",
    "header-name-64kb": "GET /health HTTP/1.1\r\nHost: x\r\n" + "N" * 65536 + ": v\r\nConnection: close\r\n\r\n",
    "header-value-200kb": "GET /health HTTP/1.1\r\nHost: x\r\nX-Big: " + "v" * 200000 + "\r\nConnection: close\r\n\r\n",
    "headers-300": "GET /health HTTP/1.1\r\nHost: x\r\n" + "".join(f"X-H{i}: v\r\n" for i in range(300)) + "Connection: close\r\n\r\n",
    "host-missing": "GET /health HTTP/1.1\r\nConnection: close\r\n\r\n",
    "host-duplicate": "GET /health HTTP/1.1\r\nHost: a\r\nHost: b\r\nConnection: close\r\n\r\n",
    "host-userinfo": "GET /health HTTP/1.1\r\nHost: user@evil.example\r\nConnection: close\r\n\r\n",
    "host-invalid-utf8": b"GET /health HTTP/1.1\r\nHost: \xff\xfe\r\nConnection: close\r\n\r\n",
    "authorization-100kb": "GET /v1/models HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + "k" * 100000 + "\r\nConnection: close\r\n\r\n",
    "authorization-invalid-utf8": b"GET /v1/models HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer \xff\xc3\x28\r\nConnection: close\r\n\r\n",
    "authorization-nul": b"GET /v1/models HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer a\x00b\r\nConnection: close\r\n\r\n",
    "x-request-id-10kb": b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nX-Request-Id: " + b"r" * 10240 + b"\r\nContent-Length: " + CL.encode() + b"\r\nConnection: close\r\n\r\n" + CHAT,
    "x-request-id-crlf-escaped": b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nX-Request-Id: a%0d%0aSet-Cookie: x=1\r\nContent-Length: " + CL.encode() + b"\r\nConnection: close\r\n\r\n" + CHAT,
    "x-request-id-non-ascii": b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nX-Request-Id: \xc3\xa9\xff\r\nContent-Length: " + CL.encode() + b"\r\nConnection: close\r\n\r\n" + CHAT,
    "content-type-text-plain": b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\nContent-Length: " + CL.encode() + b"\r\nConnection: close\r\n\r\n" + CHAT,
    "expect-100-continue": b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: " + CL.encode() + b"\r\nConnection: close\r\n\r\n" + CHAT,
    "expect-unknown": b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nExpect: teapot\r\nContent-Length: " + CL.encode() + b"\r\nConnection: close\r\n\r\n" + CHAT,
    "upgrade-websocket": "GET /v1/models HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
    "upgrade-h2c": "GET /health HTTP/1.1\r\nHost: x\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n",
    # Content-Length.
    "cl-negative": "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\nConnection: close\r\n\r\n",
    "cl-non-numeric": "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\nConnection: close\r\n\r\n",
    "cl-plus-sign": b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: +" + CL.encode() + b"\r\nConnection: close\r\n\r\n" + CHAT,
    "cl-hex": "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 0x10\r\nConnection: close\r\n\r\n0123456789abcdef",
    "cl-leading-zeros": b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 000" + CL.encode() + b"\r\nConnection: close\r\n\r\n" + CHAT,
    "cl-duplicate-different": b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: " + CL.encode() + b"\r\nContent-Length: 5\r\nConnection: close\r\n\r\n" + CHAT,
    "cl-duplicate-same-comma": b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: " + CL.encode() + b", " + CL.encode() + b"\r\nConnection: close\r\n\r\n" + CHAT,
    "cl-u64-overflow": "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999999\r\nConnection: close\r\n\r\n{}",
    "cl-over-max-body": "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 1073741824\r\nConnection: close\r\n\r\n{}",
    "cl-larger-than-body-stall": "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\nConnection: close\r\n\r\n{\"model\":\"echo\"",
    "cl-larger-than-body-stall-keepalive": "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n{\"model\":\"echo\"",
    "cl-smaller-than-body": b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n" + CHAT,
    "cl-on-get-huge": "GET /health HTTP/1.1\r\nHost: x\r\nContent-Length: 5000000000\r\nConnection: close\r\n\r\n",
    # Chunked.
    "chunked-valid-with-extension": b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n" + format(len(CHAT), "x").encode() + b";ext=1\r\n" + CHAT + b"\r\n0\r\n\r\n",
    "chunked-bad-size": "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\nzz\r\nhello\r\n0\r\n\r\n",
    "chunked-size-overflow": "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\nffffffffffffffffffffffff\r\nhello\r\n0\r\n\r\n",
    "chunked-negative-size": "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n-1\r\nhello\r\n0\r\n\r\n",
    "chunked-missing-crlf-after-data": "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n5\r\nhelloXX0\r\n\r\n",
    "chunked-no-final-chunk-stall": "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n5\r\n{\"mod\r\n",
    "chunked-no-final-chunk-stall-keepalive": "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n{\"mod\r\n",
    "chunked-declared-1gib": "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n40000000\r\n{\"model\":",
    "chunked-many-tiny-chunks": b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n" + b"".join(b"1\r\n" + bytes([c]) + b"\r\n" for c in CHAT) + b"0\r\n\r\n",
    "chunked-trailers": b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n" + format(len(CHAT), "x").encode() + b"\r\n" + CHAT + b"\r\n0\r\nX-Trailer: 1\r\n\r\n",
    "te-gzip-only": "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\nConnection: close\r\n\r\nabc",
    "te-chunked-then-gzip": "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, gzip\r\nConnection: close\r\n\r\n0\r\n\r\n",
    "te-on-http10": "POST /v1/chat/completions HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    "te-xchunked": "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: xchunked\r\nConnection: close\r\n\r\n0\r\n\r\n",
    "te-duplicate-chunked": b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n" + format(len(CHAT), "x").encode() + b"\r\n" + CHAT + b"\r\n0\r\n\r\n",
    "smuggle-cl-te": "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nG",
    "smuggle-te-cl": "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n5c\r\nGPOST / HTTP/1.1\r\nContent-Length: 15\r\n\r\nx=1\r\n0\r\n\r\n",
    # Pipelining.
    "pipelined-valid-then-garbage": "GET /health HTTP/1.1\r\nHost: x\r\n\r\nthis is not http at all\r\n\r\n",
    "pipelined-50-health": "GET /health HTTP/1.1\r\nHost: x\r\n\r\n" * 49 + "GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    "pipelined-chat-then-truncated-head": b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: " + CL.encode() + b"\r\n\r\n" + CHAT + b"GET /heal",
    "pipelined-chat-then-bad-json": b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: " + CL.encode() + b"\r\n\r\n" + CHAT + b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nConnection: close\r\n\r\n{{{",
}

NOREQ = {
    "empty": b"",
    "only-crlf": "\r\n",
    "http09-bare-line": "GET /\r\n",
    "truncated-request-line": "GET /v1/mod",
    "truncated-head": "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Len",
    "binary-garbage": bytes((i * 37 + 11) % 256 for i in range(1024)),
    "nul-bytes": b"\x00" * 100,
    "tls-client-hello": bytes.fromhex("160301002a0100002603035a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a000002002f0100"),
    "h2-preface": "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00",
    "head-over-1mib": "GET /health HTTP/1.1\r\nHost: x\r\n" + "".join(f"X-Pad{i}: " + "p" * 4000 + "\r\n" for i in range(270)) + "\r\n",
    "garbage-line-crlfcrlf": "\x7f\x7f\x7f\x7f\r\n\r\n",
}


def main():
    os.makedirs(OUT, exist_ok=True)
    for f in os.listdir(OUT):
        if f.startswith(("json-", "raw-", "noreq-")):
            os.remove(os.path.join(OUT, f))
    n = 0
    for name, body in JSON.items():
        with open(os.path.join(OUT, f"json-{name}.json"), "wb") as fh:
            fh.write(body)
        n += 1
    for prefix, table in (("raw", RAW), ("noreq", NOREQ)):
        for name, data in table.items():
            with open(os.path.join(OUT, f"{prefix}-{name}.http"), "wb") as fh:
                fh.write(http(data))
            n += 1
    print(f"{n} cases in {OUT}")


if __name__ == "__main__":
    main()
