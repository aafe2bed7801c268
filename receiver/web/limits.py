"""The fixed bounds of the HTTP edge, in one place (docs/operations.md "Limits" lists them with the memory
formula; bench/README.md measures it).

Sizes that depend on the config (`server.max_body_bytes`, `server.request_timeout`) are read on every
connection or request, so they follow reloads; these constants are the rest. They are sized for
Alertmanager: one request per group per `group_interval`, a handful of headers, one body of at most
`max_body_bytes`.
"""

from __future__ import annotations

# Connections open at once (TLS handshakes included). At the cap, a new connection evicts the oldest one
# that has been waiting at least EVICTION_GRACE_SECONDS for a request head (a slow, silent or idle client;
# those that never got an answer first); when there is none, the newcomer is refused. Also kept below the
# process's file-descriptor limit.
MAX_CONNECTIONS = 512
# A new connection cannot be evicted before it had this long to send its request head, however fast
# others arrive: an attacker churning connections cannot push out Alertmanager's before it speaks.
EVICTION_GRACE_SECONDS = 1.0
# File descriptors kept free for everything else (the cluster client, log files, reloads).
RESERVED_FDS = 64

# The request line and headers of one request: Alertmanager sends about 300 bytes (a long bearer token is a
# few KiB). Beyond it the request gets 431 and the connection is closed.
MAX_HEADER_BYTES = 32 * 1024
# aiohttp's own per-line limits stay as a backstop below MAX_HEADER_BYTES.
MAX_LINE_BYTES = 8190
MAX_HEADERS = 64

# Bytes a connection may send while one request is handled (its body, chunked framing, a pipelined next
# request): MAX_HEADER_BYTES + this factor x max_body_bytes. More closes the connection.
BYTES_PER_REQUEST_FACTOR = 2

# Request bodies held at once, across all concurrent requests: this many times `server.max_body_bytes`
# (a compressed body reserves its compressed size plus `max_body_bytes` for what it decompresses to).
# Beyond it a request gets 503 with Retry-After before its body is read.
BODIES_IN_FLIGHT = 8
# gzip members in one body: real senders write one; aiohttp's own limit (1024) is far above need.
MAX_GZIP_MEMBERS = 8

# Small JSON bodies of the operator endpoints (`{"actor": "alice"}`).
MAX_ADMIN_BODY_BYTES = 8 * 1024

# One GET /api/v1/decisions answer, and how many are written at once (each is written inside its
# handler, so a slow reader holds one slot, never unbounded memory).
MAX_DECISIONS_ANSWER_BYTES = 1024 * 1024
MAX_DECISIONS_ANSWERS_IN_FLIGHT = 4
MAX_DECISIONS_LIMIT_DIGITS = 7  # `limit` is at most 9,999,999 (the log is far smaller anyway)

# After an answer sent before the body was read (401, 413, 503), aiohttp reads and discards the rest of
# the body for at most this long before closing.
LINGERING_SECONDS = 2.0
# A refusal written by the edge itself (408, 431, 503 at the cap) gets this long to leave before abort.
FAREWELL_SECONDS = 2.0

# /readyz answers from a cached API-server check this recent.
READY_CACHE_SECONDS = 5.0
