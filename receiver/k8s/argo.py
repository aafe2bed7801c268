"""Argo Rollouts' undo, abort and status rules, as pure functions on API JSON (Argo Rollouts v1.8.3).

References, in the Go module `github.com/argoproj/argo-rollouts@v1.8.3`: the plugin's undo
(`pkg/kubectl-argo-rollouts/cmd/undo/undo.go`), abort (`cmd/abort/abort.go`) and status
(`cmd/status/status.go`), and the phase it reports (`GetRolloutPhase` / `CalculateRolloutPhase` in
`utils/rollout/rolloututil.go`). docs/argo-rollouts.md describes them; messages are the plugin's, verbatim.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from typing import Any

from receiver.core import refusals
from receiver.core.goparse import GoSyntaxError, parse_int
from receiver.core.timefmt import parse_rfc3339_or_none
from receiver.core.workload import RolloutState, WorkloadKind, WorkloadRef
from receiver.k8s import templates
from receiver.k8s.deployments import is_controlled_by
from receiver.k8s.errors import NoHistory, UnknownRevision, UnsupportedWorkloadRef
from receiver.k8s.results import UndoPlan

Json = dict[str, Any]

REVISION = "rollout.argoproj.io/revision"
REVISION_HISTORY = "rollout.argoproj.io/revision-history"
WORKLOAD_GENERATION = "rollout.argoproj.io/workload-generation"
HASH_LABEL = "rollouts-pod-template-hash"  # v1alpha1.DefaultRolloutUniqueLabelKey
# The kinds `undoWorkloadRef` patches; we restore Deployments (the one kind whose template is at
# spec.template and that Argo's docs recommend referencing).
SUPPORTED_WORKLOAD_REFS = ("Deployment",)

HEALTHY, DEGRADED, PAUSED, PROGRESSING = "Healthy", "Degraded", "Paused", "Progressing"
ABORTED_REASON = "RolloutAborted"
TIMED_OUT_REASON = "ProgressDeadlineExceeded"


# ----------------------------------------------------------------------------------------------- history


def revision_number(rs: Mapping[str, Any]) -> int | None:
    """The plugin's `revision()`: a missing annotation is 0, an unparseable one is skipped (None)."""
    value = (rs.get("metadata", {}).get("annotations") or {}).get(REVISION)
    if value is None:
        return 0
    try:
        return parse_int(str(value))
    except GoSyntaxError:
        return None


def owned(rollout: Mapping[str, Any], replica_sets: Sequence[Json]) -> list[Json]:
    """`listReplicaSets`: those `metav1.IsControlledBy` the Rollout, in the order the server listed them."""
    uid = str(rollout["metadata"]["uid"])
    return [rs for rs in replica_sets if is_controlled_by(rs, uid)]


def selector(rollout: Mapping[str, Any]) -> Json:
    """`extractLabelSelector`: matchLabels and matchExpressions of spec.selector (absent: select all)."""
    spec_selector = (rollout.get("spec") or {}).get("selector") or {}
    result: Json = {}
    if spec_selector.get("matchLabels"):
        result["matchLabels"] = spec_selector["matchLabels"]
    if spec_selector.get("matchExpressions"):
        result["matchExpressions"] = spec_selector["matchExpressions"]
    return result


def choose_target(name: str, replica_sets: Sequence[Json], to_revision: int) -> tuple[int, Json]:
    """`rolloutRevision`: the first ReplicaSet numbered `to_revision`, else one pass keeping the highest and
    the second-highest numbers and returning the second (so a duplicate of the highest can be "previous")."""
    latest: tuple[int, Json | None] = (-1, None)
    previous: tuple[int, Json | None] = (-1, None)
    for rs in replica_sets:
        number = revision_number(rs)
        if number is None:
            continue
        if to_revision == 0:
            if latest[0] < number:
                previous, latest = latest, (number, rs)
            elif previous[0] < number:
                previous = (number, rs)
        elif number == to_revision:
            return number, rs
    if to_revision > 0:
        raise UnknownRevision(to_revision)
    if previous[1] is None:  # also a negative --to-revision that matched nothing, as in the plugin
        raise NoHistory(refusals.no_history(WorkloadKind.ROLLOUT, name))
    return previous[0], previous[1]


# ------------------------------------------------------------------------------------------- comparison


def _go_type(value: Any) -> str:
    """The Go type a decoded-JSON value has in an unstructured object (`bool` before `int`: Python's bool
    is an int, Go's is not)."""
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int64"
    if isinstance(value, float):
        return "float64"
    if isinstance(value, str):
        return "string"
    if isinstance(value, Mapping):
        return "map"
    if isinstance(value, list):
        return "slice"
    return type(value).__name__


def derivative_equal(a: Any, b: Any) -> bool:
    """`apiequality.Semantic.DeepDerivative(a, b)` on two unstructured (decoded JSON) values.

    What is unset on `a`'s side is not compared: a nil value, an empty string, map or list is equal to
    anything. A map's keys must all exist on `b`'s side (a missing one is never equal, whatever `a` holds
    there), a list on `a`'s side need only be a prefix, and scalars are equal only with the same Go type.
    """
    if a is None:
        return True
    if b is None or _go_type(a) != _go_type(b):
        return False
    if isinstance(a, Mapping):
        if not a:
            return True
        return len(a) <= len(b) and all(key in b and derivative_equal(a[key], b[key]) for key in a)
    if isinstance(a, list):
        if not a:
            return True
        return len(a) <= len(b) and all(derivative_equal(x, y) for x, y in zip(a, b, strict=False))
    if isinstance(a, str):
        return a == "" or a == b
    return bool(a == b)


def _without_hash(template: Mapping[str, Any]) -> Json:
    """`unstructured.RemoveNestedField(t, "metadata", "labels", hash)`: the labels map stays, maybe empty."""
    result: Json = copy.deepcopy(dict(template))
    labels = (result.get("metadata") or {}).get("labels")
    if isinstance(labels, dict):
        labels.pop(HASH_LABEL, None)
    return result


def equal_ignore_hash(rollout: Mapping[str, Any], rs: Mapping[str, Any]) -> bool:
    """The plugin's `equalIgnoreHash`: the Rollout's spec.template derives from the ReplicaSet's.

    A Rollout without spec.template (a `workloadRef` one) is never equal, as in the plugin.
    """
    template = (rollout.get("spec") or {}).get("template")
    if not isinstance(template, Mapping):
        return False
    rs_template = (rs.get("spec") or {}).get("template") or {}
    return derivative_equal(_without_hash(template), _without_hash(rs_template))


def workload_ref(rollout: Mapping[str, Any]) -> Json | None:
    ref = (rollout.get("spec") or {}).get("workloadRef")
    return dict(ref) if isinstance(ref, Mapping) else None


def referenced_workload(rollout: Mapping[str, Any]) -> WorkloadRef | None:
    """The Deployment a `workloadRef` Rollout takes its template from (None: no workloadRef)."""
    ref = workload_ref(rollout)
    if ref is None:
        return None
    kind = str(ref.get("kind", ""))
    if kind not in SUPPORTED_WORKLOAD_REFS:
        raise UnsupportedWorkloadRef(
            f"workload of type {kind} is not supported: a Rollout's workloadRef is restored only when it "
            "names a Deployment"
        )
    return WorkloadRef(WorkloadKind.DEPLOYMENT, str(rollout["metadata"]["namespace"]), str(ref.get("name")))


def references(rollout: Mapping[str, Any], deployment_name: str) -> bool:
    """Whether this Rollout's spec.workloadRef names the Deployment (apps group, any version)."""
    ref = workload_ref(rollout)
    if ref is None:
        return False
    group = str(ref.get("apiVersion", "")).partition("/")[0] if "/" in str(ref.get("apiVersion", "")) else ""
    return ref.get("kind") == "Deployment" and group == "apps" and ref.get("name") == deployment_name


def live_template(rollout: Mapping[str, Any], referenced: Mapping[str, Any] | None) -> Json:
    """The template the Rollout runs: its own, or (workloadRef) the referenced Deployment's."""
    source = referenced if referenced is not None else rollout
    return dict((source.get("spec") or {}).get("template") or {})


def current_replica_set(
    rollout: Mapping[str, Any], replica_sets: Sequence[Json], referenced: Mapping[str, Any] | None = None
) -> Json | None:
    """The ReplicaSet of the template the Rollout asks for.

    Argo finds it by the template's hash, computed from the Go structs (not reproducible outside Go); the
    controller reports it as status.currentPodHash once it has observed the spec. Before that, a
    ReplicaSet whose template equals the live one (hash label ignored) is it.
    """
    status = rollout.get("status") or {}
    current_hash = str(status.get("currentPodHash") or "")
    if current_hash and _observed(rollout):
        for rs in replica_sets:
            if (rs.get("metadata", {}).get("labels") or {}).get(HASH_LABEL) == current_hash:
                return rs
    template = templates.without_hash_label(live_template(rollout, referenced), HASH_LABEL)
    for rs in replica_sets:
        rs_template = (rs.get("spec") or {}).get("template") or {}
        if templates.semantic_equal(templates.without_hash_label(rs_template, HASH_LABEL), template):
            return rs
    return None


def current_revision(
    rollout: Mapping[str, Any], replica_sets: Sequence[Json], referenced: Mapping[str, Any] | None = None
) -> int | None:
    rs = current_replica_set(rollout, replica_sets, referenced)
    if rs is not None:
        return revision_number(rs)
    annotation = (rollout.get("metadata", {}).get("annotations") or {}).get(REVISION)
    return revision_number(rollout) if annotation is not None else None


# ------------------------------------------------------------------------------------------------ undo


def plan_undo(
    rollout: Json,
    replica_sets: Sequence[Json],
    to_revision: int,
    referenced: Json | None = None,
) -> UndoPlan:
    """The plugin's `RunUndoRollout` after its reads: the target, the skip, and its one-op JSON patch.

    The patch replaces spec.template with the target ReplicaSet's template minus Argo's hash label. It
    goes to the Rollout, or for a `workloadRef` Rollout to the referenced Deployment (`undoWorkloadRef`).
    """
    meta = rollout["metadata"]
    mine = owned(rollout, replica_sets)
    number, rs = choose_target(str(meta["name"]), mine, to_revision)
    from_revision = current_revision(rollout, mine, referenced)
    target_ref = referenced_workload(rollout)
    patched = referenced if target_ref is not None and referenced is not None else rollout
    rv = str(patched["metadata"].get("resourceVersion", ""))
    if equal_ignore_hash(rollout, rs):
        return UndoPlan(
            target_revision=number,
            from_revision=from_revision,
            skipped_message=refusals.already_matches(to_revision),
            resource_version=rv,
        )
    template = templates.without_hash_label((rs.get("spec") or {}).get("template") or {}, HASH_LABEL)
    return UndoPlan(
        target_revision=number,
        from_revision=from_revision,
        skipped_message=None,
        content_type="application/json-patch+json",
        patch=[{"op": "replace", "path": "/spec/template", "value": template}],
        resource_version=rv,
        patch_target=target_ref,
        base_annotations=dict(patched["metadata"].get("annotations") or {}),
    )


# ----------------------------------------------------------------------------------------------- abort


# `AbortRollout`: a merge patch of the status subresource, nothing else (the spec is not touched).
ABORT_PATCH: Json = {"status": {"abort": True}}


# ---------------------------------------------------------------------------------------------- status


def _observed(rollout: Mapping[str, Any]) -> bool:
    """`isGenerationObserved`: status.observedGeneration (a string) equals metadata.generation, or is not a
    number (Argo <= 0.9 wrote a hash there), or is ahead."""
    observed = str((rollout.get("status") or {}).get("observedGeneration", ""))
    try:
        number = parse_int(observed)  # strconv.Atoi
    except GoSyntaxError:
        return True
    return number >= int(rollout["metadata"].get("generation") or 0)


def _replicas(spec: Mapping[str, Any]) -> int:
    """`defaults.GetReplicasOrDefault`: 1 when unset."""
    replicas = spec.get("replicas")
    return 1 if replicas is None else int(replicas)


def calculate_phase(rollout: Mapping[str, Any]) -> tuple[str, str]:
    """`CalculateRolloutPhase`: the controller's phase and message from spec and status."""
    spec, status = rollout.get("spec") or {}, rollout.get("status") or {}
    for cond in status.get("conditions") or ():
        if cond.get("type") == "InvalidSpec":
            return DEGRADED, f"InvalidSpec: {cond.get('message', '')}"
        if cond.get("reason") in (ABORTED_REASON, TIMED_OUT_REASON):
            return DEGRADED, f"{cond.get('reason')}: {cond.get('message', '')}"
    if spec.get("paused"):
        return PAUSED, "manually paused"
    for pause in status.get("pauseConditions") or ():
        return PAUSED, str(pause.get("reason", ""))
    restart_at = parse_rfc3339_or_none(spec.get("restartAt"))
    if restart_at is not None and restart_at != parse_rfc3339_or_none(status.get("restartedAt")):
        return PROGRESSING, "rollout is restarting"
    updated = int(status.get("updatedReplicas") or 0)
    if updated < _replicas(spec):
        return PROGRESSING, "more replicas need to be updated"
    if int(status.get("availableReplicas") or 0) < updated:
        return PROGRESSING, "updated replicas are still becoming available"
    strategy = spec.get("strategy") or {}
    stable, current = str(status.get("stableRS") or ""), str(status.get("currentPodHash") or "")
    if strategy.get("blueGreen") is not None:
        active = str((status.get("blueGreen") or {}).get("activeSelector") or "")
        if not active or active != current:
            return PROGRESSING, "active service cutover pending"
        if not stable or stable != current:
            analysis = (status.get("blueGreen") or {}).get("postPromotionAnalysisRunStatus")
            waiting = strategy["blueGreen"].get("postPromotionAnalysis") is not None and (
                not analysis
                or analysis.get("status") not in ("Successful", "Failed", "Error", "Inconclusive")
            )
            if waiting:
                return PROGRESSING, "waiting for analysis to complete"
            return PROGRESSING, "waiting for post-promotion verification to complete"
    elif strategy.get("canary") is not None:
        if strategy["canary"].get("trafficRouting") is None and int(status.get("replicas") or 0) > updated:
            return PROGRESSING, "old replicas are pending termination"
        if not stable or stable != current:
            return PROGRESSING, "waiting for all steps to complete"
    return HEALTHY, ""


def phase(rollout: Mapping[str, Any]) -> tuple[str, str]:
    """`GetRolloutPhase` as the plugin computes it: spec not observed yet and a promote not yet seen are
    Progressing; then the controller's status.phase and status.message (its own calculation when empty).

    The plugin never waits for a `workloadRef` Deployment's change to be observed (`TemplateResolvedFromRef`
    is only set inside the controller); `workload_observed` does, for whoever needs it."""
    status = rollout.get("status") or {}
    if not _observed(rollout):
        return PROGRESSING, "waiting for rollout spec update to be observed"
    if status.get("controllerPause") and not status.get("pauseConditions"):
        return PROGRESSING, "waiting for rollout to unpause"
    if status.get("phase"):
        return str(status["phase"]), str(status.get("message") or "")
    return calculate_phase(rollout)


def workload_observed(rollout: Mapping[str, Any], deployment_generation: int | None = None) -> bool:
    """Whether the controller has run the referenced Deployment's latest template: its
    `workload-generation` annotation (at least `deployment_generation`, when given) equals
    status.workloadObservedGeneration (`isWorkloadGenerationObserved`)."""
    annotation = (rollout.get("metadata", {}).get("annotations") or {}).get(WORKLOAD_GENERATION)
    if annotation is None:
        return deployment_generation is None
    try:
        annotated = parse_int(str(annotation))
    except GoSyntaxError:
        return True
    if deployment_generation is not None and annotated < deployment_generation:
        return False
    try:
        observed = parse_int(str((rollout.get("status") or {}).get("workloadObservedGeneration", "")))
    except GoSyntaxError:
        return True
    return observed == annotated


def aborted(rollout: Mapping[str, Any]) -> bool:
    return bool((rollout.get("status") or {}).get("abort"))


def abort_settled(rollout: Mapping[str, Any]) -> bool:
    """An abort took effect: Degraded with reason RolloutAborted, and the stable ReplicaSet is back to full
    availability. `availableReplicas` counts canary pods too, so the canary must also be gone (with traffic
    routing or blue-green that takes `abortScaleDownDelaySeconds`, 30 s by default)."""
    current_phase, message = phase(rollout)
    if current_phase != DEGRADED or not message.startswith(ABORTED_REASON + ":"):
        return False
    replicas = _replicas(rollout.get("spec") or {})
    status = rollout.get("status") or {}
    available = int(status.get("availableReplicas") or 0)
    return available >= replicas and int(status.get("replicas") or 0) <= replicas


def state(rollout: Mapping[str, Any], referenced: Mapping[str, Any] | None = None) -> RolloutState:
    spec, status = rollout.get("spec") or {}, rollout.get("status") or {}
    current_phase, message = phase(rollout)
    strategy = spec.get("strategy") or {}
    ref = workload_ref(rollout)
    return RolloutState(
        phase=current_phase,
        message=message,
        stable_hash=str(status.get("stableRS") or ""),
        current_hash=str(status.get("currentPodHash") or ""),
        aborted=aborted(rollout),
        strategy="blueGreen" if strategy.get("blueGreen") is not None else "canary" if strategy else "",
        observed=_observed(rollout),
        workload_ref=f"{ref.get('kind')}/{ref.get('name')}" if ref is not None else None,
        workload_generation=int(referenced["metadata"].get("generation") or 0) if referenced else None,
    )
