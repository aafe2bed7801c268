{{- /*
Argo Rollouts (rbac.argoRollouts): what the receiver calls on rollouts.argoproj.io. get/list/watch/patch
rollouts: read, resolve, follow and undo a Rollout (and list them to find the Rollout a Deployment's
workloadRef belongs to); patch rollouts/status: abort. A workloadRef Rollout's undo patches its Deployment,
which the rules above already allow.
*/}}
{{- define "rollback-receiver.argoRolloutsRules" -}}
{{- if .Values.rbac.argoRollouts }}
- apiGroups: ["argoproj.io"]
  resources: ["rollouts"]
  verbs: ["get", "list", "watch", "patch"]
- apiGroups: ["argoproj.io"]
  resources: ["rollouts/status"]
  verbs: ["patch"]
{{- end }}
{{- end }}
