//! The SDK's example plugins (`sdk/examples/*`), each run by the real binary and used as a
//! client would. Every example has a test here named `example_<its directory>`; a test below
//! fails when one has none.

use std::time::Duration;

use futures::{SinkExt, StreamExt};
use printfarm_e2e::*;
use serde_json::Value;
use tokio_tungstenite::tungstenite::Message;

/// A server running example `id` with `grants`, and `extra` config (tables of its own).
fn with_example(id: &str, grants: &[&str], extra: &str) -> Server {
    // The plugin's table ends the top-level keys, so `extra` follows it.
    Server::start(&format!(
        "{}\n{extra}",
        plugin_dir_config(&example_plugins(), id, &format!("grants = {grants:?}\n"))
    ))
}

/// Two virtual printers that print instantly.
const TWO_PRINTERS: &str = r#"
[[printers]]
id = "v1"
port = "virtual"
virtual-speed = 0

[[printers]]
id = "v2"
port = "virtual"
virtual-speed = 0
"#;

async fn get(server: &Server, path: &str) -> Value {
    let response = reqwest::get(server.url(path)).await.unwrap();
    assert_eq!(response.status(), 200, "{path}: {}", server.log());
    response.json().await.unwrap()
}

#[tokio::test]
async fn example_ticks() {
    let server = with_example("example-ticks", &["kv"], "");
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
    let server = with_example("example-events", &["kv"], ONE_PRINTER);
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
    let server = with_example("example-push-channel", &[], "");
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

#[tokio::test]
async fn example_per_printer() {
    let server = with_example("example-per-printer", &["printers.read"], TWO_PRINTERS);
    for printer in ["v1", "v2"] {
        wait_state(&server, printer, "operational").await;
        let status = get(&server, &format!("/example-per-printer/{printer}/status")).await;
        assert_eq!(status["printer"], printer, "{status}");
        assert_eq!(status["state"], "operational", "{status}");
    }
    let response = reqwest::get(server.url("/example-per-printer/v3/status"))
        .await
        .unwrap();
    assert_eq!(response.status(), 404, "a printer the farm does not have");
}

#[tokio::test]
async fn example_uploads() {
    let server = with_example("example-uploads", &["files.write"], "");
    let upload = |name: &str, text: &str| {
        let form = reqwest::multipart::Form::new()
            .text("folder", "parts")
            .part(
                "file",
                reqwest::multipart::Part::text(text.to_string()).file_name(name.to_string()),
            );
        reqwest::Client::new()
            .post(server.url("/example-uploads/files"))
            .multipart(form)
            .send()
    };
    let response = upload("cube.gcode", &gcode(2)).await.unwrap();
    assert_eq!(response.status(), 201, "{}", server.log());
    let stored: Value = response.json().await.unwrap();
    assert_eq!(stored["path"], "uploads/parts/cube.gcode", "{stored}");
    // The file is in the farm's library, analysed like any upload.
    let (status, info) = server
        .call(
            reqwest::Method::GET,
            "/farm/api/files/info?path=uploads/parts/cube.gcode",
            None,
        )
        .await;
    assert_eq!(status, 200, "{info}");
    let response = upload("cube.stl", "solid cube").await.unwrap();
    assert_eq!(response.status(), 400);
    let refusal: Value = response.json().await.unwrap();
    assert!(refusal.to_string().contains("cube.stl"), "{refusal}");
}

#[tokio::test]
async fn example_webhook() {
    // The receiver the example's manifest allows: it records each request's body.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:18997")
        .await
        .unwrap();
    let (bodies, mut received) = tokio::sync::mpsc::unbounded_channel::<String>();
    tokio::spawn(async move {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        loop {
            let (mut socket, _) = listener.accept().await.unwrap();
            let mut request = Vec::new();
            let mut buffer = [0u8; 4096];
            // Headers, then as many body bytes as content-length says.
            loop {
                let n = socket.read(&mut buffer).await.unwrap_or(0);
                if n == 0 {
                    break;
                }
                request.extend_from_slice(&buffer[..n]);
                let text = String::from_utf8_lossy(&request).to_string();
                if let Some(end) = text.find("\r\n\r\n") {
                    let length = text
                        .lines()
                        .find_map(|l| {
                            l.to_ascii_lowercase()
                                .strip_prefix("content-length:")
                                .map(|v| v.trim().parse::<usize>().unwrap_or(0))
                        })
                        .unwrap_or(0);
                    if request.len() >= end + 4 + length {
                        let _ = bodies.send(text[end + 4..].to_string());
                        break;
                    }
                }
            }
            let _ = socket
                .write_all(b"HTTP/1.1 204 No Content\r\nconnection: close\r\n\r\n")
                .await;
        }
    });
    let server = with_example(
        "example-webhook",
        &["outbound-http", "kv"],
        &format!(
            "[plugins.example-webhook.config]\nurl = \"http://127.0.0.1:18997/hook\"\n{ONE_PRINTER}"
        ),
    );
    wait_state(&server, "v1", "operational").await;
    server.upload_gcode("cube.gcode", gcode(2)).await;
    server.queue_on("cube.gcode", "v1").await;
    let body = tokio::time::timeout(Duration::from_secs(30), received.recv())
        .await
        .expect("a webhook within 30 s")
        .unwrap();
    let hook: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(hook["phase"], "done", "{hook}");
    assert_eq!(hook["printer"], "v1", "{hook}");
    assert_eq!(hook["file"], "cube.gcode", "{hook}");
    let sent = wait_for("the webhook counted", 10, async || {
        let sent = get(&server, "/example-webhook/sent").await;
        (sent["sent"] == 1).then_some(sent)
    })
    .await;
    assert_eq!(sent["failed"], 0, "{sent}");

    // A config its schema refuses never starts.
    let refusal = Server::refuse(&plugin_dir_config(
        &example_plugins(),
        "example-webhook",
        "grants = [\"outbound-http\"]\n[plugins.example-webhook.config]\nurl = \"ftp://x\"\n",
    ));
    assert!(refusal.stderr.contains("/url"), "{}", refusal.stderr);
}

#[tokio::test]
async fn example_websocket_client() {
    // The feed the example's manifest allows: greets each client, echoes what it is told.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:18996")
        .await
        .unwrap();
    tokio::spawn(async move {
        loop {
            let (socket, _) = listener.accept().await.unwrap();
            tokio::spawn(async move {
                let mut ws = tokio_tungstenite::accept_async(socket).await.unwrap();
                ws.send(Message::text("hello from the feed")).await.unwrap();
                while let Some(Ok(message)) = ws.next().await {
                    if let Ok(text) = message.to_text() {
                        if !text.is_empty() {
                            let _ = ws.send(Message::text(format!("echo:{text}"))).await;
                        }
                    }
                }
            });
        }
    });
    let server = with_example(
        "example-websocket-client",
        &["outbound-ws", "kv"],
        "[plugins.example-websocket-client.config]\nurl = \"ws://127.0.0.1:18996/feed\"\n",
    );
    wait_for("the feed's greeting", 20, async || {
        let received = get(&server, "/example-websocket-client/received").await;
        (received["last"] == "hello from the feed").then_some(())
    })
    .await;
    let said = reqwest::Client::new()
        .post(server.url("/example-websocket-client/say"))
        .json(&serde_json::json!({"text": "hi"}))
        .send()
        .await
        .unwrap();
    assert_eq!(said.status(), 202, "{}", server.log());
    let received = wait_for("the echo", 20, async || {
        let received = get(&server, "/example-websocket-client/received").await;
        (received["last"] == "echo:hi").then_some(received)
    })
    .await;
    assert_eq!(received["messages"], 2, "{received}");
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
