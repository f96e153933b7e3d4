# syntax=docker/dockerfile:1

# Build: dependencies compile in their own layer, keyed on the manifests only, so editing
# src/ does not rebuild them.
FROM rust:1.95-slim-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY benches ./benches
RUN mkdir src \
    && echo 'fn main() {}' > src/main.rs \
    && touch src/lib.rs \
    && cargo build --release --locked \
    && rm -rf src
# GraphiQL's page and vendored files are embedded in the binary (include_bytes!).
COPY assets/graphiql/index.html ./assets/graphiql/index.html
COPY assets/graphiql/vendor ./assets/graphiql/vendor
COPY src ./src
RUN touch src/main.rs src/lib.rs && cargo build --release --locked

# Runtime: distroless (no shell, no package manager), as an unprivileged user. The health
# check is the binary's own --healthcheck mode, since there is no curl here.
FROM gcr.io/distroless/cc-debian12:nonroot
LABEL org.opencontainers.image.title="telnyx-rooms-graphql" \
      org.opencontainers.image.description="A Relay-style GraphQL facade over Telnyx's Video REST API" \
      org.opencontainers.image.licenses="MIT OR Apache-2.0" \
      org.opencontainers.image.version="0.1.0"
COPY --from=build /src/target/release/telnyx-rooms-graphql /app/telnyx-rooms-graphql
# The licences of the GraphiQL, React and graphql-ws files the binary embeds.
COPY assets/graphiql/vendor/graphiql/LICENSE /app/licenses/graphiql.LICENSE
COPY assets/graphiql/vendor/react/LICENSE /app/licenses/react.LICENSE
COPY assets/graphiql/vendor/react-dom/LICENSE /app/licenses/react-dom.LICENSE
COPY assets/graphiql/vendor/graphql-ws/LICENSE.md /app/licenses/graphql-ws.LICENSE.md
# The image listens on every interface, so it refuses to start with TELNYX_API_KEY set unless
# callers are authenticated or the operator accepts that anyone reaching the port uses that
# key. The ways to run it (docs/security.md):
# - End-user JWTs, for anything a browser or the internet reaches: the service checks each
#   caller's token against your identity provider and uses TELNYX_API_KEY for Telnyx itself.
#     docker run -e AUTH_MODE=jwt -e JWT_JWKS_URL=https://idp.example/jwks.json -e JWT_ISSUER=https://idp.example/ -e JWT_AUDIENCE=telnyx-rooms -e TELNYX_API_KEY=... ...
# - A private network only (behind a gateway that authenticates callers): every caller
#   reaching the port uses the key.
#     docker run -e TELNYX_API_KEY=... -e ALLOW_ANONYMOUS=true ...
# - No TELNYX_API_KEY at all: each caller sends its own Telnyx key in Authorization.
ENV LISTEN_ADDR=0.0.0.0:8000 \
    LOG_FORMAT=json
EXPOSE 8000
USER 65532:65532
HEALTHCHECK --interval=10s --timeout=3s --start-period=5s --retries=3 \
    CMD ["/app/telnyx-rooms-graphql", "--healthcheck"]
ENTRYPOINT ["/app/telnyx-rooms-graphql"]
