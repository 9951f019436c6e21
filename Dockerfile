# syntax=docker/dockerfile:1
#
# oauth3 container image: compiled JavaScript on Node 24 LTS (Debian bookworm slim), production dependencies only,
# running as uid 10001 with a read-only root filesystem. The process writes only to DATA_DIR (/data: the embedded
# database, its lock and admin socket, and the development master key; nothing at all with DATABASE_URL set in
# production) and, through libraries, to /tmp. Logs go to stdout. See README "Deployment" and helm/oauth3.
#
#   docker build -t oauth3 .
#   docker run --rm -p 3000:3000 -e NODE_ENV=development -v oauth3-data:/data oauth3      # a quick look
#   docker run --rm -p 3000:3000 --read-only --tmpfs /tmp -v oauth3-data:/data \
#     -e ISSUER=https://auth.example.com -e DATABASE_URL=... -e MASTER_KEY=... -e COOKIE_KEYS=... oauth3

ARG NODE_IMAGE=node:24-bookworm-slim

# 1. build: every dependency, then TypeScript → dist/ (tsconfig.build.json: src, adapters, interactions, scopes).
FROM ${NODE_IMAGE} AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
COPY adapters ./adapters
COPY interactions ./interactions
COPY scopes ./scopes
RUN npm run build

# 2. deps: production dependencies only (no TypeScript, jest, tsx or other dev tools in the final image).
FROM ${NODE_IMAGE} AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force

# 3. runtime: compiled code, migrations and static page assets, owned by root and read-only for the app user.
FROM ${NODE_IMAGE} AS runtime
ENV NODE_ENV=production \
    PORT=3000 \
    DATA_DIR=/data
RUN groupadd --system --gid 10001 oauth3 \
 && useradd --system --uid 10001 --gid oauth3 --home-dir /nonexistent --no-create-home --shell /usr/sbin/nologin oauth3 \
 && mkdir -p /data \
 && chown 10001:10001 /data \
 && chmod 0700 /data
WORKDIR /app
# package.json marks the code as ES modules and is how src/paths.ts finds migrations/ and src/web/public/.
COPY package.json ./
COPY --from=deps /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY migrations ./migrations
COPY src/web/public ./src/web/public
# Numeric user, so Kubernetes can verify runAsNonRoot.
USER 10001:10001
VOLUME ["/data"]
# 3000: the app (PORT); 9464: Prometheus metrics (METRICS_PORT), never to be published with the app.
EXPOSE 3000 9464
# Liveness only (the process answers); readiness (database, Redis) is /readyz. Slim images have no curl: use fetch.
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.PORT || 3000) + '/healthz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
# SIGTERM reaches node directly (exec form, no shell): it drains requests in flight and closes the pools.
CMD ["node", "dist/src/main.js"]
