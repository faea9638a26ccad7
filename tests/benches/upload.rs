//! Upload throughput of the host API on loopback: a 200 MB G-code file streamed as multipart to
//! `POST /farm/api/files` of a release server, with the server's memory before and after.
//!
//! Run (the release server is built first; a release build of wasmtime takes a while):
//! ```text
//! cargo build --release -p printfarm
//! PRINTFARM_BIN=target/release/printfarm cargo bench -p printfarm-e2e --bench upload
//! ```
//! `BENCH_MB` changes the size. The file is generated on disk first and streamed from there, so
//! the client holds only one chunk at a time.

use std::time::Instant;

use printfarm_e2e::*;

fn main() -> anyhow::Result<()> {
    let mb: u64 = std::env::var("BENCH_MB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200);
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("big.gcode");
    let size = write_gcode_file(&path, mb)?;

    let server = Server::start(&format!("upload-limit-mb = {}\n", mb * 2));
    let rss_before = server.rss_kib();
    let runtime = tokio::runtime::Runtime::new()?;
    let started = Instant::now();
    runtime.block_on(upload_streamed(
        &server,
        &server.url("/farm/api/files"),
        &path,
    ))?;
    let secs = started.elapsed().as_secs_f64();
    let peak = server.peak_rss_kib();
    println!(
        "upload {:.0} MB: 201 Created in {secs:.2} s = {:.0} MB/s; server RSS {} MiB before, peak {} MiB (growth {} MiB)",
        size as f64 / 1e6,
        size as f64 / 1e6 / secs,
        rss_before >> 10,
        peak >> 10,
        (peak.saturating_sub(rss_before)) >> 10
    );
    // The analysis runs after the answer, off the request path: time it too.
    let started = Instant::now();
    let info = runtime.block_on(async {
        loop {
            let v: serde_json::Value = server
                .client()
                .get(server.url("/farm/api/files/info?path=big.gcode"))
                .send()
                .await?
                .json()
                .await?;
            if v["analysis_state"] != "pending" {
                return anyhow::Ok(v);
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    })?;
    println!(
        "analysis in the server (after the upload): {} after {:.2} s, lines {}",
        info["analysis_state"],
        started.elapsed().as_secs_f64(),
        info["analysis"]["lines"]
    );
    Ok(())
}
