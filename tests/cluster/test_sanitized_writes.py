"""Hostile alert text still rolls back, and what we write into the cluster from it is one clean line.

An alert whose name and labels carry newlines, ANSI escapes, control characters, a bidi override and 60 KB
of text: the rollback happens, `kubernetes.io/change-cause` (what `kubectl rollout history` prints) and our
annotations are single printable lines within their caps, and so is every Event message we wrote.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from guard_support import V1, rig

from receiver.core.text import MAX_ANNOTATION_BYTES, MAX_EVENT_MESSAGE_BYTES

HOSTILE_NAME = (
    "HighErrorRate\n\x1b[31mFAKE: rollback done by admin\x1b[0m\r\n"
    "\x00\x01\x07\x08\x7f\x9b\u202egnp.exe\u2028" + "A" * 60_000
)
HOSTILE_LABEL = "line1\nline2\x1b]0;pwned\x07\x1b[2J" + "B" * 60_000


def clean(value: str) -> bool:
    return value.isprintable() and "\x1b" not in value and "  " not in value


async def test_hostile_alert_text_rolls_back_with_a_clean_one_line_audit(
    control_plane: Any, namespace: str
) -> None:
    async with rig(control_plane, namespace) as r:
        r.deploy("web")
        alert = r.alert("web")
        alert = dataclasses.replace(
            alert, labels={**alert.labels, "alertname": HOSTILE_NAME, "team": HOSTILE_LABEL}
        )
        await r.handle(alert)
        assert r.image("web") == V1, r.decisions.recent(1)[0]

        annotations = r.get("web")["metadata"]["annotations"]
        cause = annotations["kubernetes.io/change-cause"]
        assert cause.startswith("rollback-receiver: HighErrorRate FAKE: rollback done by admin gnp.exe AAA")
        assert cause.endswith(f"… ({alert.fingerprint}) rolled back to revision 1")
        ours = {k: v for k, v in annotations.items() if k.startswith("rollback-receiver.io/")}
        assert set(ours) >= {"rollback-receiver.io/last-alert", "rollback-receiver.io/actor"}
        for key, value in [*ours.items(), ("kubernetes.io/change-cause", cause)]:
            assert clean(value), (key, value[:80])
            assert len(value.encode()) <= MAX_ANNOTATION_BYTES, key

        # kubectl prints the change-cause as one row of its table, as it would for any human rollout.
        history = r.kubectl("rollout", "history", "deployment/web").splitlines()
        (row,) = [line for line in history if "rollback-receiver:" in line]
        assert row.split(None, 1)[0] == "3"

        events = r.events("web")
        reasons = [reason for reason, _ in events]
        assert "RollbackTriggered" in reasons and "RollbackSucceeded" in reasons, reasons
        for reason, message in events:
            assert clean(message), (reason, message[:80])
            assert len(message.encode()) <= MAX_EVENT_MESSAGE_BYTES, reason
        assert any("HighErrorRate FAKE: rollback done by admin" in message for _, message in events)
