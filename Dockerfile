# syntax=docker/dockerfile:1
# One image for both halves of Sluice: `sluice operator` (the chart's Deployment) and
# `sluice proxy` (the sidecar the webhook injects). The TypeScript is compiled to plain
# JavaScript (tsconfig.build.json → dist/): the sidecar then skips Node's type-stripping loader,
# ~30 MiB less RSS in every injected pod (bench/proxy/PERFORMANCE.md). The image carries dist/
# and the production dependencies only.
#
#   docker build -t sluice:0.1.0 .
#   docker run --rm sluice:0.1.0 --help

# Node 24 LTS, Debian 12: builds dist/ and installs the production dependencies from the lockfile.
ARG BUILD_IMAGE=node:24-bookworm-slim
# Node 24 LTS on distroless Debian 12: no shell, no package manager, no npm.
ARG RUNTIME_IMAGE=gcr.io/distroless/nodejs24-debian12:nonroot

FROM ${BUILD_IMAGE} AS build
WORKDIR /app
COPY package.json package-lock.json tsconfig.json tsconfig.build.json ./
# All dependencies (TypeScript is a devDependency); --ignore-scripts: the npm `node` package's
# install script is not needed, the build image has Node 24.
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY scripts/build.ts ./scripts/
COPY bin ./bin
COPY proxy ./proxy
COPY operator ./operator
RUN node scripts/build.ts

FROM ${BUILD_IMAGE} AS deps
WORKDIR /app
COPY package.json package-lock.json ./
# --omit=dev: no TypeScript, linters, test clients or the npm `node` package (the runtime image
# has its own Node). --ignore-scripts: no install script runs at build time.
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund \
 && npm cache clean --force
# `sluice` on PATH, for a pod `command: [sluice, ...]` (the webhook's default sidecar command) and
# `kubectl exec ... -- sluice policy check`: the kernel runs it with node directly (the runtime
# image has no shell and no /usr/bin/env). Outside any package scope, so node loads it as
# CommonJS, where import() of the ESM entry point is allowed.
RUN printf '#!/nodejs/bin/node\nimport("/app/dist/bin/sluice.js");\n' > /usr/local/bin/sluice \
 && chmod 0555 /usr/local/bin/sluice

FROM ${RUNTIME_IMAGE}
WORKDIR /app
# Distroless keeps node at /nodejs/bin/node; put it on PATH so the entrypoint (and a pod's
# `command` or exec hook, if one overrides it) can say `node`, as the e2e harness and the
# webhook's legacy-sidecar hooks assume.
ENV PATH=/nodejs/bin:/usr/local/bin:/usr/bin:/bin \
    NODE_ENV=production
COPY --from=deps /app/node_modules ./node_modules
COPY --from=deps /usr/local/bin/sluice /usr/local/bin/sluice
COPY package.json ./
COPY --from=build /app/dist ./dist
COPY crds ./crds
# Numeric, so the kubelet can verify runAsNonRoot (a user name like "nonroot" cannot be checked).
USER 65532:65532
ENTRYPOINT ["node", "dist/bin/sluice.js"]
