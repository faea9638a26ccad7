//! The real binary drives printers: virtual ones on ptys connect by themselves, a device that
//! is not there stays offline with the reason, and the host API shows both.

use std::time::{Duration, Instant};

use printfarm_e2e::*;
use serde_json::Value;

async fn printers(server: &Server) -> Vec<Value> {
    let list = server.get_json("/farm/api/printers").await;
    list.as_array().unwrap().clone()
}

#[tokio::test]
async fn virtual_printers_connect_and_absent_devices_stay_offline() {
    let server = Server::start(
        r#"
[[printers]]
id = "v1"
name = "Virtual one"
port = "virtual"
virtual-speed = 0

[[printers]]
id = "usb"
port = "/dev/printfarm-test-absent-ttyACM9"
baud = 250000
"#,
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    let list = loop {
        let list = printers(&server).await;
        let v1 = &list[0];
        if v1["state"] == "operational" && !v1["temperatures"].as_array().unwrap().is_empty() {
            break list;
        }
        assert!(
            Instant::now() < deadline,
            "virtual printer not operational with temperatures: {list:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(list[0]["name"], "Virtual one");
    assert_eq!(list[0]["temperatures"][0]["sensor"], "tool0");
    assert_eq!(list[1]["id"], "usb");
    assert_eq!(list[1]["state"], "offline");
    let reason = list[1]["state_reason"].as_str().unwrap();
    assert!(
        reason.contains("/dev/printfarm-test-absent-ttyACM9") && reason.contains("not present"),
        "{reason}"
    );

    let missing = server
        .client()
        .get(server.url("/farm/api/printers/nope"))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
    let one = server.get_json("/farm/api/printers/v1").await;
    assert_eq!(one["id"], "v1");
}

#[test]
fn bad_printer_settings_are_refused_with_the_key() {
    let refusal =
        Server::refuse("[[printers]]\nid = \"v1\"\nport = \"virtual\"\nvirtual-speed = -1\n");
    assert!(
        refusal.stderr.contains("printers[0].virtual-speed"),
        "{}",
        refusal.stderr
    );
    let refusal = Server::refuse("[[printers]]\nid = \"v1\"\nport = \"virtual\"\nrx-bufer = 128\n");
    assert!(refusal.stderr.contains("rx-bufer"), "{}", refusal.stderr);
}

/// Waits until the printer's terminal holds a line matching `found` after sequence `after`;
/// returns that answer's lines and `last_seq`.
async fn terminal_until(
    server: &Server,
    after: u64,
    found: impl Fn(&Value) -> bool,
) -> (Vec<Value>, u64) {
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut seen = Vec::new();
    let mut after = after;
    loop {
        let page = server
            .get_json(&format!("/farm/api/printers/v1/terminal?after={after}"))
            .await;
        seen.extend(page["lines"].as_array().unwrap().iter().cloned());
        after = page["last_seq"].as_u64().unwrap();
        if seen.iter().any(&found) {
            return (seen, after);
        }
        assert!(Instant::now() < deadline, "not in the terminal: {seen:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn the_terminal_shows_every_line_both_ways_and_reads_on_from_a_mark() {
    let server = Server::start(ONE_PRINTER);
    wait_state(&server, "v1", "operational").await;
    server.send_gcode("v1", &["M115"]).await;
    let text = |l: &Value| l["text"].as_str().unwrap_or_default().to_string();
    let (lines, mark) = terminal_until(&server, 0, |l| {
        l["direction"] == "received" && text(l).contains("FIRMWARE_NAME")
    })
    .await;
    // The command went out numbered and checksummed, as written to the port.
    let sent = lines
        .iter()
        .find(|l| l["direction"] == "sent" && text(l).contains(" M115*"))
        .unwrap_or_else(|| panic!("no sent M115 in {lines:?}"));
    assert!(text(sent).starts_with('N'), "{sent}");
    // Every `ok` is there, not only the messages worth logging.
    assert!(
        lines
            .iter()
            .any(|l| l["direction"] == "received" && text(l).starts_with("ok")),
        "{lines:?}"
    );
    let seqs: Vec<u64> = lines.iter().map(|l| l["seq"].as_u64().unwrap()).collect();
    assert!(seqs.windows(2).all(|w| w[1] == w[0] + 1), "{seqs:?}");

    // Reading on from the mark gives only newer lines.
    server.send_gcode("v1", &["M114"]).await;
    let (newer, _) = terminal_until(&server, mark, |l| text(l).contains(" M114*")).await;
    assert!(
        newer.iter().all(|l| l["seq"].as_u64().unwrap() > mark),
        "{newer:?}"
    );
    // None of the lines read before the mark comes again (a sent M115 may still follow the
    // mark: the handshake's own M115 answer can satisfy the first wait before ours is sent).
    assert!(
        newer
            .iter()
            .all(|l| !lines.iter().any(|o| o["seq"] == l["seq"])),
        "{newer:?}"
    );

    let (status, body, _) = send(
        server
            .client()
            .get(server.url("/farm/api/printers/nope/terminal")),
    )
    .await;
    assert_eq!(status, 404, "{body}");
    let (status, body, _) = send(
        server
            .client()
            .get(server.url("/farm/api/printers/v1/terminal?after=x")),
    )
    .await;
    assert_eq!(status, 400, "{body}");
}
