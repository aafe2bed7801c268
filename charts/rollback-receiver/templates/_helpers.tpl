{{/*
Chart name, truncated to the 63 characters a label value allows.
*/}}
{{- define "rollback-receiver.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Fully qualified app name. Collapsed when the release name already contains the chart name.
*/}}
{{- define "rollback-receiver.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "rollback-receiver.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "rollback-receiver.namespace" -}}
{{- default .Release.Namespace .Values.namespaceOverride }}
{{- end }}

{{/*
Selector labels: only name and instance, because a Deployment's selector is immutable
(helm.sh/chart or the version here would break every upgrade).
*/}}
{{- define "rollback-receiver.selectorLabels" -}}
app.kubernetes.io/name: {{ include "rollback-receiver.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "rollback-receiver.labels" -}}
helm.sh/chart: {{ include "rollback-receiver.chart" . }}
{{ include "rollback-receiver.selectorLabels" . }}
app.kubernetes.io/version: {{ .Values.image.tag | default .Chart.AppVersion | trunc 63 | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: rollback-receiver
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/*
Name of the cluster-scoped objects (ClusterRole, its binding, the admission policy): releases of the same name
in different namespaces must not collide.
*/}}
{{- define "rollback-receiver.clusterScopedName" -}}
{{- printf "%s-%s" (include "rollback-receiver.namespace" .) (include "rollback-receiver.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "rollback-receiver.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "rollback-receiver.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "rollback-receiver.image" -}}
{{- $repository := .Values.image.repository }}
{{- if .Values.image.registry }}
{{- $repository = printf "%s/%s" .Values.image.registry .Values.image.repository }}
{{- end }}
{{- if .Values.image.digest }}
{{- printf "%s@%s" $repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" $repository (.Values.image.tag | default .Chart.AppVersion) }}
{{- end }}
{{- end }}

{{/*
Where the chart mounts things inside the pod. The receiver's config points at these paths.
*/}}
{{- define "rollback-receiver.configDir" -}}/etc/rollback-receiver{{- end }}
{{- define "rollback-receiver.configPath" -}}{{ include "rollback-receiver.configDir" . }}/config.yaml{{- end }}
{{- define "rollback-receiver.tokenPath" -}}{{ include "rollback-receiver.configDir" . }}/secrets/token{{- end }}

{{/*
The guard-state ConfigMap: one per release, so two releases in one namespace never share budgets.
*/}}
{{- define "rollback-receiver.stateName" -}}
{{- dig "state" "name" "" .Values.config | default (printf "%s-state" (include "rollback-receiver.fullname" . | trunc 57 | trimSuffix "-")) }}
{{- end }}

{{- define "rollback-receiver.secretName" -}}
{{- default (include "rollback-receiver.fullname" .) .Values.webhookToken.existingSecret }}
{{- end }}

{{- define "rollback-receiver.secretKey" -}}
{{- if .Values.webhookToken.existingSecret }}{{ .Values.webhookToken.existingSecretKey }}{{ else }}token{{ end }}
{{- end }}

{{/*
Namespaces the receiver always refuses (receiver/core/settings.py SYSTEM_NAMESPACES), and its own: the
release namespace, and config.own_namespace when set.
*/}}
{{- define "rollback-receiver.systemNamespaces" -}}
{{- toJson (list "kube-system" "kube-public" "kube-node-lease") }}
{{- end }}

{{- define "rollback-receiver.ownNamespaces" -}}
{{- $own := list (include "rollback-receiver.namespace" .) }}
{{- with dig "own_namespace" "" .Values.config }}
{{- $own = append $own . }}
{{- end }}
{{- toJson (uniq $own) }}
{{- end }}

{{/*
Fails the render when RBAC would reach past what the receiver acts on. A JSON schema cannot say "a subset
of config.namespaces.allow" or "not the release namespace", so these are checked here:
- no namespace that rbac.namespaces or config.namespaces.allow names may be a system namespace, the
  receiver's own, or in config.namespaces.deny;
- rbac.namespaces must be in config.namespaces.allow, unless that is empty (every namespace not denied).
*/}}
{{- define "rollback-receiver.checkNamespaces" -}}
{{- $allow := dig "namespaces" "allow" (list) .Values.config }}
{{- $deny := dig "namespaces" "deny" (list) .Values.config }}
{{- $system := include "rollback-receiver.systemNamespaces" . | fromJsonArray }}
{{- $own := include "rollback-receiver.ownNamespaces" . | fromJsonArray }}
{{- range $key, $names := dict "rbac.namespaces" .Values.rbac.namespaces "config.namespaces.allow" $allow }}
{{- range $namespace := $names }}
{{- if has $namespace $system }}
{{- fail (printf "%s names %s, a system namespace: the receiver always refuses kube-system, kube-public and kube-node-lease" $key $namespace) }}
{{- else if has $namespace $own }}
{{- fail (printf "%s names %s, the receiver's own namespace: it never acts there (its guard state lives there)" $key $namespace) }}
{{- else if has $namespace $deny }}
{{- fail (printf "%s names %s, which config.namespaces.deny denies" $key $namespace) }}
{{- end }}
{{- end }}
{{- end }}
{{- if $allow }}
{{- $beyond := uniq .Values.rbac.namespaces }}
{{- range $allowed := $allow }}{{ $beyond = without $beyond $allowed }}{{ end }}
{{- if $beyond }}
{{- fail (printf "rbac.namespaces names %s, which config.namespaces.allow does not: the receiver never acts there, so the chart grants nothing there. Add them to config.namespaces.allow or remove them from rbac.namespaces" (join ", " $beyond)) }}
{{- end }}
{{- end }}
{{- end }}

{{/*
Namespaces the receiver may act in, for namespaced RBAC: rbac.namespaces, else the config's allow list.
*/}}
{{- define "rollback-receiver.rbacNamespaces" -}}
{{- $namespaces := .Values.rbac.namespaces }}
{{- if not $namespaces }}
{{- $namespaces = dig "namespaces" "allow" (list) .Values.config }}
{{- end }}
{{- toJson (uniq $namespaces) }}
{{- end }}

{{/*
The routing config as the receiver reads it: values.config plus the keys the chart owns, because they
must agree with the pod spec (listen port, token mount, state namespace, drain time).
*/}}
{{- define "rollback-receiver.config" -}}
{{- $config := deepCopy .Values.config }}
{{- $server := dig "server" (dict) $config }}
{{- $auth := dig "auth" (dict) $server }}
{{- $_ := set $auth "bearer_token_file" (include "rollback-receiver.tokenPath" .) }}
{{- $_ = set $server "auth" $auth }}
{{- $_ = set $server "listen" (printf "0.0.0.0:%d" (int .Values.containerPort)) }}
{{- $_ = set $server "shutdown_timeout" (printf "%ds" (int .Values.shutdown.drainSeconds)) }}
{{- $_ = set $config "server" $server }}
{{- $state := dig "state" (dict) $config }}
{{- $_ = set $state "namespace" (include "rollback-receiver.namespace" .) }}
{{- $_ = set $state "name" (include "rollback-receiver.stateName" .) }}
{{- $_ = set $config "state" $state }}
{{- toYaml $config }}
{{- end }}

{{/*
Probe scheme follows the receiver's own TLS setting.
*/}}
{{- define "rollback-receiver.scheme" -}}
{{- if dig "server" "tls" "" .Values.config }}HTTPS{{ else }}HTTP{{ end }}
{{- end }}

{{/*
What the receiver does to workloads, and nothing more. Each rule is a call the receiver makes
(tests/chart/test_rbac.py names the call sites and fails when a grant has none):
- read a workload, list and watch it (selector targets, `rollout status`), patch it back (the undo);
- list its revision history (ReplicaSets for Deployments, ControllerRevisions for the others);
- record every decision as an Event on the workload, and bump the count of an identical one (patch).
*/}}
{{- define "rollback-receiver.workloadRules" -}}
- apiGroups: ["apps"]
  resources: ["deployments", "statefulsets", "daemonsets"]
  verbs: ["get", "list", "watch", "patch"]
- apiGroups: ["apps"]
  resources: ["replicasets", "controllerrevisions"]
  verbs: ["list"]
{{- if dig "rollout_health" "enabled" false .Values.config }}
{{/* The rollout-health source watches Deployments, their ReplicaSets and the new ReplicaSet's pods. */}}
- apiGroups: ["apps"]
  resources: ["replicasets"]
  verbs: ["watch"]
- apiGroups: [""]
  resources: ["pods"]
  verbs: ["list", "watch"]
{{- end }}
- apiGroups: [""]
  resources: ["events"]
  verbs: ["create", "patch"]
{{- include "rollback-receiver.argoRolloutsRules" . }}
{{- end }}
