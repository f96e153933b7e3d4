//! Configuration: command-line flags with environment fallbacks, read here and nowhere else.

use std::net::SocketAddr;
use std::time::Duration;

use clap::Parser;
use secrecy::SecretString;

/// A Relay-style GraphQL facade over Telnyx's Video REST API.
#[derive(Debug, Clone, Parser)]
#[command(name = "telnyx-rooms-graphql", version, about)]
pub struct Config {
    /// Address to listen on.
    #[arg(long, env = "LISTEN_ADDR", default_value = "127.0.0.1:8000")]
    pub listen_addr: SocketAddr,

    /// Telnyx API base URL.
    #[arg(long, env = "TELNYX_API_BASE_URL", default_value = "https://api.telnyx.com/v2")]
    pub telnyx_api_base_url: url::Url,

    /// Telnyx API key used when a request has no `Authorization` header of its own.
    #[arg(long, env = "TELNYX_API_KEY", hide_env_values = true, value_parser = parse_secret)]
    pub telnyx_api_key: Option<SecretString>,

    /// Milliseconds allowed for connecting to Telnyx.
    #[arg(long, env = "UPSTREAM_CONNECT_TIMEOUT_MS", default_value_t = 2000, value_parser = clap::value_parser!(u64).range(1..))]
    pub upstream_connect_timeout_ms: u64,

    /// Milliseconds allowed for a whole upstream request, body included.
    #[arg(long, env = "UPSTREAM_TIMEOUT_MS", default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(1..))]
    pub upstream_timeout_ms: u64,

    /// Largest `first`/`last` a connection accepts.
    #[arg(long, env = "MAX_FIRST_LAST", default_value_t = 1000, value_parser = clap::value_parser!(u64).range(1..=10_000))]
    pub max_first_last: u64,

    /// Largest upstream response body, in bytes; larger ones fail with UPSTREAM_ERROR.
    #[arg(long, env = "UPSTREAM_MAX_BODY_BYTES", default_value_t = 8 * 1024 * 1024)]
    pub upstream_max_body_bytes: usize,

    /// Serve GraphiQL on `GET /graphql` for browsers.
    #[arg(long, env = "GRAPHIQL", default_value_t = true, action = clap::ArgAction::Set)]
    pub graphiql: bool,

    /// Directory with GraphiQL's page and its npm-installed assets (`npm ci` in
    /// `assets/graphiql`); when it is missing, GraphiQL loads its assets from a CDN instead.
    #[arg(long, env = "GRAPHIQL_ASSETS_DIR", default_value = "assets/graphiql")]
    pub graphiql_assets_dir: std::path::PathBuf,

    /// Run against a built-in sample Telnyx upstream on a loopback port; no API key needed.
    #[arg(long)]
    pub demo: bool,

    /// Serve only the sample Telnyx upstream on this address (for benchmarks and test suites).
    #[arg(long, value_name = "ADDR", conflicts_with = "demo")]
    pub sample_upstream: Option<SocketAddr>,

    /// Print the GraphQL schema (SDL) and exit.
    #[arg(long)]
    pub print_schema: bool,
}

fn parse_secret(value: &str) -> Result<SecretString, String> {
    Ok(SecretString::from(value))
}

impl Config {
    /// Connect timeout as a duration.
    pub fn upstream_connect_timeout(&self) -> Duration {
        Duration::from_millis(self.upstream_connect_timeout_ms)
    }

    /// Whole-request timeout as a duration.
    pub fn upstream_timeout(&self) -> Duration {
        Duration::from_millis(self.upstream_timeout_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_definition_is_consistent() {
        Config::command().debug_assert();
    }

    #[test]
    fn defaults_match_the_documentation() {
        let config = Config::try_parse_from(["telnyx-rooms-graphql"]).unwrap();
        assert_eq!(config.listen_addr.to_string(), "127.0.0.1:8000");
        assert_eq!(config.upstream_connect_timeout(), Duration::from_millis(2000));
        assert_eq!(config.upstream_timeout(), Duration::from_secs(10));
        assert_eq!(config.max_first_last, 1000);
    }

    #[test]
    fn the_api_key_is_never_printed() {
        let config = Config::try_parse_from(["x", "--telnyx-api-key", "KEYsecret"]).unwrap();
        assert!(!format!("{config:?}").contains("KEYsecret"));
    }
}
