# The control-panel image: `docker compose up` builds it from the repository.
# Build stage: every dependency, the Next build, the compiled custom server
# (apps/web/scripts/build-standalone.mjs) and the agent's release files for
# x86_64 and arm64 (the other architecture's node binary comes from the npm
# registry: apps/agent/packaging/build-release.sh), which the panel serves under
# /download and /install.sh.
FROM node:20-bookworm-slim AS build
WORKDIR /src
COPY . .
ENV NEXT_TELEMETRY_DISABLED=1 TURBO_TELEMETRY_DISABLED=1
RUN npm ci --no-audit --no-fund \
 && npx turbo run build --filter=@tula/web \
 && npm run build:standalone -w @tula/web \
 && npm run build:agent-binary \
 && mkdir -p apps/web/.next/image/apps/agent/dist \
 && cp -r apps/agent/dist/release apps/web/.next/image/apps/agent/dist/release

# Run stage: Next's standalone output and the traced production files only (no
# devDependencies, no TypeScript, no tsx, no lab), run as the unprivileged user
# `node`. The embedded database (used only without DATABASE_URL) lives in /data.
FROM node:20-bookworm-slim
WORKDIR /app
ENV NODE_ENV=production NEXT_TELEMETRY_DISABLED=1 PORT=3000 HOST=0.0.0.0 TULA_DATA_DIR=/data
COPY --from=build /src/apps/web/.next/image /app
RUN mkdir -p /data && chown node:node /data
VOLUME /data
USER node
EXPOSE 3000
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.PORT||3000)+'/api/health').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
CMD ["node", "apps/web/start.mjs"]
