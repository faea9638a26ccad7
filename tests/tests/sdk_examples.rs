//! The SDK's example plugins (`sdk/examples/*`), each run by the real binary and used as a
//! client would. Every example has a test here named `example_<its directory>`; a test below
//! fails when one has none.

use std::time::Duration;

use futures::{SinkExt, StreamExt};
use printfarm_e2e::*;
use serde_json::Value;
use tokio_tungstenite::tungstenite::Message;

/// A server running example `id` (with what it declares granted), and `extra` config.
fn with_example(id: &str, extra: &str) -> Server {
    // The plugin's table ends the top-level keys, so `extra` (tables of its own) follows it.
    Server::start(&format!(
        "{}\n{extra}",
        plugin_dir_config(&example_plugins(), id, "grants = [\"kv\"]\n")
    ))
}

async fn get(server: &Server, path: &str) -> Value {
    let response = reqwest::get(server.url(path)).await.unwrap();
    assert_eq!(response.status(), 200, "{path}: {}", server.log());
    response.json().await.unwrap()
}

#[tokio::test]
async fn example_ticks() {
    let server = with_example("example-ticks", "");
    // 100 ms ticks: in two seconds, well over five even on a busy machine.
    let ticks = wait_for("five ticks", 20, async || {
        let count = get(&server, "/example-ticks/count").await;
        (count["ticks"].as_i64().unwrap_or(0) >= 5).then_some(count)
    })
    .await;
    assert!(ticks["ticks"].as_i64().unwrap() >= 5, "{ticks}");
}

#[tokio::test]
async fn example_events() {
    let server = with_example("example-events", ONE_PRINTER);
    wait_state(&server, "v1", "operational").await;
    server.upload_gcode("cube.gcode", gcode(3)).await;
    server.queue_on("cube.gcode", "v1").await;
    let recent = wait_for("the print's events", 30, async || {
        let recent = get(&server, "/example-events/recent").await;
        let seen = |event: &str, what: &str| {
            recent.as_array().unwrap().iter().any(|seen| {
                seen["event"] == event && seen["what"] == what && seen["printer"] == "v1"
            })
        };
        (seen("print", "started") && seen("print", "done") && seen("printer-state", "printing"))
            .then_some(recent)
    })
    .await;
    let phases: Vec<&str> = recent
        .as_array()
        .unwrap()
        .iter()
        .filter(|seen| seen["event"] == "print")
        .map(|seen| seen["what"].as_str().unwrap())
        .collect();
    let started = phases.iter().position(|p| *p == "started").unwrap();
    let done = phases.iter().position(|p| *p == "done").unwrap();
    assert!(started < done, "{phases:?}");
}

#[tokio::test]
async fn example_push_channel() {
    let server = with_example("example-push-channel", "");
    let url = format!("ws://127.0.0.1:{}/example-push-channel/echo", server.port);
    let (mut ws, _) = tokio_tungstenite::connect_async(url.as_str())
        .await
        .unwrap();
    let next_text = async |ws: &mut tokio_tungstenite::WebSocketStream<_>| {
        let message = tokio::time::timeout(Duration::from_secs(10), ws.next())
            .await
            .expect("a frame within 10 s")
            .unwrap()
            .unwrap();
        message.to_text().unwrap().to_string()
    };
    assert_eq!(next_text(&mut ws).await, "welcome");
    ws.send(Message::text("ready?")).await.unwrap();
    assert_eq!(next_text(&mut ws).await, "READY?");
    assert_eq!(
        get(&server, "/example-push-channel/clients").await["clients"],
        1
    );
    // Refused by the plugin: the socket is closed at once.
    let (mut refused, _) = tokio_tungstenite::connect_async(format!("{url}?name=nobody"))
        .await
        .unwrap();
    match tokio::time::timeout(Duration::from_secs(10), refused.next()).await {
        Ok(Some(Ok(Message::Close(_)))) | Ok(None) | Ok(Some(Err(_))) => {}
        other => panic!("expected the refused socket to close, got {other:?}"),
    }
}

/// Every example in `sdk/examples` has its test in this file.
#[test]
fn every_example_has_a_test() {
    let examples = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../sdk/examples");
    let this_file = include_str!("sdk_examples.rs");
    let mut missing = Vec::new();
    for entry in std::fs::read_dir(&examples).unwrap() {
        let name = entry
            .unwrap()
            .file_name()
            .to_string_lossy()
            .replace('-', "_");
        if !this_file.contains(&format!("async fn example_{name}()")) {
            missing.push(name);
        }
    }
    assert!(missing.is_empty(), "examples without a test: {missing:?}");
}
