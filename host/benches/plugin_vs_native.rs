//! The plugin runtime's cost, measured: a trivial JSON route served by a plugin (`hello`'s
//! `GET /hello/health`) against the same route served natively by axum, in one run, with the same
//! load generator; and the per-call instantiation time on its own.
//!
//! Run: `scripts/build-plugins && cargo bench -p printfarm --bench plugin_vs_native`
//! Knobs: BENCH_SECS per round (default 1), BENCH_ROUNDS (default 10), BENCH_CONNECTIONS (default 32),
//! BENCH_ONLY=plugin|native (load one route only, for profilers).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::routing::get;
use axum::Json;
use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use printfarm::config::FarmConfig;
use printfarm::runtime::state::CallContext;

// The same allocator as the `printfarm` binary.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn target_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    exe.ancestors()
        .find(|p| p.file_name().is_some_and(|n| n == "target"))
        .unwrap()
        .to_path_buf()
}

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Latencies of every request of one route, the wall time they took and the CPU time the whole
/// process (server and load generator) used meanwhile.
#[derive(Default)]
struct Figures {
    latencies: Vec<Duration>,
    seconds: f64,
    cpu_seconds: f64,
}

impl Figures {
    fn rps(&self) -> f64 {
        self.latencies.len() as f64 / self.seconds
    }

    /// CPU microseconds per request, server and client together. Steadier than requests/s on a
    /// shared machine: time stolen by neighbours lowers the rate but not this.
    fn cpu_us_per_request(&self) -> f64 {
        self.cpu_seconds * 1e6 / self.latencies.len() as f64
    }

    fn merge(&mut self, other: Figures) {
        self.latencies.extend(other.latencies);
        self.seconds += other.seconds;
        self.cpu_seconds += other.cpu_seconds;
    }

    fn percentile(&mut self, q: f64) -> Duration {
        self.latencies.sort_unstable();
        self.latencies[((self.latencies.len() as f64 * q) as usize).min(self.latencies.len() - 1)]
    }
}

/// Keeps `connections` keep-alive HTTP/1.1 connections busy for `secs`, recording every latency.
async fn load(addr: SocketAddr, path: &'static str, connections: u64, secs: u64) -> Figures {
    let stop = Instant::now() + Duration::from_secs(secs);
    let started = Instant::now();
    let cpu_before = process_cpu_seconds();
    let mut tasks = Vec::new();
    for _ in 0..connections {
        tasks.push(tokio::spawn(async move {
            let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
            stream.set_nodelay(true).unwrap();
            let (mut sender, conn) = hyper::client::conn::http1::handshake(hyper_util_io(stream))
                .await
                .unwrap();
            tokio::spawn(conn);
            let mut latencies = Vec::with_capacity(100_000);
            while Instant::now() < stop {
                let req = hyper::Request::get(path)
                    .header("host", "bench")
                    .body(Empty::<Bytes>::new())
                    .unwrap();
                let t = Instant::now();
                let res = sender.send_request(req).await.unwrap();
                assert_eq!(res.status(), 200);
                let body = res.into_body().collect().await.unwrap().to_bytes();
                latencies.push(t.elapsed());
                assert!(body.starts_with(b"{"));
            }
            latencies
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    Figures {
        latencies: all,
        seconds: started.elapsed().as_secs_f64(),
        cpu_seconds: process_cpu_seconds() - cpu_before,
    }
}

/// User + system CPU seconds of this process so far, from `/proc/self/stat` (clock ticks of
/// 10 ms: a round of a second or more uses hundreds of them).
fn process_cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").expect("/proc/self/stat");
    // Fields after the command name, which is in parentheses and may hold spaces.
    let fields: Vec<&str> = stat[stat.rfind(')').unwrap() + 2..].split(' ').collect();
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after the name.
    let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
    ticks as f64 / 100.0
}

fn hyper_util_io(stream: tokio::net::TcpStream) -> TokioIo {
    TokioIo(stream)
}

/// A minimal tokio → hyper I/O adapter, so the bench needs no extra crate.
struct TokioIo(tokio::net::TcpStream);

impl hyper::rt::Read for TokioIo {
    fn poll_read(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        mut buf: hyper::rt::ReadBufCursor<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        let n = unsafe {
            let mut tbuf = tokio::io::ReadBuf::uninit(buf.as_mut());
            match tokio::io::AsyncRead::poll_read(
                std::pin::Pin::new(&mut self.get_mut().0),
                cx,
                &mut tbuf,
            ) {
                std::task::Poll::Ready(Ok(())) => tbuf.filled().len(),
                other => return other,
            }
        };
        unsafe { buf.advance(n) };
        std::task::Poll::Ready(Ok(()))
    }
}

impl hyper::rt::Write for TokioIo {
    fn poll_write(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        tokio::io::AsyncWrite::poll_write(std::pin::Pin::new(&mut self.get_mut().0), cx, buf)
    }
    fn poll_flush(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        tokio::io::AsyncWrite::poll_flush(std::pin::Pin::new(&mut self.get_mut().0), cx)
    }
    fn poll_shutdown(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        tokio::io::AsyncWrite::poll_shutdown(std::pin::Pin::new(&mut self.get_mut().0), cx)
    }
}

async fn serve(router: axum::Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(
            listener,
            router.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
        .unwrap();
    });
    addr
}

/// The mean time of `n` whole calls of `plugin`'s HTTP handler with `request`, each checked.
async fn time_calls(
    plugin: &printfarm::runtime::LoadedPlugin,
    request: &printfarm::runtime::bindings::WitRequest,
    n: u32,
) -> Duration {
    let t = Instant::now();
    for _ in 0..n {
        let r = plugin
            .handle_http(CallContext::default(), request)
            .await
            .unwrap();
        assert_eq!(r.status, 200);
    }
    t.elapsed() / n
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(run());
}

async fn run() {
    let secs = env_or("BENCH_SECS", 1);
    let connections = env_or("BENCH_CONNECTIONS", 32);
    let rounds = env_or("BENCH_ROUNDS", 10);
    std::env::set_var(
        printfarm::server::SHIPPED_PLUGINS_ENV,
        target_dir().join("plugins"),
    );
    let data = tempfile::tempdir().unwrap();
    let config = FarmConfig::parse(
        &format!("data-dir = \"{}\"\n", data.path().display()),
        "bench",
    )
    .unwrap();
    let mut prepared = printfarm::server::prepare(config)
        .await
        .expect("run scripts/build-plugins first");
    let hello = prepared
        .host
        .plugins
        .iter()
        .find(|p| p.id() == "hello")
        .expect("the hello plugin is built")
        .clone();

    // Per-call instantiation: a fresh store + instance from the InstancePre, nothing else.
    for _ in 0..1000 {
        drop(hello.instantiate(CallContext::default()).await.unwrap());
    }
    let n = 20_000;
    let t = Instant::now();
    for _ in 0..n {
        drop(hello.instantiate(CallContext::default()).await.unwrap());
    }
    let instantiate = t.elapsed() / n;
    if std::env::var_os("BENCH_INSTANTIATE_ONLY").is_some() {
        // For profilers: nothing but instantiation for a few seconds.
        let until = Instant::now() + Duration::from_secs(secs);
        while Instant::now() < until {
            drop(hello.instantiate(CallContext::default()).await.unwrap());
        }
        return;
    }
    let t = Instant::now();
    for _ in 0..n {
        drop(printfarm::runtime::state::CallState::new(
            hello.ctx.clone(),
            CallContext::default(),
        ));
    }
    let state_only = t.elapsed() / n;
    eprintln!(
        "of which building the store's state (WASI context): {:.1} µs",
        state_only.as_secs_f64() * 1e6
    );
    let request = printfarm::runtime::bindings::WitRequest {
        method: "GET".into(),
        path: "/hello/health".into(),
        route: "/health".into(),
        params: vec![],
        query: String::new(),
        headers: vec![printfarm::runtime::bindings::Header {
            name: "host".into(),
            value: "bench".into(),
        }],
        body: vec![],
        form: vec![],
        uploads: vec![],
        printer: None,
        mount: "/hello".into(),
        base_url: "http://bench".into(),
        remote_addr: "127.0.0.1:1".into(),
    };
    let whole_call = time_calls(&hello, &request, n).await;

    // The same component and request on a kept instance (`limits.calls-per-instance`): what a
    // call costs once instantiation is gone.
    let mut package = printfarm::plugin::Package::load(&hello.package.dir).unwrap();
    package.manifest.limits.calls_per_instance = 1000;
    let kept_ctx = Arc::new(printfarm::runtime::context::PluginContext::new(
        &package.manifest,
        package.manifest.capabilities.iter().copied(),
        printfarm::plugin::outbound::OutboundPolicy::new(&[], None).unwrap(),
        hello.ctx.config_json.clone(),
        prepared.host.services.clone(),
    ));
    let engine_dir = tempfile::tempdir().unwrap();
    let engine = printfarm::runtime::PluginEngine::new(engine_dir.path()).unwrap();
    let kept = printfarm::runtime::LoadedPlugin::load(&engine, package, kept_ctx).unwrap();
    time_calls(&kept, &request, 1000).await;
    let kept_call = time_calls(&kept, &request, n).await;

    let listener = prepared.listeners.remove(0);
    let (_, plugin_app) = printfarm::http::app(prepared.host.clone(), listener);
    let plugin_addr = serve(plugin_app).await;
    let native_app = axum::Router::new().route(
        "/hello/health",
        get(|| async { Json(serde_json::json!({ "ok": true })) }),
    );
    let native_addr = serve(native_app).await;

    // Warm both up, then alternate them for many short rounds so that any drift of the machine
    // (another tenant of the host, frequency changes), which on these shared machines moves
    // either route's rate by a third from one second to the next, hits both routes alike.
    load(plugin_addr, "/hello/health", connections, 1).await;
    load(native_addr, "/hello/health", connections, 1).await;
    let (mut plugin, mut native) = (Figures::default(), Figures::default());
    let mut round_ratios = Vec::new();
    // For profilers: BENCH_ONLY=plugin or BENCH_ONLY=native loads only that route.
    let only = std::env::var("BENCH_ONLY").ok();
    let runs = |route: &str| only.as_deref().is_none_or(|o| o == route);
    for round in 1..=rounds {
        let mut line = format!("round {round}:");
        let mut rates = [None, None];
        for (i, (route, addr, total)) in [
            ("plugin", plugin_addr, &mut plugin),
            ("native", native_addr, &mut native),
        ]
        .into_iter()
        .enumerate()
        {
            if !runs(route) {
                continue;
            }
            let f = load(addr, "/hello/health", connections, secs).await;
            line += &format!(
                " {route} {:.0} requests/s, {:.1} CPU µs/request;",
                f.rps(),
                f.cpu_us_per_request()
            );
            rates[i] = Some(f.rps());
            total.merge(f);
        }
        if let [Some(p), Some(n)] = rates {
            round_ratios.push(p / n);
            line += &format!(" plugin/native {:.0} %", 100.0 * p / n);
        }
        // Each round on its own, so that the machine's drift during the run is visible.
        eprintln!("{line}");
    }
    if native.latencies.is_empty() || plugin.latencies.is_empty() {
        return;
    }

    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    println!("plugin_vs_native: {cores} cores, {connections} keep-alive connections, {rounds} alternating rounds of {secs} s per route, load generator in-process");
    println!(
        "per-call instantiation (fresh store + instance): {:.1} µs",
        instantiate.as_secs_f64() * 1e6
    );
    println!(
        "whole plugin call without HTTP (instantiate + handle + teardown): {:.1} µs",
        whole_call.as_secs_f64() * 1e6
    );
    println!(
        "whole plugin call without HTTP on a kept instance (calls-per-instance = 1000): {:.1} µs",
        kept_call.as_secs_f64() * 1e6
    );
    for (name, f) in [
        ("plugin  GET /hello/health", &mut plugin),
        ("native  GET /hello/health", &mut native),
    ] {
        println!(
            "{name}: {:>9.0} requests/s  p50 {:>7.1} µs  p99 {:>7.1} µs  CPU {:>5.1} µs/request  ({} requests)",
            f.rps(),
            f.percentile(0.50).as_secs_f64() * 1e6,
            f.percentile(0.99).as_secs_f64() * 1e6,
            f.cpu_us_per_request(),
            f.latencies.len()
        );
    }
    round_ratios.sort_by(f64::total_cmp);
    println!(
        "plugin/native throughput: {:.0} % over the whole run; per round: median {:.0} %, range {:.0}–{:.0} %",
        plugin.rps() / native.rps() * 100.0,
        round_ratios[round_ratios.len() / 2] * 100.0,
        round_ratios[0] * 100.0,
        round_ratios[round_ratios.len() - 1] * 100.0
    );
    println!(
        "CPU per request (server and load generator together): plugin {:.1} µs, native {:.1} µs ({:.0} %)",
        plugin.cpu_us_per_request(),
        native.cpu_us_per_request(),
        100.0 * native.cpu_us_per_request() / plugin.cpu_us_per_request()
    );
    let _ = Arc::strong_count(&prepared.host);
}
