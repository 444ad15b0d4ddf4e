# syntax=docker/dockerfile:1
# mmkit serve as a container: the Open Inference Protocol (KServe v2) on 8000 (HTTP) and 8001 (gRPC).
#
#   docker build -t mmkit .                                        # models mounted at run time:
#   docker run --init -p 8000:8000 -p 8001:8001 -v "$PWD/models:/models:ro" mmkit
#   docker build -t mmkit-vit --build-arg MODEL_REPOSITORY=models . # models baked in
#
# MODEL_REPOSITORY is a folder in the build context laid out as `mmkit export triton` writes it
# (NAME/config.pbtxt, NAME/1/model.onnx). The server drains in-flight requests on SIGTERM.

ARG NODE_IMAGE=node:20-bookworm-slim

FROM ${NODE_IMAGE} AS build
WORKDIR /app
COPY package.json package-lock.json .npmrc ./
# --ignore-scripts: the package's own `prepare` (tsc) needs the sources, copied next.
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json ./
COPY sdk ./sdk
COPY kernel-extras ./kernel-extras
COPY bench ./bench
COPY datasets ./datasets
RUN npm run build
# The models to bake in, if any: copied from the build context into /models (empty otherwise).
ARG MODEL_REPOSITORY=
COPY . /context
RUN mkdir -p /models && if [ -n "$MODEL_REPOSITORY" ]; then cp -a "/context/$MODEL_REPOSITORY/." /models/; fi && rm -rf /context

FROM ${NODE_IMAGE} AS runtime
ENV NODE_ENV=production
WORKDIR /app
COPY package.json package-lock.json .npmrc ./
# Runtime dependencies only. --ignore-scripts: no `prepare` (tsc is a dev dependency) and no
# dependency install scripts (package.json's allowScripts turns them off for npm ≥ 11 too);
# --omit=optional drops tfjs-node, which only training uses.
RUN npm ci --omit=dev --omit=optional --ignore-scripts --no-audit --no-fund && npm cache clean --force
COPY --from=build /app/dist ./dist
# Read at run time from the package, not from dist/: the gRPC service definition.
COPY --from=build /app/sdk/serve/proto ./sdk/serve/proto
COPY --from=build --chown=1000:1000 /models /models
# node images ship the unprivileged user `node` as uid 1000; numeric so Kubernetes' runAsNonRoot can verify it.
USER 1000:1000
EXPOSE 8000 8001
HEALTHCHECK --interval=10s --timeout=3s --start-period=120s --retries=3 \
  CMD ["node", "-e", "require('http').get('http://127.0.0.1:8000/v2/health/ready', (r) => process.exit(r.statusCode === 200 ? 0 : 1)).on('error', () => process.exit(1))"]
ENTRYPOINT ["node", "dist/sdk/cli/main.js"]
CMD ["serve", "--model-repository", "/models", "--http-port", "8000", "--grpc-port", "8001"]
