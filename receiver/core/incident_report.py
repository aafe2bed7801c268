"""An incident record as people read it: a title, the facts, impact and resolution, the timeline.

`markdown()` is the post-mortem starter an SRE pastes into their incident doc (the seed's "Document
Incident": rollback reason, timeline, impact and resolution); the HTML page shows the same facts, in the
same words, from `headline`, `facts` and `impact`.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from receiver.core.durations import format_duration
from receiver.core.incidents import Incident, Phase

PHASE_WORDS = {
    Phase.ROLLING_OUT: "rolling out",
    Phase.VERIFYING: "verifying: waiting for the alert to resolve",
    Phase.RECOVERED: "recovered: the alert resolved after the rollback",
    Phase.DID_NOT_HELP: "did not help: the alert kept firing after the rollback",
    Phase.ROLLOUT_FAILED: "rollout failed",
    Phase.UNKNOWN: "unknown: the rollout could not be followed",
    Phase.COMPLETED: "rollout completed (the route does not verify by the alert)",
}


def headline(incident: Incident) -> str:
    return f"{incident.alert_name} rolled back {incident.workload}: {incident.phase.value.replace('_', ' ')}"


def revision_change(incident: Incident) -> str:
    before = (
        f"revision {incident.from_revision}" if incident.from_revision is not None else "the live revision"
    )
    after = f"revision {incident.to_revision}" if incident.to_revision is not None else "the previous one"
    return f"{before} → {after}"


def images(values: tuple[str, ...]) -> str:
    return ", ".join(values) if values else "unknown"


def facts(incident: Incident) -> list[tuple[str, str]]:
    """(label, value) rows, in the order a responder reads them."""
    labels = ", ".join(f"{k}={v}" for k, v in incident.alert_labels.items() if k != "alertname")
    rows = [
        ("Outcome", PHASE_WORDS[incident.phase]),
        ("Alert", f"{incident.alert_name} ({labels})" if labels else incident.alert_name),
        ("Alert started", stamp(incident.alert_starts_at)),
        (
            "Workload",
            f"{incident.workload}" + (f" in cluster {incident.cluster}" if incident.cluster else ""),
        ),
        ("Rolled back", revision_change(incident)),
        ("Images before", images(incident.images_before)),
        ("Images after", images(incident.images_after)),
        ("Why", incident.reason),
        ("Route", f"{incident.route} (work from {incident.source})"),
    ]
    if incident.alert_summary:
        rows.insert(2, ("Alert says", incident.alert_summary))
    if incident.change_cause:
        rows.append(("Change-cause", incident.change_cause))
    rows.append(("Alert fingerprint", f"{incident.fingerprint} (episode {incident.alert_key})"))
    return rows


def impact(incident: Incident) -> list[str]:
    """The seed's "impact and resolution", in sentences."""
    lines = []
    if incident.time_to_patch is not None:
        line = f"Alert start to rollback: {span(incident.time_to_patch)}"
        if incident.receipt_to_patch is not None:
            line += f" (first delivery to the undo patch: {span(incident.receipt_to_patch)})"
        lines.append(line + ".")
    if incident.rollout_duration is not None:
        lines.append(f"The rollout took {span(incident.rollout_duration)}.")
    if incident.time_to_recovery is not None:
        lines.append(f"Alert start to resolution (time to recovery): {span(incident.time_to_recovery)}.")
    if incident.phase is Phase.DID_NOT_HELP:
        lines.append(
            "The alert kept firing after the rollback: the change rolled back was probably not the cause. "
            "It is not rolled back again for this alert; a human takes it from here."
        )
    elif incident.phase is Phase.ROLLOUT_FAILED:
        lines.append("The rollout of the restored revision failed: look at the workload's pods and Events.")
    elif incident.phase is Phase.VERIFYING and incident.clears_by is not None:
        lines.append(f"Waiting for the alert to resolve until {stamp(incident.clears_by)}.")
    return lines


def markdown(incident: Incident, *, url: str | None = None) -> str:
    out = [f"# Incident {incident.id}: {headline(incident)}", ""]
    if url:
        out += [f"Page: {url}", ""]
    out += ["| | |", "|---|---|"]
    out += [f"| {label} | {_cell(value)} |" for label, value in facts(incident)]
    out += ["", "## Impact and resolution", ""]
    out += [f"- {line}" for line in impact(incident)] or ["- Still in progress."]
    out += ["", "## Timeline (UTC)", "", "| time | since alert start | step | by |", "|---|---|---|---|"]
    for step in incident.timeline():
        offset = _offset(step.at - incident.alert_starts_at)
        out.append(f"| {step.at:%Y-%m-%d %H:%M:%S} | {offset} | {_cell(step.text)} | {_cell(step.by)} |")
    out += [
        "",
        "## Follow-up (fill in)",
        "",
        "- Root cause:",
        "- Contributing factors:",
        "- Preventive measures (tests, deployment procedure):",
        f"- Fix forward: the rolled-back {_bad(incident)} is still in the history; do not re-deploy it "
        "unchanged.",
        "",
    ]
    return "\n".join(out)


def _bad(incident: Incident) -> str:
    return f"revision {incident.from_revision}" if incident.from_revision is not None else "revision"


def stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def span(value: timedelta) -> str:
    """A duration for people: whole seconds above ten seconds, tenths below."""
    seconds = value.total_seconds()
    if abs(seconds) < 10:
        return f"{seconds:.1f}s"
    return format_duration(timedelta(seconds=round(seconds)))


def _offset(value: timedelta) -> str:
    seconds = round(value.total_seconds())
    sign = "-" if seconds < 0 else "+"
    minutes, secs = divmod(abs(seconds), 60)
    return f"{sign}{minutes:02d}:{secs:02d}"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")
