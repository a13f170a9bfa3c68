{{/* Names, as in `helm create`. */}}
{{- define "caddy-fedauth.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "caddy-fedauth.fullname" -}}
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

{{- define "caddy-fedauth.selectorLabels" -}}
app.kubernetes.io/name: {{ include "caddy-fedauth.name" . | quote }}
app.kubernetes.io/instance: {{ .Release.Name | quote }}
{{- end }}

{{- define "caddy-fedauth.labels" -}}
{{ include "caddy-fedauth.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/component: federated-gateway
app.kubernetes.io/part-of: openfaas
app.kubernetes.io/managed-by: {{ .Release.Service | quote }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | quote }}
{{- end }}

{{/*
The image. The commercial chart's image (or none) becomes ours, so that a
values file written for the commercial chart can be reused unchanged.
*/}}
{{- define "caddy-fedauth.defaultImage" -}}
{{- printf "ghcr.io/caddy-fedauth/caddy-fedauth:%s" .Chart.AppVersion }}
{{- end }}

{{- define "caddy-fedauth.commercialImage" -}}
{{- if contains "openfaasltd/federated-gateway" (toString .Values.image) }}true{{ end }}
{{- end }}

{{- define "caddy-fedauth.image" -}}
{{- if or (not .Values.image) (include "caddy-fedauth.commercialImage" .) }}
{{- include "caddy-fedauth.defaultImage" . }}
{{- else }}
{{- .Values.image }}
{{- end }}
{{- end }}

{{/* "true" when Caddy terminates TLS itself (publicEndpoint.domain set). */}}
{{- define "caddy-fedauth.tls" -}}
{{- if .Values.publicEndpoint.domain }}true{{ end }}
{{- end }}

{{/* audience (a string or a list) as a JSON list. */}}
{{- define "caddy-fedauth.audiences" -}}
{{- if kindIs "slice" .Values.audience }}
{{- toJson .Values.audience }}
{{- else if .Values.audience }}
{{- list .Values.audience | toJson }}
{{- else }}
{{- list | toJson }}
{{- end }}
{{- end }}

{{/* "true" when the ACME storage is shared by all pods. */}}
{{- define "caddy-fedauth.sharedStorage" -}}
{{- if and .Values.persistence.enabled (has "ReadWriteMany" .Values.persistence.accessModes) }}true{{ end }}
{{- end }}

{{- define "caddy-fedauth.pvcName" -}}
{{- .Values.persistence.existingClaim | default (printf "%s-data" (include "caddy-fedauth.fullname" .)) }}
{{- end }}

{{/* Where the secrets are mounted; the Caddyfile refers to these paths. */}}
{{- define "caddy-fedauth.basicAuthDir" -}}/var/secrets/gateway{{- end }}
{{- define "caddy-fedauth.caBundleDir" -}}/var/secrets/ca-bundle{{- end }}
{{- define "caddy-fedauth.iamDir" -}}/etc/fed-oidc/iam{{- end }}
{{- define "caddy-fedauth.auditWebhookDir" -}}/var/secrets/audit-webhook{{- end }}
{{- define "caddy-fedauth.systemIssuerDir" -}}/var/secrets/issuer{{- end }}

{{/* iam.maxBodySize as one Caddyfile token: Helm reads numbers as floats. */}}
{{- define "caddy-fedauth.maxBodySize" -}}
{{- if kindIs "string" .Values.iam.maxBodySize }}{{ .Values.iam.maxBodySize }}{{ else }}{{ int64 .Values.iam.maxBodySize }}{{ end }}
{{- end }}

{{/* Ports inside the pod. */}}
{{- define "caddy-fedauth.healthPort" -}}8081{{- end }}
{{- define "caddy-fedauth.httpPort" -}}8080{{- end }}

{{/*
Checks the values that go into the Caddyfile, so that no value can break
out of its token (whitespace, quotes, braces, placeholders, comments), and
the cross-field rules the schema cannot express. Renders nothing.
*/}}
{{- define "caddy-fedauth.validate" -}}
{{- $v := .Values }}
{{- if not $v.issuer }}
{{- fail "caddy-fedauth: set issuer, the OIDC issuer URL exactly as in the tokens' iss (Keycloak: https://<host>/realms/<realm>; Auth0: https://<tenant>.auth0.com/)" }}
{{- end }}
{{- if not (regexMatch "^https://[A-Za-z0-9.-]+(:[0-9]+)?(/[A-Za-z0-9._~!$&'()*+,;=:@%/-]*)?$" $v.issuer) }}
{{- fail (printf "caddy-fedauth: issuer %q must be an https URL without query, fragment, spaces, quotes or braces" $v.issuer) }}
{{- end }}
{{- $auds := include "caddy-fedauth.audiences" . | fromJsonArray }}
{{- if not $auds }}
{{- fail "caddy-fedauth: set audience, a string or a list (Keycloak: the client id; Auth0: the API identifier)" }}
{{- end }}
{{- range $auds }}
{{- if not (regexMatch "^[A-Za-z0-9._~:/?\\[\\]@!$&()*+,;=%-][A-Za-z0-9._~:/?#\\[\\]@!$&()*+,;=%-]*$" (toString .)) }}
{{- fail (printf "caddy-fedauth: audience %q: use URL-safe characters only (no spaces, quotes, braces or backslashes; no leading #)" (toString .)) }}
{{- end }}
{{- end }}
{{- if not (regexMatch "^https?://[A-Za-z0-9.-]+(:[0-9]+)?/?$" $v.gatewayURL) }}
{{- fail (printf "caddy-fedauth: gatewayURL %q must be scheme://host[:port] with no path, e.g. http://gateway.openfaas:8080" $v.gatewayURL) }}
{{- end }}
{{- if not (has $v.logs.format (list "console" "json")) }}
{{- fail (printf "caddy-fedauth: logs.format %q must be console or json" (toString $v.logs.format)) }}
{{- end }}
{{- with $v.publicEndpoint.domain }}
{{- if not (regexMatch "^([a-z0-9]([-a-z0-9]*[a-z0-9])?\\.)+[a-z0-9]([-a-z0-9]*[a-z0-9])?$" .) }}
{{- fail (printf "caddy-fedauth: publicEndpoint.domain %q must be a lower-case DNS name such as fed-gw.tenant1.example.com" .) }}
{{- end }}
{{- end }}
{{- with $v.publicEndpoint.acmeEmail }}
{{- if not (regexMatch "^[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+$" .) }}
{{- fail (printf "caddy-fedauth: publicEndpoint.acmeEmail %q is not an email address" .) }}
{{- end }}
{{- end }}
{{- with $v.publicEndpoint.acmeCA }}
{{- if not (regexMatch "^https://[A-Za-z0-9.-]+(:[0-9]+)?(/[A-Za-z0-9._~!$&'()*+,;=:@%/-]*)?$" .) }}
{{- fail (printf "caddy-fedauth: publicEndpoint.acmeCA %q must be an https ACME directory URL" .) }}
{{- end }}
{{- end }}
{{- include "caddy-fedauth.validateIAM" . }}
{{- if and (include "caddy-fedauth.tls" .) (gt (int $v.replicas) 1) (not (include "caddy-fedauth.sharedStorage" .)) }}
{{- fail (printf "caddy-fedauth: replicas=%d with publicEndpoint.domain needs storage shared by all pods, for the certificates and ACME challenges: set persistence.enabled=true and persistence.accessModes to [ReadWriteMany] (with a StorageClass that provides it, e.g. NFS, EFS, Azure Files, CephFS), or set replicas=1" (int $v.replicas)) }}
{{- end }}
{{- end }}

{{/*
The IAM values: what each feature needs, and what contradicts it.
*/}}
{{- define "caddy-fedauth.validateIAM" -}}
{{- $v := .Values }}
{{- $https := "^https://[A-Za-z0-9.-]+(:[0-9]+)?(/[A-Za-z0-9._~!$&'()*+,;=:@%/-]*)?$" }}
{{- if $v.iam.enabled }}
{{- if $v.allowInvoke }}
{{- fail "caddy-fedauth: allowInvoke=true and iam.enabled=true contradict each other: with IAM the policies decide invocations; set allowInvoke=false and grant Function:Invoke on the functions in a Policy" }}
{{- end }}
{{- if not $v.iam.configMapName }}
{{- fail "caddy-fedauth: iam.enabled=true needs iam.configMapName, the ConfigMap of JwtIssuer, Policy and Role YAML (kubectl -n <namespace> create configmap fed-oidc-iam --from-file=iam.yaml)" }}
{{- end }}
{{- else }}
{{- if $v.auditWebhook.url }}
{{- fail "caddy-fedauth: auditWebhook.url sends the decisions of IAM: set iam.enabled=true too" }}
{{- end }}
{{- if $v.systemIssuer.url }}
{{- fail "caddy-fedauth: systemIssuer.url issues tokens carrying the policies of IAM roles: set iam.enabled=true too" }}
{{- end }}
{{- end }}
{{- with $v.auditWebhook.url }}
{{- if not (or (regexMatch $https .) (regexMatch "^http://(localhost|127\\.[0-9.]+|\\[::1\\])(:[0-9]+)?(/[A-Za-z0-9._~!$&'()*+,;=:@%/-]*)?$" .)) }}
{{- fail (printf "caddy-fedauth: auditWebhook.url %q must be an https URL (http only to a loopback address), without query, fragment, spaces, quotes or braces" .) }}
{{- end }}
{{- if not $v.auditWebhook.secretName }}
{{- fail "caddy-fedauth: auditWebhook.url needs auditWebhook.secretName, a Secret holding the HMAC key the events are signed with (key auditWebhook.secretKey, default secret)" }}
{{- end }}
{{- end }}
{{- with $v.systemIssuer.url }}
{{- if not (regexMatch "^https://[A-Za-z0-9.-]+(:[0-9]+)?/?$" .) }}
{{- fail (printf "caddy-fedauth: systemIssuer.url %q must be the gateway's public origin, https://host[:port], without a path" .) }}
{{- end }}
{{- if not $v.systemIssuer.keySecretName }}
{{- fail "caddy-fedauth: systemIssuer.url needs systemIssuer.keySecretName, a Secret with key issuer.key (a PEM EC P-256 private key)" }}
{{- end }}
{{- end }}
{{- end }}
