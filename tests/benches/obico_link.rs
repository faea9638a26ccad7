//! What linking a farm to Obico costs: one host process, `BENCH_PRINTERS` (50) virtual printers,
//! each linked to the stand-in Obico server (`printfarm_e2e::obico_standin`) with its own token
//! and websocket. The server's CPU time and resident memory are measured over `BENCH_SECS` (60)
//! three times: the same farm with the plugin disabled, with it enabled and no printer linked,
//! and with every printer linked and its status frames and snapshots flowing at the plugin's
//! default rates. The linked figure less the disabled one, divided by the printers, is what the
//! plugin costs per linked printer per minute (its fixed cost, the tick, included).
//!
//! Run:
//! ```text
//! cargo build --release -p printfarm && scripts/build-plugins
//! PRINTFARM_BIN=$PWD/target/release/printfarm cargo bench -p printfarm-e2e --bench obico_link
//! ```
//! `BENCH_PRINTING=1` keeps every printer printing during the linked phase (status every 5 s
//! instead of 30 s), the busiest case.

use std::time::{Duration, Instant};

use printfarm_e2e::obico_standin::ObicoStandin;
use printfarm_e2e::*;
use serde_json::json;

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn farm(printers: usize, standin: &ObicoStandin, enabled: bool) -> String {
    let mut config = String::new();
    for i in 0..printers {
        config.push_str(&format!(
            "[[printers]]\nid = \"p{i}\"\nport = \"virtual\"\nvirtual-speed = 1\n"
        ));
    }
    config.push_str(&format!(
        "[plugins.obico]\nenabled = {enabled}\noutbound-hosts = [\"{base}\"]\n[plugins.obico.config]\nserver = \"{base}\"\n",
        base = standin.base_url()
    ));
    config
}

/// CPU seconds and the mean RSS (KiB) of the server over `secs`.
async fn measure(server: &Server, secs: u64) -> (f64, u64) {
    let cpu = server.cpu_secs();
    let mut rss = Vec::new();
    let end = Instant::now() + Duration::from_secs(secs);
    while Instant::now() < end {
        tokio::time::sleep(Duration::from_secs(1)).await;
        rss.push(server.rss_kib());
    }
    (
        server.cpu_secs() - cpu,
        rss.iter().sum::<u64>() / rss.len().max(1) as u64,
    )
}

/// A farm of `printers` idle (or printing) virtual printers, settled.
async fn start(
    printers: usize,
    standin: &ObicoStandin,
    enabled: bool,
    printing: bool,
    secs: u64,
) -> Server {
    let server = Server::start(&farm(printers, standin, enabled));
    for i in 0..printers {
        wait_state(&server, &format!("p{i}"), "operational").await;
    }
    if printing {
        // Long enough for both measured phases of this server.
        server
            .upload_gcode("bench.gcode", gcode(secs as usize * 3))
            .await;
        for i in 0..printers {
            server.queue_on("bench.gcode", &format!("p{i}")).await;
        }
    }
    tokio::time::sleep(Duration::from_secs(5)).await;
    server
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let printers: usize = env_or("BENCH_PRINTERS", 50);
    let secs: u64 = env_or("BENCH_SECS", 60);
    let printing = env_or("BENCH_PRINTING", 0) == 1;
    let standin = ObicoStandin::start().await;
    let (off_cpu, off_rss) = {
        let server = start(printers, &standin, false, printing, secs).await;
        measure(&server, secs).await
    };
    let server = start(printers, &standin, true, printing, secs).await;
    let (idle_cpu, idle_rss) = measure(&server, secs).await;

    let linking = Instant::now();
    for i in 0..printers {
        let (status, body, _) = send(
            server
                .client()
                .post(server.url(&format!("/obico/api/printers/p{i}/link")))
                .json(&json!({ "code": standin.issue_code() })),
        )
        .await;
        assert_eq!(status, 200, "{body}");
    }
    standin
        .wait_until("every printer connected", Duration::from_secs(60), |s| {
            (s.printers().iter().filter(|p| s.is_connected(p.id)).count() == printers).then_some(())
        })
        .await;
    let linked_in = linking.elapsed();
    tokio::time::sleep(Duration::from_secs(5)).await;
    let frames_before: usize = standin
        .printers()
        .iter()
        .map(|p| standin.frames(p.id).len())
        .sum();
    let pics_before: usize = standin
        .printers()
        .iter()
        .map(|p| standin.pics(p.id).len())
        .sum();
    let (linked_cpu, linked_rss) = measure(&server, secs).await;
    let frames: usize = standin
        .printers()
        .iter()
        .map(|p| standin.frames(p.id).len())
        .sum::<usize>()
        - frames_before;
    let pics: usize = standin
        .printers()
        .iter()
        .map(|p| standin.pics(p.id).len())
        .sum::<usize>()
        - pics_before;

    let minutes = secs as f64 / 60.0;
    let per_printer_ms = (linked_cpu - off_cpu).max(0.0) * 1000.0 / printers as f64 / minutes;
    let per_printer_kib = linked_rss.saturating_sub(off_rss) / printers as u64;
    println!(
        "obico link, {printers} virtual printers, {secs} s per phase{}",
        if printing { ", printing" } else { "" }
    );
    println!("  linked all in {:.1} s", linked_in.as_secs_f64());
    println!(
        "  server CPU: {off_cpu:.2} s plugin disabled, {idle_cpu:.2} s enabled and unlinked, {linked_cpu:.2} s linked ({:.1} % of one core)",
        linked_cpu / secs as f64 * 100.0
    );
    println!(
        "  server RSS: {} MiB plugin disabled, {} MiB unlinked, {} MiB linked",
        off_rss / 1024,
        idle_rss / 1024,
        linked_rss / 1024
    );
    println!(
        "  frames: {frames} ({:.1} per printer per minute); snapshots: {pics}",
        frames as f64 / printers as f64 / minutes
    );
    println!("  per linked printer per minute: {per_printer_ms:.1} ms CPU; {per_printer_kib} KiB resident");
}
