# syntax=docker/dockerfile:1

# Build stage: dependencies are compiled in their own layer, keyed on the manifests only,
# so editing src/ does not rebuild them.
FROM rust:1.95-slim-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
RUN mkdir src \
    && echo 'fn main() {}' > src/main.rs \
    && touch src/lib.rs \
    && cargo build --release --locked \
    && rm -rf src
COPY src ./src
RUN touch src/main.rs src/lib.rs && cargo build --release --locked

# Runtime stage: distroless (no shell, no package manager), running as an unprivileged user.
FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /src/target/release/telnyx-rooms-graphql /usr/local/bin/telnyx-rooms-graphql
ENV LISTEN_ADDR=0.0.0.0:8000
EXPOSE 8000
USER nonroot
ENTRYPOINT ["/usr/local/bin/telnyx-rooms-graphql"]
