"""One connection to the Kubernetes API per process: config loading, raw JSON requests, retries.

We talk JSON dicts, not the generated model classes: kubectl's semantics are defined on the wire
format (camelCase templates, JSON patches, ControllerRevision `data`), and round-tripping through the
models would rename and drop fields. kubernetes_asyncio still does the hard parts: kubeconfig and
in-cluster loading (exec plugins, token refresh, client certificates) and the HTTP transport.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

import aiohttp
import yarl
from aiohttp.http_exceptions import HttpProcessingError
from kubernetes_asyncio.client import ApiClient, Configuration
from kubernetes_asyncio.client.exceptions import ApiException
from kubernetes_asyncio.config import ConfigException, load_incluster_config, load_kube_config
from kubernetes_asyncio.config.incluster_config import SERVICE_HOST_ENV_NAME, SERVICE_TOKEN_FILENAME
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception_type,
    wait_random_exponential,
)

from receiver.k8s import errors

logger = logging.getLogger(__name__)

Json = dict[str, Any]
T = TypeVar("T")

JSON_PATCH = "application/json-patch+json"
MERGE_PATCH = "application/merge-patch+json"
STRATEGIC_MERGE_PATCH = "application/strategic-merge-patch+json"
FIELD_MANAGER = "rollback-receiver"

_HTTP_METHODS = {"get": "GET", "list": "GET", "watch": "GET", "create": "POST", "patch": "PATCH"}
# An event line holds one object; the API server refuses objects over ~1.5 MiB, so this is generous.
MAX_WATCH_EVENT_BYTES = 8 << 20
# 429 and 5xx are the server asking us to come back later; everything else is an answer.
_TRANSIENT_STATUSES = frozenset({429, 500, 502, 503, 504})


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How long a single logical call may keep retrying transient failures."""

    deadline: float = 30.0  # seconds from the first attempt; no new attempt starts after it
    request_timeout: float = 10.0  # per attempt, capped by what is left of the deadline
    backoff: float = 0.2  # first wait (seconds); doubles with full jitter
    max_backoff: float = 5.0


class KubeClient:
    """The process's API connection. Create with `connect()`; close with `close()`."""

    def __init__(
        self,
        api: ApiClient,
        *,
        identity: str,
        source: str,
        retry: RetryPolicy,
        default_namespace: str = "default",
    ) -> None:
        self._api = api
        self.identity = identity  # who we are to the API server (for audit annotations and events)
        self.source = source  # "in-cluster" or "kubeconfig <path>[ context <name>]"
        self.retry = retry
        self.default_namespace = default_namespace  # the context's namespace, like kubectl's `-n` default

    async def close(self) -> None:
        await self._api.close()

    async def ping(self) -> None:
        """One cheap authenticated round trip (GET /version), no retries: readiness wants the truth now."""
        await self.request("get", "/version", what="version", deadline=0.0)

    async def request(
        self,
        verb: str,
        path: str,
        *,
        query: Mapping[str, str] | None = None,
        body: object = None,
        content_type: str | None = None,
        what: str = "",
        deadline: float | None = None,
    ) -> Json:
        """One API call returning the decoded JSON body, with transient failures retried until `deadline`.

        `what` names the object for error messages ("deployments.apps/web -n shop"). A `deadline` of 0
        means a single attempt.
        """
        budget = self.retry.deadline if deadline is None else deadline
        return await self._retried(
            lambda timeout: self._send(verb, path, query, body, content_type, what, timeout),
            budget,
            verb,
            what or path,
        )

    async def request_text(
        self, verb: str, path: str, *, query: Mapping[str, str] | None = None, what: str = ""
    ) -> str:
        """Like `request`, but the body exactly as the server sent it (kubectl compares some bytes of it)."""
        return await self._retried(
            lambda timeout: self._send_text(verb, path, query, what, timeout),
            self.retry.deadline,
            verb,
            what or path,
        )

    async def _retried(self, send: Callable[[float], Awaitable[T]], budget: float, verb: str, what: str) -> T:
        """`send(attempt_timeout)`, its transient failures retried until `budget` seconds have passed since
        it was first called (no new attempt starts after that).

        The first attempt runs outside tenacity: nearly every call succeeds, or fails for good (404, 409), at
        once, and tenacity's retry state is a cluster of reference cycles (about 35 objects a call) that only
        the cycle collector frees. Under an alert storm those piled up to tens of thousands of objects every
        few seconds, and each young-generation collection of them stalled the event loop for 50-100 ms: the
        webhook's p99 (bench/README.md). Only a transient failure starts the retry loop, which then goes on
        exactly as if it had run from the start: its first attempt is that failure, its deadline is counted
        from the first attempt."""
        started = time.monotonic()
        try:
            return await send(self._attempt_timeout(budget, started))
        except errors.Transient as exc:
            first: errors.Transient | None = exc
        async for attempt in self._retrying(started + budget, verb, what):
            with attempt:
                if first is not None:
                    failure, first = first, None
                    raise failure  # attempt 1, already made
                return await send(self._attempt_timeout(budget, started))
        raise AssertionError("unreachable: tenacity reraises the last failure")

    def _attempt_timeout(self, budget: float, started: float) -> float:
        """One attempt's timeout: the policy's, capped by what is left of the deadline (the policy's when
        nothing is left: a single attempt, `deadline=0`, still gets its full time)."""
        left = budget - (time.monotonic() - started)
        return max(min(self.retry.request_timeout, left), 0.0) or self.retry.request_timeout

    def _retrying(self, deadline: float, verb: str, what: str) -> AsyncRetrying:
        def log_retry(state: RetryCallState) -> None:
            outcome = state.outcome
            failure = outcome.exception() if outcome is not None else None
            logger.warning(
                "kubernetes %s %s failed (attempt %d), retrying: %s",
                verb,
                what,
                state.attempt_number,
                failure,
            )

        def past_deadline(state: RetryCallState) -> bool:
            """tenacity's stop_before_delay, on the monotonic clock of the first attempt."""
            return time.monotonic() + (state.upcoming_sleep or 0.0) >= deadline

        return AsyncRetrying(
            stop=past_deadline,
            wait=wait_random_exponential(multiplier=self.retry.backoff, max=self.retry.max_backoff),
            retry=retry_if_exception_type(errors.Transient),
            before_sleep=log_retry,
            reraise=True,
        )

    async def _send_text(
        self, verb: str, path: str, query: Mapping[str, str] | None, what: str, attempt_timeout: float
    ) -> str:
        try:
            response = await self._api.call_api(
                path,
                _HTTP_METHODS[verb],
                query_params=dict(query or {}),
                header_params={"Accept": "application/json"},
                auth_settings=["BearerToken"],
                _preload_content=False,
                _request_timeout=attempt_timeout,
            )
            async with response:
                text = await response.text()
                status = response.status
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise errors.Transient(
                f"{verb} {what or path}: cannot reach the API server: {type(exc).__name__} {exc}".strip(),
                verb=verb,
                target=what or path,
            ) from exc
        if not 200 <= status <= 299:
            raise map_status(status, text, verb=verb, target=what or path)
        return str(text)

    async def _send(
        self,
        verb: str,
        path: str,
        query: Mapping[str, str] | None,
        body: object,
        content_type: str | None,
        what: str,
        attempt_timeout: float,
    ) -> Json:
        headers = {"Accept": "application/json"}
        if content_type is not None:
            headers["Content-Type"] = content_type
        try:
            result = await self._api.call_api(
                path,
                _HTTP_METHODS[verb],
                query_params=dict(query or {}),
                header_params=headers,
                body=body,
                response_types_map={200: "object", 201: "object", 202: "object"},
                auth_settings=["BearerToken"],
                _return_http_data_only=True,
                _request_timeout=attempt_timeout,
            )
        except ApiException as exc:
            # kubernetes_asyncio re-raises it from an `except ... as e` block, so its traceback holds the
            # frame that holds it: a reference cycle, with the HTTP response in it, that only the cycle
            # collector would free. Without the traceback it goes when the error we raise goes.
            exc.__traceback__ = None
            raise map_api_exception(exc, verb=verb, target=what or path) from exc
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise errors.Transient(
                f"{verb} {what or path}: cannot reach the API server: {type(exc).__name__} {exc}".strip(),
                verb=verb,
                target=what or path,
            ) from exc
        if not isinstance(result, dict):
            raise errors.KubeError(f"{verb} {what or path}: unexpected response {result!r:.200}", verb=verb)
        return result

    async def watch(
        self, path: str, *, query: Mapping[str, str], what: str, server_timeout: float
    ) -> AsyncIterator[tuple[str, Json]]:
        """Stream watch events (type, object) until the server closes the watch (after `server_timeout`).

        No retries here: the caller relists on any failure, like client-go's UntilWithSync.
        """
        params = dict(query)
        params.update({"watch": "true", "timeoutSeconds": str(max(int(server_timeout), 1))})
        try:
            response = await self._api.call_api(
                path,
                "GET",
                query_params=params,
                header_params={"Accept": "application/json"},
                auth_settings=["BearerToken"],
                _preload_content=False,
                _request_timeout=aiohttp.ClientTimeout(
                    total=None, sock_connect=10, sock_read=server_timeout + 10
                ),
            )
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise errors.Transient(
                f"watch {what}: {type(exc).__name__}: {exc}", verb="watch", target=what
            ) from exc
        async with response:
            if response.status != 200:
                text = await response.text()
                raise map_status(response.status, text, verb="watch", target=what)
            try:
                while True:
                    # One event per line; an object may be far larger than aiohttp's default line limit.
                    line = await response.content.readline(max_line_length=MAX_WATCH_EVENT_BYTES)
                    if not line:
                        return
                    if not line.strip():
                        continue
                    event = json.loads(line)
                    yield str(event.get("type", "")), event.get("object") or {}
            except (aiohttp.ClientError, HttpProcessingError, TimeoutError, OSError, ValueError) as exc:
                raise errors.Transient(
                    f"watch {what}: {type(exc).__name__}", verb="watch", target=what
                ) from exc


def map_api_exception(exc: ApiException, *, verb: str, target: str) -> errors.KubeError:
    body = exc.body.decode() if isinstance(exc.body, bytes) else (exc.body or "")
    return map_status(
        int(exc.status or 0), body, verb=verb, target=target, fallback_reason=str(exc.reason or "")
    )


def map_status(
    status: int, body: str, *, verb: str, target: str, fallback_reason: str = ""
) -> errors.KubeError:
    """Map one HTTP failure (status + Status body) to our error tree; this is the only place that does."""
    reason, message = fallback_reason, body.strip()
    try:
        decoded = json.loads(body) if body else {}
    except ValueError:
        decoded = {}
    if isinstance(decoded, dict):
        reason = str(decoded.get("reason") or reason)
        message = str(decoded.get("message") or message)
    message = message or f"{verb} {target}: HTTP {status} {reason}".strip()
    kind: type[errors.KubeError]
    if status in _TRANSIENT_STATUSES or status == 0:
        kind = errors.Transient
    elif status == 401:
        kind = errors.Unauthorized
    elif status == 403:
        kind = errors.Forbidden
    elif status == 404:
        kind = errors.NotFound
    elif status == 409:
        kind = errors.Conflict
    elif status in (400, 422):
        kind = errors.Invalid
    else:
        kind = errors.KubeError
    return kind(message, status=status, reason=reason, verb=verb, target=target)


def _in_cluster_namespace() -> str | None:
    path = os.path.join(os.path.dirname(SERVICE_TOKEN_FILENAME), "namespace")
    try:
        with open(path) as handle:
            return handle.read().strip() or None
    except OSError:
        return None


def _in_cluster_available() -> bool:
    return bool(os.environ.get(SERVICE_HOST_ENV_NAME)) and os.path.isfile(SERVICE_TOKEN_FILENAME)


async def connect(
    kubeconfig: str | None = None, context: str | None = None, *, retry: RetryPolicy | None = None
) -> KubeClient:
    """Connect like kubectl would, preferring the pod's service account.

    An explicit `kubeconfig`/`context` wins (an operator asked for it); otherwise the in-cluster service
    account when present; otherwise `$KUBECONFIG` or `~/.kube/config`. Nothing is sent to the server
    except one best-effort identity lookup.
    """
    configuration = Configuration()
    user_hint = ""
    namespace = "default"
    try:
        if kubeconfig is None and context is None and _in_cluster_available():
            load_incluster_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
            source = "in-cluster"
            namespace = _in_cluster_namespace() or namespace
        else:
            loader = await load_kube_config(
                config_file=kubeconfig,
                context=context,
                client_configuration=configuration,
                persist_config=False,
            )
            current = loader.current_context or {}
            user_hint = str((current.get("context") or {}).get("user") or "")
            namespace = str((current.get("context") or {}).get("namespace") or namespace)
            source = f"kubeconfig {kubeconfig or os.environ.get('KUBECONFIG') or '~/.kube/config'}"
            if context:
                source += f" context {context}"
    except (ConfigException, OSError, TypeError, ValueError) as exc:
        raise errors.KubeConfigError(f"cannot load cluster credentials: {exc}") from exc
    api = ApiClient(configuration=configuration)
    api.user_agent = "rollback-receiver"
    try:
        _proxy_looked_up_once(api, configuration)
    except errors.KubeConfigError:
        await api.close()
        raise
    client = KubeClient(
        api,
        identity=user_hint or "unknown",
        source=source,
        retry=retry or RetryPolicy(),
        default_namespace=namespace,
    )
    client.identity = await _whoami(client, configuration) or _token_subject(configuration) or client.identity
    return client


def _proxy_looked_up_once(api: ApiClient, configuration: Configuration) -> None:
    """The client library's HTTP session trusts the environment, so aiohttp reads the proxy variables and
    ~/.netrc again for every API request, each in a worker thread: two thread hops per call (6 for an
    undo). The environment is read here once instead, like kubectl: HTTPS_PROXY / HTTP_PROXY / NO_PROXY for
    the API server's URL (a kubeconfig's `proxy-url` wins), never a netrc file (kubectl reads none)."""
    rest = api.rest_client
    if configuration.proxy:
        try:
            _only_http_proxy(yarl.URL(str(configuration.proxy)), "the kubeconfig's proxy-url")
        except ValueError as exc:
            raise errors.KubeConfigError(f"the kubeconfig's proxy-url is not a URL: {exc}") from None
    else:
        try:
            proxy, auth = aiohttp.helpers.get_env_proxy_for_url(yarl.URL(str(configuration.host)))
        except LookupError:  # none set, or NO_PROXY names the API server
            pass
        except ValueError as exc:  # what every API call would otherwise fail with
            raise errors.KubeConfigError(f"the proxy environment (HTTPS_PROXY) is not a URL: {exc}") from None
        else:
            _only_http_proxy(proxy, "the proxy environment")
            rest.proxy = str(proxy)
            if auth is not None:
                rest.proxy_headers = {**(rest.proxy_headers or {}), "Proxy-Authorization": auth.encode()}
    trusting = rest.pool_manager
    connector = trusting.connector
    trusting.detach()  # keeps the connector (and its TLS context) for the session that replaces it
    # The library's read buffer: a watch event can hold a 1.5 MiB object (etcd's request limit).
    rest.pool_manager = aiohttp.ClientSession(connector=connector, trust_env=False, read_bufsize=2**21)


def _only_http_proxy(proxy: yarl.URL, source: str) -> None:
    """aiohttp speaks to http:// proxies only; another scheme would fail every API call."""
    if proxy.scheme != "http":
        raise errors.KubeConfigError(
            f"{source} names a {proxy.scheme}:// proxy; only http:// proxies are supported"
        )


async def _whoami(client: KubeClient, configuration: Configuration) -> str | None:
    """The username the API server sees (SelfSubjectReview, allowed for every authenticated user)."""
    try:
        review = await asyncio.wait_for(
            client.request(
                "create",
                "/apis/authentication.k8s.io/v1/selfsubjectreviews",
                body={"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"},
                content_type="application/json",
                what="selfsubjectreview",
                deadline=0.0,
            ),
            timeout=5,
        )
    except (errors.KubeError, TimeoutError) as exc:
        logger.info("cannot look up our own identity (using the credentials' name instead): %s", exc)
        return None
    username = review.get("status", {}).get("userInfo", {}).get("username")
    return str(username) if username else None


def _token_subject(configuration: Configuration) -> str | None:
    """The `sub` claim of a service-account JWT, without verifying it (it is only a label for audit)."""
    token = str(configuration.api_key.get("BearerToken", "")).removeprefix("Bearer ").strip()
    parts = token.split(".")
    if len(parts) != 3:
        return None
    try:
        claims = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
    except ValueError:
        return None
    subject = claims.get("sub") if isinstance(claims, dict) else None
    return str(subject) if subject else None
