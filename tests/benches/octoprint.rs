//! Throughput of the OctoPrint surface (the `octoprint` WebAssembly plugin) on loopback, against
//! a release server: requests/s with p50/p99 latency for `GET /octoprint/v1/api/job` and
//! `GET /octoprint/v1/api/printer` from many concurrent keep-alive connections, then the upload
//! of a large G-code file through `POST /octoprint/v1/api/files/local`, streamed from disk.
//!
//! Run (the release server is built first; a release build of wasmtime from scratch takes about
//! 10 minutes on 2 cores):
//! ```text
//! cargo build --release -p printfarm && scripts/build-plugins
//! PRINTFARM_BIN=$PWD/target/release/printfarm cargo bench -p printfarm-e2e --bench octoprint
//! ```
//! (`PRINTFARM_BIN` must be absolute: benches run in `tests/`.) Knobs: `BENCH_CONNECTIONS` (32), `BENCH_SECS` per endpoint (5), `BENCH_MB` upload size (100).
//! The load generator runs in this process on a multi-threaded tokio runtime, so on a small
//! machine it competes with the server for the same cores: the figures are a lower bound.

use std::sync::Arc;
use std::time::{Duration, Instant};

use printfarm_e2e::*;

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// `connections` tasks, each on its own keep-alive connection, request `url` back to back for
/// `secs`; prints requests/s and latency percentiles.
async fn load(url: &str, key: &str, connections: usize, secs: u64) -> anyhow::Result<f64> {
    let url = Arc::new(url.to_string());
    // Warm up: the component is compiled and its instance pool filled before timing.
    let warm = client_with_key(key);
    for _ in 0..50 {
        let r = warm.get(url.as_str()).send().await?;
        anyhow::ensure!(r.status() == 200, "{url}: {}", r.status());
        r.bytes().await?;
    }
    let deadline = Instant::now() + Duration::from_secs(secs);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..connections {
        let url = url.clone();
        // One client per task: exactly one pooled connection each.
        let client = reqwest::Client::builder()
            .pool_max_idle_per_host(1)
            .default_headers({
                let mut h = reqwest::header::HeaderMap::new();
                h.insert("x-api-key", key.parse()?);
                h
            })
            .build()?;
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::with_capacity(1 << 16);
            let mut errors = 0u64;
            while Instant::now() < deadline {
                let t = Instant::now();
                match client.get(url.as_str()).send().await {
                    Ok(r) if r.status() == 200 => {
                        if r.bytes().await.is_ok() {
                            latencies.push(t.elapsed());
                        } else {
                            errors += 1;
                        }
                    }
                    _ => errors += 1,
                }
            }
            (latencies, errors)
        }));
    }
    let mut all = Vec::new();
    let mut errors = 0;
    for t in tasks {
        let (l, e) = t.await?;
        all.extend(l);
        errors += e;
    }
    let elapsed = started.elapsed().as_secs_f64();
    all.sort();
    let pct = |p: f64| {
        all.get(((all.len() as f64 * p) as usize).min(all.len().saturating_sub(1)))
            .map(|d| d.as_secs_f64() * 1000.0)
            .unwrap_or(f64::NAN)
    };
    let rps = all.len() as f64 / elapsed;
    println!(
        "GET {:<28} {connections} connections, {elapsed:.1} s: {} requests = {rps:.0} req/s; \
         p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms; {errors} errors",
        url.split_once("/octoprint").map(|(_, p)| p).unwrap_or(&url),
        all.len(),
        pct(0.50),
        pct(0.99),
        all.last()
            .map(|d| d.as_secs_f64() * 1000.0)
            .unwrap_or(f64::NAN),
    );
    anyhow::ensure!(errors == 0, "{errors} requests failed");
    Ok(rps)
}

fn main() -> anyhow::Result<()> {
    let connections: usize = env_or("BENCH_CONNECTIONS", 32);
    let secs: u64 = env_or("BENCH_SECS", 5);
    let mb: u64 = env_or("BENCH_MB", 100);
    println!("server binary: {}", binary().display());

    let server = Server::start(&format!(
        "upload-limit-mb = {}\n[[printers]]\nid = \"v1\"\nport = \"virtual\"\nvirtual-speed = 0\n",
        mb * 2
    ));
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async {
        // /api/printer answers 409 until the virtual printer is connected.
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let r = server
                .client()
                .get(server.url("/octoprint/v1/api/printer"))
                .send()
                .await?;
            if r.status() == 200 {
                break;
            }
            anyhow::ensure!(Instant::now() < deadline, "v1 never became operational");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        for path in ["/octoprint/v1/api/job", "/octoprint/v1/api/printer"] {
            load(&server.url(path), &server.admin_key, connections, secs).await?;
        }
        anyhow::Ok(())
    })?;

    // The upload, streamed from disk.
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("big.gcode");
    let size = write_gcode_file(&path, mb)?;
    let rss_before = server.rss_kib();
    let started = Instant::now();
    runtime.block_on(upload_streamed(
        &server,
        &server.url("/octoprint/v1/api/files/local"),
        &path,
    ))?;
    let secs = started.elapsed().as_secs_f64();
    let peak = server.peak_rss_kib();
    println!(
        "POST /v1/api/files/local {:.0} MB: 201 in {secs:.2} s = {:.0} MB/s; server RSS {} MiB \
         before, peak {} MiB",
        size as f64 / 1e6,
        size as f64 / 1e6 / secs,
        rss_before >> 10,
        peak >> 10,
    );
    Ok(())
}
