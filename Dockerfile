# kvstore volume server image.
#   docker build -t kvstore .
#   docker run -p 8000:8000 -v kvstore-data:/data -e AUTH_TOKEN kvstore
# The server listens on every interface of the container, so it refuses to start without a token:
# export AUTH_TOKEN (e.g. AUTH_TOKEN=$(openssl rand -hex 32)) before `docker run -e AUTH_TOKEN`,
# or mount a tokens file and set AUTH_TOKENS_FILE. Never bake a token into the image.
# Not built on the development machines (they run no Docker engine); keep every step readable.

# 1. Compile src/main.ts into one self-contained executable, dist/kvstore.
FROM oven/bun:1.4.5 AS build
WORKDIR /src
COPY package.json package-lock.json ./
RUN bun install --production --ignore-scripts
COPY tsconfig.json ./
COPY src ./src
RUN bun run build

# 2. The runtime holds the binary and nothing else from the build (no Bun, no node_modules).
FROM debian:bookworm-slim
RUN useradd --system --uid 10001 --no-create-home --shell /usr/sbin/nologin kvstore \
  && mkdir /data \
  && chown kvstore:kvstore /data
COPY --from=build /src/dist/kvstore /usr/local/bin/kvstore
USER kvstore
ENV PORT=8000 \
  HOST=0.0.0.0 \
  DATA_DIR=/data \
  VOLUME_ID=vol-1
VOLUME /data
EXPOSE 8000
# The binary embeds the Bun runtime, and BUN_BE_BUN=1 makes it act as `bun`: the probe needs
# no curl in the image.
HEALTHCHECK --interval=30s --timeout=3s --start-period=5s --retries=3 \
  CMD BUN_BE_BUN=1 kvstore -e 'const r = await fetch(`http://127.0.0.1:${process.env.PORT}/health`); process.exit(r.ok ? 0 : 1)'
ENTRYPOINT ["kvstore"]
CMD ["serve"]
