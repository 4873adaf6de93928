{{/*
Names and labels shared by every template. Kubernetes names are capped at 63 characters.
*/}}

{{- define "sluice.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* <release>-<chart>, or <release> alone when it already contains the chart name. */}}
{{- define "sluice.fullname" -}}
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

{{- define "sluice.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Selector labels: stable for the life of a release (Deployment selectors are immutable). */}}
{{- define "sluice.selectorLabels" -}}
app.kubernetes.io/name: {{ include "sluice.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: operator
{{- end }}

{{- define "sluice.labels" -}}
helm.sh/chart: {{ include "sluice.chart" . }}
{{ include "sluice.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: sluice
{{- end }}

{{- define "sluice.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "sluice.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "sluice.webhookServiceName" -}}
{{- printf "%s-webhook" (include "sluice.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "sluice.metricsServiceName" -}}
{{- printf "%s-metrics" (include "sluice.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Cluster-scoped names derive from the full name alone (release "sluice" gives the names in
operator/contract.ts: sluice-injector, sluice-webhook-tls): a second install of the same release
name in another namespace then collides instead of running two operators on the same CRs.
*/}}
{{- define "sluice.webhookConfigName" -}}
{{- printf "%s-injector" (include "sluice.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "sluice.tlsSecretName" -}}
{{- default (printf "%s-webhook-tls" (include "sluice.fullname" .)) .Values.tls.secretName }}
{{- end }}

{{- define "sluice.certificateName" -}}
{{- printf "%s-webhook" (include "sluice.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* cert-manager mode without an issuerRef: the chart-made CA's Certificate and Secret. */}}
{{- define "sluice.caCertificateName" -}}
{{- printf "%s-webhook-ca" (include "sluice.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
The Certificate cainjector copies caBundle from (cert-manager mode): the chart-made CA, else the
serving Certificate, whose Secret's ca.crt is the given issuer's CA.
*/}}
{{- define "sluice.caInjectFrom" -}}
{{- if .Values.tls.certManager.issuerRef }}
{{- printf "%s/%s" .Release.Namespace (include "sluice.certificateName" .) }}
{{- else }}
{{- printf "%s/%s" .Release.Namespace (include "sluice.caCertificateName" .) }}
{{- end }}
{{- end }}

{{- define "sluice.leaseName" -}}
{{- default (printf "%s-leader" (include "sluice.fullname" .)) .Values.operator.leaderElection.leaseName }}
{{- end }}

{{- define "sluice.clusterRoleName" -}}
{{- include "sluice.fullname" . }}
{{- end }}

{{/* repository[:tag][@digest] from an image block, the tag defaulting to appVersion. */}}
{{- define "sluice.imageRef" -}}
{{- $img := .image }}
{{- $ref := printf "%s:%s" $img.repository (default .root.Chart.AppVersion $img.tag) }}
{{- if $img.digest }}{{ $ref = printf "%s@%s" $ref $img.digest }}{{ end }}
{{- $ref }}
{{- end }}

{{- define "sluice.image" -}}
{{- include "sluice.imageRef" (dict "image" .Values.image "root" .) }}
{{- end }}

{{/*
The sidecar runs the operator's image; each of sidecar.image's repository and tag replaces
the operator's own. The operator's digest applies only while none of them is set: it would pin
another image than the one a sidecar tag names.
*/}}
{{- define "sluice.sidecarImage" -}}
{{- $s := .Values.sidecar.image }}
{{- $o := .Values.image }}
{{- $own := or $s.repository $s.tag $s.digest }}
{{- $img := dict "repository" (default $o.repository $s.repository) "tag" (default $o.tag $s.tag) "digest" (ternary $s.digest $o.digest (not (empty $own))) }}
{{- include "sluice.imageRef" (dict "image" $img "root" .) }}
{{- end }}

{{/* Namespaces the webhook never sees: kube-system, the operator's own, and any configured. */}}
{{- define "sluice.excludedNamespaces" -}}
{{- $ns := list "kube-system" .Release.Namespace }}
{{- range .Values.webhook.excludeNamespaces }}{{ $ns = append $ns . }}{{ end }}
{{- toJson (uniq $ns) }}
{{- end }}
