//! The farm core end to end on the real binary with virtual printers: the library, the queue and
//! its scheduler, bed clearing, history, and a `kill -9` in the middle of a print.

use std::time::Duration;

use printfarm_e2e::*;
use serde_json::{json, Value};

async fn upload(server: &Server, path: &str, body: String) -> Value {
    server
        .upload_gcode_at(Some(path), "upload.gcode", body)
        .await
}

/// Confirms a printer's bed is clear through the host API.
async fn bed_cleared(server: &Server, printer: &str) {
    let path = format!("/farm/api/printers/{printer}/bed-cleared");
    let (s, v) = server.call(reqwest::Method::POST, &path, None).await;
    assert_eq!(s, 204, "{v}");
}

/// Pauses or resumes the queue through the host API.
async fn pause_queue(server: &Server, paused: bool) {
    let body = Some(json!({ "paused": paused }));
    let (s, v) = server
        .call(reqwest::Method::PUT, "/farm/api/queue", body)
        .await;
    assert_eq!(s, 200, "{v}");
}

async fn printer(server: &Server, id: &str) -> Value {
    server.get_json(&format!("/farm/api/printers/{id}")).await
}

#[tokio::test]
async fn copies_print_across_printers_by_priority_and_wait_for_bed_clear() {
    let server = Server::start(
        r#"
[[printers]]
id = "v1"
port = "virtual"
virtual-speed = 0

[[printers]]
id = "v2"
port = "virtual"
virtual-speed = 0
self-clearing = false

[[printers]]
id = "v3"
port = "virtual"
virtual-speed = 0
"#,
    );
    for id in ["v1", "v2", "v3"] {
        wait_state(&server, id, "operational").await;
    }
    let stored = upload(&server, "parts/cube.gcode", gcode(200)).await;
    assert_eq!(stored["path"], "parts/cube.gcode");

    // Queue both jobs while the queue is paused, so priority alone decides the order.
    pause_queue(&server, true).await;
    let (s, low) = server
        .call(
            reqwest::Method::POST,
            "/farm/api/jobs",
            Some(json!({"file": "parts/cube.gcode", "copies": 3, "priority": 0})),
        )
        .await;
    assert_eq!(s, 201, "{low}");
    let (s, high) = server.call(reqwest::Method::POST,
        "/farm/api/jobs",
        Some(json!({"file": "parts/cube.gcode", "copies": 2, "priority": 5, "placement": {"printers": ["v1", "v2", "v3"]}})),
    )
    .await;
    assert_eq!(s, 201, "{high}");
    assert_eq!(
        server.get_json("/farm/api/jobs").await[0]["id"],
        high["id"],
        "the queue lists the higher priority first"
    );
    // v2 does not clear itself: it takes part once an operator confirmed its bed.
    bed_cleared(&server, "v2").await;
    pause_queue(&server, false).await;

    let history = wait_for("five prints done", 60, async || {
        let h = server.get_json("/farm/api/history").await;
        let done = h
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["outcome"] == "done")
            .count();
        (done == 5).then_some(h)
    })
    .await;
    let records = history.as_array().unwrap();
    let on = |p: &str| records.iter().filter(|r| r["printer"] == p).count();
    assert!(on("v1") >= 1 && on("v3") >= 1, "{history}");
    assert_eq!(
        on("v2"),
        1,
        "v2 printed one copy, then waited for its bed: {history}"
    );
    let started = |job: &Value| -> Vec<i64> {
        records
            .iter()
            .filter(|r| r["job_id"] == job["id"])
            .map(|r| r["started_ms"].as_i64().unwrap())
            .collect()
    };
    let (high_started, low_started) = (started(&high), started(&low));
    assert_eq!((high_started.len(), low_started.len()), (2, 3));
    assert!(
        high_started.iter().max() <= low_started.iter().min(),
        "priority 5 started first: {high_started:?} vs {low_started:?}"
    );
    let v2 = printer(&server, "v2").await;
    assert_eq!(
        (v2["bed_clear"].as_bool(), v2["self_clearing"].as_bool()),
        (Some(false), Some(false))
    );

    // A job only v2 may print waits for its bed; each confirmation lets one copy through.
    let (s, job) = server
        .call(
            reqwest::Method::POST,
            "/farm/api/jobs",
            Some(
                json!({"file": "parts/cube.gcode", "copies": 2, "placement": {"printers": ["v2"]}}),
            ),
        )
        .await;
    assert_eq!(s, 201, "{job}");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let waiting = server
        .get_json(&format!("/farm/api/jobs/{}", job["id"]))
        .await;
    assert!(
        waiting["tasks"]
            .as_array()
            .unwrap()
            .iter()
            .all(|t| t["state"] == "queued"),
        "{waiting}"
    );
    bed_cleared(&server, "v2").await;
    let one_done = wait_for("v2's first copy", 30, async || {
        let j = server
            .get_json(&format!("/farm/api/jobs/{}", job["id"]))
            .await;
        let states: Vec<String> = j["tasks"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["state"].as_str().unwrap().to_string())
            .collect();
        (states.iter().filter(|s| *s == "done").count() == 1).then_some(j)
    })
    .await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let still = server
        .get_json(&format!("/farm/api/jobs/{}", job["id"]))
        .await;
    assert_eq!(
        still["tasks"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|t| t["state"] == "queued")
            .count(),
        1,
        "the second copy waits for the bed: {one_done}"
    );
    assert_eq!(printer(&server, "v2").await["bed_clear"], false);
    bed_cleared(&server, "v2").await;
    wait_for("v2's second copy (its third print)", 30, async || {
        let h = server.get_json("/farm/api/history?printer=v2").await;
        (h.as_array()
            .unwrap()
            .iter()
            .filter(|r| r["outcome"] == "done")
            .count()
            == 3)
            .then_some(h)
    })
    .await;

    // History per file and per printer.
    let per_file = server
        .get_json("/farm/api/history?file=parts/cube.gcode")
        .await;
    assert_eq!(per_file.as_array().unwrap().len(), 7);
    let per_printer = server.get_json("/farm/api/history?printer=v1").await;
    assert!(per_printer
        .as_array()
        .unwrap()
        .iter()
        .all(|r| r["printer"] == "v1"));
    assert!(server
        .get_json("/farm/api/jobs")
        .await
        .as_array()
        .unwrap()
        .is_empty());
}

#[tokio::test]
async fn a_kill_9_mid_print_loses_nothing_and_holds_the_printer() {
    let config = r#"
[[printers]]
id = "v1"
port = "virtual"
virtual-speed = 1
"#;
    let server = Server::start(config);
    wait_state(&server, "v1", "operational").await;
    let stored = upload(&server, "long.gcode", gcode(300)).await;
    let tiny = upload(&server, "tiny.gcode", gcode(2)).await;
    let (s, job) = server
        .call(
            reqwest::Method::POST,
            "/farm/api/jobs",
            Some(json!({"file": "long.gcode"})),
        )
        .await;
    assert_eq!(s, 201, "{job}");
    let (s, queued) = server
        .call(
            reqwest::Method::POST,
            "/farm/api/jobs",
            Some(json!({"file": "tiny.gcode", "copies": 2})),
        )
        .await;
    assert_eq!(s, 201, "{queued}");
    // Wait until the printer has acknowledged a few lines and the scheduler recorded them.
    wait_for("progress recorded", 60, async || {
        let t = server
            .get_json(&format!("/farm/api/tasks/{}", job["tasks"][0]["id"]))
            .await;
        (t["last_line"].as_u64().unwrap_or(0) >= 4).then_some(t)
    })
    .await;
    let before_kill = printer(&server, "v1").await;
    let acked_before = before_kill["progress"]["last_acked_line"].as_u64().unwrap();
    let dir = server.kill9();

    let server = Server::start_in(dir, config, true);
    let task = server
        .get_json(&format!("/farm/api/tasks/{}", job["tasks"][0]["id"]))
        .await;
    assert_eq!(task["state"], "interrupted", "{task}");
    assert_eq!(task["needs_decision"], true);
    let line = task["last_line"].as_u64().unwrap();
    assert!(
        (4..=acked_before).contains(&line),
        "recorded line {line}, printer had {acked_before}"
    );
    assert!(task["file_pos"].as_u64().unwrap() > 0);
    assert!(
        task["reason"]
            .as_str()
            .unwrap()
            .contains(&format!("line {line}")),
        "{task}"
    );

    // The queue, the files and the history survived.
    let jobs = server.get_json("/farm/api/jobs").await;
    let waiting = jobs
        .as_array()
        .unwrap()
        .iter()
        .find(|j| j["id"] == queued["id"])
        .expect("queued job kept");
    assert!(
        waiting["tasks"]
            .as_array()
            .unwrap()
            .iter()
            .all(|t| t["state"] == "queued"),
        "{waiting}"
    );
    for file in [&stored, &tiny] {
        let info = server
            .get_json(&format!(
                "/farm/api/files/info?path={}",
                file["path"].as_str().unwrap()
            ))
            .await;
        assert_eq!(info["sha256"], file["sha256"]);
    }
    let history = server.get_json("/farm/api/history?printer=v1").await;
    assert_eq!(history[0]["outcome"], "interrupted", "{history}");
    assert_eq!(history[0]["last_line"].as_u64(), Some(line));

    // Nothing is sent to the printer until an operator decides: it is not even connected.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let held = printer(&server, "v1").await;
    assert_eq!(held["state"], "offline", "{held}");
    assert_eq!(held["held"], true);
    assert!(
        held["state_reason"]
            .as_str()
            .unwrap()
            .contains("interrupted"),
        "{held}"
    );
    let connected = server
        .log()
        .lines()
        .any(|l| l.contains("printer=v1") && l.contains("current=Connecting"));
    assert!(!connected, "v1 was connected:\n{}", server.log());

    // The decision: dismiss. The printer connects and prints what was queued behind.
    let (s, dismissed) = server
        .call(
            reqwest::Method::POST,
            &format!("/farm/api/tasks/{}/dismiss", task["id"]),
            None,
        )
        .await;
    assert_eq!(s, 200, "{dismissed}");
    assert_eq!(dismissed["state"], "interrupted");
    wait_for("queued copies printed after the decision", 90, async || {
        let j = server
            .get_json(&format!("/farm/api/jobs/{}", queued["id"]))
            .await;
        j["tasks"]
            .as_array()
            .unwrap()
            .iter()
            .all(|t| t["state"] == "done")
            .then_some(j)
    })
    .await;
}

#[tokio::test]
async fn the_library_serves_analysis_thumbnails_downloads_and_folder_operations() {
    let server =
        Server::start("[[printers]]\nid = \"v1\"\nport = \"virtual\"\nvirtual-speed = 0\n");
    // A PrusaSlicer-style thumbnail block: base64 of a small PNG-like image.
    let image: Vec<u8> = b"\x89PNG\r\n\x1a\n"
        .iter()
        .copied()
        .chain((0..600).map(|i| (i * 7 % 251) as u8))
        .collect();
    use base64::Engine as _;
    let encoded = base64::engine::general_purpose::STANDARD.encode(&image);
    let mut text = format!("; thumbnail begin 16x12 {}\n", encoded.len());
    for chunk in encoded.as_bytes().chunks(78) {
        text.push_str(&format!("; {}\n", std::str::from_utf8(chunk).unwrap()));
    }
    text.push_str("; thumbnail end\n");
    text.push_str(&gcode(10));
    text.push_str("; estimated printing time (normal mode) = 1h 2m 3s\n");
    let stored = upload(&server, "shelf/", text.clone()).await;
    assert_eq!(stored["path"], "shelf/upload.gcode");

    let info = wait_for("the analysis", 30, async || {
        let v = server
            .get_json("/farm/api/files/info?path=shelf/upload.gcode")
            .await;
        (v["analysis_state"] == "done").then_some(v)
    })
    .await;
    let analysis = &info["analysis"];
    assert_eq!(analysis["lines"], 12, "{info}");
    assert_eq!(analysis["estimated_print_secs"], 3723.0);
    assert_eq!(analysis["slicer"], "PrusaSlicer 2.7.1");
    assert_eq!(
        (
            &info["thumbnails"][0]["width"],
            &info["thumbnails"][0]["format"]
        ),
        (&json!(16), &json!("png"))
    );
    let thumb = server
        .client()
        .get(server.url("/farm/api/files/thumbnail?path=shelf/upload.gcode&index=0"))
        .send()
        .await
        .unwrap();
    assert_eq!(thumb.headers()["content-type"], "image/png");
    assert_eq!(thumb.bytes().await.unwrap().as_ref(), image.as_slice());
    let download = server
        .client()
        .get(server.url("/farm/api/files/download?path=shelf/upload.gcode"))
        .send()
        .await
        .unwrap();
    assert_eq!(download.status(), 200);
    assert_eq!(download.text().await.unwrap(), text);

    let (s, _) = server
        .call(
            reqwest::Method::POST,
            "/farm/api/files/copy",
            Some(json!({"source": "shelf", "destination": "archive/2026"})),
        )
        .await;
    assert_eq!(s, 201);
    let (s, moved) = server
        .call(
            reqwest::Method::POST,
            "/farm/api/files/move",
            Some(json!({"source": "shelf/upload.gcode", "destination": "shelf/renamed.gcode"})),
        )
        .await;
    assert_eq!((s, &moved["sha256"]), (200, &stored["sha256"]));
    let copied = server
        .get_json("/farm/api/files/info?path=archive/2026/upload.gcode")
        .await;
    assert_eq!(copied["analysis"]["lines"], 12, "a copy keeps its analysis");
    let (s, _) = server
        .call(
            reqwest::Method::DELETE,
            "/farm/api/files?path=archive",
            None,
        )
        .await;
    assert_eq!(s, 204);
    let all = server.get_json("/farm/api/files?recursive=true").await;
    let paths: Vec<&str> = all
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["path"].as_str().unwrap())
        .collect();
    assert_eq!(paths, ["shelf", "shelf/renamed.gcode"]);
    let (s, gone) = server
        .call(
            reqwest::Method::GET,
            "/farm/api/files/info?path=archive/2026/upload.gcode",
            None,
        )
        .await;
    assert_eq!(s, 404, "{gone}");
}
