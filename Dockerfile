# Gantry: one image for every service (`gantry server`, `gantry extauth`, `gantry ratelimit`, …).
# Build:  docker build -t gantry .
# Run:    docker run gantry ratelimit --config-dir /config

FROM node:20-bookworm-slim AS build
WORKDIR /src
COPY package.json package-lock.json ./
COPY scripts ./scripts
COPY proto ./proto
COPY buf.yaml buf.gen.yaml tsconfig.json tsconfig.build.json ./
COPY src ./src
COPY bin ./bin
# `npm ci` runs prepare: generates src/gen from the protos and compiles to dist/.
RUN npm ci --no-audit --no-fund

FROM node:20-bookworm-slim
ENV NODE_ENV=production
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund && npm cache clean --force
COPY --from=build /src/dist ./dist
COPY bin ./bin
COPY examples ./examples
# Named volumes mounted here start with this ownership: the agent's data dir and registration tokens.
RUN mkdir -p /data /tokens && chown node:node /data /tokens
USER node
ENTRYPOINT ["node", "/app/bin/gantry.js"]
CMD ["--help"]
