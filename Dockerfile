# syntax=docker/dockerfile:1
#
# oauth3 container image: compiled JavaScript on Node 24 LTS (Debian bookworm slim), production dependencies only,
# running as uid 10001 with a read-only root filesystem. The process writes only to DATA_DIR (/data: the embedded
# database, its lock and admin socket, and the development master key; nothing at all with DATABASE_URL set in
# production) and, through libraries, to /tmp. Logs go to stdout. See README "Deployment" and helm/oauth3.
#
#   docker build -t oauth3 .
#   docker run --rm -p 3000:3000 -e NODE_ENV=development -v oauth3-data:/data oauth3      # a quick look
#   docker run --rm -p 3000:3000 --read-only --tmpfs /tmp -v oauth3-data:/data -e ISSUER=https://auth.example.com
#     -e DATABASE_URL=... -e MASTER_KEY=... -e COOKIE_KEYS=... oauth3      # one command: the line above goes on here
#
# Reproducible: the same commit gives the same image digest, so anyone can rebuild the image a TEE deployment runs
# and compare it with the digest its compose hash covers (deploy/dstack/README.md). That needs fixed inputs (the base
# image by digest, dependencies from package-lock.json only) and no build-time timestamps: build with
# SOURCE_DATE_EPOCH set to the commit time and BuildKit's rewrite-timestamp=true, as deploy/build-image.sh does.

# node:24-bookworm-slim, pinned by its multi-arch index digest, so a rebuild starts from the very same bytes. The tag
# moves with every Node and Debian point release; refresh the digest on purpose (`docker buildx imagetools inspect
# node:24-bookworm-slim`, or let Renovate/Dependabot's docker updater propose it) and rebuild. This digest was taken
# from public code pinning the same tag: github.com/zeroaltitude/openclaw, Dockerfile at commit
# 0d7e3762941597900544f0ed287c7955af12234b (a fork of openclaw/openclaw, which pins the multi-arch manifest list).
ARG NODE_IMAGE=node:24-bookworm-slim@sha256:3638d9a6fe4030bd716be989438248074489337ba3275657f93595428be4fc03
# Unix time stamped into the image (its creation time and, with rewrite-timestamp=true, every file's mtime) and seen
# by the tools that run in the build. The build script passes the commit time (git log -1 --format=%ct); this default
# only keeps a plain `docker build` deterministic too.
ARG SOURCE_DATE_EPOCH=0

# 1. build: every dependency, then TypeScript → dist/ (tsconfig.build.json: src, adapters, interactions, scopes). The
# image is a release, so its types are checked here (tsc, no output) before esbuild writes dist/.
FROM ${NODE_IMAGE} AS build
ARG SOURCE_DATE_EPOCH
ENV SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH}
WORKDIR /app
COPY package.json package-lock.json ./
# Exactly the versions and integrity hashes of package-lock.json; npm's cache lives in a cache mount, never in a layer.
RUN --mount=type=cache,target=/root/.npm,sharing=locked npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY scripts/build.mjs ./scripts/build.mjs
COPY src ./src
COPY adapters ./adapters
COPY interactions ./interactions
COPY scopes ./scopes
RUN npx tsc -p tsconfig.build.json --noEmit && npm run build

# 2. deps: production dependencies only (no TypeScript, jest, tsx or other dev tools in the final image).
FROM ${NODE_IMAGE} AS deps
ARG SOURCE_DATE_EPOCH
ENV SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH}
WORKDIR /app
COPY package.json package-lock.json ./
# No production dependency has an install script (checked in test/deployment/reproducible.test.ts), so none may run:
# node_modules is then exactly the lockfile's tarballs unpacked, the same bytes on every build.
RUN --mount=type=cache,target=/root/.npm,sharing=locked npm ci --omit=dev --ignore-scripts --no-audit --no-fund

# 3. runtime: compiled code, migrations and static page assets, owned by root and read-only for the app user.
FROM ${NODE_IMAGE} AS runtime
# An ARG, not an ENV: useradd dates the account in /etc/shadow from it, and it does not stay in the image's environment.
ARG SOURCE_DATE_EPOCH
ENV NODE_ENV=production \
    PORT=3000 \
    DATA_DIR=/data
RUN groupadd --system --gid 10001 oauth3 \
 && useradd --system --uid 10001 --gid oauth3 --home-dir /nonexistent --no-create-home --shell /usr/sbin/nologin oauth3 \
 && mkdir -p /data \
 && chown 10001:10001 /data \
 && chmod 0700 /data
WORKDIR /app
# package.json marks the code as ES modules and is how src/paths.ts finds migrations/ and src/web/public/. Files from
# the build context keep the permissions of the checkout (which follow the umask of whoever checked it out):
# deploy/build-image.sh builds from `git archive` under umask 022 so that they are the same everywhere.
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
# SIGTERM reaches node directly (exec form, no shell): it drains requests in flight and closes the pools. The two V8
# heap settings are npm start's (package.json): young generation 8 MB per semi-space, the next full collection once the
# old generation grows by half its live size. Under the bench's load they hold a process to 150-185 MiB where V8's
# defaults let it reach 340-400 MiB (bench/README.md). Cluster workers inherit them.
CMD ["node", "--max-semi-space-size=8", "--heap-growing-percent=50", "dist/src/main.js"]
