{{/*
Helpers shared by every template. Per-service templates call them with a context built by
"inbox.ctx": (dict "root" $ "name" "<service>" "cfg" (index $.Values.services "<service>")).
*/}}

{{/* The seven services, in dependency order. Templates loop over this list, never over the
values map, so a stray key under .Values.services deploys nothing. */}}
{{- define "inbox.serviceNames" -}}
gateway channel-ingest conversation routing notification search metrics
{{- end -}}

{{/* Services whose binary reads INBOX__POSTGRES__URL (each its own database). */}}
{{- define "inbox.postgresServices" -}}
gateway channel-ingest conversation routing notification metrics
{{- end -}}

{{/* Services whose binary reads INBOX__REDIS__URL: each its own Redis ACL user under
redis.users (inbox-access's REDIS_NAMESPACES; a test keeps them equal). */}}
{{- define "inbox.redisServices" -}}
gateway routing channel-ingest
{{- end -}}

{{/* "true" when service .name (in context .) uses Postgres / Redis, else empty. */}}
{{- define "inbox.usesPostgres" -}}
{{- if has .name (splitList " " (include "inbox.postgresServices" .)) }}true{{ end -}}
{{- end -}}
{{- define "inbox.usesRedis" -}}
{{- if has .name (splitList " " (include "inbox.redisServices" .)) }}true{{ end -}}
{{- end -}}

{{/* Who calls whom over gRPC: "<callee>:<caller> <caller>...;" for every callee. The gRPC
addresses each caller is given and the NetworkPolicies both follow this one table. */}}
{{- define "inbox.callers" -}}
conversation:gateway routing metrics search;channel-ingest:gateway;routing:gateway notification search;notification:gateway;search:gateway;metrics:gateway;gateway:
{{- end -}}

{{/* The callers of service .name, space separated. */}}
{{- define "inbox.callersOf" -}}
{{- $name := .name }}
{{- range $entry := splitList ";" (include "inbox.callers" .) }}
{{- $pair := splitList ":" $entry }}
{{- if eq (first $pair) $name }}{{ last $pair }}{{ end }}
{{- end }}
{{- end -}}

{{/* The services .name calls, space separated. */}}
{{- define "inbox.calleesOf" -}}
{{- $name := .name }}
{{- $callees := list }}
{{- range $entry := splitList ";" (include "inbox.callers" .) }}
{{- $pair := splitList ":" $entry }}
{{- if has $name (splitList " " (last $pair)) }}{{ $callees = append $callees (first $pair) }}{{ end }}
{{- end }}
{{- join " " $callees }}
{{- end -}}

{{/* The gRPC URL of service .callee: http://<component>:<grpc port>, https:// with
grpc.tls.enabled. Context: dict "root" "callee". */}}
{{- define "inbox.grpcUrl" -}}
{{- printf "%s://%s:%v" (ternary "https" "http" .root.Values.grpc.tls.enabled) (include "inbox.componentName" (dict "root" .root "name" .callee)) (index .root.Values.services .callee).grpcPort }}
{{- end -}}

{{/* The variable through which service .name is given callee's gRPC address. */}}
{{- define "inbox.grpcUrlVar" -}}
{{- printf "INBOX__%s__%s_URL" (.caller | replace "-" "_" | upper) (.callee | replace "-" "_" | upper) }}
{{- end -}}

{{/* Where every service finds grpc.tls.secretName's files. */}}
{{- define "inbox.grpcTlsDir" -}}
/etc/inbox/grpc-tls
{{- end -}}

{{/* Where the search service keeps its tantivy index (INBOX__SEARCH__INDEX_DIR). */}}
{{- define "inbox.searchIndexDir" -}}
/var/lib/inbox/search
{{- end -}}

{{- define "inbox.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Full name prefix: the release name, plus the chart name unless the release name holds it. */}}
{{- define "inbox.fullname" -}}
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

{{- define "inbox.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Name of one service's objects (Deployment, Service, HPA...): <fullname>-<service>.
Context: the root. Usage: include "inbox.componentName" (dict "root" $ "name" "gateway") */}}
{{- define "inbox.componentName" -}}
{{- printf "%s-%s" (include "inbox.fullname" .root) .name | trunc 52 | trimSuffix "-" }}
{{- end }}

{{/* Labels common to every object of the release; with .name, also the component. */}}
{{- define "inbox.labels" -}}
helm.sh/chart: {{ include "inbox.chart" .root }}
{{ include "inbox.selectorLabels" . }}
app.kubernetes.io/version: {{ .root.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
app.kubernetes.io/part-of: inbox
{{- end }}

{{- define "inbox.selectorLabels" -}}
app.kubernetes.io/name: {{ include "inbox.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
{{- if .name }}
app.kubernetes.io/component: {{ .name }}
{{- end }}
{{- end }}

{{- define "inbox.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "inbox.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* The Secret every service reads its credentials from. */}}
{{- define "inbox.secretName" -}}
{{- default (include "inbox.fullname" .) .Values.secret.existingSecret }}
{{- end }}

{{/* Key of a service's Postgres URL in the Secret. Context: the service name (a string). */}}
{{- define "inbox.postgresUrlKey" -}}
{{- printf "postgresUrl-%s" . }}
{{- end }}

{{/* A service's Postgres URL: secret.postgresUrls.<name>, or built from .Values.postgres. */}}
{{- define "inbox.postgresUrl" -}}
{{- $root := .root }}
{{- $given := index ($root.Values.secret.postgresUrls | default dict) .name | default "" }}
{{- if $given }}
{{- $given }}
{{- else }}
{{- $pg := $root.Values.postgres }}
{{- $user := $pg.user | toString | urlquery | replace "+" "%20" }}
{{- $auth := $user }}
{{- if $pg.password }}
{{- $auth = printf "%s:%s" $user ($pg.password | toString | urlquery | replace "+" "%20") }}
{{- end }}
{{- $db := required (printf "services.%s.database is required" .name) .cfg.database }}
{{- printf "postgres://%s@%s:%v/%s" $auth $pg.host $pg.port $db }}
{{- if $pg.params }}?{{ $pg.params }}{{ end }}
{{- end }}
{{- end }}

{{/* A base64 Secret value: the given one, else the one already in the cluster (kept across
upgrades), else a fresh random one. Context: dict "given" "existing" (secret data) "key". */}}
{{- define "inbox.secretValue" -}}
{{- if .given }}
{{- .given | toString | b64enc }}
{{- else if hasKey .existing .key }}
{{- index .existing .key }}
{{- else }}
{{- randAlphaNum 48 | b64enc }}
{{- end }}
{{- end }}

{{/* The key id new channel secrets are sealed under. */}}
{{- define "inbox.channelSecretsActiveKey" -}}
{{- if .Values.secret.channelSecretsActiveKey }}
{{- .Values.secret.channelSecretsActiveKey }}
{{- else if .Values.secret.channelSecretsKeys }}
{{- first (splitList ":" (first (splitList "," .Values.secret.channelSecretsKeys))) }}
{{- else }}k1{{ end }}
{{- end -}}

{{/* "<repository>/inbox-<service>:<tag>". */}}
{{- define "inbox.image" -}}
{{- $tag := .cfg.imageTag | default .root.Values.image.tag | default .root.Chart.AppVersion }}
{{- printf "%s/inbox-%s:%s" (.root.Values.image.repository | trimSuffix "/") .name ($tag | toString) }}
{{- end }}

{{/* Environment of one service: the configuration contract of its binary. */}}
{{- define "inbox.env" -}}
{{- $root := .root }}
{{- $cfg := .cfg }}
{{- $secret := include "inbox.secretName" $root -}}
- name: INBOX__HTTP__ADDR
  value: {{ printf "0.0.0.0:%v" $cfg.httpPort | quote }}
- name: INBOX__GRPC__ADDR
  value: {{ printf "0.0.0.0:%v" $cfg.grpcPort | quote }}
- name: INBOX__HTTP__ADMIN_ADDR
  value: {{ printf "0.0.0.0:%v" $cfg.adminPort | quote }}
- name: INBOX__LOG__FORMAT
  value: {{ $root.Values.log.format | quote }}
- name: INBOX__LOG__LEVEL
  value: {{ $cfg.logLevel | default $root.Values.log.level | quote }}
- name: INBOX__NATS__URL
  value: {{ required "nats.url is required" $root.Values.nats.url | quote }}
{{- if $root.Values.nats.users }}
- name: INBOX__NATS__USER
  value: {{ .name | quote }}
- name: INBOX__NATS__PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ $secret }}
      key: natsPassword-{{ .name }}
{{- end }}
{{- if $root.Values.grpc.tls.enabled }}
{{- $dir := include "inbox.grpcTlsDir" . }}
- name: INBOX__GRPC__TLS_CERT_FILE
  value: {{ printf "%s/tls.crt" $dir | quote }}
- name: INBOX__GRPC__TLS_KEY_FILE
  value: {{ printf "%s/tls.key" $dir | quote }}
- name: INBOX__GRPC__CA_FILE
  value: {{ printf "%s/ca.crt" $dir | quote }}
{{- end }}
- name: INBOX__AUTH__SERVICE_TOKEN
  valueFrom:
    secretKeyRef:
      name: {{ $secret }}
      key: serviceToken-{{ .name }}
{{- /* Each caller of this service (the "inbox.callers" table) by its token's SHA-256, which
Kubernetes puts into INBOX__AUTH__CALLERS through $(VAR) references. */}}
{{- $callers := compact (splitList " " (include "inbox.callersOf" .)) }}
{{- if $callers }}
{{- $entries := list }}
{{- range $caller := $callers }}
{{- $var := printf "INBOX_CALLER_SHA256_%s" ($caller | replace "-" "_" | upper) }}
- name: {{ $var }}
  valueFrom:
    secretKeyRef:
      name: {{ $secret }}
      key: serviceTokenSha256-{{ $caller }}
{{- $entries = append $entries (printf "%s:$(%s)" $caller $var) }}
{{- end }}
- name: INBOX__AUTH__CALLERS
  value: {{ join "," $entries | quote }}
{{- end }}
{{- if include "inbox.usesPostgres" . }}
- name: INBOX__POSTGRES__URL
  valueFrom:
    secretKeyRef:
      name: {{ $secret }}
      key: {{ include "inbox.postgresUrlKey" .name }}
{{- end }}
{{- if include "inbox.usesRedis" . }}
- name: INBOX__REDIS__URL
  value: {{ required "redis.url is required" $root.Values.redis.url | quote }}
{{- if $root.Values.redis.users }}
- name: INBOX__REDIS__USERNAME
  value: {{ .name | quote }}
- name: INBOX__REDIS__PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ $secret }}
      key: redisPassword-{{ .name }}
{{- end }}
{{- end }}
{{- if eq .name "gateway" }}
- name: INBOX__GATEWAY__JWT_SECRET
  valueFrom:
    secretKeyRef:
      name: {{ $secret }}
      key: jwtSecret
- name: INBOX__GATEWAY__OPERATOR_TOKEN
  valueFrom:
    secretKeyRef:
      name: {{ $secret }}
      key: operatorToken
{{- if $root.Values.ingress.trustedProxies }}
- name: INBOX__GATEWAY__TRUST_FORWARDED_FOR
  value: "true"
{{- end }}
{{- end }}
{{- if eq .name "channel-ingest" }}
- name: INBOX__SECRETS__KEYS
  valueFrom:
    secretKeyRef:
      name: {{ $secret }}
      key: channelSecretsKeys
- name: INBOX__SECRETS__ACTIVE_KEY
  value: {{ include "inbox.channelSecretsActiveKey" $root | quote }}
{{- with $root.Values.ingress.trustedProxies }}
- name: INBOX__WEBCHAT__TRUSTED_PROXIES
  value: {{ . | quote }}
{{- end }}
{{- end }}
{{- $caller := .name }}
{{- range $callee := splitList " " (include "inbox.calleesOf" .) }}
{{- if $callee }}
- name: {{ include "inbox.grpcUrlVar" (dict "caller" $caller "callee" $callee) }}
  value: {{ include "inbox.grpcUrl" (dict "root" $root "callee" $callee) | quote }}
{{- end }}
{{- end }}
{{- if eq .name "search" }}
- name: INBOX__SEARCH__INDEX_DIR
  value: {{ include "inbox.searchIndexDir" . | quote }}
{{- end }}
{{- if $root.Values.otel.endpoint }}
- name: OTEL_EXPORTER_OTLP_ENDPOINT
  value: {{ $root.Values.otel.endpoint | quote }}
- name: OTEL_SERVICE_NAME
  value: {{ printf "inbox-%s" .name | quote }}
{{- end }}
{{- with $root.Values.extraEnv }}
{{ toYaml . }}
{{- end }}
{{- with $cfg.extraEnv }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* The pod template (metadata + spec) shared by every service's Deployment/StatefulSet.
Context: dict "root" "name" "cfg". */}}
{{- define "inbox.podTemplate" -}}
{{- $root := .root }}
{{- $cfg := .cfg }}
{{- $annotations := dict }}
{{- if $root.Values.metrics.podAnnotations }}
{{- $_ := set $annotations "prometheus.io/scrape" "true" }}
{{- $_ := set $annotations "prometheus.io/port" (printf "%v" $cfg.adminPort) }}
{{- $_ := set $annotations "prometheus.io/path" "/metrics" }}
{{- end }}
{{- if not $root.Values.secret.existingSecret }}
{{- $_ := set $annotations "checksum/secret" (toJson (list $root.Values.secret $root.Values.postgres) | sha256sum) }}
{{- end }}
{{- $annotations = merge (deepCopy ($cfg.podAnnotations | default dict)) (deepCopy ($root.Values.podAnnotations | default dict)) $annotations -}}
metadata:
  labels:
    {{- include "inbox.labels" . | nindent 4 }}
    {{- with $root.Values.podLabels }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
  {{- with $annotations }}
  annotations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
spec:
  serviceAccountName: {{ include "inbox.serviceAccountName" $root }}
  automountServiceAccountToken: {{ $root.Values.automountServiceAccountToken }}
  terminationGracePeriodSeconds: {{ $root.Values.terminationGracePeriodSeconds }}
  {{- with $root.Values.podSecurityContext }}
  securityContext:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with $root.Values.imagePullSecrets }}
  imagePullSecrets:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  containers:
    - name: {{ .name }}
      image: {{ include "inbox.image" . | quote }}
      imagePullPolicy: {{ $root.Values.image.pullPolicy }}
      ports:
        - name: http
          containerPort: {{ $cfg.httpPort }}
          protocol: TCP
        - name: grpc
          containerPort: {{ $cfg.grpcPort }}
          protocol: TCP
        - name: admin
          containerPort: {{ $cfg.adminPort }}
          protocol: TCP
      env:
        {{- include "inbox.env" . | nindent 8 }}
      startupProbe:
        httpGet:
          path: /healthz
          port: http
        {{- toYaml $root.Values.probes.startup | nindent 8 }}
      livenessProbe:
        httpGet:
          path: /healthz
          port: http
        {{- toYaml $root.Values.probes.liveness | nindent 8 }}
      readinessProbe:
        httpGet:
          path: /readyz
          port: http
        {{- toYaml $root.Values.probes.readiness | nindent 8 }}
      {{- with $root.Values.securityContext }}
      securityContext:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with $cfg.resources }}
      resources:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      volumeMounts:
        - name: tmp
          mountPath: /tmp
        {{- if eq .name "search" }}
        - name: index
          mountPath: {{ include "inbox.searchIndexDir" . }}
        {{- end }}
        {{- if $root.Values.grpc.tls.enabled }}
        - name: grpc-tls
          mountPath: {{ include "inbox.grpcTlsDir" . }}
          readOnly: true
        {{- end }}
  volumes:
    # readOnlyRootFilesystem: /tmp is the only scratch space.
    - name: tmp
      emptyDir:
        sizeLimit: 256Mi
    {{- if $root.Values.grpc.tls.enabled }}
    - name: grpc-tls
      secret:
        secretName: {{ required "grpc.tls.secretName is required when grpc.tls.enabled" $root.Values.grpc.tls.secretName | quote }}
    {{- end }}
  {{- with ($cfg.nodeSelector | default $root.Values.nodeSelector) }}
  nodeSelector:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with ($cfg.tolerations | default $root.Values.tolerations) }}
  tolerations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with ($cfg.affinity | default $root.Values.affinity) }}
  affinity:
    {{- toYaml . | nindent 4 }}
  {{- end }}
{{- end }}
