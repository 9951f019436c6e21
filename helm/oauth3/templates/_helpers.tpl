{{/* Names, labels and the pieces the Deployments, Jobs and CronJob share. */}}

{{- define "oauth3.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Full name: release name, plus the chart name unless the release name already contains it (63 characters at most). */}}
{{- define "oauth3.fullname" -}}
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

{{- define "oauth3.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "oauth3.selectorLabels" -}}
app.kubernetes.io/name: {{ include "oauth3.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "oauth3.labels" -}}
helm.sh/chart: {{ include "oauth3.chart" . }}
{{ include "oauth3.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "oauth3.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "oauth3.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "oauth3.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}

{{/* The Secret the pods read DATABASE_URL, REDIS_URL, MASTER_KEY and COOKIE_KEYS from. */}}
{{- define "oauth3.secretName" -}}
{{- default (include "oauth3.fullname" .) .Values.secrets.existingSecret }}
{{- end }}

{{/*
Refuses to render what oauth3 would refuse to run: production needs an https issuer, and without existingSecret the
chart needs DATABASE_URL, MASTER_KEY and COOKIE_KEYS (src/config.ts; the chart runs on Postgres, not the embedded
database, because replicas share state).
*/}}
{{- define "oauth3.validate" -}}
{{- $issuer := required "config.issuer is required: the public https URL of the server, such as https://auth.example.com" .Values.config.issuer }}
{{- if not (hasPrefix "https://" $issuer) }}
{{- fail "config.issuer must be an https URL: oauth3 refuses an http issuer in production" }}
{{- end }}
{{- if ge (int .Values.config.shutdownTimeoutMs) (mul (sub (int .Values.terminationGracePeriodSeconds) (int .Values.preStopSleepSeconds)) 1000) }}
{{- fail "config.shutdownTimeoutMs must be below (terminationGracePeriodSeconds - preStopSleepSeconds) seconds, or Kubernetes kills requests in flight" }}
{{- end }}
{{- if not .Values.secrets.existingSecret }}
{{- $_ := required "secrets.databaseUrl is required (postgres://...), or name a Secret in secrets.existingSecret" .Values.secrets.databaseUrl }}
{{- $_ := required "secrets.masterKey is required (openssl rand -base64 32), or name a Secret in secrets.existingSecret" .Values.secrets.masterKey }}
{{- $_ := required "secrets.cookieKeys is required (openssl rand -base64 32), or name a Secret in secrets.existingSecret" .Values.secrets.cookieKeys }}
{{- end }}
{{- end }}

{{/*
A value as an environment variable's text: a string as it is, a number or boolean as JSON writes it. Helm reads
numbers from values files as floats, which Go prints as 2.592e+06; JSON writes 2592000.
*/}}
{{- define "oauth3.envText" -}}
{{- if kindIs "string" . }}{{ . }}{{ else }}{{ toJson . }}{{ end }}
{{- end }}

{{/*
Non-secret environment (the ConfigMap's data, and the migration hook's): every key is a setting in src/config.ts.
Helm reads numbers from values as floats: integers go through int (or oauth3.envText) so that 1000000 is never printed
as 1e+06; the same goes for every integer a template prints.
*/}}
{{- define "oauth3.configData" -}}
NODE_ENV: "production"
PORT: "3000"
DATA_DIR: "/data"
ISSUER: {{ trimSuffix "/" .Values.config.issuer | quote }}
TRUST_PROXY: {{ include "oauth3.envText" .Values.config.trustProxy | quote }}
LOG_LEVEL: {{ .Values.config.logLevel | quote }}
REGISTRATION: {{ .Values.config.registration | quote }}
{{- if .Values.config.resourceUrl }}
RESOURCE_URL: {{ .Values.config.resourceUrl | quote }}
{{- end }}
DATABASE_POOL_SIZE: {{ .Values.config.databasePoolSize | int | toString | quote }}
DATABASE_TIMEOUT_MS: {{ .Values.config.databaseTimeoutMs | int | toString | quote }}
SHUTDOWN_TIMEOUT_MS: {{ .Values.config.shutdownTimeoutMs | int | toString | quote }}
WORKERS: {{ .Values.config.workers | int | toString | quote }}
METRICS_PORT: {{ ternary .Values.metrics.port 0 .Values.metrics.enabled | int | toString | quote }}
{{- if .Values.config.telegramWebhookUrl }}
TELEGRAM_WEBHOOK_URL: {{ .Values.config.telegramWebhookUrl | quote }}
{{- end }}
{{- range $name, $value := .Values.config.extraEnv }}
{{ $name }}: {{ include "oauth3.envText" $value | quote }}
{{- end }}
{{- end }}

{{/* Secret environment, base64 encoded for a Secret's data; only without existingSecret. */}}
{{- define "oauth3.secretData" -}}
DATABASE_URL: {{ .Values.secrets.databaseUrl | b64enc | quote }}
MASTER_KEY: {{ .Values.secrets.masterKey | b64enc | quote }}
COOKIE_KEYS: {{ .Values.secrets.cookieKeys | b64enc | quote }}
{{- if .Values.secrets.redisUrl }}
REDIS_URL: {{ .Values.secrets.redisUrl | b64enc | quote }}
{{- end }}
{{- if .Values.secrets.masterKeyPrevious }}
MASTER_KEY_PREVIOUS: {{ .Values.secrets.masterKeyPrevious | b64enc | quote }}
{{- end }}
{{- if .Values.secrets.telegramBotToken }}
TELEGRAM_BOT_TOKEN: {{ .Values.secrets.telegramBotToken | b64enc | quote }}
{{- end }}
{{- range $name, $value := .Values.secrets.extraEnv }}
{{ $name }}: {{ include "oauth3.envText" $value | b64enc | quote }}
{{- end }}
{{- end }}

{{/*
Pod security from values (podSecurityContext): by default uid 10001 as in the Dockerfile, never root, the runtime's
default seccomp profile. Platforms that assign the uid (OpenShift) null out runAsUser, runAsGroup and fsGroup.
*/}}
{{- define "oauth3.podSecurityContext" -}}
{{- toYaml .Values.podSecurityContext }}
{{- end }}

{{/* Container security from values (containerSecurityContext): by default read-only root filesystem, no privilege escalation, every capability dropped. */}}
{{- define "oauth3.containerSecurityContext" -}}
{{- toYaml .Values.containerSecurityContext }}
{{- end }}

{{/* Writable places: /tmp and DATA_DIR, both emptyDir (the root filesystem is read-only), then extraVolumes. */}}
{{- define "oauth3.volumes" -}}
- name: tmp
  emptyDir:
    sizeLimit: {{ .Values.tmpSizeLimit }}
- name: data
  emptyDir:
    sizeLimit: {{ .Values.dataVolume.sizeLimit }}
{{- with .Values.extraVolumes }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{- define "oauth3.volumeMounts" -}}
- name: tmp
  mountPath: /tmp
- name: data
  mountPath: /data
{{- with .Values.extraVolumeMounts }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* The environment every oauth3 container reads: the ConfigMap, then the Secret, then extraEnvFrom. */}}
{{- define "oauth3.envFrom" -}}
- configMapRef:
    name: {{ include "oauth3.fullname" . }}
- secretRef:
    name: {{ include "oauth3.secretName" . | quote }}
{{- with .Values.extraEnvFrom }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* Pod annotations: config and secret checksums (a changed setting rolls the pods), metrics scraping, the user's. */}}
{{- define "oauth3.podAnnotations" -}}
checksum/config: {{ include (print .Template.BasePath "/configmap.yaml") . | sha256sum }}
checksum/secret: {{ include (print .Template.BasePath "/secret.yaml") . | sha256sum }}
{{- if and .Values.metrics.enabled .Values.metrics.podAnnotations }}
prometheus.io/scrape: "true"
prometheus.io/port: {{ .Values.metrics.port | int | toString | quote }}
prometheus.io/path: /metrics
{{- end }}
{{- with .Values.podAnnotations }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* Pod placement shared by every oauth3 workload. */}}
{{- define "oauth3.scheduling" -}}
{{- with .Values.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end }}

{{/*
A server container, for ROLE=all or ROLE=resource. Called with (dict "root" $ "role" "all" "resources" ...).
*/}}
{{- define "oauth3.serverContainer" -}}
{{- $root := .root -}}
- name: oauth3
  image: {{ include "oauth3.image" $root | quote }}
  imagePullPolicy: {{ $root.Values.image.pullPolicy }}
  command: ["node", "--max-semi-space-size=8", "--heap-growing-percent=50", "dist/src/main.js"]
  envFrom:
    {{- include "oauth3.envFrom" $root | nindent 4 }}
  env:
    - name: ROLE
      value: {{ .role | quote }}
    {{- with $root.Values.extraEnv }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
  ports:
    - name: http
      containerPort: 3000
      protocol: TCP
    {{- if $root.Values.metrics.enabled }}
    - name: metrics
      containerPort: {{ $root.Values.metrics.port }}
      protocol: TCP
    {{- end }}
  startupProbe:
    httpGet:
      path: /healthz
      port: http
    periodSeconds: {{ $root.Values.probes.periodSeconds | int }}
    timeoutSeconds: {{ $root.Values.probes.timeoutSeconds | int }}
    failureThreshold: {{ $root.Values.probes.startupFailureThreshold | int }}
  livenessProbe:
    httpGet:
      path: /healthz
      port: http
    periodSeconds: {{ $root.Values.probes.periodSeconds | int }}
    timeoutSeconds: {{ $root.Values.probes.timeoutSeconds | int }}
    failureThreshold: {{ $root.Values.probes.livenessFailureThreshold | int }}
  readinessProbe:
    httpGet:
      path: /readyz
      port: http
    periodSeconds: {{ $root.Values.probes.periodSeconds | int }}
    timeoutSeconds: {{ $root.Values.probes.timeoutSeconds | int }}
    failureThreshold: {{ $root.Values.probes.readinessFailureThreshold | int }}
  {{- if gt (int $root.Values.preStopSleepSeconds) 0 }}
  lifecycle:
    preStop:
      exec:
        command: ["sleep", {{ $root.Values.preStopSleepSeconds | int | toString | quote }}]
  {{- end }}
  resources:
    {{- toYaml .resources | nindent 4 }}
  securityContext:
    {{- include "oauth3.containerSecurityContext" $root | nindent 4 }}
  volumeMounts:
    {{- include "oauth3.volumeMounts" $root | nindent 4 }}
{{- end }}

{{/*
Topology spread of one component's pods. topologySpreadConstraints from values replace the default (zones, then
nodes, maxSkew 1, ScheduleAnyway); a given constraint without labelSelector gets the component's labels.
Called with (dict "root" $ "component" "server").
*/}}
{{- define "oauth3.topologySpread" -}}
{{- $root := .root }}
{{- $component := .component }}
topologySpreadConstraints:
{{- if $root.Values.topologySpreadConstraints }}
{{- range $root.Values.topologySpreadConstraints }}
  - {{- toYaml . | nindent 4 }}
    {{- if not (hasKey . "labelSelector") }}
    labelSelector:
      matchLabels:
        {{- include "oauth3.selectorLabels" $root | nindent 8 }}
        app.kubernetes.io/component: {{ $component }}
    {{- end }}
{{- end }}
{{- else }}
{{- range list "topology.kubernetes.io/zone" "kubernetes.io/hostname" }}
  - maxSkew: 1
    topologyKey: {{ . }}
    whenUnsatisfiable: ScheduleAnyway
    labelSelector:
      matchLabels:
        {{- include "oauth3.selectorLabels" $root | nindent 8 }}
        app.kubernetes.io/component: {{ $component }}
{{- end }}
{{- end }}
{{- end }}

{{/* Extra containers (sidecars) of the server pods, after the oauth3 container. */}}
{{- define "oauth3.sidecars" -}}
{{- with .Values.sidecars }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* Soft anti-affinity spreading replicas of one component over nodes, unless .Values.affinity is given. */}}
{{- define "oauth3.affinity" -}}
{{- $root := .root }}
{{- if $root.Values.affinity }}
affinity:
  {{- toYaml $root.Values.affinity | nindent 2 }}
{{- else }}
affinity:
  podAntiAffinity:
    preferredDuringSchedulingIgnoredDuringExecution:
      - weight: 100
        podAffinityTerm:
          topologyKey: kubernetes.io/hostname
          labelSelector:
            matchLabels:
              {{- include "oauth3.selectorLabels" $root | nindent 14 }}
              app.kubernetes.io/component: {{ .component }}
{{- end }}
{{- end }}

{{/* Egress rules every oauth3 pod needs: Postgres, and the cluster DNS over UDP and TCP 53. */}}
{{- define "oauth3.egressPostgresDns" -}}
{{- $egress := .Values.networkPolicy.egress }}
- ports:
    {{- range $egress.postgres.ports }}
    - port: {{ . }}
      protocol: TCP
    {{- end }}
  {{- with $egress.postgres.to }}
  to:
    {{- toYaml . | nindent 4 }}
  {{- end }}
- ports:
    - port: 53
      protocol: UDP
    - port: 53
      protocol: TCP
  {{- with $egress.dns.to }}
  to:
    {{- toYaml . | nindent 4 }}
  {{- end }}
{{- end }}
