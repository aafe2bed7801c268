"""Kubernetes Events on the workload, so `kubectl describe` and `kubectl get events` show what we did."""

from __future__ import annotations

import logging
import os
import socket
from datetime import UTC, datetime

from receiver.k8s import errors
from receiver.k8s.client import KubeClient
from receiver.k8s.timestamps import format_time
from receiver.workload import WorkloadRef

logger = logging.getLogger(__name__)

COMPONENT = "rollback-receiver"
# Reasons we emit; one per decision outcome.
TRIGGERED = "RollbackTriggered"
SUCCEEDED = "RollbackSucceeded"
FAILED = "RollbackFailed"
SKIPPED = "RollbackSkipped"
DRY_RUN = "RollbackDryRun"

_MAX_MESSAGE = 1024  # the API server rejects longer core/v1 Event messages


async def emit_event(
    kube: KubeClient,
    ref: WorkloadRef,
    *,
    uid: str,
    reason: str,
    message: str,
    warning: bool = False,
) -> None:
    """Create a core/v1 Event about the workload. A failure to record is logged, never raised."""
    now = format_time(datetime.now(UTC))
    event = {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"generateName": f"{ref.name}.", "namespace": ref.namespace},
        "involvedObject": {
            "apiVersion": "apps/v1",
            "kind": str(ref.kind),
            "name": ref.name,
            "namespace": ref.namespace,
            "uid": uid,
        },
        "reason": reason,
        "message": message[:_MAX_MESSAGE],
        "type": "Warning" if warning else "Normal",
        "source": {"component": COMPONENT},
        "reportingComponent": COMPONENT,
        "reportingInstance": os.environ.get("POD_NAME") or socket.gethostname(),
        "firstTimestamp": now,
        "lastTimestamp": now,
        "count": 1,
    }
    try:
        await kube.request(
            "create",
            f"/api/v1/namespaces/{ref.namespace}/events",
            body=event,
            content_type="application/json",
            what=f"events -n {ref.namespace}",
            deadline=5.0,
        )
    except errors.KubeError as exc:
        logger.warning("could not record event %s on %s: %s", reason, ref, exc.describe())
