# Container image for the notes-sync API.
#
# The image sets only HOST and PORT. Everything else comes from the
# environment at run time: docker-compose.yml sets the local development
# stack, and a production task sets NODE_ENV=production, STORE=dynamodb and
# AUTH_MODE=cognito with the Cognito ids.
#
# Build:  docker build -t notes-sync .
# Run:    docker run --rm -p 127.0.0.1:3000:3000 notes-sync

# Build stage: install every dependency and compile TypeScript to dist/.
FROM node:22.23.4-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
# --ignore-scripts: the package's prepare script compiles src/, which is not
# copied yet. The build step below compiles it.
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build

# Runtime stage: production dependencies and the compiled output only.
FROM node:22.23.4-bookworm-slim AS runtime
LABEL org.opencontainers.image.title="notes-sync" \
      org.opencontainers.image.description="Sync API for offline-first notes apps" \
      org.opencontainers.image.licenses="MIT"

# The service listens on 127.0.0.1 by default, which is unreachable from
# outside a container.
ENV HOST=0.0.0.0 \
    PORT=3000

WORKDIR /app
COPY package.json package-lock.json ./
# --ignore-scripts skips the package's prepare script, which needs the
# TypeScript compiler (a dev dependency), and the install scripts of
# dependencies. The only dependency with one, classic-level (used by the
# embedded store), loads its prebuilt binary for linux-x64 or linux-arm64 at
# run time, so this stage needs neither the script nor a compiler.
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund \
 && npm cache clean --force
COPY --from=build /app/dist ./dist
COPY docker/healthcheck.mjs ./docker/healthcheck.mjs

# The default embedded store writes to /app/.data. The application files stay
# owned by root, so this is the only folder under /app that the node user can
# write to.
RUN mkdir .data && chown node:node .data

USER node
EXPOSE 3000

# The slim base image has no curl, so the check runs on node.
HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=3 \
  CMD ["node", "/app/docker/healthcheck.mjs"]

# Exec form: node runs as PID 1 and receives SIGTERM directly, which starts
# the server's drain.
CMD ["node", "dist/src/server.js"]
