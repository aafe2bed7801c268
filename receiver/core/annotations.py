"""The annotation keys we own (prefix `rollback-receiver.io/`) and the ones we read.

One place for both the guards (pure) and the k8s layer that writes them in the rollback patch.
"""

from __future__ import annotations

PREFIX = "rollback-receiver.io/"
ENABLED = PREFIX + "enabled"  # "false" opts a workload out; "true" opts in (required with require_opt_in)
PAUSED = PREFIX + "paused"  # "true": never act on this workload
LAST_ALERT = PREFIX + "last-alert"  # episode key of the alert we rolled back for
ROLLED_BACK_AT = PREFIX + "rolled-back-at"
ROLLED_BACK_FROM = PREFIX + "rolled-back-from"
ROLLED_BACK_TO = PREFIX + "rolled-back-to"
# The template hash (pod-template-hash / controller-revision-hash) of the revision we restored: revision
# numbers change when the controller re-numbers it, the hash does not. It is how we recognise our rollback.
ROLLED_BACK_TO_TEMPLATE = PREFIX + "rolled-back-to-template"
# The template hash of the revision we rolled back FROM: never a last-known-good target again, and a
# redeploy of it is named in the next decision. The controller copies it onto the restored ReplicaSet.
ROLLED_BACK_FROM_TEMPLATE = PREFIX + "rolled-back-from-template"
ACTOR = PREFIX + "actor"
CHANGE_CAUSE = "kubernetes.io/change-cause"


def is_ours(key: str) -> bool:
    return key.startswith(PREFIX)
