//! Core events reach the plugins that subscribed to them, in order, through the real runtime.
//! (In-process: the test publishes on the host's event bus, which no HTTP route can do.)

use std::path::PathBuf;
use std::time::{Duration, Instant};

use printfarm::config::FarmConfig;
use printfarm::events::{CoreEvent, PrintPhase};
use printfarm::farm::PrinterState;

fn target_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    exe.ancestors()
        .find(|p| p.file_name().is_some_and(|n| n == "target"))
        .unwrap()
        .to_path_buf()
}

#[tokio::test]
async fn subscribed_events_are_delivered_in_order() {
    let test_plugins = target_dir().join("test-plugins");
    assert!(
        test_plugins.is_dir(),
        "run scripts/build-plugins --tests first"
    );
    std::env::set_var(
        printfarm::server::SHIPPED_PLUGINS_ENV,
        target_dir().join("plugins"),
    );
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let config = FarmConfig::parse(
        &format!(
            "listen = \"127.0.0.1:{port}\"\ndata-dir = \"{}\"\ncache-dir = \"{}\"\nplugin-dirs = [\"{}\"]\n\
             [plugins.misbehave]\ngrants = [\"kv\"]\n",
            dir.path().display(),
            target_dir().join("test-component-cache").display(),
            test_plugins.display()
        ),
        "test",
    )
    .unwrap();
    let prepared = printfarm::server::prepare(config).await.unwrap();
    let bus = prepared.host.services.events.clone();
    tokio::spawn(printfarm::server::serve(prepared));

    // misbehave subscribes to printer-state and print, not temperatures.
    bus.publish(CoreEvent::PrinterState {
        printer: "p1".into(),
        previous: PrinterState::Offline,
        current: PrinterState::Operational,
        reason: None,
    });
    bus.publish(CoreEvent::Temperatures {
        printer: "p1".into(),
        time: 0,
        readings: vec![],
    });
    bus.publish(CoreEvent::Print {
        printer: "p2".into(),
        phase: PrintPhase::Done,
        file: "a.gcode".into(),
        task_id: None,
        elapsed_secs: 1.0,
        reason: None,
    });

    let url = format!("http://127.0.0.1:{port}/misbehave/events");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(r) = reqwest::get(&url).await {
            let events: serde_json::Value = r.json().await.unwrap_or_default();
            if let Some(list) = events.as_array().filter(|l| l.len() >= 2) {
                let text: Vec<String> = list.iter().map(|e| e.to_string()).collect();
                assert_eq!(list.len(), 2, "temperatures were not subscribed: {text:?}");
                assert!(
                    text[0].contains("printer-state") && text[0].contains("p1"),
                    "{text:?}"
                );
                assert!(
                    text[1].contains("print") && text[1].contains("p2"),
                    "{text:?}"
                );
                return;
            }
        }
        assert!(Instant::now() < deadline, "events were not delivered");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
