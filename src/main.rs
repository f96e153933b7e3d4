use std::time::Duration;

use clap::Parser;
use telnyx_rooms_graphql::config::Config;
use telnyx_rooms_graphql::sample_upstream::{self, SampleUpstream};
use telnyx_rooms_graphql::{app, telemetry};
use tokio::net::TcpListener;

/// mimalloc: glibc's allocator was a fifth of the CPU profile of a query (GraphQL execution
/// allocates many small, short-lived values), and it scales better across threads.
#[cfg(feature = "mimalloc")]
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut runtime = tokio::runtime::Builder::new_multi_thread();
    runtime.enable_all();
    #[cfg(feature = "mimalloc")]
    runtime.on_thread_park(return_freed_memory);
    runtime.build()?.block_on(async {
        #[cfg(feature = "mimalloc")]
        tokio::spawn(async {
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            loop {
                tick.tick().await;
                return_freed_memory();
            }
        });
        run().await
    })
}

/// mimalloc keeps the pages a thread has freed in that thread's heap, and returns memory to the
/// kernel only some time after it was freed, when a thread next allocates or collects. After a
/// burst, idle workers allocate nothing, so a burst of 1,000 connections left 75–104 MiB of RSS
/// for good. So each worker collects when it goes idle (its freed pages go back to the shared
/// arena: no measurable cost per query), and a tick once a second collects again, which
/// returns what has been free for long enough. With THP off (Cargo.toml), RSS is back near
/// idle two seconds after the burst (docs/performance.md).
#[cfg(feature = "mimalloc")]
fn return_freed_memory() {
    // SAFETY: `mi_collect` only tidies mimalloc's own structures for the calling thread and
    // the shared arenas; mimalloc allows it from any thread at any time.
    unsafe { libmimalloc_sys::mi_collect(false) };
}

async fn run() -> Result<(), Box<dyn std::error::Error>> {
    let mut config = Config::parse();
    if config.print_schema {
        print!("{}", app::printed_schema(&config));
        return Ok(());
    }
    if config.healthcheck {
        return healthcheck(&config).await;
    }
    let telemetry = telemetry::init(config.log_format, &config.traces)?;

    if let Some(addr) = config.sample_upstream {
        let upstream = SampleUpstream::spawn_with_faults(addr, config.sample_faults).await?;
        println!("Sample upstream: {}  (key: {})", upstream.base_url(), sample_upstream::SAMPLE_API_KEY);
        shutdown_signal().await;
        return Ok(());
    }
    if let Some(refusal) = config.startup_refusal() {
        eprintln!("{refusal}");
        std::process::exit(2);
    }
    // Kept alive (its server task runs) for as long as the service does.
    let sample = if config.demo {
        let upstream = SampleUpstream::spawn(([127, 0, 0, 1], 0).into()).await?;
        config.telnyx_api_base_url = upstream.base_url().parse()?;
        config.telnyx_api_key = Some(sample_upstream::SAMPLE_API_KEY.into());
        // The live room signs its webhooks with the demo key; a key the user set wins.
        config.telnyx_public_key.get_or_insert_with(sample_upstream::demo_public_key);
        Some(upstream)
    } else {
        None
    };
    let listener = TcpListener::bind(config.listen_addr).await?;
    let addr = listener.local_addr()?;
    tracing::info!(%addr, "listening");
    // Started once the listener is bound: its deliveries wait in the backlog until the service
    // serves below. Stops when dropped, at the end of `main`.
    let _live = match &sample {
        Some(upstream) => {
            let webhook_url = format!("http://{}/webhooks/telnyx", loopback(addr)).parse()?;
            Some(upstream.start_live_room(webhook_url, Duration::from_millis(config.demo_live_interval_ms)))
        }
        None => None,
    };
    if config.demo {
        println!("GraphiQL: http://{addr}/graphql  (sample upstream: {})", config.telnyx_api_base_url);
        println!("Sample session id: {}", sample_upstream::ids::MEDIUM_SESSION);
        println!(
            "Try: curl -s http://{addr}/graphql -H 'content-type: application/json' -d '{{\"query\":\"{{ roomSession(id: \\\"{}\\\") {{ participants(first: 3) {{ totalCount nodes {{ id context joinedAt }} }} }} }}\"}}'",
            sample_upstream::ids::MEDIUM_SESSION
        );
        println!(
            "Or act: curl -s http://{addr}/graphql -H 'content-type: application/json' -d '{{\"query\":\"mutation {{ createRoomClientToken(input: {{ roomId: \\\"{}\\\", tokenTtlSecs: 600 }}) {{ token tokenExpiresAt }} }}\"}}'",
            sample_upstream::ids::ROOM
        );
        println!(
            "Live: someone joins or leaves room {} every {} ms; watch it in GraphiQL:",
            sample_upstream::ids::ROOM,
            config.demo_live_interval_ms
        );
        println!("  {}", sample_upstream::live_room_subscription());
        if config.telnyx_public_key.as_deref().map(str::trim) != Some(&sample_upstream::demo_public_key()) {
            println!("  (TELNYX_PUBLIC_KEY is set and is not the demo key: the live room's webhooks will be refused)");
        }
    }
    let app = app::build(&config).map_err(|error| error.to_string())?;
    app::serve(listener, app, shutdown_signal()).await?;
    // The last spans (the drain's requests among them) are sent before the process ends.
    telemetry.shutdown();
    tracing::info!("stopped");
    Ok(())
}

/// `--healthcheck`: a container health probe that needs no shell tools in the image.
async fn healthcheck(config: &Config) -> Result<(), Box<dyn std::error::Error>> {
    let addr = loopback(config.listen_addr);
    let client = reqwest::Client::builder().timeout(Duration::from_secs(3)).build()?;
    let status = client.get(format!("http://{addr}/health")).send().await?.status();
    if status.is_success() {
        Ok(())
    } else {
        Err(format!("health check answered {status}").into())
    }
}

/// `addr` as this process reaches itself: a wildcard listener through loopback.
fn loopback(mut addr: std::net::SocketAddr) -> std::net::SocketAddr {
    if addr.ip().is_unspecified() {
        addr.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
    }
    addr
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
    tracing::info!("shutting down: /ready answers 503; serving until the load balancers move away");
}
