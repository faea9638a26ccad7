//! What a plugin call costs against a native route, measured from outside: `wrk` (Debian's
//! package), a separate process, loads a trivial plugin route (`hello`'s `GET /hello/health`,
//! which makes no host call) and a trivial native route (`GET /farm/health`) of a release
//! server in alternating rounds, and the bench prints each round, the medians and their ratio
//! (the goal is a plugin route at 70 % of the native one or more).
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
    let server = Server::start("");
    let plugin = server.url("/hello/health");
    let native = server.url("/farm/health");
    // Warm-up: the component compiled and cached, the pools filled.
    wrk(&plugin, 1, 2, 1);
    wrk(&native, 1, 2, 1);
    println!("wrk -t{threads} -c{connections} -d{secs}s, {rounds} alternating rounds per route");
    let (mut plugin_rates, mut native_rates) = (Vec::new(), Vec::new());
    for round in 1..=rounds {
        let p = wrk(&plugin, threads, connections, secs);
        let n = wrk(&native, threads, connections, secs);
        println!(
            "round {round}: plugin {p:>8.0} requests/s, native {n:>8.0} requests/s ({:.1} %)",
            100.0 * p / n
        );
        plugin_rates.push(p);
        native_rates.push(n);
    }
    let (p, n) = (median(&mut plugin_rates), median(&mut native_rates));
    println!(
        "median: plugin route {p:.0} requests/s, native route {n:.0} requests/s: plugin at {:.1} % of native (goal >= 70 %)",
        100.0 * p / n
    );
}
