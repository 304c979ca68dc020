# syntax=docker/dockerfile:1
#
# stsd container image: a single static binary in an empty image.
#
#   docker build -t stsd:dev \
#     --build-arg VERSION=$(git describe --tags --always) \
#     --build-arg VCS_REF=$(git rev-parse HEAD) \
#     --build-arg SOURCE_DATE_EPOCH=$(git log -1 --format=%ct) .
#   docker run --rm -p 8090:8090 stsd:dev serve --dev --listen 0.0.0.0:8090
#
# Why glibc + crt-static and not musl: the build machines this project is developed and tested on
# carry only the x86_64-unknown-linux-gnu Rust target and cannot download another one, so the
# binary CI tests in a `FROM scratch` image (ci/packaging-check.sh) is a statically linked glibc
# build. This file builds the same way so the image contains exactly what CI exercised.
# Static glibc (2.34 and later) resolves host names from /etc/hosts and DNS without loading any
# libnss_*.so, which is all stsd needs (Kubernetes mounts /etc/hosts and /etc/resolv.conf into every
# container). OpenSSL (used by josekit) is built from source and linked in by the
# `vendored-openssl` feature; outbound HTTPS uses rustls with compiled-in web PKI roots, so the
# image needs no CA bundle (private CAs are configured per provider with `tlsCaCert`).

ARG RUST_VERSION=1.95
ARG DEBIAN_RELEASE=bookworm

FROM docker.io/library/rust:${RUST_VERSION}-slim-${DEBIAN_RELEASE} AS build

# The slim image has gcc and the static glibc (libc6-dev) but not what the vendored OpenSSL build
# runs (make, perl); pinned to the exact Debian revision would break on every point release, so the
# release is pinned through the base image tag instead.
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends make perl \
 && rm -rf /var/lib/apt/lists/*

SHELL ["/bin/bash", "-o", "pipefail", "-c"]
WORKDIR /src

ARG TARGET=x86_64-unknown-linux-gnu
ARG SOURCE_DATE_EPOCH=0
# Reproducibility: no incremental state, no absolute build paths in panics or debug info, symbols
# stripped, and a fixed timestamp for anything that embeds one. The explicit --target below matters:
# with it, RUSTFLAGS (crt-static) apply to the binary only, not to build scripts and proc-macros,
# which must stay dynamic host libraries.
ENV CARGO_INCREMENTAL=0 \
    CARGO_TERM_COLOR=never \
    SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH} \
    RUSTFLAGS="-C target-feature=+crt-static -C strip=symbols --remap-path-prefix=/src=. --remap-path-prefix=/usr/local/cargo=cargo"

# Dependency layer: build every dependency against placeholder sources, so that editing src/
# reuses this layer and only the crate itself is recompiled.
COPY Cargo.toml Cargo.lock ./
RUN mkdir src \
 && echo 'fn main() {}' > src/main.rs \
 && touch src/lib.rs \
 && cargo build --release --locked --features vendored-openssl --target "${TARGET}" \
 && rm -rf src \
    "target/${TARGET}/release/stsd" \
    "target/${TARGET}/release/deps/stsd-"* \
    "target/${TARGET}/release/deps/libstsd-"* \
    "target/${TARGET}/release/.fingerprint/stsd-"*

# Sources.
COPY src ./src
ARG VCS_REF=unknown
# `stsd version` prints the revision compiled in from this variable.
ENV STSD_GIT_REVISION=${VCS_REF}
# The readelf check fails the build rather than ship a binary that needs a dynamic loader the
# final image lacks.
RUN cargo build --release --locked --features vendored-openssl --target "${TARGET}" \
 && cp "target/${TARGET}/release/stsd" /stsd \
 && if readelf -l /stsd | grep -q 'Requesting program interpreter'; then \
      echo 'stsd is dynamically linked' >&2; exit 1; \
    fi \
 && /stsd version

FROM scratch

ARG VERSION=dev
ARG VCS_REF=unknown
ARG CREATED=1970-01-01T00:00:00Z
LABEL org.opencontainers.image.title="stsd" \
      org.opencontainers.image.description="Standalone AWS-compatible Security Token Service (AssumeRoleWithWebIdentity) for S3-compatible stores" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${VCS_REF}" \
      org.opencontainers.image.created="${CREATED}" \
      org.opencontainers.image.documentation="docs/kubernetes.md" \
      org.opencontainers.image.base.name="scratch"

COPY --from=build --chown=0:0 --chmod=0555 /stsd /usr/local/bin/stsd

# No shell and no user database in this image: a numeric non-root user, and nothing is written to
# the root filesystem, so it runs with readOnlyRootFilesystem.
USER 65532:65532
EXPOSE 8090
# `stsd healthcheck` probes http://127.0.0.1:<port>/healthz, taking the port from STSD_LISTEN: to
# move the port, set STSD_LISTEN rather than --listen so the check follows.
HEALTHCHECK --interval=30s --timeout=3s --start-period=5s --retries=3 \
  CMD ["/usr/local/bin/stsd", "healthcheck"]
ENTRYPOINT ["/usr/local/bin/stsd"]
CMD ["serve", "--config", "/etc/stsd/iam.json"]
