# syntax=docker/dockerfile:1
# igloo container image: one static-ish binary (glibc) on debian slim, running as a non-root user.
#   docker build -t igloo .
#   docker run -d -p 8002:8002 -v igloo-data:/data -e ADMIN_SECRET=... igloo
# Umbrel and Start9 use this same image (see umbrel/ and start9/).

ARG RUST_VERSION=1.95

FROM rust:${RUST_VERSION}-slim-bookworm AS builder
WORKDIR /src
# Only what `cargo build` reads: the manifest (it names the benches), the sources and the
# embedded web UI. Tests, fuzz targets and scripts stay out of the build context.
COPY Cargo.toml Cargo.lock ./
COPY src ./src
COPY static ./static
COPY benches ./benches
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --bin igloo \
    && install -D -m 0755 target/release/igloo /out/igloo

FROM debian:bookworm-slim
# ca-certificates is not needed for wss relays (webpki-roots is compiled in); tini reaps the
# process and forwards SIGTERM so shutdown is graceful.
RUN apt-get update \
    && apt-get install -y --no-install-recommends tini \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --gid 1000 igloo \
    && useradd --uid 1000 --gid 1000 --home-dir /data --no-create-home --shell /usr/sbin/nologin igloo \
    && install -d -o 1000 -g 1000 -m 0700 /data
COPY --from=builder /out/igloo /usr/local/bin/igloo

# Names are the ones src/config.rs accepts (tests/packaging.rs checks them).
ENV HOST_NAME=0.0.0.0 \
    HOST_PORT=8002 \
    DB_PATH=/data \
    NODE_ENV=production
VOLUME ["/data"]
WORKDIR /data
USER 1000:1000
EXPOSE 8002
# `igloo healthcheck` reads the same settings, so it follows HOST_PORT and IGLOO_TLS.
HEALTHCHECK --interval=30s --timeout=10s --start-period=20s --retries=3 \
    CMD ["/usr/local/bin/igloo", "healthcheck"]
ENTRYPOINT ["/usr/bin/tini", "--", "/usr/local/bin/igloo"]
CMD ["serve"]
