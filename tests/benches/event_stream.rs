//! The event stream under a farm's load: 200 virtual printers printing and 20 dashboards on
//! `GET /farm/api/events`. Prints the server's CPU share spent on the stream (the same window
//! measured without and with the clients) and the events and bytes each client gets per second;
//! then the time to first render of the farm view with 200 printers in headless Chromium.
//!
//! `PRINTFARM_BIN=$PWD/target/release/printfarm cargo bench -p printfarm-e2e --bench event_stream`
//! (the browser part needs `scripts/browser-venv`).

use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use printfarm_e2e::*;
use serde_json::json;

const PRINTERS: usize = 200;
const CLIENTS: usize = 20;
/// Each measured window; the farm's own work (200 simulated firmwares) is the same in both.
const WINDOW: Duration = Duration::from_secs(30);

#[tokio::main]
async fn main() {
    let server = Server::start(&virtual_printers(PRINTERS, 1));
    server.upload_gcode("long.gcode", gcode(4000)).await;
    let (status, body) = server
        .call(
            reqwest::Method::POST,
            "/farm/api/jobs",
            Some(json!({"file": "long.gcode", "copies": PRINTERS})),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    wait_for("every printer printing", 120, async || {
        let printers = server.get_json("/farm/api/printers").await;
        let printing = printers
            .as_array()
            .unwrap()
            .iter()
            .filter(|p| p["state"] == "printing")
            .count();
        (printing == PRINTERS).then_some(())
    })
    .await;
    println!("{PRINTERS} virtual printers printing (real time)");

    let before = server.cpu_secs();
    tokio::time::sleep(WINDOW).await;
    let without = server.cpu_secs() - before;

    let events = Arc::new(AtomicU64::new(0));
    let bytes = Arc::new(AtomicU64::new(0));
    let mut readers = Vec::new();
    for _ in 0..CLIENTS {
        let response = server
            .client()
            .get(server.url("/farm/api/events"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        let (events, bytes) = (events.clone(), bytes.clone());
        readers.push(tokio::spawn(async move {
            let mut body = response.bytes_stream();
            while let Some(Ok(chunk)) = body.next().await {
                bytes.fetch_add(chunk.len() as u64, Ordering::Relaxed);
                let frames = chunk.windows(2).filter(|w| w == b"\n\n").count();
                events.fetch_add(frames as u64, Ordering::Relaxed);
            }
        }));
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    events.store(0, Ordering::Relaxed);
    bytes.store(0, Ordering::Relaxed);
    let before = server.cpu_secs();
    let started = Instant::now();
    tokio::time::sleep(WINDOW).await;
    let with = server.cpu_secs() - before;
    let secs = started.elapsed().as_secs_f64();
    let per_client_events = events.load(Ordering::Relaxed) as f64 / CLIENTS as f64 / secs;
    let per_client_bytes = bytes.load(Ordering::Relaxed) as f64 / CLIENTS as f64 / secs;
    for r in readers {
        r.abort();
    }
    let window = WINDOW.as_secs_f64();
    println!(
        "server CPU: {:.1} % of a core without clients, {:.1} % with {CLIENTS} clients",
        without / window * 100.0,
        with / secs * 100.0
    );
    println!(
        "the stream's share: {:.2} % of one core for {CLIENTS} clients (goal: under 10 %)",
        (with / secs - without / window) * 100.0
    );
    println!(
        "each client: {per_client_events:.1} events/s, {:.1} KB/s",
        per_client_bytes / 1024.0
    );

    first_render(&server).await;
}

/// The farm view's first render with every printer's tile, in headless Chromium, three times.
async fn first_render(server: &Server) {
    let python = target_dir().join("browser-venv/bin/python");
    if !python.exists() {
        println!("first render: skipped, run scripts/browser-venv first");
        return;
    }
    let key = server.create_user_key("bench", "viewer").await;
    let script = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("browser/dashboard.py");
    let base = server.url("").trim_end_matches('/').to_string();
    let output = Command::new(python)
        .arg(script)
        .args(["first-render", &base, "bench", "long enough", &key])
        .arg(target_dir().join("browser-screenshots"))
        .env("PRINTERS", PRINTERS.to_string())
        .output()
        .expect("running the browser script");
    print!("{}", String::from_utf8_lossy(&output.stdout));
    if !output.status.success() {
        println!(
            "first render failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
}
