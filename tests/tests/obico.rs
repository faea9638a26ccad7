//! The Obico link (plugin `obico`) end to end: the real binary with the real plugin, virtual
//! printers, and the stand-in Obico server of `printfarm_e2e::obico_standin`, which implements
//! the server's side of the contract (linking, the rate limit, REST, the websocket with 4321 and
//! `printer.message` commands).

use std::time::{Duration, Instant};

use printfarm_e2e::obico_standin::{ObicoStandin, PrinterId};
use printfarm_e2e::*;
use serde_json::{json, Value};

/// Long enough for anything local; only reached when something is broken.
const T: Duration = Duration::from_secs(20);

/// Two virtual printers in real time (prints last as long as their moves), linked to `standin`.
fn config(standin: &ObicoStandin, extra: &str) -> String {
    format!(
        r#"
[[printers]]
id = "v1"
port = "virtual"
virtual-speed = 1

[[printers]]
id = "v2"
port = "virtual"
virtual-speed = 1

[plugins.obico]
outbound-hosts = ["{base}"]

[plugins.obico.config]
server = "{base}/"
status-interval-secs = 2
printing-status-interval-secs = 1
{extra}
"#,
        base = standin.base_url()
    )
}

/// `POST /obico/api/printers/{id}/link` with a code.
async fn link(server: &Server, printer: &str, code: &str) -> (u16, Value) {
    let (status, body, _) = send(
        server
            .client()
            .post(server.url(&format!("/obico/api/printers/{printer}/link")))
            .json(&json!({ "code": code })),
    )
    .await;
    (status, body)
}

/// The plugin's entry for a printer.
async fn entry(server: &Server, printer: &str) -> Value {
    server
        .get_json(&format!("/obico/api/printers/{printer}"))
        .await
}

/// Links `printer` with a fresh code and waits until its socket is open; its id on the server.
async fn linked(server: &Server, standin: &ObicoStandin, printer: &str) -> PrinterId {
    let code = standin.issue_code();
    let (status, body) = link(server, printer, &code).await;
    assert_eq!(status, 200, "{body}");
    let id = body["obico_printer_id"]
        .as_u64()
        .expect("the server's printer id");
    standin.wait_connected(id, T).await;
    id
}

/// Uploads a print of `secs` seconds and queues it on `printer`.
async fn print_for(server: &Server, printer: &str, secs: usize) -> String {
    let name = format!("obico-{printer}-{secs}.gcode");
    server.upload_gcode(&name, gcode(secs)).await;
    server.queue_on(&name, printer).await;
    wait_state(server, printer, "printing").await;
    name
}

const FLAGS: [&str; 8] = [
    "operational",
    "printing",
    "paused",
    "pausing",
    "cancelling",
    "error",
    "ready",
    "closedOrError",
];

fn has_every_flag(frame: &Value) -> bool {
    let flags = &frame["status"]["state"]["flags"];
    FLAGS.iter().all(|f| flags[f].is_boolean()) && frame["status"]["_ts"].is_f64()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_code_links_a_printer_whose_frames_carry_every_flag_on_connect_and_periodically() {
    let standin = ObicoStandin::start().await;
    let server = Server::start(&config(&standin, ""));

    // Bad input first: a malformed code, an unknown printer, a code the server does not know.
    assert_eq!(link(&server, "v1", "12a456").await.0, 400);
    assert_eq!(link(&server, "nope", "123456").await.0, 404);
    let (status, body) = link(&server, "v1", "999999").await;
    assert_eq!(status, 502, "{body}");
    assert!(body.to_string().contains("does not exist"), "{body}");
    assert_eq!(entry(&server, "v1").await["state"], "unlinked");

    let id = linked(&server, &standin, "v1").await;
    let token = standin.printer(id).unwrap().auth_token;
    let frames = standin.wait_frames(id, 3, T).await;
    assert!(
        frames.iter().all(|f| has_every_flag(&f.json)),
        "{:?}",
        frames[0].json
    );
    let first = &frames[0].json;
    assert_eq!(first["settings"]["agent"]["name"], "octoprint_obico");
    assert_eq!(first["current_print_ts"], -1);
    assert_eq!(first["status"]["state"]["text"], "Operational");
    // Periodic: the idle interval is 2 s here.
    let gap = frames[2].at - frames[1].at;
    assert!(gap >= Duration::from_millis(1500), "{gap:?}");
    assert_eq!(standin.agent_of(id).0.as_deref(), Some("octoprint_obico"));

    let list: Value = server.get_json("/obico/api/printers").await;
    let v1 = list
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["printer"] == "v1")
        .unwrap();
    assert_eq!(v1["state"], "connected", "{list}");
    assert_eq!(v1["obico_printer_id"], id);
    // The server knows the printer by its farm name.
    assert_eq!(standin.printer(id).unwrap().name, "v1");
    assert_eq!(v1["obico_printer_name"], "v1");
    assert_eq!(list.as_array().unwrap().len(), 2);
    // The token is a secret: no route shows it, no log line either.
    assert!(!list.to_string().contains(&token));
    assert!(!server.log().contains(&token), "the token is in the log");

    // A viewer reads but may not link.
    let viewer = server.create_user_key("vera", "viewer").await;
    let (status, _, _) = send(
        client_with_key(&viewer)
            .post(server.url("/obico/api/printers/v2/link"))
            .json(&json!({"code": "123456"})),
    )
    .await;
    assert_eq!(status, 403);
    let (status, _, _) = send(reqwest::Client::new().get(server.url("/obico/api/printers"))).await;
    assert_eq!(status, 401);

    // Unlinking closes the socket.
    let (status, body, _) = send(
        server
            .client()
            .delete(server.url("/obico/api/printers/v1/link")),
    )
    .await;
    assert_eq!((status, body["state"].as_str()), (200, Some("unlinked")));
    standin.wait_disconnected(id, T).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_temperature_target_is_sent_at_once_not_at_the_next_period() {
    let standin = ObicoStandin::start().await;
    // The periodic frame comes only every 50 s here.
    let server = Server::start(
        &config(&standin, "").replace("status-interval-secs = 2", "status-interval-secs = 50"),
    );
    let id = linked(&server, &standin, "v1").await;
    standin.wait_frames(id, 1, T).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    server.send_gcode("v1", &["M104 S200"]).await;
    let set = Instant::now();
    standin
        .wait_frame(id, "the new target", T, |f| {
            f["status"]["temperatures"]["tool0"]["target"] == 200.0
        })
        .await;
    assert!(
        set.elapsed() < Duration::from_secs(15),
        "{:?}",
        set.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_passcode_typed_in_the_app_links_the_printer() {
    let standin = ObicoStandin::start().await;
    let server = Server::start(&config(&standin, "poll-interval-secs = 1"));
    let (status, body, _) = send(
        server
            .client()
            .post(server.url("/obico/api/printers/v2/passcode")),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["state"], "awaiting-passcode");
    let passcode = body["passcode"].as_str().unwrap().to_string();
    assert_eq!(passcode.len(), 5);
    assert!(body["passcode_expires_at"].as_str().unwrap().ends_with('Z'));
    assert_eq!(entry(&server, "v2").await["passcode"], passcode.as_str());

    standin.enter_passcode(&passcode).unwrap();
    let printers = standin.wait_printers(1, T).await;
    standin.wait_connected(printers[0].id, T).await;
    let e = wait_for("v2 connected", 20, async || {
        let e = entry(&server, "v2").await;
        (e["state"] == "connected").then_some(e)
    })
    .await;
    assert!(e.get("passcode").is_none());
    // The polls sent the passcode back, one printer at a time, never faster than the interval.
    let polls = standin.unlinked_polls();
    assert!(polls
        .iter()
        .skip(1)
        .all(|p| p.body["one_time_passcode"] == passcode.as_str()));
    assert!(polls
        .windows(2)
        .all(|w| w[1].at - w[0].at >= Duration::from_millis(900)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lan_discovery_hands_the_secret_to_local_callers_and_links_on_the_servers_message() {
    let standin = ObicoStandin::start().await;
    let server = Server::start(&config(
        &standin,
        "discovery = true\npoll-interval-secs = 1\nprinters = [\"v1\"]\ndiscovery-address = \"10.1.2.3:8080\"",
    ));
    let poll = standin.wait_unlinked_polls(1, T).await.remove(0);
    let device_id = poll.body["device_id"].as_str().unwrap().to_string();
    assert_eq!(device_id.len(), 32);
    // The app is told where to ask for the secret.
    assert_eq!(
        (poll.body["host_or_ip"].as_str(), poll.body["port"].as_u64()),
        (Some("10.1.2.3"), Some(8080))
    );

    let (status, body, headers) = send(reqwest::Client::new().get(server.url(&format!(
        "/plugin/obico/grab-discovery-secret?device_id={device_id}"
    ))))
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(headers["access-control-allow-origin"], "*");
    let secret = body["device_secret"].as_str().unwrap().to_string();
    let (status, _, _) =
        send(reqwest::Client::new().get(server.url(
            "/plugin/obico/grab-discovery-secret?device_id=00000000000000000000000000000000",
        )))
        .await;
    assert_eq!(status, 404);

    // A message with the wrong secret is ignored; the right one links.
    standin.discover(&device_id, "wrong");
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(standin.printers().is_empty() || standin.verify_calls().is_empty());
    standin.discover(&device_id, &secret);
    let printer = standin
        .wait_until("a printer linked by discovery", T, |s| {
            s.printers().into_iter().find(|p| s.is_connected(p.id))
        })
        .await;
    wait_for("v1 connected", 20, async || {
        (entry(&server, "v1").await["state"] == "connected").then_some(())
    })
    .await;
    // Once linked, the device is no longer offered.
    let (status, _, _) = send(reqwest::Client::new().get(server.url(&format!(
        "/plugin/obico/grab-discovery-secret?device_id={device_id}"
    ))))
    .await;
    assert_eq!(status, 404, "{}", printer.id);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pause_resume_and_cancel_from_the_server_reach_the_printer_and_come_back_as_events() {
    let standin = ObicoStandin::start().await;
    let server = Server::start(&config(&standin, ""));
    let id = linked(&server, &standin, "v1").await;
    // The server's rule: no pause without an open print.
    assert!(standin.command(id, "pause", "api").is_err());

    let file = print_for(&server, "v1", 120).await;
    let started = standin
        .wait_frame(id, "PrintStarted", T, |f| {
            f["event"]["event_type"] == "PrintStarted"
        })
        .await;
    assert_eq!(started.json["status"]["job"]["file"]["name"], file.as_str());
    let print = standin.wait_open_print(id, T).await;
    assert_eq!(print.filename, file);
    assert!(!standin.g_code_files(id).is_empty());

    standin.command(id, "pause", "api").unwrap();
    wait_state(&server, "v1", "paused").await;
    standin
        .wait_frame(id, "PrintPaused", T, |f| {
            f["event"]["event_type"] == "PrintPaused"
        })
        .await;
    standin
        .wait_frame(id, "paused flag", T, |f| {
            f["status"]["state"]["flags"]["paused"] == true
        })
        .await;

    standin.command(id, "resume", "api").unwrap();
    wait_state(&server, "v1", "printing").await;
    standin
        .wait_frame(id, "PrintResumed", T, |f| {
            f["event"]["event_type"] == "PrintResumed"
        })
        .await;

    standin.command(id, "cancel", "api").unwrap();
    wait_state(&server, "v1", "operational").await;
    standin
        .wait_frame(id, "idle after cancel", T, |f| {
            f["current_print_ts"] == -1 && f.get("event").is_none()
        })
        .await;
    let events: Vec<String> = standin
        .frames(id)
        .iter()
        .filter_map(|f| f.json["event"]["event_type"].as_str().map(str::to_string))
        .collect();
    let cancelled = events.iter().position(|e| e == "PrintCancelled").unwrap();
    assert_eq!(events[cancelled + 1], "PrintFailed", "{events:?}");
    assert!(standin.open_print(id).is_none());
    // The server makes its own events of the frames: the agent adds none for a cancel.
    assert!(standin.events(id).is_empty(), "{:?}", standin.events(id));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_print_the_printer_fails_is_a_printer_error_with_a_snapshot() {
    let standin = ObicoStandin::start().await;
    let server = Server::start(&config(&standin, ""));
    let id = linked(&server, &standin, "v1").await;
    print_for(&server, "v1", 120).await;
    standin.wait_open_print(id, T).await;
    // The firmware is killed mid-print.
    server.send_gcode("v1", &["M112"]).await;
    let error = standin
        .wait_until("the printer error", T, |s| {
            s.events(id)
                .into_iter()
                .find(|e| e.fields.get("event_type").map(String::as_str) == Some("PRINTER_ERROR"))
        })
        .await;
    assert_eq!(
        error.fields.get("event_class").map(String::as_str),
        Some("ERROR")
    );
    assert!(
        error.fields["event_text"].contains("failed on v1"),
        "{:?}",
        error.fields
    );
    assert!(
        error.snapshot.is_some_and(|n| n > 0),
        "a virtual printer's snapshot goes with it"
    );
    standin
        .wait_frame(id, "PrintFailed", T, |f| {
            f["event"]["event_type"] == "PrintFailed"
        })
        .await;
    standin
        .wait_until("the print closed", T, |s| {
            s.open_print(id).is_none().then_some(())
        })
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failure_detection_pause_is_recorded_in_the_history() {
    let standin = ObicoStandin::start().await;
    let server = Server::start(&config(&standin, ""));
    let id = linked(&server, &standin, "v1").await;
    print_for(&server, "v1", 120).await;
    standin.wait_open_print(id, T).await;

    standin.command(id, "pause", "system").unwrap();
    wait_state(&server, "v1", "paused").await;
    let history = wait_for("the pause in the history", 20, async || {
        let h = server.get_json("/farm/api/history?printer=v1").await;
        let pauses = h[0]["pauses"].as_array()?.clone();
        (!pauses.is_empty()).then_some(pauses)
    })
    .await;
    let reason = history[0]["reason"].as_str().unwrap_or_default();
    assert!(reason.contains("Obico"), "{history:?}");
    assert_eq!(history[0]["by"], "plugin:obico");
    standin
        .wait_frame(id, "PrintPaused", T, |f| {
            f["event"]["event_type"] == "PrintPaused"
        })
        .await;
    standin.command(id, "cancel", "api").unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn passthru_calls_answer_results_and_errors() {
    let standin = ObicoStandin::start().await;
    let server = Server::start(&config(&standin, ""));
    server
        .upload_gcode_at(Some("passthru/cube.gcode"), "cube.gcode", gcode(3))
        .await;
    let id = linked(&server, &standin, "v1").await;
    let none = json!(null);

    let ret = standin
        .passthru(id, "_printer", "commands", json!(["M105"]), none.clone(), T)
        .await;
    assert_eq!(ret, Ok(Value::Null));
    let options = standin
        .passthru(
            id,
            "_printer",
            "get_connection_options",
            json!([]),
            none.clone(),
            T,
        )
        .await
        .unwrap();
    assert_eq!(options["ports"], json!(["virtual"]));
    let files = standin
        .passthru(
            id,
            "_file_manager",
            "list_files",
            json!([]),
            json!({"path": "", "recursive": true}),
            T,
        )
        .await
        .unwrap();
    assert_eq!(
        files["local"]["passthru"]["children"]["cube.gcode"]["path"], "passthru/cube.gcode",
        "{files}"
    );
    let err = standin
        .passthru(id, "janus", "start", json!([]), none.clone(), T)
        .await
        .unwrap_err();
    assert!(err.contains("no passthru target"), "{err}");
    let err = standin
        .passthru(
            id,
            "_printer",
            "select_file",
            json!(["missing.gcode", null]),
            json!({"printAfterSelect": "true"}),
            T,
        )
        .await
        .unwrap_err();
    assert!(!err.is_empty());

    // select_file with printAfterSelect starts the print.
    standin
        .passthru(
            id,
            "_printer",
            "select_file",
            json!(["passthru/cube.gcode", null]),
            json!({"printAfterSelect": "true"}),
            T,
        )
        .await
        .unwrap();
    standin.wait_open_print(id, T).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn snapshots_go_every_viewing_interval_while_watched_and_slower_otherwise() {
    let standin = ObicoStandin::start().await;
    let server = Server::start(&config(
        &standin,
        "snapshot-interval-secs = 6\nviewing-snapshot-interval-secs = 1",
    ));
    let id = linked(&server, &standin, "v1").await;
    let first = standin.wait_pics(id, 1, T).await;
    assert!(first[0].jpeg, "a virtual printer sends a generated JPEG");
    // Idle: the next one only after the slow interval.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(standin.pics(id).len(), 1);

    let viewing_from = Instant::now();
    standin.set_viewing(id, true).unwrap();
    let pics = standin.wait_pics(id, 2, T).await;
    assert!(
        pics[1].at - viewing_from < Duration::from_millis(2500),
        "at once when viewing starts"
    );
    assert_eq!(
        pics[1].fields.get("viewing_boost").map(String::as_str),
        Some("true")
    );
    let pics = standin.wait_pics(id, 5, T).await;
    // The regular pictures of a watched printer go without the boost: the server runs failure
    // detection only on those.
    assert!(pics[2..]
        .iter()
        .all(|p| p.fields.get("viewing_boost").map(String::as_str) == Some("false")));
    let gaps: Vec<Duration> = pics.windows(2).skip(1).map(|w| w[1].at - w[0].at).collect();
    assert!(
        gaps.iter().all(|g| *g < Duration::from_millis(2500)),
        "{gaps:?}"
    );

    standin.set_viewing(id, false).unwrap();
    let stopped = Instant::now();
    tokio::time::sleep(Duration::from_secs(4)).await;
    let after = standin
        .pics(id)
        .into_iter()
        .filter(|p| p.at > stopped + Duration::from_millis(1200))
        .count();
    assert_eq!(after, 0, "no fast snapshots once nobody watches");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_used_elsewhere_is_not_fought_for() {
    use futures::StreamExt;
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;

    let standin = ObicoStandin::start().await;
    let server = Server::start(&config(&standin, ""));
    let id = linked(&server, &standin, "v1").await;
    let token = standin.printer(id).unwrap().auth_token;

    let mut request = standin.ws_url().into_client_request().unwrap();
    request
        .headers_mut()
        .insert("authorization", format!("bearer {token}").parse().unwrap());
    let (mut other, _) = tokio_tungstenite::connect_async(request).await.unwrap();
    let _greeting = other.next().await;

    let e = wait_for("token-used-elsewhere", 20, async || {
        let e = entry(&server, "v1").await;
        (e["state"] == "token-used-elsewhere").then_some(e)
    })
    .await;
    assert!(e["error"].as_str().unwrap().contains("4321"), "{e}");
    let connects = standin.connects(id).len();
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert_eq!(
        standin.connects(id).len(),
        connects,
        "the plugin fought for its token"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_server_restart_every_printer_reconnects_with_backoff() {
    let standin = ObicoStandin::start().await;
    let server = Server::start(&config(&standin, ""));
    let a = linked(&server, &standin, "v1").await;
    let b = linked(&server, &standin, "v2").await;
    let down = Instant::now();
    standin.restart(Duration::from_secs(4)).await;
    let again_a = standin.wait_connects(a, 2, T).await;
    let again_b = standin.wait_connects(b, 2, T).await;
    for at in [again_a[1], again_b[1]] {
        assert!(at - down >= Duration::from_secs(4));
        // Backoff grows to seconds, not to minutes, over a 4 s outage.
        assert!(at - down < Duration::from_secs(20), "{:?}", at - down);
    }
    wait_for("v1 connected again", 20, async || {
        (entry(&server, "v1").await["state"] == "connected").then_some(())
    })
    .await;
    standin.wait_frames(a, standin.frames(a).len() + 1, T).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_the_server_refuses_unlinks_the_printer_with_the_reason() {
    let standin = ObicoStandin::start().await;
    let server = Server::start(&config(&standin, ""));
    let id = linked(&server, &standin, "v1").await;
    standin.revoke(id);
    let e = wait_for("unlinked after the refusal", 30, async || {
        let e = entry(&server, "v1").await;
        (e["state"] == "unlinked" && e["error"].is_string()).then_some(e)
    })
    .await;
    assert!(
        e["error"]
            .as_str()
            .unwrap()
            .contains("deleted on the server"),
        "{e}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_anonymous_rate_limit_is_honoured() {
    let standin = ObicoStandin::start().await;
    standin.set_anonymous_limit(3, Duration::from_secs(30));
    let _server = Server::start(&config(
        &standin,
        "discovery = true\npoll-interval-secs = 1",
    ));
    // Waits for the refused poll's record (the refusal is counted before the poll is recorded).
    standin
        .wait_until("a 429", T, |s| {
            s.unlinked_polls()
                .iter()
                .any(|p| p.status == 429)
                .then_some(())
        })
        .await;
    let polls_then = standin.unlinked_polls().len();
    tokio::time::sleep(Duration::from_secs(6)).await;
    assert_eq!(
        standin.anonymous_refusals(),
        1,
        "polled again before the wait was over"
    );
    assert_eq!(standin.unlinked_polls().len(), polls_then);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_frames_and_unknown_commands_keep_the_link() {
    let standin = ObicoStandin::start().await;
    let server = Server::start(&config(&standin, ""));
    let id = linked(&server, &standin, "v1").await;
    for text in [
        "{not json",
        "[]",
        r#"{"commands": "pause"}"#,
        r#"{"commands":[{"cmd":"explode"}]}"#,
    ] {
        standin.send_raw(id, text).unwrap();
    }
    let before = standin.frames(id).len();
    standin.wait_frames(id, before + 2, T).await;
    assert!(standin.is_connected(id));
    assert_eq!(standin.connects(id).len(), 1);
    let log = server.log();
    assert!(log.contains("malformed frame"), "{log}");
    assert!(log.contains("unknown command `explode`"), "{log}");
}

/// A web server on a free port that answers every request with a small HTML page (a router's
/// login page where an Obico server or a camera was expected); its base URL.
async fn html_server() -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut request = [0u8; 4096];
                let _ = socket.read(&mut request).await;
                let body = "<html><body>Router login</body></html>";
                let head = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: text/html\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                    body.len()
                );
                let _ = socket.write_all(format!("{head}{body}").as_bytes()).await;
            });
        }
    });
    url
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_camera_that_answers_html_costs_the_snapshot_not_the_link() {
    let camera = html_server().await;
    let standin = ObicoStandin::start().await;
    let server = Server::start(&format!(
        "[[printers]]\nid = \"cam\"\nport = \"virtual\"\nvirtual-speed = 0\nwebcam-snapshot = \"{camera}/snapshot.jpg\"\n\
         [plugins.obico]\noutbound-hosts = [\"{base}\"]\n[plugins.obico.config]\nserver = \"{base}\"\n\
         status-interval-secs = 1\nviewing-snapshot-interval-secs = 1\n",
        base = standin.base_url()
    ));
    let id = linked(&server, &standin, "cam").await;
    standin.set_viewing(id, true).unwrap();
    let frames = standin.frames(id).len();
    standin.wait_frames(id, frames + 3, T).await;
    let log = wait_for("the camera's error in the log", 20, async || {
        let log = server.log();
        log.contains("no snapshot").then_some(log)
    })
    .await;
    assert!(log.contains("not a JPEG"), "{log}");
    assert!(
        standin.pics(id).is_empty(),
        "an HTML page was sent as a picture"
    );
    assert!(standin.is_connected(id));
    assert_eq!(standin.connects(id).len(), 1);
    assert_eq!(entry(&server, "cam").await["state"], "connected");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_is_not_obico_or_not_granted_is_refused_clearly() {
    // Not granted: refused at start, naming the grant to add.
    let refusal =
        Server::refuse("[plugins.obico.config]\nserver = \"http://obico.example:3334\"\n");
    assert!(
        refusal.stderr.contains("outbound-hosts")
            && refusal.stderr.contains("http://obico.example:3334"),
        "{}",
        refusal.stderr
    );

    // A web server that answers HTML is not taken as the new server.
    let html_url = html_server().await;
    let standin = ObicoStandin::start().await;
    let server = Server::start(&format!(
        "{ONE_PRINTER}\n[plugins.obico]\noutbound-hosts = [\"{}\", \"{html_url}\"]\n[plugins.obico.config]\nserver = \"{}\"\n",
        standin.base_url(),
        standin.base_url()
    ));
    let put = |url: String| {
        let server = &server;
        async move {
            send(
                server
                    .client()
                    .put(server.url("/obico/api/server"))
                    .json(&json!({ "server": url })),
            )
            .await
        }
    };
    let (status, body, _) = put(html_url.clone()).await;
    assert_eq!(status, 400, "{body}");
    assert!(body.to_string().contains("Obico server"), "{body}");
    let (status, body, _) = put("http://not-granted.example".into()).await;
    assert_eq!(status, 400, "{body}");
    assert!(body.to_string().contains("outbound-hosts"), "{body}");
    let (status, _, _) = put("ftp://x".into()).await;
    assert_eq!(status, 400);
    assert_eq!(
        server.get_json("/obico/api/server").await["server"],
        standin.base_url().trim_end_matches('/')
    );
}
