//! The event stream (`GET /farm/api/events`, Server-Sent Events) end to end on the real binary:
//! filtering by kind, resuming with `Last-Event-ID`, coalesced temperatures, and a client that
//! stops reading while the farm keeps changing.

use std::time::{Duration, Instant};

use futures::StreamExt;
use printfarm_e2e::*;
use serde_json::Value;
use tokio::io::AsyncWriteExt;
use tokio::sync::mpsc;

/// One event as a client parses it.
#[derive(Debug, Clone)]
struct Sse {
    id: Option<u64>,
    kind: String,
    data: Value,
}

/// Opens the stream at `query` (with `last_id` as `Last-Event-ID`) and forwards its events.
async fn open(
    server: &Server,
    query: &str,
    last_id: Option<u64>,
) -> (mpsc::UnboundedReceiver<Sse>, tokio::task::JoinHandle<()>) {
    let mut request = server
        .client()
        .get(server.url(&format!("/farm/api/events{query}")));
    if let Some(id) = last_id {
        request = request.header("Last-Event-ID", id.to_string());
    }
    let response = request.send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-type"].to_str().unwrap(),
        "text/event-stream"
    );
    let (tx, rx) = mpsc::unbounded_channel();
    let reader = tokio::spawn(async move {
        let mut body = response.bytes_stream();
        let mut buffer = String::new();
        while let Some(Ok(chunk)) = body.next().await {
            buffer.push_str(&String::from_utf8_lossy(&chunk));
            while let Some(end) = buffer.find("\n\n") {
                let frame: String = buffer.drain(..end + 2).collect();
                let mut event = Sse {
                    id: None,
                    kind: "message".into(),
                    data: Value::Null,
                };
                let mut data = String::new();
                for line in frame.lines() {
                    if let Some(v) = line.strip_prefix("id:") {
                        event.id = v.trim().parse().ok();
                    } else if let Some(v) = line.strip_prefix("event:") {
                        event.kind = v.trim().to_string();
                    } else if let Some(v) = line.strip_prefix("data:") {
                        data.push_str(v.trim_start());
                    }
                }
                if data.is_empty() {
                    continue; // a keep-alive comment
                }
                event.data = serde_json::from_str(&data).unwrap_or(Value::String(data));
                if tx.send(event).is_err() {
                    return;
                }
            }
        }
    });
    (rx, reader)
}

/// Receives events until `stop` holds for one; returns all of them.
async fn until(
    rx: &mut mpsc::UnboundedReceiver<Sse>,
    secs: u64,
    stop: impl Fn(&Sse) -> bool,
) -> Vec<Sse> {
    let mut seen = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    loop {
        let event = tokio::time::timeout_at(deadline, rx.recv())
            .await
            .unwrap_or_else(|_| panic!("no matching event within {secs} s; saw {seen:?}"))
            .expect("the stream ended");
        let done = stop(&event);
        seen.push(event);
        if done {
            return seen;
        }
    }
}

fn print_phase(e: &Sse, phase: &str) -> bool {
    e.kind == "print" && e.data["phase"] == phase
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_stream_filters_kinds_and_resumes_after_the_last_event_id() {
    let server = Server::start(ONE_PRINTER);
    server.upload_gcode("a.gcode", gcode(20)).await;

    let (mut rx, reader) = open(&server, "?types=print,jobs", None).await;
    server.queue_on("a.gcode", "v1").await;
    let first = until(&mut rx, 30, |e| print_phase(e, "done")).await;
    assert!(
        first.iter().all(|e| e.kind == "print" || e.kind == "jobs"),
        "{first:?}"
    );
    assert!(first.iter().any(|e| print_phase(e, "started")), "{first:?}");
    let ids: Vec<u64> = first
        .iter()
        .map(|e| e.id.expect("every event has an id"))
        .collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "{ids:?}");
    let last_seen = *ids.last().unwrap();
    reader.abort();
    drop(rx);

    // While nobody listens, another print runs to the end.
    let job = server.queue_on("a.gcode", "v1").await;
    let path = format!("/farm/api/jobs/{}", job["id"]);
    wait_for("the second print done", 30, async || {
        let j = server.get_json(&path).await;
        (j["tasks"][0]["state"] == "done").then_some(())
    })
    .await;

    // Reconnecting with Last-Event-ID replays what was missed, from the next id on.
    let (mut rx, _reader) = open(&server, "?types=print", Some(last_seen)).await;
    let missed = until(&mut rx, 10, |e| print_phase(e, "done")).await;
    assert!(missed[0].id.unwrap() > last_seen, "{missed:?}");
    assert!(missed.iter().all(|e| e.kind == "print"), "{missed:?}");
    assert_eq!(
        missed.iter().filter(|e| print_phase(e, "started")).count(),
        1,
        "{missed:?}"
    );

    // Bad input is a 400 with the host's JSON error.
    let (status, body) = server
        .call(
            reqwest::Method::GET,
            "/farm/api/events?types=print,weather",
            None,
        )
        .await;
    assert_eq!(status, 400);
    assert!(
        body["error"]
            .as_str()
            .unwrap_or_default()
            .contains("weather"),
        "{body}"
    );
    let (status, _, _) = send(
        server
            .client()
            .get(server.url("/farm/api/events"))
            .header("Last-Event-ID", "yesterday"),
    )
    .await;
    assert_eq!(status, 400);
    let (status, _, _) = send(reqwest::Client::new().get(server.url("/farm/api/events"))).await;
    assert_eq!(status, 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn temperatures_of_many_printers_come_coalesced() {
    let server = Server::start(&virtual_printers(6, 1));
    let (mut rx, _reader) = open(&server, "?types=temperatures", None).await;
    let started = Instant::now();
    let mut batches = Vec::new();
    while started.elapsed() < Duration::from_secs(5) {
        if let Ok(Some(e)) = tokio::time::timeout(Duration::from_millis(200), rx.recv()).await {
            batches.push(e);
        }
    }
    assert!(!batches.is_empty(), "no temperatures in 5 s");
    assert!(
        batches.iter().all(|e| e.kind == "temperatures"),
        "{batches:?}"
    );
    // At most one event a second, whatever the number of printers; each carries every printer
    // that reported since the last one.
    assert!(
        batches.len() <= 6,
        "{} events in 5 s: {batches:?}",
        batches.len()
    );
    let readings: usize = batches
        .iter()
        .map(|e| e.data["printers"].as_object().map_or(0, |p| p.len()))
        .sum();
    assert!(
        readings >= 2 * batches.len(),
        "{readings} printers' readings in {} events: {batches:?}",
        batches.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_stops_reading_does_not_stall_the_server() {
    let server = Server::start(ONE_PRINTER);
    wait_state(&server, "v1", "operational").await;

    // A client with a tiny receive window that never reads what it asked for.
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(2048).unwrap();
    let addr = server
        .url("/")
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_string();
    let mut stalled = socket.connect(addr.parse().unwrap()).await.unwrap();
    let key = server.create_user_key("slow", "viewer").await;
    stalled
        .write_all(
            format!(
                "GET /farm/api/events HTTP/1.1\r\nHost: {addr}\r\nX-Api-Key: {key}\r\nAccept: text/event-stream\r\n\r\n"
            )
            .as_bytes(),
        )
        .await
        .unwrap();

    // A reading client, and a few thousand queue events (the queue is paused: nothing prints).
    server.upload_gcode("a.gcode", gcode(5)).await;
    let (status, body) = server
        .call(
            reqwest::Method::PUT,
            "/farm/api/queue",
            Some(serde_json::json!({"paused": true})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let (mut rx, _reader) = open(&server, "?types=jobs", None).await;
    const JOBS: usize = 3000;
    for i in 0..JOBS {
        server.queue_on("a.gcode", "v1").await;
        if i % 500 == 0 {
            // The server keeps answering at once.
            let asked = Instant::now();
            server.get_json("/farm/api/printers/v1").await;
            assert!(
                asked.elapsed() < Duration::from_secs(1),
                "{:?}",
                asked.elapsed()
            );
        }
    }
    let mut queued = 0;
    while queued < JOBS {
        let e = tokio::time::timeout(Duration::from_secs(30), rx.recv())
            .await
            .unwrap_or_else(|_| panic!("only {queued} of {JOBS} jobs reached the reading client"))
            .unwrap();
        if e.kind == "jobs" && e.data["job_id"].is_string() {
            queued += 1;
        }
    }
    // The server's memory did not grow with the stalled client's backlog.
    assert!(server.rss_kib() < 512 * 1024, "{} KiB", server.rss_kib());
    drop(stalled);
}
