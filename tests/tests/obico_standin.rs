//! The Obico stand-in itself, driven by plain clients (reqwest, tokio-tungstenite) playing the
//! agent: the plugin's end-to-end tests rely on it answering as the contract says (the Obico link
//! reference, `shared/reference/obico-link.md`), so each of its promises is checked here.

use std::time::{Duration, Instant};

use futures::{SinkExt, StreamExt};
use printfarm_e2e::obico_standin::{Closed, ObicoStandin, PrinterInfo, CLOSE_REPLACED};
use printfarm_e2e::{free_port, send};
use reqwest::multipart::{Form, Part};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::{self, Message};

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Long enough for anything local; only reached when something is broken.
const T: Duration = Duration::from_secs(5);

/// A uuid4 hex, as agents make device ids.
fn device_id(n: u8) -> String {
    format!("{:032x}", 0x5eed_0000_u128 + u128::from(n))
}

/// An `/unlinked/` body as an agent sends it.
fn unlinked_body(device_id: &str) -> Value {
    json!({
        "device_id": device_id, "hostname": "farm", "port": 8080, "os": "Linux", "arch": "x86_64",
        "rpi_model": "", "plugin_version": "0.1.0", "agent": "printfarm", "host_or_ip": "10.0.0.5",
        "printerprofile": "v1", "machine_type": "Printfarm", "one_time_passcode": "",
    })
}

async fn poll(s: &ObicoStandin, body: &Value) -> (u16, Value, reqwest::header::HeaderMap) {
    let url = format!("{}/api/v1/octo/unlinked/", s.base_url());
    send(reqwest::Client::new().post(url).json(body)).await
}

async fn verify(s: &ObicoStandin, code: &str) -> (u16, Value) {
    let url = format!("{}/api/v1/octo/verify/?code={code}", s.base_url());
    let (status, body, _) = send(reqwest::Client::new().post(url)).await;
    (status, body)
}

/// A client that authenticates as `printer` on the REST API.
fn rest(printer: &PrinterInfo) -> reqwest::Client {
    let mut headers = reqwest::header::HeaderMap::new();
    let value = format!("Token {}", printer.auth_token);
    headers.insert("authorization", value.parse().unwrap());
    reqwest::Client::builder()
        .default_headers(headers)
        .build()
        .unwrap()
}

/// Opens `/ws/dev/` with `authorization` as given.
async fn open_ws(s: &ObicoStandin, authorization: Option<&str>) -> Result<Ws, tungstenite::Error> {
    let mut request = s.ws_url().into_client_request().unwrap();
    if let Some(value) = authorization {
        request
            .headers_mut()
            .insert("authorization", value.parse().unwrap());
    }
    tokio_tungstenite::connect_async(request)
        .await
        .map(|(ws, _)| ws)
}

/// Connects as `printer` and reads the greeting.
async fn agent(s: &ObicoStandin, printer: &PrinterInfo) -> Ws {
    let mut ws = open_ws(s, Some(&format!("bearer {}", printer.auth_token)))
        .await
        .unwrap();
    assert_eq!(
        next_json(&mut ws).await,
        json!({"remote_status": {"viewing": false, "should_watch": false}})
    );
    ws
}

/// The next text frame, as JSON.
async fn next_json(ws: &mut Ws) -> Value {
    loop {
        let message = tokio::time::timeout(T, ws.next())
            .await
            .expect("a frame within 5 s")
            .expect("the socket stays open")
            .unwrap();
        match message {
            Message::Text(text) => return serde_json::from_str(text.as_str()).unwrap(),
            Message::Ping(_) | Message::Pong(_) => continue,
            other => panic!("expected a text frame, got {other:?}"),
        }
    }
}

/// Reads to the end of the socket, as an agent does (which sends the close reply); returns the
/// close frame's code, if one came.
async fn close_code(ws: &mut Ws) -> Option<u16> {
    let mut code = None;
    loop {
        let message = tokio::time::timeout(T, ws.next())
            .await
            .expect("the socket ends within 5 s");
        match message {
            Some(Ok(Message::Close(frame))) => code = frame.map(|f| u16::from(f.code)),
            Some(Ok(_)) => continue,
            Some(Err(_)) | None => return code,
        }
    }
}

async fn send_json(ws: &mut Ws, value: Value) {
    ws.send(Message::Text(value.to_string().into()))
        .await
        .unwrap();
}

/// A status frame as agents send it, with `_ts`.
fn status(current_print_ts: Value, file: &str) -> Value {
    json!({
        "current_print_ts": current_print_ts,
        "status": {"_ts": 1.5, "state": {"text": "Printing"}, "job": {"file": {"name": file}}},
    })
}

#[tokio::test]
async fn a_code_links_a_new_printer_once_by_post_or_get() {
    let s = ObicoStandin::start().await;
    let code = s.issue_code();
    assert!(code.len() == 6 && code.bytes().all(|b| b.is_ascii_digit()));

    let (status, body) = verify(&s, &code).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["code"], code.as_str());
    assert!(body["id"].is_u64() && body["expired_at"].is_string());
    assert!(body["verified_at"].as_str().unwrap().ends_with('Z'));
    let printer = &body["printer"];
    let token = printer["auth_token"].as_str().unwrap();
    assert!(token.len() == 20 && token.bytes().all(|b| b.is_ascii_hexdigit()));
    let id = printer["id"].as_u64().unwrap();
    assert_eq!(printer["name"], format!("Printer {id}"));
    assert_eq!(printer["retract_on_pause"], 6.5);
    assert_eq!(printer["settings"]["webcam_streamRatio"], "16:9");

    assert_eq!(s.printer_by_token(token), Some(id));
    assert_eq!(s.printer_by_name(&format!("Printer {id}")), Some(id));
    assert_eq!(s.printer(id).unwrap().auth_token, token);

    // A code is spent by its first use; an unknown one never worked.
    let refused = json!({"detail": "Requested resource does not exist"});
    assert_eq!(verify(&s, &code).await, (404, refused.clone()));
    assert_eq!(verify(&s, "000000").await, (404, refused));

    // GET works as POST does.
    let code = s.issue_code();
    let url = format!("{}/api/v1/octo/verify/?code={code}", s.base_url());
    let (status, body, _) = send(reqwest::Client::new().get(url)).await;
    assert_eq!(status, 200, "{body}");
    assert_ne!(body["printer"]["id"].as_u64(), Some(id));

    let calls: Vec<u16> = s.verify_calls().iter().map(|c| c.status).collect();
    assert_eq!(calls, [200, 404, 404, 200]);
    assert_eq!(s.printers().len(), 2);
}

#[tokio::test]
async fn unlinked_checks_the_device_id_and_fails_without_host_or_ip() {
    let s = ObicoStandin::start().await;
    for bad in ["", "abc", &"g".repeat(32), &"a".repeat(33)] {
        let (status, body, _) = poll(&s, &unlinked_body(bad)).await;
        assert_eq!(status, 400, "device_id {bad:?}: {body}");
        assert!(body["device_id"][0].is_string(), "{body}");
    }
    let mut body = unlinked_body(&device_id(1));
    body.as_object_mut().unwrap().remove("host_or_ip");
    let (status, _, _) = poll(&s, &body).await;
    assert_eq!(status, 500);

    let (status, answer, _) = poll(&s, &unlinked_body(&device_id(1))).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["messages"], json!([]));
    assert_eq!(answer["verification_code"], "");
    assert!(answer["one_time_passlink"]
        .as_str()
        .unwrap()
        .contains(answer["one_time_passcode"].as_str().unwrap()));

    // Every request is recorded, with its body and answer.
    let polls = s.unlinked_polls();
    let statuses: Vec<u16> = polls.iter().map(|p| p.status).collect();
    assert_eq!(statuses, [400, 400, 400, 400, 500, 200]);
    assert_eq!(polls[5].body["hostname"], "farm");
    assert!(polls.windows(2).all(|w| w[0].at <= w[1].at));
}

#[tokio::test]
async fn a_passcode_typed_in_the_app_gives_the_device_a_verification_code() {
    let s = ObicoStandin::start().await;
    let (_, first, _) = poll(&s, &unlinked_body(&device_id(1))).await;
    let passcode = first["one_time_passcode"].as_str().unwrap().to_owned();
    assert_eq!(passcode.len(), 5);
    assert!(passcode
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()));
    let (_, other, _) = poll(&s, &unlinked_body(&device_id(2))).await;
    assert_ne!(other["one_time_passcode"], passcode.as_str());

    // A poll that sends its passcode back keeps it; one without asks for no passcode at all.
    let mut with_passcode = unlinked_body(&device_id(1));
    with_passcode["one_time_passcode"] = json!(passcode);
    let mut without = unlinked_body(&device_id(1));
    without.as_object_mut().unwrap().remove("one_time_passcode");
    let (_, bare, _) = poll(&s, &without).await;
    assert_eq!(bare, json!({"messages": []}));
    let (_, again, _) = poll(&s, &with_passcode).await;
    assert_eq!(again["one_time_passcode"], passcode.as_str());
    assert_eq!(again["verification_code"], "");
    assert_eq!(s.passcode_of(&device_id(1)), Some(passcode.clone()));

    assert!(s.enter_passcode("zzzzz").is_err());
    let code = s.enter_passcode(&passcode).unwrap();
    let (_, answer, _) = poll(&s, &with_passcode).await;
    assert_eq!(answer["verification_code"], code.as_str());
    let (_, other, _) = poll(&s, &unlinked_body(&device_id(2))).await;
    assert_eq!(other["verification_code"], "");

    let (status, body) = verify(&s, &code).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(s.printers().len(), 1);
    // Used: the device's polls no longer offer it.
    let (_, after, _) = poll(&s, &with_passcode).await;
    assert_eq!(after["verification_code"], "");

    // An expired passcode is replaced by the next poll.
    s.set_passcode_lifetime(Duration::ZERO);
    let (_, expired, _) = poll(&s, &with_passcode).await;
    assert_ne!(expired["one_time_passcode"], passcode.as_str());
}

#[tokio::test]
async fn a_discovery_message_comes_with_the_next_poll_only() {
    let s = ObicoStandin::start().await;
    let device = device_id(7);
    let code = s.discover(&device, "s3cret");
    let (_, answer, _) = poll(&s, &unlinked_body(&device_id(8))).await;
    assert_eq!(answer["messages"], json!([]), "another device's poll");

    let (_, answer, _) = poll(&s, &unlinked_body(&device)).await;
    assert_eq!(
        answer["messages"],
        json!([{"device_id": device, "type": "verify_code",
                "data": {"code": code, "secret": "s3cret", "device_id": device}}])
    );
    let (_, answer, _) = poll(&s, &unlinked_body(&device)).await;
    assert_eq!(answer["messages"], json!([]));
    assert_eq!(verify(&s, &code).await.0, 200);
}

#[tokio::test]
async fn unlinked_and_verify_share_one_anonymous_rate_limit() {
    let s = ObicoStandin::start().await;
    s.set_anonymous_limit(3, Duration::from_secs(60));
    assert_eq!(poll(&s, &unlinked_body(&device_id(1))).await.0, 200);
    assert_eq!(verify(&s, "123456").await.0, 404);
    assert_eq!(poll(&s, &unlinked_body(&device_id(2))).await.0, 200);

    let (status, body, headers) = poll(&s, &unlinked_body(&device_id(1))).await;
    assert_eq!(status, 429);
    assert_eq!(
        body["detail"],
        "Request was throttled. Expected available in 60 seconds."
    );
    assert_eq!(headers["retry-after"], "60");
    let code = s.issue_code();
    assert_eq!(verify(&s, &code).await.0, 429);
    assert_eq!(s.anonymous_refusals(), 2);
    // Refused requests are recorded too: poll spacing counts every attempt.
    assert_eq!(s.unlinked_polls().last().unwrap().status, 429);

    // Authenticated calls are not anonymous.
    let printer = s.create_printer(None);
    let url = format!("{}/api/v1/octo/printer/", s.base_url());
    assert_eq!(send(rest(&printer).get(url)).await.0, 200);

    // The window slides: a slot frees once the oldest request is a window old.
    s.set_anonymous_limit(3, Duration::from_millis(600));
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert_eq!(verify(&s, &code).await.0, 200);
}

#[tokio::test]
async fn rest_serves_the_printer_of_a_live_token_only() {
    let s = ObicoStandin::start().await;
    let printer = s.create_printer(Some("Prusa 1"));
    let base = s.base_url();
    for path in ["/api/v1/octo/printer/", "/api/v1/octo/ping/"] {
        let (status, body, _) = send(rest(&printer).get(format!("{base}{path}"))).await;
        assert_eq!(status, 200, "{path}: {body}");
        assert_eq!(body["user"], json!({"is_pro": false}));
        let p = &body["printer"];
        assert_eq!(
            (p["id"].as_u64(), p["name"].as_str()),
            (Some(printer.id), Some("Prusa 1"))
        );
        assert_eq!(p["is_pro"], false);
        assert_eq!(
            (&p["retract_on_pause"], &p["lift_z_on_pause"]),
            (&json!(6.5), &json!(2.5))
        );
        assert_eq!(
            (&p["tools_off_on_pause"], &p["bed_off_on_pause"]),
            (&json!(true), &json!(false))
        );
        assert!(p.get("auth_token").is_none(), "the token is not echoed");
    }

    let url = format!("{base}/api/v1/octo/printer/");
    let (status, body, _) = send(
        rest(&printer)
            .patch(&url)
            .json(&json!({"name": "Prusa One"})),
    )
    .await;
    assert_eq!(
        (status, &body["printer"]["name"]),
        (200, &json!("Prusa One"))
    );
    assert_eq!(s.printer_by_name("Prusa One"), Some(printer.id));
    assert_eq!(s.printer_by_name("Prusa 1"), None);

    let refused = json!({"error": "Invalid or Inactive Token", "is_authenticated": "False"});
    let wrong = PrinterInfo {
        auth_token: "0123456789abcdef0123".into(),
        ..printer.clone()
    };
    for request in [
        reqwest::Client::new().get(&url),
        rest(&wrong).get(&url),
        reqwest::Client::new()
            .get(&url)
            .header("authorization", format!("Bearer {}", printer.auth_token)),
    ] {
        let (status, body, _) = send(request).await;
        assert_eq!((status, body), (401, refused.clone()));
    }

    let requests = s.requests();
    let last = requests.last().unwrap();
    assert_eq!((last.status, last.printer), (401, Some(printer.id)));
    assert_eq!(requests[0].path, "/api/v1/octo/printer/");
    assert_eq!(requests[0].printer, Some(printer.id));
}

fn pic_form(bytes: Vec<u8>) -> Form {
    Form::new()
        .text("is_primary_camera", "true")
        .text("is_nozzle_camera", "false")
        .text("camera_name", "cam0")
        .text("viewing_boost", "true")
        .part(
            "pic",
            Part::bytes(bytes)
                .file_name("pic.jpg")
                .mime_str("image/jpeg")
                .unwrap(),
        )
}

#[tokio::test]
async fn pictures_are_recorded_checked_and_capped() {
    let s = ObicoStandin::start().await;
    let printer = s.create_printer(None);
    let url = format!("{}/api/v1/octo/pic/", s.base_url());
    let jpeg = [&[0xFF, 0xD8, 0xFF, 0xE0][..], &[0u8; 1000]].concat();

    let (status, body, _) = send(rest(&printer).post(&url).multipart(pic_form(jpeg))).await;
    assert_eq!((status, body), (200, json!({"result": "ok"})));
    let (status, _, _) = send(
        rest(&printer)
            .post(&url)
            .multipart(pic_form(b"PNG".to_vec())),
    )
    .await;
    assert_eq!(status, 200);
    let pics = s.wait_pics(printer.id, 2, T).await;
    assert_eq!((pics[0].size, pics[0].jpeg), (1004, true));
    assert_eq!((pics[1].size, pics[1].jpeg), (3, false));
    assert_eq!(pics[0].fields["camera_name"], "cam0");
    assert_eq!(pics[0].fields["viewing_boost"], "true");
    assert_eq!(pics[0].fields["is_primary_camera"], "true");

    let without = Form::new().text("is_primary_camera", "true");
    let (status, _, _) = send(rest(&printer).post(&url).multipart(without)).await;
    assert_eq!(status, 400);
    let (status, _, _) = send(
        reqwest::Client::new()
            .post(&url)
            .multipart(pic_form(vec![1])),
    )
    .await;
    assert_eq!(status, 401);

    // Two already in this minute: a cap of three lets one more in.
    s.set_pic_limit(Some(3));
    let (status, _, _) = send(rest(&printer).post(&url).multipart(pic_form(vec![1]))).await;
    assert_eq!(status, 200);
    let (status, _, headers) = send(rest(&printer).post(&url).multipart(pic_form(vec![1]))).await;
    assert_eq!(status, 429);
    assert!(headers.contains_key("retry-after"));
    assert_eq!(s.pic_refusals(printer.id), 1);
    assert_eq!(s.pics(printer.id).len(), 3);
}

#[tokio::test]
async fn printer_events_need_their_four_fields_as_multipart_or_urlencoded() {
    let s = ObicoStandin::start().await;
    let printer = s.create_printer(None);
    let url = format!("{}/api/v1/octo/printer_events/", s.base_url());
    let form = Form::new()
        .text("event_type", "PRINT_FAILED")
        .text("event_class", "ERROR")
        .text("event_title", "Print failed")
        .text("event_text", "Thermal runaway")
        .text("notify", "true")
        .part(
            "snapshot",
            Part::bytes(vec![0xFF, 0xD8, 0xFF, 0]).file_name("s.jpg"),
        );
    let (status, _, _) = send(rest(&printer).post(&url).multipart(form)).await;
    assert_eq!(status, 200);
    let fields = [
        ("event_type", "PRINT_DONE"),
        ("event_class", "INFO"),
        ("event_title", "Done"),
        ("event_text", "benchy.gcode"),
        ("info_url", "http://farm/"),
    ];
    let (status, _, _) = send(rest(&printer).post(&url).form(&fields)).await;
    assert_eq!(status, 200);

    let events = s.wait_events(printer.id, 2, T).await;
    assert_eq!(events[0].fields["event_text"], "Thermal runaway");
    assert_eq!(events[0].snapshot, Some(4));
    assert_eq!(events[1].fields["info_url"], "http://farm/");
    assert_eq!(events[1].snapshot, None);

    let (status, body, _) = send(rest(&printer).post(&url).form(&fields[1..])).await;
    assert_eq!(status, 400);
    assert_eq!(body["event_type"], json!(["This field is required."]));
    let bad_class = [
        ("event_class", "LOUD"),
        ("event_type", "X"),
        ("event_title", "X"),
        ("event_text", "X"),
    ];
    let (status, body, _) = send(rest(&printer).post(&url).form(&bad_class)).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(s.events(printer.id).len(), 2);
}

#[tokio::test]
async fn g_code_files_are_upserted_by_safe_filename_and_signature() {
    let s = ObicoStandin::start().await;
    let printer = s.create_printer(None);
    let url = format!("{}/api/v1/octo/g_code_files/", s.base_url());
    let file = |signature: &str, bytes: u64| {
        json!({"filename": "Benchy 1.gcode", "safe_filename": "Benchy_1.gcode", "num_bytes": bytes,
               "agent_signature": signature, "url": "benchy.gcode"})
    };
    let (status, first, _) = send(rest(&printer).post(&url).json(&file("ts:1", 10))).await;
    assert_eq!(status, 201, "{first}");
    let (status, again, _) = send(rest(&printer).post(&url).json(&file("ts:1", 12))).await;
    assert_eq!((status, &again["id"]), (200, &first["id"]));
    assert_eq!(again["num_bytes"], 12);
    let (status, other, _) = send(rest(&printer).post(&url).json(&file("ts:2", 10))).await;
    assert_eq!(status, 201);
    assert_ne!(other["id"], first["id"]);

    // Another printer's file of the same name is its own.
    let second = s.create_printer(None);
    let (status, _, _) = send(rest(&second).post(&url).json(&file("ts:1", 10))).await;
    assert_eq!(status, 201);

    let files = s.g_code_files(printer.id);
    assert_eq!(files.len(), 2);
    assert_eq!((files[0].posts, files[0].num_bytes), (2, 12));
    assert_eq!(Some(files[0].id), first["id"].as_u64());
    let (status, _, _) = send(rest(&printer).post(&url).json(&json!({"filename": "x"}))).await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn the_websocket_handshake_wants_a_lower_case_bearer_and_a_live_token() {
    let s = ObicoStandin::start().await;
    let printer = s.create_printer(None);
    let status_of = |result: Result<Ws, tungstenite::Error>| match result {
        Err(tungstenite::Error::Http(response)) => response.status().as_u16(),
        Err(e) => panic!("{e}"),
        Ok(_) => 101,
    };
    assert_eq!(status_of(open_ws(&s, None).await), 500);
    let upper = format!("Bearer {}", printer.auth_token);
    assert_eq!(status_of(open_ws(&s, Some(&upper)).await), 500);
    assert_eq!(
        status_of(open_ws(&s, Some("bearer 00000000000000000000")).await),
        403
    );
    assert!(!s.is_connected(printer.id));

    let _ws = agent(&s, &printer).await;
    let connection = s.wait_connected(printer.id, T).await;
    assert_eq!(connection.closed, None);
    assert_eq!(s.connections(printer.id).len(), 1);
    assert_eq!(
        s.sent(printer.id)[0].json(),
        json!({"remote_status": {"viewing": false, "should_watch": false}})
    );
}

#[tokio::test]
async fn a_second_socket_with_the_same_token_closes_the_first_with_4321() {
    let s = ObicoStandin::start().await;
    let printer = s.create_printer(None);
    let mut first = agent(&s, &printer).await;
    let mut second = agent(&s, &printer).await;
    assert_eq!(close_code(&mut first).await, Some(CLOSE_REPLACED));

    s.wait_until("the first connection closed", T, |s| {
        let connections = s.connections(printer.id);
        (connections[0].closed == Some(Closed::Replaced)).then_some(())
    })
    .await;
    assert!(s.is_connected(printer.id));
    // The newer socket is the one the server talks to.
    s.set_viewing(printer.id, true).unwrap();
    assert_eq!(
        next_json(&mut second).await["remote_status"]["viewing"],
        true
    );

    // The agent's close is answered (the echo carries its code) and recorded.
    let normal = CloseFrame {
        code: CloseCode::Normal,
        reason: "bye".into(),
    };
    second.close(Some(normal)).await.unwrap();
    assert_eq!(close_code(&mut second).await, Some(1000));
    let last = s.wait_disconnected(printer.id, T).await;
    assert_eq!(last.closed, Some(Closed::Agent(Some(1000))));
}

#[tokio::test]
async fn frames_are_recorded_and_statuses_without_ts_dropped() {
    let s = ObicoStandin::start().await;
    let printer = s.create_printer(None);
    let mut ws = agent(&s, &printer).await;
    let started = Instant::now();
    send_json(&mut ws, status(json!(-1), "")).await;
    send_json(
        &mut ws,
        json!({"current_print_ts": -1, "status": {"state": {"text": "Operational"}}}),
    )
    .await;
    send_json(
        &mut ws,
        json!({"current_print_ts": -1, "status": {"_ts": null}}),
    )
    .await;
    ws.send(Message::Text("not json".into())).await.unwrap();
    send_json(
        &mut ws,
        json!({"current_print_ts": -1, "status": {"_ts": 2.0},
               "settings": {"agent": {"name": "printfarm_obico", "version": "0.1.0"}}}),
    )
    .await;

    let frames = s.wait_frames(printer.id, 2, T).await;
    assert_eq!(frames[0].json, status(json!(-1), ""));
    assert_eq!(frames[1].json["status"]["_ts"], 2.0);
    assert!(frames.iter().all(|f| f.at >= started));
    assert_eq!(s.dropped_frames(printer.id).len(), 2);
    assert_eq!(s.malformed_frames(printer.id)[0].text, "not json");
    assert_eq!(
        s.agent_of(printer.id),
        (Some("printfarm_obico".into()), Some("0.1.0".into()))
    );
    let found = s
        .wait_frame(printer.id, "the agent's settings", T, |f| {
            f.pointer("/settings/agent/name").is_some()
        })
        .await;
    assert_eq!(found.json["status"]["_ts"], 2.0);
}

#[tokio::test]
async fn prints_follow_current_print_ts_and_a_pause_needs_one() {
    let s = ObicoStandin::start().await;
    let printer = s.create_printer(None);
    let mut ws = agent(&s, &printer).await;
    assert!(
        s.command(printer.id, "pause", "api").is_err(),
        "no print yet"
    );

    send_json(&mut ws, status(json!(1_700_000_000), "benchy.gcode")).await;
    let print = s.wait_open_print(printer.id, T).await;
    assert_eq!(
        (print.ts, print.filename.as_str()),
        (1_700_000_000, "benchy.gcode")
    );

    s.command(printer.id, "pause", "system").unwrap();
    let args = json!({"retract": 6.5, "lift_z": 2.5, "tools_off": true, "bed_off": false});
    assert_eq!(
        next_json(&mut ws).await,
        json!({"commands": [{"cmd": "pause", "args": args, "initiator": "system"}],
               "type": "printer.message"})
    );
    s.command(printer.id, "cancel", "api").unwrap();
    assert_eq!(next_json(&mut ws).await["commands"][0]["cmd"], "cancel");

    // A restarted agent's start time drifts a little: still the same print.
    send_json(&mut ws, status(json!(1_700_000_015), "benchy.gcode")).await;
    send_json(&mut ws, status(Value::Null, "")).await;
    send_json(&mut ws, status(json!(1_700_000_100), "cube.gcode")).await;
    send_json(&mut ws, status(json!(-1), "")).await;
    s.wait_frames(printer.id, 5, T).await;
    let prints: Vec<_> = s
        .prints(printer.id)
        .into_iter()
        .map(|p| (p.ts, p.filename, p.closed_at.is_some()))
        .collect();
    assert_eq!(
        prints,
        [
            (1_700_000_000, "benchy.gcode".to_owned(), true),
            (1_700_000_100, "cube.gcode".to_owned(), true)
        ]
    );
    assert!(s.command(printer.id, "pause", "api").is_err(), "idle again");
    assert!(s.command(printer.id, "resume", "api").is_ok());
}

#[tokio::test]
async fn remote_status_is_sent_as_partial_updates_and_again_on_connect() {
    let s = ObicoStandin::start().await;
    let printer = s.create_printer(None);
    assert!(
        s.set_should_watch(printer.id, true).is_err(),
        "no socket yet"
    );
    let mut ws = open_ws(&s, Some(&format!("bearer {}", printer.auth_token)))
        .await
        .unwrap();
    assert_eq!(
        next_json(&mut ws).await,
        json!({"remote_status": {"viewing": false, "should_watch": true}})
    );
    s.set_viewing(printer.id, true).unwrap();
    assert_eq!(
        next_json(&mut ws).await,
        json!({"remote_status": {"viewing": true}, "type": "printer.message"})
    );
    s.set_should_watch(printer.id, false).unwrap();
    assert_eq!(
        next_json(&mut ws).await,
        json!({"remote_status": {"should_watch": false}, "type": "printer.message"})
    );
    assert_eq!(s.remote_status(printer.id), (true, false));
    s.send_raw(printer.id, "{not json").unwrap();
    let raw = ws.next().await.unwrap().unwrap();
    assert_eq!(raw, Message::Text("{not json".into()));
    assert_eq!(s.sent(printer.id).len(), 4);
}

#[tokio::test]
async fn passthru_waits_for_the_agents_ret_or_error() {
    let s = ObicoStandin::start().await;
    let printer = s.create_printer(None);
    let mut ws = agent(&s, &printer).await;

    let answer = async {
        let call = next_json(&mut ws).await;
        let call = &call["passthru"];
        assert_eq!(call["target"], "_printer");
        assert_eq!(call["func"], "commands");
        assert_eq!(call["args"], json!([["G28"]]));
        assert_eq!(call["kwargs"], json!({"force": true}));
        // An unrelated frame between call and reply changes nothing.
        send_json(&mut ws, status(json!(-1), "")).await;
        send_json(
            &mut ws,
            json!({"passthru": {"ref": call["ref"], "ret": {"ok": 1}}}),
        )
        .await;

        let call = next_json(&mut ws).await;
        let reference = call["passthru"]["ref"].clone();
        send_json(
            &mut ws,
            json!({"passthru": {"ref": reference, "error": "no such target"}}),
        )
        .await;
    };
    let calls = async {
        let ret = s
            .passthru(
                printer.id,
                "_printer",
                "commands",
                json!([["G28"]]),
                json!({"force": true}),
                T,
            )
            .await;
        let error = s
            .passthru(printer.id, "nothing", "at_all", json!([]), json!({}), T)
            .await;
        (ret, error)
    };
    let ((ret, error), ()) = tokio::join!(calls, answer);
    assert_eq!(ret, Ok(json!({"ok": 1})));
    assert_eq!(error, Err("no such target".to_owned()));
    assert_eq!(s.frames(printer.id).len(), 3);
}

#[tokio::test]
async fn a_revoked_printer_loses_its_socket_and_its_token() {
    let s = ObicoStandin::start().await;
    let printer = s.create_printer(None);
    let mut ws = agent(&s, &printer).await;
    s.revoke(printer.id);
    assert_eq!(close_code(&mut ws).await, Some(1000));
    let last = s.wait_disconnected(printer.id, T).await;
    assert_eq!(last.closed, Some(Closed::Revoked));

    let url = format!("{}/api/v1/octo/printer/", s.base_url());
    assert_eq!(send(rest(&printer).get(url)).await.0, 401);
    let refused = open_ws(&s, Some(&format!("bearer {}", printer.auth_token))).await;
    assert!(
        matches!(&refused, Err(tungstenite::Error::Http(r)) if r.status() == 403),
        "{:?}",
        refused.map(|_| ())
    );
    assert!(s.printer(printer.id).unwrap().revoked);
    assert!(s.command(printer.id, "resume", "api").is_err());
}

#[tokio::test]
async fn a_restart_drops_every_connection_and_keeps_the_printers() {
    let s = ObicoStandin::start().await;
    let printer = s.create_printer(None);
    let client = rest(&printer);
    let url = format!("{}/api/v1/octo/printer/", s.base_url());
    assert_eq!(send(client.get(&url)).await.0, 200);
    let mut ws = agent(&s, &printer).await;

    s.stop().await;
    assert!(!s.is_listening());
    // Dropped as by a dying process: no close frame.
    assert_eq!(close_code(&mut ws).await, None);
    assert_eq!(s.connections(printer.id)[0].closed, Some(Closed::Stopped));
    // The pooled keep-alive connection went too: nothing answers while the server is down.
    assert!(client.get(&url).send().await.is_err());
    assert!(open_ws(&s, Some(&format!("bearer {}", printer.auth_token)))
        .await
        .is_err());

    s.listen().await;
    let _ws = agent(&s, &printer).await;
    assert_eq!(send(client.get(&url)).await.0, 200);
    assert_eq!(s.wait_connects(printer.id, 2, T).await.len(), 2);

    let down = Duration::from_millis(300);
    let began = Instant::now();
    s.restart(down).await;
    assert!(began.elapsed() >= down);
    let _ws = agent(&s, &printer).await;
    let connects = s.wait_connects(printer.id, 3, T).await;
    assert!(connects[2] - connects[1] >= down);
    assert_eq!(s.printers().len(), 1);
}

#[tokio::test]
async fn start_with_serves_the_old_records_and_start_on_new_ones() {
    let first = ObicoStandin::start().await;
    let printer = first.create_printer(Some("kept"));
    let port = first.port();
    first.stop().await;
    let state = first.state();
    drop(first);

    let again = ObicoStandin::start_with(state, port).await;
    assert_eq!(again.base_url(), format!("http://127.0.0.1:{port}"));
    let url = format!("{}/api/v1/octo/printer/", again.base_url());
    let (status, body, _) = send(rest(&printer).get(&url)).await;
    assert_eq!((status, &body["printer"]["name"]), (200, &json!("kept")));
    drop(again);

    let port = free_port();
    let fresh = ObicoStandin::start_on(port).await;
    assert_eq!(fresh.port(), port);
    assert!(fresh.printers().is_empty());
    let url = format!("{}/api/v1/octo/printer/", fresh.base_url());
    assert_eq!(send(rest(&printer).get(&url)).await.0, 401);
}
