# ExPO Bot: the Probot server (webhooks, Hub poller, ledger, dispatch). GPU work runs on
# self-hosted GitHub Actions runners, not here. See docs/deploy.md.
#
#   docker build -t expo-bot .
#   docker run -d --name expo-bot -p 3000:3000 -v expo-data:/data --env-file bot.env expo-bot

# ---- build: production dependencies (better-sqlite3 is native; tools for a source build) ----
FROM node:22-bookworm-slim AS deps
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ ca-certificates \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY package.json package-lock.json ./
# The bot never runs inference: no CUDA build of onnxruntime-node (package.json's allowScripts
# already skips its install script on npm ≥ 11; the variable covers older npm).
ENV ONNXRUNTIME_NODE_INSTALL=skip
RUN npm ci --omit=dev --no-audit --no-fund \
 && node -e "new (require('better-sqlite3'))(':memory:').close()"

# ---- runtime ----
FROM node:22-bookworm-slim
ENV NODE_ENV=production \
    HOST=0.0.0.0 \
    PORT=3000 \
    LOG_FORMAT=json \
    LOG_LEVEL=info \
    EXPO_LEDGER=/data/ledger.sqlite
WORKDIR /app
COPY --from=deps --chown=root:root /app/node_modules ./node_modules
COPY package.json tsconfig.json app.yml ./
COPY bin ./bin
COPY src ./src
COPY templates ./templates
# The ledger lives on a volume owned by the unprivileged `node` user (uid 1000).
RUN mkdir -p /data && chown node:node /data
USER node
VOLUME ["/data"]
EXPOSE 3000
# Probot answers GET /ping with PONG once the server listens.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
  CMD node -e "fetch('http://127.0.0.1:' + (process.env.PORT || 3000) + '/ping').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"
CMD ["node", "--import", "tsx", "src/index.ts"]
