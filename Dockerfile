# The tasnif server image: `docker build -t tasnif .` or `podman build -t tasnif .`
#
# Two stages: the release binary is built in the official Rust image (Debian 12
# "bookworm", the toolchain the project is built and tested with), then copied alone
# into distroless/cc (Debian 12: glibc, libgcc, CA roots; no shell, no package manager),
# where it runs as the image's `nonroot` user (65532). The model is embedded in the
# binary, so nothing else is copied. Base images are pinned by tag and digest; to move
# them, pull the new tag and take its digest (`podman image inspect --format
# '{{.Digest}}' IMAGE` or `crane digest IMAGE`). README "Deploying" says more, and
# `scripts/image-check.sh` proves this layout (binary + the libraries ldd names,
# non-root, entrypoint) by building a FROM-scratch image of it with podman and
# classifying through it.
#
# Ports: 50051 gRPC (also JSON over HTTP and the page), 9090 Prometheus /metrics.
# Health: the gRPC health protocol, grpc.health.v1.Health/Check (service "" or
# "tasnif.v1.TopicClassifier") on 50051 -- what Kubernetes' native `grpc:` probes call
# (deploy/k8s/deployment.yaml); also GET /healthz and /readyz on the same port. There is
# no HEALTHCHECK: Kubernetes ignores it, and distroless has no shell or client to run one.

FROM rust:1.95.0-bookworm@sha256:6258907abe69656e41cd992e0b705cdcfabcbbe3db374f92ed2d47121282d4a1 AS build
WORKDIR /src
# Only what the build reads (.dockerignore lets nothing else into the context).
COPY Cargo.toml Cargo.lock build.rs ./
COPY proto ./proto
COPY models ./models
COPY benches ./benches
COPY src ./src
# The registry and the target directory are cache mounts, so a rebuild after a source
# change recompiles only tasnif; the binary is copied out of the cache mount.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --bin tasnif \
    && install -D -m 0755 target/release/tasnif /out/tasnif

FROM gcr.io/distroless/cc-debian12:nonroot@sha256:9dac0a79194e45a7da0158a9c6da57b217585af0786db3845d1f0ec1a0dd182f
LABEL org.opencontainers.image.title="tasnif" \
      org.opencontainers.image.description="Arabic news topic classifier served over gRPC" \
      org.opencontainers.image.licenses="MIT"
COPY --from=build /out/tasnif /usr/local/bin/tasnif
# Numeric, so Kubernetes' runAsNonRoot can check it without reading /etc/passwd.
USER 65532:65532
EXPOSE 50051 9090
ENTRYPOINT ["/usr/local/bin/tasnif", "serve"]
# Every flag also reads a TASNIF_* variable (README "Configuration"); Kubernetes `args:`
# replace this list.
CMD ["--addr", "0.0.0.0:50051", "--metrics-addr", "0.0.0.0:9090", "--log-format", "json"]
