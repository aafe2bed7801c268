"""A corpus of hostile requests: each gets a 4xx with a JSON reason within 10 s, none a 5xx, and a valid
alert is handled normally right after it.

Every case is sent as raw bytes on its own connection to the real listener (so malformed HTTP, broken
framing and non-UTF-8 headers reach the server exactly as written). The cases, by family:

- the webhook body: not JSON, not UTF-8, nested, huge, and every field of webhook v4 missing or of the
  wrong type or shape (Alertmanager's own types are the reference);
- HTTP itself: methods, paths, Content-Type, charset, Content-Length and chunked framing, request line
  and header limits, things that are not HTTP at all;
- Content-Encoding: unsupported codings, corrupt or truncated gzip/deflate, decompression bombs, too many
  gzip members;
- credentials: missing, wrong, not UTF-8, Latin-1, without a scheme;
- the other endpoints: `limit` on /api/v1/decisions, bodies of /api/v1/breaker/reset, /-/reload.
"""

from __future__ import annotations

import gzip
import json
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from web_support import (
    AUTH,
    HEADERS,
    JSON,
    TOKEN,
    Client,
    Harness,
    MakeClient,
    alert,
    body,
    payload,
    raw_exchange,
    raw_request,
)

from receiver.web.limits import MAX_GZIP_MEMBERS, MAX_HEADER_BYTES, MAX_HEADERS, MAX_LINE_BYTES

HANG = 10.0
MAX_BODY = 1 << 20  # server.max_body_bytes of the corpus's server (the default)


@dataclass(frozen=True)
class Case:
    name: str
    request: bytes
    status: int
    half_close: bool = False  # the client ends its side after the request (a body shorter than declared)


def webhook(data: bytes, headers: dict[str, str] | None = None, **options: Any) -> bytes:
    return raw_request("POST", "/webhook", data, HEADERS if headers is None else headers, **options)


def mutated(change: Callable[[dict[str, Any]], None]) -> bytes:
    data = payload(alert())
    change(data)
    return json.dumps(data).encode()


def set_top(key: str, value: Any) -> Callable[[dict[str, Any]], None]:
    return lambda d: d.__setitem__(key, value)


def drop_top(key: str) -> Callable[[dict[str, Any]], None]:
    return lambda d: d.pop(key)


def set_alert(key: str, value: Any) -> Callable[[dict[str, Any]], None]:
    return lambda d: d["alerts"][0].__setitem__(key, value)


def drop_alert(key: str) -> Callable[[dict[str, Any]], None]:
    return lambda d: d["alerts"][0].pop(key)


VALID = body(alert())
CASES: list[Case] = []


def add(name: str, request: bytes, status: int, *, half_close: bool = False) -> None:
    CASES.append(Case(name, request, status, half_close))


# -- the webhook body: bytes that are not a webhook -----------------------------------------------------

for name, data in [
    ("empty body", b""),
    ("whitespace body", b" \n\t "),
    ("truncated JSON", VALID[: len(VALID) // 2]),
    ("truncated by one byte", VALID[:-1]),
    ("trailing garbage", VALID + b"garbage"),
    ("two documents", VALID + VALID),
    ("single quotes", VALID.replace(b'"', b"'")),
    ("trailing comma", VALID[:-1] + b",}"),
    ("comment", b"/* hi */" + VALID),
    ("BOM", b"\xef\xbb\xbf" + VALID),
    ("NaN", b'{"version": NaN}'),
    ("Infinity", b'{"version": "4", "truncatedAlerts": Infinity}'),
    ("-Infinity", b'{"version": "4", "truncatedAlerts": -Infinity}'),
    ("JSON array", b"[]"),
    ("JSON string", b'"hello"'),
    ("JSON null", b"null"),
    ("JSON number", b"42"),
    ("JSON true", b"true"),
    ("empty object", b"{}"),
    ("invalid UTF-8", b'{"version": "\xff\xfe"}'),
    ("overlong UTF-8", b'{"version": "\xc0\xb4"}'),
    ("lone surrogate bytes", b'{"version": "\xed\xa0\x80"}'),
    ("escaped lone surrogate in a label", VALID.replace(b'"ecommerce"', b'"\\ud800"')),
    ("UTF-16 body", VALID.decode().encode("utf-16")),
    ("UTF-32 body", VALID.decode().encode("utf-32")),
    ("latin-1 label", VALID.replace(b"ecommerce", "ecömmerce".encode("latin-1"))),
    ("NUL in the middle", VALID[:20] + b"\x00" + VALID[20:]),
    ("unquoted key", b"{version: 4}"),
    ("deep array nesting", b"[" * 200_000 + b"]" * 200_000),
    ("deep object nesting", b'{"a":' * 50_000 + b"1" + b"}" * 50_000),
    ("deep nesting in labels", mutated(set_alert("labels", json.loads('{"a":' * 50 + '"x"' + "}" * 50)))),
    ("huge number", b'{"version": "4", "truncatedAlerts": 1' + b"0" * 5000 + b"}"),
    ("huge label value", mutated(set_alert("labels", {"alertname": "x" * 100_000}))),
    ("huge annotation", mutated(set_alert("annotations", {"description": "y" * 200_000}))),
    ("huge label key", mutated(set_alert("labels", {"k" * 5000: "v"}))),
    ("huge receiver", mutated(set_top("receiver", "r" * 50_000))),
    ("huge groupKey", mutated(set_top("groupKey", "g" * 50_000))),
    ("huge externalURL", mutated(set_top("externalURL", "u" * 50_000))),
    ("huge generatorURL", mutated(set_alert("generatorURL", "u" * 50_000))),
]:
    add(name, webhook(data), 400)

add("1 MiB + 1 byte body", webhook(b" " * (MAX_BODY + 1)), 413)
add("10 MB body", webhook(b"{" + b" " * (10 * 1024 * 1024) + b"}"), 413)
add("Content-Length far over the limit", webhook(b"{}", length=1 << 40), 413)
add(
    "too many alerts",
    webhook(json.dumps(payload(*[alert(fingerprint=f"{n:016x}") for n in range(1001)])).encode()),
    413,
)

# -- the webhook body: every field missing, mistyped or malformed ----------------------------------------

WRONG_TYPES: dict[str, Any] = {
    "null": None,
    "number": 4,
    "float": 1.5,
    "boolean": True,
    "array": [],
    "object": {},
}

for key in ("version", "groupKey", "status", "receiver", "alerts"):
    add(f"missing {key}", webhook(mutated(drop_top(key))), 400)
    for kind, value in WRONG_TYPES.items():
        if (key, kind) != ("alerts", "array"):  # an empty list of alerts is a valid (empty) webhook
            add(f"{key} is {kind}", webhook(mutated(set_top(key, value))), 400)
for kind, value in {"string": "x", "array": [], "boolean": True, "number": 1}.items():
    for key in ("groupLabels", "commonLabels", "commonAnnotations"):
        add(f"{key} is {kind}", webhook(mutated(set_top(key, value))), 400)
for kind, value in WRONG_TYPES.items():
    if kind != "null":
        add(f"externalURL is {kind}", webhook(mutated(set_top("externalURL", value))), 400)
add("externalURL is null", webhook(mutated(set_top("externalURL", None))), 400)
for kind, value in {
    "negative": -1,
    "float": 1.5,
    "string": "1",
    "boolean": True,
    "null": None,
    "array": [1],
}.items():
    add(f"truncatedAlerts {kind}", webhook(mutated(set_top("truncatedAlerts", value))), 400)
for value in ("3", "", "4 ", "v4", "04", "4.0", "٤"):
    add(f"version {value!r}", webhook(mutated(set_top("version", value))), 400)
for value in ("FIRING", "", "pending", "firing ", "inactive"):
    add(f"payload status {value!r}", webhook(mutated(set_top("status", value))), 400)
for key in ("groupLabels", "commonLabels", "commonAnnotations"):
    add(f"{key} numeric value", webhook(mutated(set_top(key, {"a": 1}))), 400)
    add(f"{key} null value", webhook(mutated(set_top(key, {"a": None}))), 400)
    add(f"{key} empty key", webhook(mutated(set_top(key, {"": "x"}))), 400)
    add(f"{key} huge key", webhook(mutated(set_top(key, {"k" * 1025: "x"}))), 400)
    add(f"{key} huge value", webhook(mutated(set_top(key, {"k": "v" * (64 * 1024 + 1)}))), 400)
for kind, value in {"string": "alert", "null": None, "number": 1, "array": [], "boolean": False}.items():
    add(f"alert is {kind}", webhook(mutated(set_top("alerts", [value]))), 400)
add("second alert is null", webhook(mutated(lambda d: d["alerts"].append(None))), 400)
add("alerts is an object of alerts", webhook(mutated(set_top("alerts", {"0": alert()}))), 400)

for key in ("fingerprint", "labels", "status", "startsAt"):
    add(f"alert missing {key}", webhook(mutated(drop_alert(key))), 400)
for key in ("fingerprint", "status", "startsAt", "endsAt", "generatorURL"):
    for kind, value in WRONG_TYPES.items():
        if key == "endsAt" and kind == "null":
            continue  # a null endsAt reads as "not ended", like Go's zero time
        add(f"alert {key} is {kind}", webhook(mutated(set_alert(key, value))), 400)
for key in ("labels", "annotations"):
    for kind, value in {"string": "x", "array": [], "number": 1, "boolean": True}.items():
        add(f"alert {key} is {kind}", webhook(mutated(set_alert(key, value))), 400)
    add(f"alert {key} value null", webhook(mutated(set_alert(key, {"alertname": None}))), 400)
    add(f"alert {key} value bool", webhook(mutated(set_alert(key, {"alertname": True}))), 400)
    add(f"alert {key} value number", webhook(mutated(set_alert(key, {"alertname": 7}))), 400)
    add(f"alert {key} value list", webhook(mutated(set_alert(key, {"alertname": ["a"]}))), 400)
    add(f"alert {key} empty key", webhook(mutated(set_alert(key, {"": "x"}))), 400)
add("alert labels null", webhook(mutated(set_alert("labels", None))), 400)
for value in ("", "zzzz", "0x1234", "a" * 65, " abcd", "abcd\n", "１２３４", "12 34", "-1", "abc\u0000"):
    add(f"fingerprint {value[:20]!r}", webhook(mutated(set_alert("fingerprint", value))), 400)
for value in ("FIRING", "", "pending", "resolved ", "suppressed", "Firing"):
    add(f"alert status {value!r}", webhook(mutated(set_alert("status", value))), 400)
BAD_TIMES = [
    "yesterday",
    "",
    "2026-11-29",
    "2026-11-29T09:05:00",
    "2026-11-29 09:05:00Z",
    "2026-11-29T09:05Z",
    "2026-13-01T00:00:00Z",
    "2026-02-30T00:00:00Z",
    "2026-11-29T25:00:00Z",
    "2026-11-29T09:60:00Z",
    "2026-11-29T09:05:00.Z",
    "2026-11-29T09:05:00.1234567890Z",
    "2026-11-29T09:05:00+24:00",
    "2026-11-29T09:05:00+05:60",
    "2026-11-29T09:05:00+0500",
    "+2026-11-29T09:05:00Z",
    "9999-12-31T23:59:59-23:59",
    "0000-01-01T00:00:00Z",
    "２０２６-11-29T09:05:00Z",
    "2026-11-29T09:05:00ZZ",
    "2026-11-29T09:05:00Z ",
    "0001-01-01T00:00:00Z",
]
for value in BAD_TIMES:
    add(f"startsAt {value!r}", webhook(mutated(set_alert("startsAt", value))), 400)
for value in ("soon", "2026-11-29", "2026-11-29T09:05:00+99:00", "2026-11-31T00:00:00Z"):
    add(f"endsAt {value!r}", webhook(mutated(set_alert("endsAt", value))), 400)
add("startsAt epoch seconds", webhook(mutated(set_alert("startsAt", 1732870000))), 400)

# -- HTTP: content type, charset, method, path ---------------------------------------------------------

for content_type in (
    "",
    "text/plain",
    "text/json",
    "application/x-www-form-urlencoded",
    "multipart/form-data; boundary=x",
    "application/jsonx",
    "application/json-seq",
    "application/x-ndjson",
    "application/xml",
    "application/octet-stream",
    "*/*",
    "json",
):
    headers = {**AUTH, "Content-Type": content_type} if content_type else dict(AUTH)
    add(f"content type {content_type or 'missing'}", webhook(VALID, headers), 415)
for charset in (
    "utf-16",
    "utf-16le",
    "utf-32",
    "latin-1",
    "iso-8859-1",
    "ascii",
    "us-ascii",
    "windows-1252",
    "x",
):
    add(
        f"charset {charset}",
        webhook(VALID, {**HEADERS, "Content-Type": f"application/json; charset={charset}"}),
        415,
    )
for method in ("GET", "PUT", "DELETE", "PATCH"):
    add(f"{method} /webhook", raw_request(method, "/webhook", VALID, HEADERS), 405)
add("GET /-/reload", raw_request("GET", "/-/reload", b"", AUTH), 405)
add("POST /healthz", raw_request("POST", "/healthz", VALID, HEADERS), 405)
add("DELETE /api/v1/decisions", raw_request("DELETE", "/api/v1/decisions", b"", AUTH), 405)
for path in (
    "/",
    "/nowhere",
    "/webhook/",
    "/WEBHOOK",
    "/webhook/extra",
    "/api/v2/decisions",
    "/%00",
    "/..%2f..%2fetc",
):
    add(f"unknown path {path}", raw_request("POST", path, VALID, HEADERS), 404)
add("path traversal to webhook", raw_request("POST", "/../webhook", VALID, {**JSON}), 404)
add("query string on webhook without auth", raw_request("POST", "/webhook?token=" + TOKEN, VALID, JSON), 401)

# -- HTTP: framing and limits ----------------------------------------------------------------------------

CHUNKED = {**HEADERS, "Transfer-Encoding": "chunked"}


def chunked(data: bytes, headers: dict[str, str] = CHUNKED) -> bytes:
    lines = ["POST /webhook HTTP/1.1", "Host: 127.0.0.1", "Connection: close"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + data


add(
    "chunked body over the limit",
    chunked(b"".join(b"10000\r\n" + b" " * 0x10000 + b"\r\n" for _ in range(17)) + b"0\r\n\r\n"),
    413,
)
add("chunk size not hex", chunked(b"zz\r\n{}\r\n0\r\n\r\n"), 400)
add("chunk size negative", chunked(b"-5\r\n{}\r\n0\r\n\r\n"), 400)
add("chunk longer than its size", chunked(b"2\r\n{}xx\r\n0\r\n\r\n"), 400)
# A body that never completes: the server answers 408 after server.request_timeout (1 s here). (A client
# that half-closes its side instead is a client gone: see the disconnect test below.)
add("chunked body cut off", chunked(b"100\r\n{}"), 408)
add("chunked without the last chunk", chunked(b"2\r\n{}\r\n"), 408)
add("body shorter than Content-Length", webhook(VALID, length=len(VALID) + 100), 408)
add(
    "Content-Length not a number",
    webhook(VALID).replace(f"Content-Length: {len(VALID)}".encode(), b"Content-Length: abc"),
    400,
)
add(
    "Content-Length negative",
    webhook(VALID).replace(f"Content-Length: {len(VALID)}".encode(), b"Content-Length: -1"),
    400,
)
add(
    "two different Content-Lengths",
    webhook(VALID, raw_headers=f"Content-Length: {len(VALID) + 1}\r\n".encode()),
    400,
)
add("Content-Length and Transfer-Encoding", webhook(VALID, {**CHUNKED}), 400)
add("Transfer-Encoding unknown", webhook(VALID, {**HEADERS, "Transfer-Encoding": "gzip"}), 400)
add(
    "URL longer than the line limit",
    raw_request("POST", "/webhook?" + "a" * (MAX_LINE_BYTES + 10), VALID, HEADERS),
    431,
)
add(
    "header longer than the line limit",
    webhook(VALID, {**HEADERS, "X-Big": "b" * (MAX_LINE_BYTES + 10)}),
    431,
)
add("too many headers", webhook(VALID, {**HEADERS, **{f"X-H{n}": "v" for n in range(MAX_HEADERS + 1)}}), 431)
add(
    "request head over the size limit",
    webhook(
        VALID,
        raw_headers=b"".join(
            b"X-F%d: %s\r\n" % (n, b"f" * 4000) for n in range(MAX_HEADER_BYTES // 4000 + 1)
        ),
    ),
    431,
)
add("not HTTP at all", b"\x00\x01\x02garbage\r\n\r\n", 400)
add(
    "a TLS ClientHello on the plain port",
    bytes.fromhex("16030100a5010000a10303") + b"\x00" * 40 + b"\r\n\r\n",
    400,
)
add("HTTP/2 preface", b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 400)
add(
    "unknown HTTP version",
    VALID.join([b"POST /webhook HTTP/9.9\r\nHost: x\r\nContent-Length: 0\r\n\r\n", b""]),
    400,
)
add("lowercase method", raw_request("post", "/webhook", VALID, HEADERS), 400)
add("method with spaces", b"PO ST /webhook HTTP/1.1\r\nHost: x\r\n\r\n", 400)
add("header without a colon", webhook(VALID, raw_headers=b"NoColonHere\r\n"), 400)
add("header name with a space", webhook(VALID, raw_headers=b"Bad Name: x\r\n"), 400)
add("NUL in a header", webhook(VALID, raw_headers=b"X-Nul: a\x00b\r\n"), 400)
add("bare CR in a header", webhook(VALID, raw_headers=b"X-Cr: a\rb\r\n"), 400)
add("obsolete line folding", webhook(VALID, raw_headers=b"X-Fold: a\r\n b\r\n"), 400)

# -- Content-Encoding --------------------------------------------------------------------------------


def encoded(coding: str, data: bytes, headers: dict[str, str] = HEADERS) -> bytes:
    return webhook(data, {**headers, "Content-Encoding": coding})


GZIPPED = gzip.compress(VALID)
for coding in (
    "br",
    "zstd",
    "compress",
    "x-compress",
    "gzip, gzip",
    "identity, gzip",
    "gzip;q=1",
    "*",
    "rot13",
):
    add(f"Content-Encoding {coding}", encoded(coding, GZIPPED), 415)
add("gzip header then garbage", encoded("gzip", b"\x1f\x8b\x08\x00garbage"), 400)
add("gzip of random bytes", encoded("gzip", bytes(range(256)) * 4), 400)
add("gzip truncated", encoded("gzip", GZIPPED[: len(GZIPPED) // 2]), 400)
add("gzip with a broken checksum", encoded("gzip", GZIPPED[:-8] + b"\x00" * 8), 400)
add("gzip then trailing garbage", encoded("gzip", GZIPPED + b"garbage!"), 400)
add("gzip then zero padding", encoded("gzip", GZIPPED + b"\x00" * 16), 400)
add("empty gzip body", encoded("gzip", b""), 400)
add("gzip of nothing", encoded("gzip", gzip.compress(b"")), 400)
add("gzip of invalid JSON", encoded("gzip", gzip.compress(b"{nope")), 400)
add("gzip of a payload without alerts", encoded("gzip", gzip.compress(mutated(drop_top("alerts")))), 400)
add(
    f"gzip with {MAX_GZIP_MEMBERS + 1} members",
    encoded("gzip", gzip.compress(b" ") * (MAX_GZIP_MEMBERS + 1)),
    400,
)
add("gzip with 2000 members", encoded("gzip", gzip.compress(b" ") * 2000), 400)
add("gzip bomb: 50 MB of spaces", encoded("gzip", gzip.compress(b" " * (50 << 20), 9)), 413)
add("gzip bomb just over the limit", encoded("gzip", gzip.compress(b" " * (MAX_BODY + 1))), 413)
add(
    "gzip bomb in the second member",
    encoded("gzip", gzip.compress(b" ") + gzip.compress(b" " * (8 << 20))),
    413,
)
add("gzip inside gzip", encoded("gzip", gzip.compress(GZIPPED)), 400)
add("gzip sent as deflate", encoded("deflate", GZIPPED), 400)
add("deflate of garbage", encoded("deflate", b"xxxxgarbage"), 400)
add("deflate truncated", encoded("deflate", zlib.compress(VALID)[:20]), 400)
add("deflate with trailing data", encoded("deflate", zlib.compress(VALID) + b"more"), 400)
add("deflate bomb", encoded("deflate", zlib.compress(b" " * (20 << 20), 9)), 413)
add(
    "raw deflate bomb",
    encoded("deflate", zlib.compressobj(9, zlib.DEFLATED, -15).compress(b" " * (20 << 20)) + b"\x03\x00"),
    413,
)
add("deflate of invalid UTF-8", encoded("deflate", zlib.compress(b'{"version": "\xff"}')), 400)
add("x-gzip of garbage", encoded("x-gzip", b"not gzip"), 400)
add("gzip body, no credentials", encoded("gzip", GZIPPED, JSON), 401)

# -- credentials ----------------------------------------------------------------------------------------

for name, header in [
    ("no credentials", b""),
    ("wrong token", b"Authorization: Bearer wrong\r\n"),
    ("token without scheme", f"Authorization: {TOKEN}\r\n".encode()),
    ("empty Authorization", b"Authorization: \r\n"),
    ("scheme only", b"Authorization: Bearer\r\n"),
    ("scheme and spaces", b"Authorization: Bearer    \r\n"),
    ("token with a prefix", f"Authorization: Bearer x{TOKEN}\r\n".encode()),
    ("token with a suffix", f"Authorization: Bearer {TOKEN}x\r\n".encode()),
    ("token one character short", f"Authorization: Bearer {TOKEN[:-1]}\r\n".encode()),
    ("basic instead of bearer", b"Authorization: Basic dXNlcjpwYXNz\r\n"),
    ("basic not base64", b"Authorization: Basic !!!\r\n"),
    ("digest", b'Authorization: Digest username="a", response="b"\r\n'),
    ("Latin-1 Authorization", b"Authorization: Bearer \xe9t\xe9\r\n"),
    ("non-UTF-8 Authorization", b"Authorization: \xff\xfe\xfd\r\n"),
    ("token plus a broken UTF-8 byte", f"Authorization: Bearer {TOKEN}".encode() + b"\xc3\r\n"),
    ("UTF-8 emoji token", "Authorization: Bearer 🔑\r\n".encode()),
    ("8 KB token", b"Authorization: Bearer " + b"t" * 8000 + b"\r\n"),
    (
        "token in a second Authorization header",
        b"Authorization: Bearer wrong\r\nAuthorization: Bearer " + TOKEN.encode() + b"\r\n",
    ),
    ("token in another header", b"X-Authorization: Bearer " + TOKEN.encode() + b"\r\n"),
]:
    add(f"credentials: {name}", webhook(VALID, JSON, raw_headers=header), 401)
add("reload without credentials", raw_request("POST", "/-/reload", b"", {}), 401)
add("reload with a wrong token", raw_request("POST", "/-/reload", b"", {"Authorization": "Bearer x"}), 401)
add("decisions without credentials", raw_request("GET", "/api/v1/decisions", b"", {}), 401)
add(
    "breaker reset without credentials",
    raw_request("POST", "/api/v1/breaker/reset", b'{"actor": "mallory"}', JSON),
    401,
)
add("breaker status without credentials", raw_request("GET", "/api/v1/breaker", b"", {}), 401)

# -- GET /api/v1/decisions?limit= ------------------------------------------------------------------------

for name, value in [
    ("zero", "0"),
    ("negative", "-1"),
    ("fraction", "1.5"),
    ("exponent", "1e3"),
    ("hex", "0x10"),
    ("empty", ""),
    ("word", "ten"),
    ("leading space", "%201"),
    ("Arabic-Indic digit", "%D9%A3"),
    ("fullwidth digit", "%EF%BC%91"),
    ("superscript two", "%C2%B2"),
    ("Devanagari digits", "%E0%A5%A7%E0%A5%A8"),
    ("5,000 digits", "9" * 5000),
    ("8 digits", "99999999"),
    ("invalid UTF-8", "%FF"),
    ("NUL", "1%00"),
]:
    add(f"limit {name}", raw_request("GET", f"/api/v1/decisions?limit={value}", b"", AUTH), 400)

# -- POST /api/v1/breaker/reset bodies -------------------------------------------------------------------

for name, data in [
    ("deep array nesting", b"[" * 4000 + b"]" * 4000),  # within the 8 KiB body limit
    ("deep object nesting", b'{"a":' * 1300 + b"1" + b"}" * 1300),
    ("not JSON", b"{not json"),
    ("not UTF-8", b'{"actor": "\xff"}'),
    ("array", b'["alice"]'),
    ("actor number", b'{"actor": 1}'),
    ("actor null", b'{"actor": null}'),
    ("actor object", b'{"actor": {"name": "alice"}}'),
    ("actor NaN", b'{"actor": NaN}'),
]:
    add(f"breaker reset: {name}", raw_request("POST", "/api/v1/breaker/reset", data, HEADERS), 400)
add(
    "breaker reset: 200 KB of nesting",
    raw_request("POST", "/api/v1/breaker/reset", b"[" * 100_000 + b"]" * 100_000, HEADERS),
    413,
)
add(
    "breaker reset: 9 KB body",
    raw_request("POST", "/api/v1/breaker/reset", b'{"actor": "' + b"a" * 9000 + b'"}', HEADERS),
    413,
)
add(
    "breaker reset: body over the limit, chunked",
    chunked(b"3000\r\n" + b" " * 0x3000 + b"\r\n0\r\n\r\n").replace(b"/webhook", b"/api/v1/breaker/reset"),
    413,
)
add(
    "breaker reset: corrupt gzip",
    raw_request("POST", "/api/v1/breaker/reset", b"\x1f\x8bxx", {**HEADERS, "Content-Encoding": "gzip"}),
    400,
)
add(
    "breaker reset: brotli",
    raw_request("POST", "/api/v1/breaker/reset", b"{}", {**HEADERS, "Content-Encoding": "br"}),
    415,
)
add(
    "breaker reset: gzip bomb",
    raw_request(
        "POST",
        "/api/v1/breaker/reset",
        gzip.compress(b" " * (1 << 20)),
        {**HEADERS, "Content-Encoding": "gzip"},
    ),
    413,
)


def test_the_corpus_is_large_and_every_case_distinct() -> None:
    assert len(CASES) >= 300
    assert len({c.name for c in CASES}) == len(CASES)
    assert len({c.request for c in CASES}) == len(CASES)


@pytest.fixture
async def corpus_server(make_client: MakeClient, unreachable_pipeline: Any) -> tuple[Client, Harness]:
    return await make_client(breaker=unreachable_pipeline, request_timeout="1s")


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
async def test_bad_input_gets_a_4xx_and_the_next_alert_is_accepted(
    corpus_server: tuple[Client, Harness], case: Case, caplog: pytest.LogCaptureFixture
) -> None:
    client, harness = corpus_server
    answer = await raw_exchange(client.port, case.request, wait=HANG, half_close=case.half_close)
    assert answer.status == case.status, answer.body[:300]
    reason = answer.json()
    assert isinstance(reason["error"], str) and reason["error"]
    assert len(answer.body) < 2000  # a reason, not an echo of the input
    if answer.status == 400 and case.request.startswith(b"POST /webhook") and "path" in reason:
        assert reason["path"].startswith("$")
    assert harness.actuator.items == []
    assert not [r for r in caplog.records if r.levelname in ("ERROR", "CRITICAL")]

    response = await client.post("/webhook", data=VALID, headers=HEADERS)
    assert response.status == 200
    assert (await response.json())["queued"] == 1


async def test_the_whole_corpus_on_one_server_then_a_valid_alert(
    corpus_server: tuple[Client, Harness], caplog: pytest.LogCaptureFixture
) -> None:
    client, harness = corpus_server
    statuses = [
        (await raw_exchange(client.port, c.request, wait=HANG, half_close=c.half_close)).status for c in CASES
    ]
    assert [s for s in statuses if not 400 <= s < 500] == []
    assert harness.sample("rollback_receiver_webhook_requests_total", {"code": "500"}) == 0
    assert not [r for r in caplog.records if r.levelname in ("ERROR", "CRITICAL")]
    response = await client.post("/webhook", data=VALID, headers=HEADERS)
    assert response.status == 200 and (await response.json())["queued"] == 1
    await harness.service.stop()  # the worker drains: the alert was handed to the pipeline
    assert [i.alert.fingerprint for i in harness.actuator.items] == ["a1b2c3d4e5f60718"]


GONE_MID_BODY = {
    "reset half-way through a body": (webhook(VALID[:40], length=len(VALID)), "abort"),
    "half-closed half-way through a body": (webhook(VALID[:40], length=len(VALID)), "eof"),
    "half-closed inside a chunk": (chunked(b"100\r\n{}"), "eof"),
    "half-closed before the last chunk": (chunked(b"2\r\n{}\r\n"), "eof"),
    "reset half-way through a gzip body": (
        webhook(GZIPPED[:10], {**HEADERS, "Content-Encoding": "gzip"}, length=len(GZIPPED)),
        "abort",
    ),
}


@pytest.mark.parametrize("how", list(GONE_MID_BODY))
async def test_a_client_that_disconnects_mid_body_leaves_no_error(
    client_and_harness: tuple[Client, Harness], caplog: pytest.LogCaptureFixture, how: str
) -> None:
    import asyncio

    client, harness = client_and_harness
    request, ending = GONE_MID_BODY[how]
    reader, writer = await asyncio.open_connection("127.0.0.1", client.port)
    writer.write(request)
    await writer.drain()
    await asyncio.sleep(0.05)
    if ending == "abort":
        writer.transport.abort()
    else:
        writer.write_eof()
        async with asyncio.timeout(HANG):
            assert await reader.read() == b""  # no one left to answer: the server just closes
        writer.close()
    await asyncio.sleep(0.3)
    assert not [r for r in caplog.records if r.levelname in ("ERROR", "CRITICAL")]
    assert harness.sample("rollback_receiver_webhook_requests_total", {"code": "500"}) == 0
    assert harness.sample("rollback_receiver_webhook_requests_total", {"code": "400"}) == 1
    assert harness.actuator.items == []
    assert (await client.post("/webhook", data=VALID, headers=HEADERS)).status == 200


async def test_a_client_that_stops_sending_the_body_gets_408(make_client: MakeClient) -> None:
    client, _ = await make_client(request_timeout="1s")
    answer = await raw_exchange(client.port, webhook(b'{"version": "4"', length=1000), wait=HANG)
    assert (answer.status, answer.json()) == (408, {"error": "body not received within 1s"})
    assert (await client.post("/webhook", data=VALID, headers=HEADERS)).status == 200


async def test_a_state_store_failure_on_the_breaker_endpoints_is_a_503_with_a_reason(
    make_client: MakeClient, unreachable_pipeline: Any, caplog: pytest.LogCaptureFixture
) -> None:
    client, _ = await make_client(breaker=unreachable_pipeline)
    for method, path in (("POST", "/api/v1/breaker/reset"), ("GET", "/api/v1/breaker")):
        response = await client.request(method, path, json={"actor": "alice"}, headers=AUTH)
        assert response.status == 503, path
        assert response.headers["Retry-After"] == "5"
        reason = (await response.json())["error"]
        assert reason.startswith("the breaker's state (the guard-state ConfigMap) could not be")
        assert "StateError" in reason and "nothing changed" in reason
        assert "127.0.0.1" not in reason and "secret-kube-token" not in reason
    assert not [r for r in caplog.records if r.levelname in ("ERROR", "CRITICAL")]
    assert "guard state is unavailable" in caplog.text
