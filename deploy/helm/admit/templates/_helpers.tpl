{{/*
Helpers shared by the templates. Names and labels follow admit.kube (options.py): objects are
named .Values.name, cluster-scoped ones NAME.NAMESPACE, and pods are selected by
app.kubernetes.io/name and app.kubernetes.io/instance, which never change (selectors are
immutable).
*/}}

{{- define "admit.name" -}}
{{- if has .Release.Namespace (list "default" "kube-system" "kube-public" "kube-node-lease") -}}
{{- fail (printf "install admit in a namespace of its own, not %q: its namespace is exempt from its webhooks and `admit uninstall` deletes it" .Release.Namespace) -}}
{{- end -}}
{{- .Values.name -}}
{{- end -}}

{{- define "admit.clusterName" -}}
{{- printf "%s.%s" (include "admit.name" .) .Release.Namespace -}}
{{- end -}}

{{- define "admit.selector" -}}
app.kubernetes.io/name: admit
app.kubernetes.io/instance: {{ include "admit.name" . }}
{{- end -}}

{{- define "admit.labels" -}}
{{ include "admit.selector" . }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end -}}

{{/* Whether the pod needs an API token: only when some Role grants it something. */}}
{{- define "admit.needsApi" -}}
{{- if or .Values.configmapSources .Values.reads .Values.audit.interval -}}true{{- else -}}false{{- end -}}
{{- end -}}

{{/*
The bundle's files (relative path -> text): the chart's bundle/ directory, then
.Values.bundle.files on top. Returned as JSON (exact, unlike YAML), for fromJson.
*/}}
{{- define "admit.bundleFiles" -}}
{{- $files := dict -}}
{{- range $path, $_ := .Files.Glob "bundle/**" -}}
{{- $ignored := set $files (trimPrefix "bundle/" $path) ($.Files.Get $path) -}}
{{- end -}}
{{- range $path, $text := .Values.bundle.files -}}
{{- $ignored := set $files $path $text -}}
{{- end -}}
{{- if not $files -}}
{{- fail "no policy bundle: give its files with --set-file 'bundle.files.NAME\\.py=PATH' (or put them in the chart's bundle/ directory)" -}}
{{- end -}}
{{- toJson $files -}}
{{- end -}}

{{/*
The digest of the bundle's files that define rules, *.py and admit.yaml (as
admit.kube.chart.files_digest computes it): SHA-256 of each path and text, NUL-terminated, in
path order. Compared with webhooks.bundleDigest, the digest of the files the webhook rules were
written for (`admit manifests BUNDLE --helm-values`).
*/}}
{{- define "admit.bundleDigest" -}}
{{- $files := include "admit.bundleFiles" . | fromJson -}}
{{- $text := "" -}}
{{- range $path := keys $files | sortAlpha -}}
{{- if or (hasSuffix ".py" $path) (eq $path "admit.yaml") -}}
{{- $text = printf "%s%s\x00%s\x00" $text $path (get $files $path) -}}
{{- end -}}
{{- end -}}
{{- sha256sum $text -}}
{{- end -}}

{{/* A bundle file's ConfigMap key: keys cannot hold "/", so dir/file.py -> dir__file.py. */}}
{{- define "admit.configmapKey" -}}
{{- replace "/" "__" . -}}
{{- end -}}

{{/*
The CA certificate, serving certificate and key (PEM), as YAML. Given in .Values.tls, else read
back from the Secret of an earlier install (so upgrades keep them), else made here. Call it
once per render (webhooks.yaml): every call makes new ones.
*/}}
{{- define "admit.tls" -}}
{{- $name := include "admit.name" . -}}
{{- $secret := lookup "v1" "Secret" .Release.Namespace (printf "%s-tls" $name) -}}
{{- $data := dict -}}
{{- if $secret -}}{{- $data = $secret.data -}}{{- end -}}
{{- if .Values.tls.cert -}}
caCert: {{ required "tls.caCert is needed with tls.cert" .Values.tls.caCert | toJson }}
cert: {{ .Values.tls.cert | toJson }}
key: {{ required "tls.key is needed with tls.cert" .Values.tls.key | toJson }}
{{- else if .Values.webhookUrl -}}
caCert: {{ required "webhookUrl needs tls.caCert, the CA of the certificate admit serves outside the cluster" .Values.tls.caCert | toJson }}
{{- else if hasKey $data "ca.crt" -}}
caCert: {{ index $data "ca.crt" | b64dec | toJson }}
cert: {{ index $data "tls.crt" | b64dec | toJson }}
key: {{ index $data "tls.key" | b64dec | toJson }}
{{- else -}}
{{- $ca := genCA (printf "%s-ca" $name) 3650 -}}
{{- $dns := printf "%s.%s.svc" $name .Release.Namespace -}}
{{- $names := concat (list $dns (printf "%s.cluster.local" $dns) (printf "%s.%s" $name .Release.Namespace) $name) .Values.tls.extraSans -}}
{{- $cert := genSignedCert $dns nil $names 365 $ca -}}
caCert: {{ $ca.Cert | toJson }}
cert: {{ $cert.Cert | toJson }}
key: {{ $cert.Key | toJson }}
{{- end -}}
{{- end -}}
