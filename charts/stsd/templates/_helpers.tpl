{{/* Chart name, truncated to the 63 characters a label value allows. */}}
{{- define "stsd.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Full name: release name + chart name unless the release name already contains it. */}}
{{- define "stsd.fullname" -}}
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

{{- define "stsd.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "stsd.selectorLabels" -}}
app.kubernetes.io/name: {{ include "stsd.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "stsd.labels" -}}
helm.sh/chart: {{ include "stsd.chart" . }}
{{ include "stsd.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/component: sts
{{- end }}

{{- define "stsd.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "stsd.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* Image reference: the digest wins over the tag. */}}
{{- define "stsd.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/* Where the configuration, signing key and TLS files are mounted. */}}
{{- define "stsd.configDir" -}}/etc/stsd{{- end }}
{{- define "stsd.signingKeyDir" -}}/var/run/secrets/stsd/signing-key{{- end }}
{{- define "stsd.tlsDir" -}}/var/run/secrets/stsd/tls{{- end }}

{{- define "stsd.signingKeyFile" -}}
{{- printf "%s/%s" (include "stsd.signingKeyDir" .) .Values.signingKey.secretKey }}
{{- end }}

{{/* Name of the Secret holding the signing key. */}}
{{- define "stsd.signingKeySecretName" -}}
{{- if .Values.signingKey.existingSecret }}
{{- .Values.signingKey.existingSecret }}
{{- else }}
{{- printf "%s-signing-key" (include "stsd.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}

{{/* Whether the chart mounts a signing key Secret at all. */}}
{{- define "stsd.hasSigningKey" -}}
{{- if or .Values.signingKey.existingSecret .Values.signingKey.value .Values.signingKey.generate }}true{{ end }}
{{- end }}

{{/* iam.json rendered from config.iam, with signingKeyFile pointing at the mounted key when the
     configuration names no key of its own. */}}
{{- define "stsd.iamJson" -}}
{{- $iam := deepCopy (default dict .Values.config.iam) }}
{{- $sts := default dict (get $iam "sts") }}
{{- if and (include "stsd.hasSigningKey" .) (not (hasKey $sts "signingKey")) (not (hasKey $sts "signingKeyFile")) }}
{{- $_ := set $sts "signingKeyFile" (include "stsd.signingKeyFile" .) }}
{{- end }}
{{- $_ := set $iam "sts" $sts }}
{{- toPrettyJson $iam }}
{{- end }}

{{- define "stsd.configName" -}}
{{- if .Values.config.existingSecret }}
{{- .Values.config.existingSecret }}
{{- else }}
{{- printf "%s-config" (include "stsd.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}

{{- define "stsd.configKey" -}}
{{- if .Values.config.existingSecret }}{{ .Values.config.existingSecretKey }}{{ else }}iam.json{{ end }}
{{- end }}

{{- define "stsd.scheme" -}}
{{- if .Values.tls.enabled }}https{{ else }}http{{ end }}
{{- end }}

{{/* First audience of a "kubernetes" provider in config.iam (for NOTES). */}}
{{- define "stsd.exampleAudience" -}}
{{- $aud := .Values.notes.audience }}
{{- if not $aud }}
{{- $iam := default dict .Values.config.iam }}
{{- $all := concat (default list (get (default dict (get $iam "sts")) "providers")) (default list (get $iam "providers")) }}
{{- range $all }}
{{- if and (not $aud) (eq (toString (get . "type")) "kubernetes") }}
{{- $c := default dict (get . "config") }}
{{- $aud = default (first (default (list "") (get $c "clientIds"))) (get $c "clientId") }}
{{- end }}
{{- end }}
{{- end }}
{{- default "<a provider clientId>" $aud }}
{{- end }}

{{/* Role ARN of the first role in config.iam (for NOTES). */}}
{{- define "stsd.exampleRoleArn" -}}
{{- $arn := .Values.notes.roleArn }}
{{- if not $arn }}
{{- $roles := default list (get (default dict .Values.config.iam) "roles") }}
{{- if $roles }}
{{- $r := first $roles }}
{{- $arn = default (printf "arn:aws:iam::role/%s" (get $r "roleName")) (get $r "roleArn") }}
{{- end }}
{{- end }}
{{- default "arn:aws:iam::role/<RoleName>" $arn }}
{{- end }}

{{/* The pod identity agent's labels: a name of its own, so that neither the Service nor the
     PodDisruptionBudget of the Deployment selects the agent's pods. */}}
{{- define "stsd.podIdentityAgentSelectorLabels" -}}
app.kubernetes.io/name: {{ printf "%s-pod-identity-agent" (include "stsd.name" .) | trunc 63 | trimSuffix "-" }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "stsd.podIdentityAgentLabels" -}}
helm.sh/chart: {{ include "stsd.chart" . }}
{{ include "stsd.podIdentityAgentSelectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/component: pod-identity-agent
{{- end }}
