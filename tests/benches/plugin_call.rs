//! What a plugin call costs against a native route, measured from outside: `wrk` (Debian's
//! package), a separate process, loads a trivial native route (`GET /farm/health`) and a trivial
//! plugin route (`hello`'s `GET /health`, which makes no host call) of a release server in
//! alternating rounds, the plugin twice: as shipped, with a fresh instance per call, and as a
//! variant that lets an instance serve calls in turn (`limits.calls-per-instance = 1000`). It
//! prints each round, the medians and each plugin figure's ratio to the native one (the goal is
//! a plugin route at 70 % of the native one or more).
//!
//! Run (the release server is built first; a release build of wasmtime from scratch takes about
//! 10 minutes on 2 cores):
//! ```text
//! cargo build --release -p printfarm && scripts/build-plugins
//! PRINTFARM_BIN=$PWD/target/release/printfarm cargo bench -p printfarm-e2e --bench plugin_call
//! ```
//! Knobs: `BENCH_SECS` per round (5), `BENCH_ROUNDS` per route (3), `BENCH_CONNECTIONS` (16),
//! `BENCH_THREADS` of wrk (2). Server and load generator share the machine's cores: on a
//! 2-core machine both figures are lower bounds, and their ratio is the figure to compare.

use std::process::Command;

use printfarm_e2e::*;

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// One `wrk` run against `url`: requests per second.
fn wrk(url: &str, threads: u32, connections: u32, secs: u32) -> f64 {
    let output = Command::new("wrk")
        .args([
            &format!("-t{threads}"),
            &format!("-c{connections}"),
            &format!("-d{secs}s"),
            url,
        ])
        .output()
        .expect("wrk runs (apt-get install -y wrk)");
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(
        !text.contains("Non-2xx"),
        "{url} answered errors under load:\n{text}"
    );
    text.lines()
        .find_map(|line| line.strip_prefix("Requests/sec:"))
        .and_then(|rate| rate.trim().parse().ok())
        .unwrap_or_else(|| panic!("no Requests/sec in wrk's output:\n{text}"))
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn main() {
    let secs: u32 = env_or("BENCH_SECS", 5);
    let rounds: usize = env_or("BENCH_ROUNDS", 3);
    let connections: u32 = env_or("BENCH_CONNECTIONS", 16);
    let threads: u32 = env_or("BENCH_THREADS", 2);
    // `hello` as shipped (a fresh instance per call) and the same component allowed to serve
    // calls in turn from a kept instance (`limits.calls-per-instance`).
    let warm = package_variant(&shipped_plugins().join("hello"), "hello-warm", |m| {
        m.replace("mount = \"/hello\"", "mount = \"/hello-warm\"")
            .replace("calls-per-instance = 1 ", "calls-per-instance = 1000 ")
    });
    let server = Server::start(&plugin_dir_config(
        warm.path(),
        "hello-warm",
        "grants = [\"kv\"]\n",
    ));
    let routes = [
        ("native", server.url("/farm/health")),
        ("plugin, fresh instances", server.url("/hello/health")),
        ("plugin, kept instances", server.url("/hello-warm/health")),
    ];
    // Warm-up: the components compiled and cached, the pools filled.
    for (_, url) in &routes {
        wrk(url, 1, 2, 1);
    }
    println!("wrk -t{threads} -c{connections} -d{secs}s, {rounds} alternating rounds per route");
    let mut rates = vec![Vec::new(); routes.len()];
    for round in 1..=rounds {
        let line: Vec<String> = routes
            .iter()
            .zip(&mut rates)
            .map(|((name, url), rates)| {
                let rate = wrk(url, threads, connections, secs);
                rates.push(rate);
                format!("{name} {rate:.0}")
            })
            .collect();
        println!("round {round}: {} requests/s", line.join(", "));
    }
    let medians: Vec<f64> = rates.iter_mut().map(|r| median(r)).collect();
    let native = medians[0];
    println!("median: native route {native:.0} requests/s");
    for ((name, _), rate) in routes.iter().zip(&medians).skip(1) {
        println!(
            "median: {name} {rate:.0} requests/s: {:.1} % of native (goal >= 70 %)",
            100.0 * rate / native
        );
    }
}
