{{/*
The Caddyfile, rendered from values. Every value placed in it has been
checked by caddy-fedauth.validate, so each stays a single token.
*/}}
{{- define "caddy-fedauth.caddyfile" -}}
{{- $tls := include "caddy-fedauth.tls" . -}}
# Rendered by the caddy-fedauth Helm chart from its values; change the
# values, not this file.
{
	# The admin API is reachable only inside the pod.
	admin localhost:2019
	persist_config off
	grace_period 10s
{{- if $tls }}
{{- with .Values.publicEndpoint.acmeEmail }}
	email {{ . }}
{{- end }}
{{- with .Values.publicEndpoint.acmeCA }}
	acme_ca {{ . }}
{{- end }}
	servers :443 {
		# HTTP/3 would need UDP 443 through the load balancer.
		protocols h1 h2
	}
{{- else }}
	# TLS ends before this pod (Ingress, inlets tunnel or VPN).
	auto_https off
{{- end }}
	servers {
		# Plain-HTTP servers: HTTP/1.1 only.
		protocols h1
	}
{{- if .Values.metrics.enabled }}
	metrics
{{- end }}
	log {
		format {{ .Values.logs.format }}
		level {{ if .Values.logs.debug }}DEBUG{{ else }}INFO{{ end }}
	}
}

# Probes{{ if .Values.metrics.enabled }} and metrics{{ end }}; no Service exposes this port.
http://:{{ include "caddy-fedauth.healthPort" . }} {
	handle /healthz {
		respond 200
	}
{{- if .Values.metrics.enabled }}
	handle /metrics {
		metrics
	}
{{- end }}
	handle {
		respond 404
	}
}

{{ if $tls }}{{ .Values.publicEndpoint.domain }}{{ else }}http://:{{ include "caddy-fedauth.httpPort" . }}{{ end }} {
	fed_oidc {
		issuer {{ .Values.issuer }}
		audience {{ include "caddy-fedauth.audiences" . | fromJsonArray | join " " }}
{{- if .Values.acceptAzp }}
		accept_azp
{{- end }}
{{- if .Values.caBundleSecretName }}
		ca_bundle {{ include "caddy-fedauth.caBundleDir" . }}/ca.crt
{{- end }}
{{- if .Values.iam.enabled }}
		iam {{ include "caddy-fedauth.iamDir" . }}
		iam_mode {{ .Values.iam.mode }}
		default_namespace {{ .Values.iam.defaultNamespace }}
		max_body_size {{ include "caddy-fedauth.maxBodySize" . }}
{{- with .Values.auditWebhook }}
{{- if .url }}
		audit_webhook {{ .url }} {
			secret_file {{ include "caddy-fedauth.auditWebhookDir" $ }}/secret
{{- with .methods }}
			methods {{ join " " . }}
{{- end }}
		}
{{- end }}
{{- end }}
{{- with .Values.systemIssuer }}
{{- if .url }}
		system_issuer {{ .url | trimSuffix "/" }} {
			signing_key_file {{ include "caddy-fedauth.systemIssuerDir" $ }}/issuer.key
{{- if .previousKey }}
			previous_key_file {{ include "caddy-fedauth.systemIssuerDir" $ }}/previous.key
{{- end }}
		}
{{- end }}
{{- end }}
{{- else if .Values.allowInvoke }}
		allow_invoke
{{- end }}
		gateway_basic_auth {{ include "caddy-fedauth.basicAuthDir" . }}/basic-auth-user {{ include "caddy-fedauth.basicAuthDir" . }}/basic-auth-password
	}
	reverse_proxy {{ .Values.gatewayURL | trimSuffix "/" }} {
		# Only this transport sends the gateway credential, and only to the gateway.
		transport fed_oidc
	}
}
{{- end }}
