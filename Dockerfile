# syntax=docker/dockerfile:1
#
# One image for every service: the router and each subgraph run TypeScript natively on Node 24
# (no build step). The command picks the service; the default is the router:
#
#   docker build -t shopgraph .
#   docker run -p 4000:4000 shopgraph                                        # router
#   docker run shopgraph node subgraphs/catalog/src/index.ts                 # a subgraph
#
# docker-compose.yml and k8s/ set the command of each service the same way;
# scripts/deploy.test.ts checks this file against the workspaces the services use.

ARG NODE_IMAGE=node:24-bookworm-slim

# --- manifests: package.json of every workspace, the lockfile, and the dependency patches ---------
# This stage reruns on any change, but its output changes only with the manifests, so the install
# below stays cached until dependencies change.
FROM ${NODE_IMAGE} AS manifests
WORKDIR /src
COPY . .
RUN mkdir /manifests \
 && find . \( -name package.json -o -name package-lock.json \) -not -path '*/node_modules/*' \
      -exec cp --parents {} /manifests \; \
 && cp -r patches /manifests/

# --- deps: production dependencies of the services only ------------------------------------------
# The services' workspaces (the router, every subgraph and the registry: a folder selects the workspaces in it)
# and what they depend on, nothing else: no dev tools (the root's `node` devDependency is for
# running without Docker; this image has its own Node 24), no test infrastructure (.dockerignore
# keeps those workspaces out of the context). No install scripts: nothing the services load needs one.
# The patches (patches/, applied by the root's postinstall outside Docker) are applied explicitly.
FROM ${NODE_IMAGE} AS deps
WORKDIR /app
COPY --from=manifests /manifests ./
RUN --mount=type=cache,target=/root/.npm \
    npm ci --omit=dev --ignore-scripts --no-audit --no-fund --workspace=router --workspace=subgraphs --workspace=registry \
 && npx --yes patch-package@8.0.1 --error-on-fail

# --- runtime ---------------------------------------------------------------------------------------
FROM ${NODE_IMAGE} AS runtime
WORKDIR /app
ENV NODE_ENV=production \
    HOST=0.0.0.0
# node_modules (with the workspace links), then the code: the whole context, which .dockerignore
# limits to the services, the workspaces they use and the router's supergraph.graphql (its
# SUPERGRAPH_PATH default, /app/supergraph.graphql). Files stay owned by root: a service cannot
# change its own code, and the root filesystem can be mounted read-only.
COPY --from=deps /app ./
COPY . .

# The base image's `node` user, numeric so that Kubernetes' runAsNonRoot can verify it.
USER 1000:1000
# Each service listens on its PORT (supergraph.yaml; the router 4000), so no EXPOSE here.
# node itself is PID 1, not npm or a shell: SIGTERM reaches the service, which drains in-flight
# work (up to 20 s) and exits. No HEALTHCHECK: orchestrators probe /healthz and /readyz.
ENTRYPOINT []
CMD ["node", "--min-semi-space-size=16", "router/src/index.ts"]
