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
