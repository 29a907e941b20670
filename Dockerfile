#
# faas-waker production image: Envoy ext_proc service that wakes OpenFaaS-style functions from zero.
#
#   docker build -t faas-waker:0.1.0 .
#   docker run --rm -p 50051:50051 -p 9090:9090 -e WAKER_PROVIDER_URL=http://gateway:8080 faas-waker:0.1.0
#   docker run --rm faas-waker:0.1.0 --help          # every setting, its env var and default
#
# Three stages: "build" compiles src/ to dist/ with exactly `npm run build` (the same tsconfig.build.json
# the tests build with), "deps" installs production dependencies only, "runtime" gets dist/ + those
# node_modules and nothing else (no TypeScript, no tests, no npm cache). CI builds this file for real
# (`npm test`, scripts/docker.mjs: `docker build --network host`, the classic builder, no registry) and
# test/e2e/docker-image.test.ts runs the image beside Envoy in a container. Node is the same major as the
# one CI runs the suite on (scripts/install-node.mjs); another base: --build-arg NODE_IMAGE=node:22-bookworm-slim.

ARG NODE_IMAGE=node:24-bookworm-slim

# ---- build: devDependencies + tsc -> /app/dist -------------------------------------------------------
FROM ${NODE_IMAGE} AS build
WORKDIR /app
# Lockfile first: this layer stays cached until dependencies change.
COPY package.json package-lock.json ./
# --ignore-scripts: no dependency needs an install script to build (protobufjs' only prints a notice).
RUN npm ci --ignore-scripts --no-audit --no-fund
# Only what `tsc -p tsconfig.build.json` reads: its config, the config it extends, and src/ (its include).
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build

# ---- deps: production node_modules only --------------------------------------------------------------
FROM ${NODE_IMAGE} AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund && npm cache clean --force

# ---- runtime -----------------------------------------------------------------------------------------
FROM ${NODE_IMAGE} AS runtime
LABEL org.opencontainers.image.title="faas-waker" \
      org.opencontainers.image.description="Envoy ext_proc service that wakes OpenFaaS-style functions from zero replicas and holds requests until they are ready" \
      org.opencontainers.image.licenses="MIT" \
      org.opencontainers.image.version="0.1.0"
# Listen on all interfaces inside the container (the app's own defaults, spelled out for `docker inspect`).
ENV NODE_ENV=production \
    WAKER_GRPC_ADDRESS=0.0.0.0:50051 \
    WAKER_ADMIN_ADDRESS=0.0.0.0:9090
WORKDIR /app
# Files stay owned by root and read-only for the app user; the app writes nothing to disk (logs go to
# stdout), so the container runs fine with a read-only root filesystem.
COPY package.json ./
COPY --from=deps /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
# The image's "node" user, by number: Kubernetes' runAsNonRoot can only verify a numeric USER.
USER 1000:1000
# 50051: ext_proc gRPC (+ grpc.health.v1). 9090: admin HTTP (/healthz /readyz /metrics /status /wake).
EXPOSE 50051 9090
# For docker/compose; Kubernetes uses the Deployment's probes instead. Follows WAKER_ADMIN_ADDRESS's port.
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
  CMD ["node", "-e", "const a=process.env.WAKER_ADMIN_ADDRESS||'0.0.0.0:9090';fetch('http://127.0.0.1:'+a.slice(a.lastIndexOf(':')+1)+'/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
# Node runs as PID 1 and handles SIGTERM itself (drain delay, grace, then exit 0): no init wrapper needed.
ENTRYPOINT ["node", "dist/main.js"]
