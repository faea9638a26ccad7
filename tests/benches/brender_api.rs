//! The brender API (the shipped `brender` plugin, mounted at `/brender`) with a full farm's worth
//! of jobs, against a release server with 4 virtual printers:
//!
//! 1. creating `BENCH_JOBS` (1000) stopped jobs of `BENCH_COPIES` (10) copies through
//!    `POST /brender/jobs`, form-encoded as the dashboard sends them: jobs/s;
//! 2. `GET /brender/jobs` and `GET /brender/tasks` loaded by `wrk` (Debian's package, a separate
//!    process): requests/s, latency and the answer's size, against the goal of issue 19
//!    (5000 requests/s each with 1000 jobs of 10 copies). Done twice, each on a fresh server:
//!    `chunk_size=1` (a task per copy: 10 000 tasks) and `chunk_size=10` (1000 tasks);
//! 3. from `POST /brender/jobs` (a running job of one copy) to the copy printing: when the host
//!    reports a printer `printing` and when `GET /brender/tasks` shows the task `running`, polled
//!    every 5 ms, `BENCH_REPEATS` (10) times; each job is then deleted (which cancels its print)
//!    and the next waits until every printer is idle again. Measured on a fresh server, and on
//!    the `chunk_size=10` server with its 1000 stopped jobs still there.
//!
//! Run (the release server is built first; a release build of wasmtime from scratch takes about
//! 10 minutes on 2 cores):
//! ```text
//! scripts/build-plugins && cargo build --release -p printfarm
//! PRINTFARM_BIN=target/release/printfarm cargo bench -p printfarm-e2e --bench brender_api
//! ```
//! Knobs: `BENCH_JOBS` (1000), `BENCH_COPIES` (10), `BENCH_SECS` per wrk run (10),
//! `BENCH_CONNECTIONS` (16), `BENCH_THREADS` of wrk (2), `BENCH_CREATE_CONCURRENCY` (4),
//! `BENCH_REPEATS` (10). Server and load generator share the machine's cores: the figures are
//! lower bounds.

use std::process::Command;
use std::time::{Duration, Instant};

use futures::StreamExt;
use printfarm_e2e::*;
use serde_json::Value;

/// The goal of issue 19 for each list, with 1000 jobs of 10 copies.
const GOAL_RPS: f64 = 5000.0;
/// The printers of every server, printing in real time (a copy of `gcode(200)` takes minutes, so
/// nothing ends by itself during the bench).
const PRINTERS: usize = 4;

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// A fresh server with its printers connected, the part in the library and the bench's project;
/// returns the server and the project id.
async fn start() -> (Server, i64) {
    let server = Server::start(&virtual_printers(PRINTERS, 1));
    for i in 1..=PRINTERS {
        wait_state(&server, &format!("v{i}"), "operational").await;
    }
    // The library path comes from the form's `path`; the part's name alone would land at the root.
    let stored = server
        .upload_gcode_at(Some("bench/part.gcode"), "part.gcode", gcode(200))
        .await;
    assert_eq!(stored["path"], "bench/part.gcode", "{stored}");
    let (status, project, _) = send(
        server
            .client()
            .post(server.url("/brender/projects"))
            .form(&[
                ("name", "Bench"),
                ("path_server", "bench"),
                ("path_linux", "bench"),
            ]),
    )
    .await;
    assert_eq!(status, 201, "creating the project: {project}");
    let id = project["id"].as_i64().expect("the project's id");
    (server, id)
}

/// The fields of `POST /brender/jobs` for job `name`.
fn job_form(
    project: i64,
    name: &str,
    copies: u32,
    chunk: u32,
    status: &str,
) -> Vec<(&'static str, String)> {
    vec![
        ("project_id", project.to_string()),
        ("job_name", name.to_string()),
        ("frame_start", "1".into()),
        ("frame_end", copies.to_string()),
        ("chunk_size", chunk.to_string()),
        ("current_frame", "1".into()),
        ("filepath", "part.gcode".into()),
        ("render_settings", String::new()),
        ("format", "PNG".into()),
        ("status", status.into()),
        ("priority", "10".into()),
        ("managers", "1".into()),
        ("owner", "bench".into()),
    ]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied().unwrap_or(f64::NAN)
}

/// Creates `jobs` stopped jobs, `concurrency` requests at a time; prints the rate and how the
/// creation time grew with the document.
async fn create_jobs(
    server: &Server,
    project: i64,
    jobs: usize,
    copies: u32,
    chunk: u32,
    concurrency: usize,
) {
    let client = server.client();
    let url = server.url("/brender/jobs");
    let started = Instant::now();
    let results: Vec<(usize, u16, Duration, Value)> = futures::stream::iter(0..jobs)
        .map(|i| {
            let request = client.post(&url).form(&job_form(
                project,
                &format!("job{i}"),
                copies,
                chunk,
                "stopped",
            ));
            async move {
                let t = Instant::now();
                let (status, body, _) = send(request).await;
                (i, status, t.elapsed(), body)
            }
        })
        .buffer_unordered(concurrency)
        .collect()
        .await;
    let elapsed = started.elapsed();
    let refused: Vec<&(usize, u16, Duration, Value)> =
        results.iter().filter(|(_, s, _, _)| *s != 201).collect();
    let mut by_index: Vec<(usize, f64)> = results.iter().map(|(i, _, d, _)| (*i, ms(*d))).collect();
    by_index.sort_by_key(|(i, _)| *i);
    let tenth = (jobs / 10).max(1);
    let mut first: Vec<f64> = by_index.iter().take(tenth).map(|(_, d)| *d).collect();
    let mut last: Vec<f64> = by_index.iter().rev().take(tenth).map(|(_, d)| *d).collect();
    println!(
        "  POST /brender/jobs x {jobs} ({copies} copies, chunk_size={chunk}, status=stopped, \
         {concurrency} at a time): {:.1} s = {:.1} jobs/s; median request {:.1} ms for the first \
         {tenth}, {:.1} ms for the last {tenth}; {} not 201",
        elapsed.as_secs_f64(),
        jobs as f64 / elapsed.as_secs_f64(),
        median(&mut first),
        median(&mut last),
        refused.len(),
    );
    for (i, status, _, body) in refused.iter().take(3) {
        println!("    PROBLEM: job{i} answered {status}: {body}");
    }
}

/// What wrk measured.
struct Wrk {
    rps: f64,
    latency: String,
    errors: Vec<String>,
}

/// One `wrk` run against `url` with the admin key.
fn wrk(url: &str, key: &str, threads: u32, connections: u32, secs: u32) -> Wrk {
    let output = Command::new("wrk")
        .args([
            &format!("-t{threads}"),
            &format!("-c{connections}"),
            &format!("-d{secs}s"),
            "--latency",
            "-H",
            &format!("X-Api-Key: {key}"),
            url,
        ])
        .output()
        .expect("wrk runs (apt-get install -y wrk)");
    let text = String::from_utf8_lossy(&output.stdout);
    let rps = text
        .lines()
        .find_map(|line| line.trim().strip_prefix("Requests/sec:"))
        .and_then(|rate| rate.trim().parse().ok())
        .unwrap_or_else(|| panic!("no Requests/sec in wrk's output:\n{text}"));
    // "Latency   1.23ms  456.00us  12.34ms   90.00%": average, deviation, max.
    let summary: Vec<&str> = text
        .lines()
        .find(|l| l.trim_start().starts_with("Latency") && !l.contains("Distribution"))
        .map(|l| l.split_whitespace().collect())
        .unwrap_or_default();
    let percentile = |p: &str| {
        text.lines()
            .map(str::split_whitespace)
            .find_map(|mut w| (w.next() == Some(p)).then(|| w.next()).flatten())
            .unwrap_or("?")
            .to_string()
    };
    let latency = format!(
        "latency avg {}, p50 {}, p90 {}, p99 {}, max {}",
        summary.get(1).unwrap_or(&"?"),
        percentile("50%"),
        percentile("90%"),
        percentile("99%"),
        summary.get(3).unwrap_or(&"?"),
    );
    let errors = text
        .lines()
        .filter(|l| l.contains("Non-2xx") || l.contains("Socket errors"))
        .map(|l| l.trim().to_string())
        .collect();
    Wrk {
        rps,
        latency,
        errors,
    }
}

/// Loads both lists with wrk; prints each figure beside the goal and checks the answers' sizes
/// and entry counts.
async fn load_lists(server: &Server, jobs: usize, tasks: usize, knobs: (u32, u32, u32)) {
    let (threads, connections, secs) = knobs;
    for (path, entries, status) in [
        ("/brender/jobs", jobs, "stopped"),
        ("/brender/tasks", tasks, "ready"),
    ] {
        let url = server.url(path);
        let response = server.client().get(&url).send().await.unwrap();
        let code = response.status().as_u16();
        let body = response.bytes().await.unwrap();
        let list: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        let count = list.as_object().map_or(0, |o| o.len());
        let wrong = list
            .as_object()
            .map_or(0, |o| o.values().filter(|e| e["status"] != status).count());
        let (key, url_for_wrk) = (server.admin_key.clone(), url.clone());
        // Warm-up: instances pooled, the answer in the page cache.
        tokio::task::spawn_blocking(move || wrk(&url_for_wrk, &key, 1, 2, 1))
            .await
            .unwrap();
        let (key, url_for_wrk) = (server.admin_key.clone(), url.clone());
        let w = tokio::task::spawn_blocking(move || {
            wrk(&url_for_wrk, &key, threads, connections, secs)
        })
        .await
        .unwrap();
        println!(
            "  GET {path:<15} {:>7.0} req/s (goal >= {GOAL_RPS:.0}: {}); answer {} bytes, {count} \
             entries; wrk -t{threads} -c{connections} -d{secs}s {}",
            w.rps,
            if w.rps >= GOAL_RPS { "met" } else { "NOT met" },
            body.len(),
            w.latency,
        );
        if code != 200 || count != entries || wrong != 0 {
            println!(
                "    PROBLEM: answered {code} with {count} entries (expected {entries}), \
                 {wrong} not `{status}`"
            );
        }
        for e in w.errors {
            println!("    PROBLEM: under load: {e}");
        }
    }
}

/// One round: a fresh server, the jobs created, both lists loaded. Returns the server.
async fn round(
    label: &str,
    jobs: usize,
    copies: u32,
    chunk: u32,
    concurrency: usize,
    knobs: (u32, u32, u32),
) -> Server {
    let tasks = jobs * (copies as usize).div_ceil(chunk as usize);
    println!("{label}: {jobs} jobs of {copies} copies, chunk_size={chunk} = {tasks} tasks");
    let (server, project) = start().await;
    create_jobs(&server, project, jobs, copies, chunk, concurrency).await;
    load_lists(&server, jobs, tasks, knobs).await;
    server
}

/// Waits until every printer is operational, not held and may take a task.
async fn printers_idle(server: &Server) {
    wait_for("every printer idle", 60, async || {
        let printers = server.get_json("/farm/api/printers").await;
        let printers = printers.as_array()?;
        let mut idle = true;
        for p in printers {
            if p["state"] != "operational" || p["held"] == true {
                idle = false;
            } else if p["bed_clear"] == false && p["self_clearing"] == false {
                let path = format!("/farm/api/printers/{}/bed-cleared", p["id"].as_str()?);
                server.call(reqwest::Method::POST, &path, None).await;
                idle = false;
            }
        }
        idle.then_some(())
    })
    .await;
}

/// `repeats` times: a running job of one copy, then when a printer prints it (host) and when
/// `GET /brender/tasks` shows its task running (plugin); then the job deleted.
async fn time_to_print(server: &Server, project: i64, label: &str, repeats: usize) {
    let client = server.client();
    let (mut posted, mut printing, mut running) = (Vec::new(), Vec::new(), Vec::new());
    let mut problems = Vec::new();
    for i in 0..repeats {
        printers_idle(server).await;
        let t = Instant::now();
        let (status, job, _) = send(client.post(server.url("/brender/jobs")).form(&job_form(
            project,
            &format!("print{i}"),
            1,
            1,
            "running",
        )))
        .await;
        let answered = t.elapsed();
        if status != 201 {
            problems.push(format!(
                "run {i}: POST /brender/jobs answered {status}: {job}"
            ));
            continue;
        }
        posted.push(ms(answered));
        let id = job["id"].as_i64().expect("the job's id");
        let (mut host_at, mut plugin_at) = (None, None);
        let deadline = t + Duration::from_secs(30);
        while (host_at.is_none() || plugin_at.is_none()) && Instant::now() < deadline {
            let (p, tasks) = tokio::join!(
                async {
                    match host_at {
                        Some(_) => None,
                        None => Some(server.get_json("/farm/api/printers").await),
                    }
                },
                async {
                    match plugin_at {
                        Some(_) => None,
                        None => Some(server.get_json("/brender/tasks").await),
                    }
                },
            );
            let now = t.elapsed();
            if p.is_some_and(|p| {
                p.as_array()
                    .is_some_and(|a| a.iter().any(|p| p["state"] == "printing"))
            }) {
                host_at = Some(now);
            }
            if tasks.is_some_and(|tasks| {
                tasks.as_object().is_some_and(|o| {
                    o.values()
                        .any(|t| t["job_id"] == id && t["status"] == "running")
                })
            }) {
                plugin_at = Some(now);
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        match host_at {
            Some(d) => printing.push(ms(d)),
            None => problems.push(format!("run {i}: no printer printing within 30 s")),
        }
        match plugin_at {
            Some(d) => running.push(ms(d)),
            None => problems.push(format!("run {i}: the task was not `running` within 30 s")),
        }
        let (status, body, _) = send(
            client
                .post(server.url("/brender/jobs/delete"))
                .form(&[("id", id.to_string())]),
        )
        .await;
        if status != 204 {
            problems.push(format!(
                "run {i}: deleting job {id} answered {status}: {body}"
            ));
        }
    }
    let line = |values: &mut Vec<f64>| {
        let mid = median(values);
        match (values.first(), values.last()) {
            (Some(min), Some(max)) => format!(
                "min {min:.1} ms, median {mid:.1} ms, max {max:.1} ms ({} runs)",
                values.len()
            ),
            _ => "no run".to_string(),
        }
    };
    println!("{label}: POST /brender/jobs (status=running, 1 copy) to the copy printing, polled every 5 ms:");
    println!(
        "  201 answered:                       {}",
        line(&mut posted)
    );
    println!(
        "  a printer `printing` (host API):    {}",
        line(&mut printing)
    );
    println!(
        "  the task `running` (GET /tasks):    {}",
        line(&mut running)
    );
    for p in problems {
        println!("  PROBLEM: {p}");
    }
}

fn main() {
    let jobs: usize = env_or("BENCH_JOBS", 1000);
    let copies: u32 = env_or("BENCH_COPIES", 10);
    let secs: u32 = env_or("BENCH_SECS", 10);
    let connections: u32 = env_or("BENCH_CONNECTIONS", 16);
    let threads: u32 = env_or("BENCH_THREADS", 2);
    let concurrency: usize = env_or("BENCH_CREATE_CONCURRENCY", 4);
    let repeats: usize = env_or("BENCH_REPEATS", 10);
    let knobs = (threads, connections, secs);
    println!("server binary: {}", binary().display());
    println!("{PRINTERS} virtual printers; goal (issue 19): >= {GOAL_RPS:.0} req/s for GET /jobs and GET /tasks with 1000 jobs of 10 copies");
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        drop(round("round 1", jobs, copies, 1, concurrency, knobs).await);
        let loaded = round("round 2", jobs, copies, copies, concurrency, knobs).await;
        {
            let (fresh, project) = start().await;
            time_to_print(&fresh, project, "fresh server", repeats).await;
        }
        let project = loaded
            .get_json("/brender/projects")
            .await
            .as_object()
            .and_then(|o| o.keys().next().and_then(|k| k.parse().ok()))
            .expect("round 2's project");
        time_to_print(
            &loaded,
            project,
            &format!("round 2's server, its {jobs} stopped jobs kept"),
            repeats,
        )
        .await;
    });
}
