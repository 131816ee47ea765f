# syntax=docker/dockerfile:1
# Waypost proxy image. Build: docker build -t waypost:local .
# The same image runs the sidecar (`waypost register ...`) and the registrar.

# --- build: compile TypeScript (tsc and the @types packages are dev dependencies) ---
FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
# --ignore-scripts: tsc needs no install script, and the benchmark-only dev dependencies have
# native ones (redbird pulls deasync, whose prebuilds are x64-only: on arm64 it would try to
# compile with tools this image lacks). Nothing from this stage but dist/ reaches the image.
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build

# --- runtime: production dependencies and the compiled output only ---
FROM node:20-bookworm-slim AS runtime
ENV NODE_ENV=production
WORKDIR /app
COPY package.json package-lock.json ./
# Runtime dependencies only (no dev, test or benchmark package); none needs an install script.
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund && npm cache clean --force
COPY --from=build /app/dist ./dist
COPY config/waypost.yaml ./config/waypost.yaml
# The node image's unprivileged user (uid 1000); nothing here needs root.
USER node
EXPOSE 8080 9901
ENTRYPOINT ["node", "dist/cli.js"]
CMD ["proxy"]
