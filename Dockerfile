# mumuka — メール無害化ゲートウェイ / mail sanitization gateway
#
#   docker build -t mumuka .
#   docker run -d --name mumuka -p 25:2525 \
#     -v mumuka-data:/var/lib/mumuka \
#     -v /etc/mumuka/mumuka.yaml:/etc/mumuka/mumuka.yaml:ro mumuka
#
# The image runs as an unprivileged user, keeps all state (spool, audit log,
# outbox) in the volume /var/lib/mumuka, and listens on 2525 inside the
# container (map it to 25 outside). Mount your own /etc/mumuka/mumuka.yaml
# (see config/mumuka.example.yaml); the built-in one accepts mail only from
# the container's loopback and writes sanitized messages into
# /var/lib/mumuka/outbox, which is only good for a first try.

FROM node:24-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json tsconfig.json tsconfig.build.json ./
COPY src ./src
COPY bin ./bin
COPY config ./config
# npm ci runs "prepare" (tsc → dist/); then drop the development dependencies
RUN npm ci --no-audit --no-fund && npm prune --omit=dev --no-audit --no-fund

FROM node:24-bookworm-slim
ENV NODE_ENV=production
# glibc keeps a malloc arena per thread (the receiver, two sanitizer workers, libuv's pool…);
# two arenas cut the gateway's resident memory by 40-60 MiB at no measurable cost (docs/relay.md)
ENV MALLOC_ARENA_MAX=2
WORKDIR /app
COPY --from=build /app/package.json ./
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY --from=build /app/bin ./bin
COPY --from=build /app/config ./config
RUN useradd --system --uid 10025 --user-group --home-dir /var/lib/mumuka --shell /usr/sbin/nologin mumuka \
 && mkdir -p /var/lib/mumuka /etc/mumuka \
 && chown mumuka:mumuka /var/lib/mumuka \
 && printf '%s\n' \
    '# built-in configuration of the image: mount your own over this file' \
    'dataDir: /var/lib/mumuka' \
    'smtp: { host: 0.0.0.0, port: 2525, clients: [127.0.0.0/8] }' \
    'delivery: { mode: directory }' \
    'admin: { host: 0.0.0.0, port: 8025 }' \
    'log: { format: json }' > /etc/mumuka/mumuka.yaml
VOLUME ["/var/lib/mumuka"]
USER mumuka
EXPOSE 2525 8025
# healthy = the admin listener's /healthz says the spool is writable and the
# audit store answers (200; 503 otherwise)
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:8025/healthz',{signal:AbortSignal.timeout(4000)}).then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
STOPSIGNAL SIGTERM
ENTRYPOINT ["node", "bin/mumuka.js"]
CMD ["serve", "--config", "/etc/mumuka/mumuka.yaml"]
