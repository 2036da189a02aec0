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

# The project's Node (the root's `node` devDependency), pinned by immutable version tag;
# scripts/deploy.test.ts keeps the two equal. Release builds pin the digest as well:
#   --build-arg NODE_IMAGE=node:24.21.0-bookworm-slim@sha256:<digest of `docker buildx imagetools inspect`>
ARG NODE_IMAGE=node:24.21.0-bookworm-slim

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

# --- patch-tool: patch-package, at the version and with the dependencies of the root's lockfile ---
# The services' install below omits dev dependencies, patch-package among them. Installing it by
# name (npx) would resolve it and its dependencies outside the lockfile at build time; instead the
# entries reachable from it are cut out of package-lock.json (same paths, versions, integrity) and
# `npm ci` installs exactly those.
FROM ${NODE_IMAGE} AS patch-tool
WORKDIR /patch-tool
COPY --from=manifests /manifests/package-lock.json /manifests/package-lock.json
RUN node --input-type=module <<'EOF'
import { readFileSync, writeFileSync } from 'node:fs';
const lock = JSON.parse(readFileSync('/manifests/package-lock.json', 'utf8'));
const wanted = new Map();
// Node's resolution inside the lockfile: the nearest node_modules/<name> from `from` upwards.
const resolve = (from, name) => {
  for (let dir = from; ; dir = dir.includes('/node_modules/') ? dir.slice(0, dir.lastIndexOf('/node_modules/')) : '') {
    const path = `${dir && `${dir}/`}node_modules/${name}`;
    if (lock.packages[path]) return path;
    if (!dir) throw new Error(`${name} (needed by ${from}) is not in package-lock.json`);
  }
};
const visit = (path) => {
  if (wanted.has(path)) return;
  const entry = lock.packages[path];
  if (!entry) throw new Error(`${path} is not in package-lock.json`);
  wanted.set(path, entry);
  for (const name of Object.keys({ ...entry.dependencies, ...entry.optionalDependencies })) visit(resolve(path, name));
};
visit('node_modules/patch-package');
const manifest = { name: 'patch-tool', private: true, dependencies: { 'patch-package': wanted.get('node_modules/patch-package').version } };
writeFileSync('package.json', JSON.stringify(manifest));
writeFileSync('package-lock.json', JSON.stringify({ name: manifest.name, lockfileVersion: 3, requires: true, packages: { '': manifest, ...Object.fromEntries(wanted) } }));
EOF
RUN --mount=type=cache,target=/root/.npm npm ci --ignore-scripts --no-audit --no-fund

# --- deps: production dependencies of the services only ------------------------------------------
# The services' workspaces (the router, every subgraph and the registry: a folder selects the workspaces in it)
# and what they depend on, nothing else: no dev tools (the root's `node` devDependency is for
# running without Docker; this image has its own Node 24), no test infrastructure (.dockerignore
# keeps those workspaces out of the context). No install scripts: nothing the services load needs one.
# The patches (patches/, applied by the root's postinstall outside Docker) are applied explicitly,
# by the patch-package of the stage above (nothing of it reaches the runtime image).
FROM ${NODE_IMAGE} AS deps
WORKDIR /app
COPY --from=manifests /manifests ./
COPY --from=patch-tool /patch-tool/node_modules /patch-tool/node_modules
RUN --mount=type=cache,target=/root/.npm \
    npm ci --omit=dev --ignore-scripts --no-audit --no-fund --workspace=router --workspace=subgraphs --workspace=registry \
 && node /patch-tool/node_modules/patch-package/index.js --error-on-fail

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
CMD ["node", "--no-memory-reducer", "--min-semi-space-size=16", "router/src/index.ts"]
