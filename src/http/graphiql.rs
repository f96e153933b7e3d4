//! GraphiQL, carried inside the binary: our page and the prebuilt files it loads (GraphiQL,
//! React and graphql-ws UMD builds), vendored with their licences in `assets/graphiql/vendor`
//! by `assets/graphiql/update-vendor.sh` from the versions the lockfile pins. So the first
//! `cargo run -- --demo` serves a working GraphiQL with no `npm ci`, no CDN and no internet.

use axum::extract::Path;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Response};

/// The page (`GET /graphql` from a browser).
pub(super) fn page() -> Html<&'static str> {
    Html(include_str!("../../assets/graphiql/index.html"))
}

/// The files under `/graphiql/assets/`, by path, with their media types.
const ASSETS: [(&str, &str, &[u8]); 5] = [
    (
        "graphiql/graphiql.min.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../assets/graphiql/vendor/graphiql/graphiql.min.js"),
    ),
    (
        "graphiql/graphiql.min.css",
        "text/css; charset=utf-8",
        include_bytes!("../../assets/graphiql/vendor/graphiql/graphiql.min.css"),
    ),
    (
        "react/umd/react.production.min.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../assets/graphiql/vendor/react/umd/react.production.min.js"),
    ),
    (
        "react-dom/umd/react-dom.production.min.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../assets/graphiql/vendor/react-dom/umd/react-dom.production.min.js"),
    ),
    (
        "graphql-ws/umd/graphql-ws.min.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../assets/graphiql/vendor/graphql-ws/umd/graphql-ws.min.js"),
    ),
];

/// `GET /graphiql/assets/{path}`: one of the embedded files, cached by browsers for a day
/// (their content changes only with the binary).
pub(super) async fn asset(Path(path): Path<String>) -> Response {
    match ASSETS.iter().find(|(name, _, _)| *name == path) {
        Some((_, media_type, bytes)) => (
            [
                (header::CONTENT_TYPE, HeaderValue::from_static(media_type)),
                (header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=86400")),
            ],
            *bytes,
        )
            .into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_embedded_files_are_the_vendored_ones_with_their_recorded_checksums() {
        let sums = include_str!("../../assets/graphiql/vendor/SHA256SUMS");
        for (name, _, bytes) in ASSETS {
            let recorded = sums.lines().find(|line| line.ends_with(&format!("  {name}"))).unwrap();
            assert_eq!(&recorded[..64], crate::auth::sha256_hex(bytes), "{name}");
        }
        assert_eq!(sums.lines().count(), ASSETS.len());
    }

    #[test]
    fn the_page_loads_only_embedded_files() {
        let page = page().0;
        let loaded: Vec<&str> =
            page.split(['"', '\'']).filter_map(|part| part.strip_prefix("/graphiql/assets/")).collect();
        assert_eq!(loaded.len(), ASSETS.len());
        assert!(loaded.iter().all(|path| ASSETS.iter().any(|(name, _, _)| name == path)), "{loaded:?}");
        assert!(!page.contains("https://"), "the page must not reach the internet");
    }
}
