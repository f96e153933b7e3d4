//! The real service binary as a child process, for tests where the process itself matters:
//! signals, exit status, what reaches stdout, and surviving what would abort it.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

pub const BINARY: &str = env!("CARGO_BIN_EXE_telnyx-rooms-graphql");

/// A loopback address nothing listens on (bound, then released).
pub fn free_addr() -> SocketAddr {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap()
}

/// The service binary running as a child process, its output captured in files (a pipe could
/// fill up and block it under `RUST_LOG=trace`). Killed on drop if still running.
pub struct Service {
    pub child: Child,
    pub addr: SocketAddr,
    stdout: PathBuf,
    stderr: PathBuf,
}

impl Service {
    /// Starts the binary on a free port with `args` and only `env` as its environment, so
    /// nothing from the test's environment configures it.
    pub fn start(name: &str, args: &[&str], env: &[(&str, &str)]) -> Self {
        Self::start_listening(name, false, args, env)
    }

    /// Like [`Service::start`], listening on every interface when `everywhere`; it is still
    /// only ever reached through loopback.
    pub fn start_listening(name: &str, everywhere: bool, args: &[&str], env: &[(&str, &str)]) -> Self {
        let addr = free_addr();
        let listen = if everywhere { SocketAddr::from(([0, 0, 0, 0], addr.port())) } else { addr };
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
        let stem = format!("{name}-{}-{}", std::process::id(), addr.port());
        let (stdout, stderr) = (dir.join(format!("{stem}.stdout")), dir.join(format!("{stem}.stderr")));
        let child = Command::new(BINARY)
            .args(["--listen-addr", &listen.to_string()])
            .args(args)
            .env_clear()
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&stdout).unwrap())
            .stderr(std::fs::File::create(&stderr).unwrap())
            .spawn()
            .unwrap();
        Self { child, addr, stdout, stderr }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Its `/metrics` once `done` holds of them, or as they are after 10 s: what is counted
    /// after a response was sent (a frame's delivery time, an export's outcome) may lag it.
    pub async fn metrics_until(&self, done: impl Fn(&str) -> bool) -> String {
        let client = reqwest::Client::new();
        let mut metrics = String::new();
        for _ in 0..100 {
            metrics = client.get(self.url("/metrics")).send().await.unwrap().text().await.unwrap();
            if done(&metrics) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        metrics
    }

    pub async fn until_healthy(&self) {
        let client = reqwest::Client::new();
        let started = Instant::now();
        loop {
            if let Ok(response) = client.get(self.url("/health")).send().await {
                if response.status() == 200 {
                    return;
                }
            }
            assert!(started.elapsed() < Duration::from_secs(10), "the service never became healthy");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    pub fn terminate(&self) {
        let status = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status().unwrap();
        assert!(status.success());
    }

    /// The exit status, if the process exits within `limit`.
    pub async fn exit_within(&mut self, limit: Duration) -> Option<ExitStatus> {
        let started = Instant::now();
        while started.elapsed() < limit {
            if let Some(status) = self.child.try_wait().unwrap() {
                return Some(status);
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        None
    }

    /// Everything it wrote: stdout, then stderr.
    pub fn output(&self) -> (String, String) {
        (std::fs::read_to_string(&self.stdout).unwrap(), std::fs::read_to_string(&self.stderr).unwrap())
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        let _ = std::fs::remove_file(&self.stdout);
        let _ = std::fs::remove_file(&self.stderr);
    }
}

/// A real `redis-server` on a free loopback port, started for a test and killed (by its PID)
/// when dropped. It persists nothing. Tests that start one are
/// `#[ignore = "needs redis-server"]`, so a plain `cargo test` needs no Redis;
/// `cargo test -- --include-ignored` (as `.ci/run` does) runs them.
pub struct RedisServer {
    child: Child,
    /// Its port.
    pub port: u16,
}

impl RedisServer {
    pub async fn start() -> Self {
        let port = free_addr().port();
        let child = Self::spawn(port).await;
        Self { child, port }
    }

    async fn spawn(port: u16) -> Child {
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server runs (Debian: apt-get install redis-server; .ci/run installs it)");
        let started = Instant::now();
        while tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_err() {
            assert!(started.elapsed() < Duration::from_secs(10), "redis-server did not start");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        child
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Kills it (by its PID), as if Redis crashed.
    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Starts it again on the same port, empty.
    pub async fn restart(&mut self) {
        self.stop();
        self.child = Self::spawn(self.port).await;
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
