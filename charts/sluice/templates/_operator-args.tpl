{{/*
The `sluice operator` command line: the one place the chart meets operator/cli.ts. Every flag
here must exist there (test/unit/chart/operator-args.test.ts parses the rendered flags with
operator/config.ts and checks they name the objects the chart creates).
Rendered as a YAML list by toYaml, so no value needs hand quoting.
*/}}
{{- define "sluice.operatorArgs" -}}
{{- $v := .Values }}
{{- $le := $v.operator.leaderElection }}
{{- $a := list "operator" }}
{{- $a = append $a (printf "--log-level=%s" $v.operator.logLevel) }}
{{- $a = append $a (printf "--webhook-port=%d" (int $v.operator.ports.webhook)) }}
{{- $a = append $a (printf "--health-port=%d" (int $v.operator.ports.health)) }}
{{- $a = append $a (printf "--metrics-port=%d" (int $v.operator.ports.metrics)) }}
{{- $a = append $a (printf "--webhook-config-name=%s" (include "sluice.webhookConfigName" .)) }}
{{- $a = append $a (printf "--webhook-service=%s" (include "sluice.webhookServiceName" .)) }}
{{- $a = append $a (printf "--tls-mode=%s" $v.tls.mode) }}
{{- $a = append $a (printf "--tls-secret=%s" (include "sluice.tlsSecretName" .)) }}
{{- if eq $v.tls.mode "cert-manager" }}
{{- $a = append $a "--tls-cert-dir=/var/run/sluice/tls" }}
{{- end }}
{{- $a = append $a (printf "--leader-elect=%t" $le.enabled) }}
{{- $a = append $a (printf "--leader-election-lease=%s" (include "sluice.leaseName" .)) }}
{{- $a = append $a (printf "--leader-election-lease-duration=%s" $le.leaseDuration) }}
{{- $a = append $a (printf "--leader-election-renew-deadline=%s" $le.renewDeadline) }}
{{- $a = append $a (printf "--leader-election-retry-period=%s" $le.retryPeriod) }}
{{- $a = append $a (printf "--sidecar-image=%s" (include "sluice.sidecarImage" .)) }}
{{- $a = append $a (printf "--sidecar-image-pull-policy=%s" $v.sidecar.image.pullPolicy) }}
{{- $a = append $a (printf "--sidecar-log-level=%s" $v.sidecar.logLevel) }}
{{- $a = append $a (printf "--sidecar-node-options=%s" $v.sidecar.nodeOptions) }}
{{- $req := $v.sidecar.resources.requests | default dict }}
{{- $lim := $v.sidecar.resources.limits | default dict }}
{{- with $req.cpu }}{{ $a = append $a (printf "--sidecar-cpu-request=%v" .) }}{{ end }}
{{- with $req.memory }}{{ $a = append $a (printf "--sidecar-memory-request=%v" .) }}{{ end }}
{{- with $lim.cpu }}{{ $a = append $a (printf "--sidecar-cpu-limit=%v" .) }}{{ end }}
{{- with $lim.memory }}{{ $a = append $a (printf "--sidecar-memory-limit=%v" .) }}{{ end }}
{{- $a = append $a (printf "--host-network=%s" $v.webhook.hostNetwork) }}
{{- /* The webhook's own check, matching the configuration's namespaceSelector (the release
namespace is the operator's, excluded by the operator itself). */}}
{{- $excluded := without (include "sluice.excludedNamespaces" . | fromJsonArray) .Release.Namespace }}
{{- $a = append $a (printf "--exclude-namespaces=%s" (join "," $excluded)) }}
{{- range $v.operator.extraArgs }}{{ $a = append $a . }}{{ end }}
{{- toYaml $a }}
{{- end }}
