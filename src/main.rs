use clap::Parser;
use telnyx_rooms_graphql::{app, config::Config, sample_upstream};
use tokio::net::TcpListener;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut config = Config::parse();
    if config.print_schema {
        print!(
            "{}",
            telnyx_rooms_graphql::schema::build(telnyx_rooms_graphql::schema::Limits {
                max_first_last: config.max_first_last
            })
            .sdl()
        );
        return Ok(());
    }
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .init();

    if let Some(addr) = config.sample_upstream {
        let upstream = sample_upstream::SampleUpstream::spawn(addr).await?;
        println!("Sample upstream: {}  (key: {})", upstream.base_url(), sample_upstream::SAMPLE_API_KEY);
        shutdown_signal().await;
        return Ok(());
    }
    // Kept alive (its server task runs) for as long as the service does.
    let _sample = if config.demo {
        let upstream = sample_upstream::SampleUpstream::spawn(([127, 0, 0, 1], 0).into()).await?;
        config.telnyx_api_base_url = upstream.base_url().parse()?;
        config.telnyx_api_key = Some(sample_upstream::SAMPLE_API_KEY.into());
        Some(upstream)
    } else {
        None
    };
    let listener = TcpListener::bind(config.listen_addr).await?;
    let addr = listener.local_addr()?;
    tracing::info!(%addr, "listening");
    if config.demo {
        println!("GraphiQL: http://{addr}/graphql  (sample upstream: {})", config.telnyx_api_base_url);
        println!("Sample session id: {}", sample_upstream::ids::MEDIUM_SESSION);
        println!(
            "Try: curl -s http://{addr}/graphql -H 'content-type: application/json' -d '{{\"query\":\"{{ roomSession(id: \\\"{}\\\") {{ participants(first: 3) {{ totalCount nodes {{ id context joinedAt }} }} }} }}\"}}'",
            sample_upstream::ids::MEDIUM_SESSION
        );
    }
    app::serve(listener, app::build(&config)?, shutdown_signal()).await?;
    Ok(())
}

/// Resolves on Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        tokio::signal::ctrl_c().await.ok();
    };
    #[cfg(unix)]
    let terminate = async {
        if let Ok(mut signal) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            signal.recv().await;
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! { () = ctrl_c => {}, () = terminate => {} }
    tracing::info!("shutting down");
}
