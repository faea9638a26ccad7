//! The Pod Manager API (plugin `pod-manager`) end to end: the real binary in its default
//! configuration (the Pod Manager at the root next to the OctoPrint surface and the host's
//! `/farm`), two virtual printers that print instantly, and a client that behaves as the pod's
//! own: Django session login with cookies and CSRF, printers, uploads, transfers that print,
//! print logs, the status websocket, token auth, the browsable API and DRF's error answers.
//!
//! The client logs in with reqwest's real cookie store, as a browser keeps `sessionid` and `csrftoken`.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use printfarm_e2e::*;
use reqwest::header::HeaderMap;
use reqwest::multipart::{Form, Part};
use reqwest::Method;
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

const TWO_PRINTERS: &str = r#"
[[printers]]
id = "v1"
name = "Series 1 #1"
port = "virtual"
virtual-speed = 0

[[printers]]
id = "v2"
name = "Series 1 #2"
port = "virtual"
virtual-speed = 0
"#;

const NOT_AUTHENTICATED: &str = "Authentication credentials were not provided.";
const CSRF_FAILED: &str = "CSRF Failed: CSRF token missing or incorrect.";
const PERMISSION_DENIED: &str = "You do not have permission to perform this action.";

/// A pod client: no automatic redirects (a Django client sees them), and reqwest's cookie store
/// as its jar, which keeps `sessionid` and `csrftoken` as a browser would.
struct Pod {
    base: String,
    http: reqwest::Client,
    jar: Arc<reqwest::cookie::Jar>,
}

impl Pod {
    fn new(server: &Server) -> Pod {
        let jar = Arc::new(reqwest::cookie::Jar::default());
        Pod {
            base: server.base.clone(),
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .cookie_provider(jar.clone())
                .build()
                .unwrap(),
            jar,
        }
    }

    fn url(&self, path: &str) -> String {
        if path.starts_with("http") {
            path.to_string()
        } else {
            format!("{}{path}", self.base)
        }
    }

    /// A cookie the jar holds for the server.
    fn cookie(&self, name: &str) -> Option<String> {
        use reqwest::cookie::CookieStore as _;
        let url = self.base.parse().unwrap();
        let header = self.jar.cookies(&url)?;
        header.to_str().unwrap().split("; ").find_map(|pair| {
            let (k, v) = pair.split_once('=')?;
            (k == name && !v.is_empty()).then(|| v.to_string())
        })
    }

    /// A request; the client adds the jar's cookies.
    fn request(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        self.http.request(method, self.url(path))
    }

    /// An unsafe request with the CSRF header a Django client sends (the cookie's value).
    fn unsafe_request(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        self.request(method, path)
            .header("x-csrftoken", self.cookie("csrftoken").unwrap_or_default())
    }

    async fn get(&mut self, path: &str) -> (u16, Value) {
        let rb = self.request(Method::GET, path);
        let (s, v, _) = send(rb).await;
        (s, v)
    }

    async fn login(&mut self, user: &str, password: &str) -> (u16, Value, HeaderMap) {
        let rb = self
            .request(Method::POST, "/accounts/login/")
            .form(&[("username", user), ("password", password)]);
        send(rb).await
    }
}

fn gcode_part(name: &str, body: &str) -> Part {
    Part::text(body.to_string())
        .file_name(name.to_string())
        .mime_str("application/octet-stream")
        .unwrap()
}

async fn create_user(server: &Server, name: &str, role: &str, password: &str) -> String {
    let (s, v) = server
        .call(
            Method::POST,
            "/farm/api/users",
            Some(json!({"name": name, "role": role, "password": password})),
        )
        .await;
    assert!(s == 200 || s == 201, "{s} {v}");
    v["api_key"].as_str().unwrap().to_string()
}

/// Reads websocket messages until one satisfies `pred` (failing after `secs`); returns it.
async fn ws_until<S>(ws: &mut S, secs: u64, mut pred: impl FnMut(&Value) -> bool) -> Value
where
    S: futures::Stream<Item = Result<Message, tokio_tungstenite::tungstenite::Error>> + Unpin,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        let msg = tokio::time::timeout(left, ws.next())
            .await
            .expect("timed out waiting for a status message")
            .expect("the status socket closed")
            .expect("websocket error");
        if let Message::Text(t) = msg {
            let v: Value = serde_json::from_str(&t).unwrap();
            if pred(&v) {
                return v;
            }
        }
    }
}

/// A DRF-shaped 4xx: a client error with `detail` or per-field message lists, never a 500.
fn assert_drf_4xx(status: u16, body: &Value) {
    assert!((400..500).contains(&status), "{status} {body}");
    let obj = body.as_object().expect("a JSON object");
    assert!(!obj.is_empty(), "{body}");
    for (k, v) in obj {
        if k == "detail" {
            assert!(v.is_string(), "{body}");
        } else {
            assert!(
                v.as_array()
                    .is_some_and(|l| !l.is_empty() && l.iter().all(Value::is_string)),
                "{body}"
            );
        }
    }
}

#[tokio::test]
async fn a_pod_client_logs_in_uploads_transfers_and_watches_prints() {
    let server = Server::start(TWO_PRINTERS);
    wait_state(&server, "v1", "operational").await;
    wait_state(&server, "v2", "operational").await;
    create_user(&server, "ann", "operator", "ann-secret-123").await;

    // Anonymous: DRF's 403.
    let mut pod = Pod::new(&server);
    let (s, v) = pod.get("/api/printers/").await;
    assert_eq!((s, &v), (403, &json!({"detail": NOT_AUTHENTICATED})));

    // Bad credentials: DRF's 403, no cookies.
    let (s, v, _) = pod.login("ann", "wrong").await;
    assert_eq!(s, 403, "{v}");
    assert_drf_4xx(s, &v);
    assert!(pod.cookie("sessionid").is_none());

    // Login sets the session and CSRF cookies.
    let (s, v, headers) = pod.login("ann", "ann-secret-123").await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["username"], "ann");
    let cookies: Vec<&str> = headers
        .get_all("set-cookie")
        .iter()
        .map(|h| h.to_str().unwrap())
        .collect();
    let session_cookie = cookies
        .iter()
        .find(|c| c.starts_with("sessionid="))
        .unwrap();
    assert!(session_cookie.contains("HttpOnly") && session_cookie.contains("Path=/"));
    assert!(cookies.iter().any(|c| c.starts_with("csrftoken=")));
    let session = pod.cookie("sessionid").unwrap();

    // Printers: the farm's, each an OctoPrint at its `url`.
    let (s, printers) = pod.get("/api/printers/").await;
    assert_eq!(s, 200, "{printers}");
    let list = printers.as_array().unwrap();
    assert_eq!(list.len(), 2, "{printers}");
    for (p, id) in list.iter().zip(["v1", "v2"]) {
        assert_eq!(p["id"], id);
        assert_eq!(p["url"], server.url(&format!("/octoprint/{id}")));
        assert_eq!(p["restUrl"], server.url(&format!("/api/printers/{id}/")));
        assert_eq!(p["hostname"], "127.0.0.1");
        assert_eq!(p["port"], server.port);
        assert!(p["name"].as_str().unwrap().starts_with("Series 1"), "{p}");
        let version = server
            .client()
            .get(format!("{}/api/version", p["url"].as_str().unwrap()))
            .send()
            .await
            .unwrap();
        assert_eq!(version.status(), 200);
        let version: Value = version.json().await.unwrap();
        assert!(
            version["server"].is_string() && version["api"].is_string(),
            "{version}"
        );
        let (s, item) = pod.get(p["restUrl"].as_str().unwrap()).await;
        assert_eq!((s, &item), (200, p));
    }
    // The per-printer proxy path redirects to the printer's OctoPrint, keeping the query.
    let rb = pod.request(
        Method::GET,
        "/api/printers/v2/api/files/local?recursive=true",
    );
    let (s, _, h) = send(rb).await;
    assert_eq!(s, 307);
    assert_eq!(
        h["location"],
        server
            .url("/octoprint/v2/api/files/local?recursive=true")
            .as_str()
    );
    let (s, v) = pod.get("/api/printers/nope/").await;
    assert_eq!((s, &v), (404, &json!({"detail": "Not found."})));

    // Unsafe requests with a session need the CSRF token.
    let body = gcode(5);
    let form = || Form::new().part("file", gcode_part("cube.gcode", &body));
    let rb = pod.request(Method::POST, "/api/files/").multipart(form());
    let (s, v, _) = send(rb).await;
    assert_eq!((s, &v), (403, &json!({"detail": CSRF_FAILED})));
    let rb = pod
        .request(Method::POST, "/api/files/")
        .header("x-csrftoken", "not-the-token")
        .multipart(form());
    let (s, v, _) = send(rb).await;
    assert_eq!((s, &v), (403, &json!({"detail": CSRF_FAILED})));

    // Upload: 201, Location, the documented fields; `filename` is ignored.
    let rb = pod
        .unsafe_request(Method::POST, "/api/files/")
        .multipart(form().text("filename", "ignored.gcode"));
    let (s, file, h) = send(rb).await;
    assert_eq!(s, 201, "{file}");
    assert_eq!(h["location"], file["restUrl"].as_str().unwrap());
    assert_eq!(file["filename"], "cube.gcode");
    let id = file["id"].as_u64().unwrap();
    assert_eq!(file["restUrl"], server.url(&format!("/api/files/{id}/")));
    let created = file["createdAt"].as_str().unwrap();
    // 2016-04-21T18:42:53.469470Z
    assert_eq!(created.len(), 27, "{created}");
    assert!(
        created.ends_with('Z') && &created[19..20] == ".",
        "{created}"
    );
    // The file URL serves the same bytes.
    let download = pod
        .request(Method::GET, file["file"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(download.status(), 200);
    assert_eq!(download.bytes().await.unwrap(), body.as_bytes());
    // A second upload lists first.
    let rb = pod
        .unsafe_request(Method::POST, "/api/files/")
        .multipart(Form::new().part("file", gcode_part("later.gcode", &gcode(2))));
    let (s, later, _) = send(rb).await;
    assert_eq!(s, 201, "{later}");
    let (s, files) = pod.get("/api/files/").await;
    assert_eq!(s, 200);
    assert_eq!(files[0]["id"], later["id"], "{files}");
    assert_eq!(files[1], file, "{files}");
    let (s, one) = pod.get(&format!("/api/files/{id}/")).await;
    assert_eq!((s, &one), (200, &file));
    // Missing file: DRF's field error.
    let rb = pod
        .unsafe_request(Method::POST, "/api/files/")
        .multipart(Form::new().text("filename", "x.gcode"));
    let (s, v, _) = send(rb).await;
    assert_eq!((s, &v), (400, &json!({"file": ["No file was submitted."]})));

    // The status socket, on the session cookie.
    let mut request = format!("ws://127.0.0.1:{}/ws/status", server.port)
        .into_client_request()
        .unwrap();
    request
        .headers_mut()
        .insert("cookie", format!("sessionid={session}").parse().unwrap());
    let (mut ws, _) = tokio_tungstenite::connect_async(request).await.unwrap();
    let first = ws_until(&mut ws, 10, |v| v.get("current").is_some()).await;
    assert!(first["current"]["state"]["text"].is_string(), "{first}");
    assert_eq!(first["host"], "127.0.0.1");
    assert_eq!(first["port"], server.port);
    assert!(first["timestamp"].as_f64().unwrap() > 1.0e9, "{first}");

    // Transfer with print: one print on each printer.
    let rb = pod
        .unsafe_request(Method::POST, "/api/printers/transfer")
        .json(&json!({"file": id, "printers": ["v1", "v2"], "print": true}));
    let (s, v, _) = send(rb).await;
    assert_eq!(s, 202, "{v}");
    assert_eq!(v["jobs"].as_array().unwrap().len(), 2, "{v}");

    let history = wait_for("both prints done", 60, async || {
        let h = server.get_json("/farm/api/history").await;
        let done = |p: &str| {
            h.as_array()
                .unwrap()
                .iter()
                .any(|r| r["printer"] == p && r["outcome"] == "done")
        };
        (done("v1") && done("v2")).then_some(h)
    })
    .await;
    assert!(history.as_array().unwrap().len() >= 2);

    // The socket told of the prints, stamped with the printer's OctoPrint host and port.
    let event = ws_until(&mut ws, 20, |v| {
        v["event"]["type"] == "PrintDone" || v["event"]["type"] == "PrintStarted"
    })
    .await;
    assert!(
        ["v1", "v2"].contains(&event["printer"].as_str().unwrap()),
        "{event}"
    );
    assert_eq!(
        event["event"]["payload"]["name"],
        format!("{id}-cube.gcode")
    );
    assert_eq!(event["host"], "127.0.0.1");
    assert_eq!(event["port"], server.port);
    assert!(event["timestamp"].is_number(), "{event}");
    let _ = ws.close(None).await;

    // Print logs: started and done on both printers, with host, port, file and time.
    let (s, logs) = pod.get("/api/printlogs/").await;
    assert_eq!(s, 200, "{logs}");
    for printer in ["v1", "v2"] {
        for kind in ["PrintStarted", "PrintDone"] {
            let e = logs
                .as_array()
                .unwrap()
                .iter()
                .find(|e| e["printer"] == printer && e["event"] == kind)
                .unwrap_or_else(|| panic!("no {kind} on {printer}: {logs}"));
            assert_eq!(e["filename"], format!("{id}-cube.gcode"), "{e}");
            assert_eq!(e["host"], "127.0.0.1");
            assert_eq!(e["port"], server.port);
            assert!(e["timestamp"].as_str().unwrap().ends_with('Z'), "{e}");
        }
    }
    let (_, only_v2) = pod.get("/api/printlogs/?printer=v2").await;
    assert!(
        only_v2
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["printer"] == "v2"),
        "{only_v2}"
    );

    // Bad transfers are DRF 400s, never 500s.
    for (body, field) in [
        (json!({"file": id, "printers": ["v1", "ghost"]}), "printers"),
        (json!({"file": 999_999, "printers": ["v1"]}), "file"),
        (json!({"printers": ["v1"]}), "file"),
        (json!({"file": id, "printers": []}), "printers"),
        (
            json!({"file": id, "printers": ["v1"], "print": "often"}),
            "print",
        ),
    ] {
        let rb = pod
            .unsafe_request(Method::POST, "/api/printers/transfer")
            .json(&body);
        let (s, v, _) = send(rb).await;
        assert_eq!(s, 400, "{body}: {v}");
        assert_drf_4xx(s, &v);
        assert!(v.get(field).is_some(), "{body}: {v}");
    }
    let rb = pod
        .unsafe_request(Method::POST, "/api/printers/transfer")
        .header("content-type", "application/json")
        .body("{\"file\": ");
    let (s, v, _) = send(rb).await;
    assert_eq!(s, 400, "{v}");
    assert!(
        v["detail"]
            .as_str()
            .unwrap()
            .starts_with("JSON parse error"),
        "{v}"
    );

    // Logout ends the session: the old cookie no longer opens anything.
    let (s, _) = pod.get("/accounts/logout/").await;
    assert_eq!(s, 200);
    assert!(pod.cookie("sessionid").is_none() && pod.cookie("csrftoken").is_none());
    let (s, v, _) = send(
        pod.http
            .get(server.url("/api/files/"))
            .header("cookie", format!("sessionid={session}")),
    )
    .await;
    assert_eq!((s, &v), (403, &json!({"detail": NOT_AUTHENTICATED})));
    let request = {
        let mut r = format!("ws://127.0.0.1:{}/ws/status", server.port)
            .into_client_request()
            .unwrap();
        r.headers_mut()
            .insert("cookie", format!("sessionid={session}").parse().unwrap());
        r
    };
    // The socket is refused (closed at once with 1008) without a live session.
    if let Ok((mut ws, _)) = tokio_tungstenite::connect_async(request).await {
        let next = tokio::time::timeout(Duration::from_secs(5), ws.next()).await;
        match next {
            Ok(Some(Ok(Message::Close(Some(frame))))) => assert_eq!(u16::from(frame.code), 1008),
            Ok(Some(Ok(other))) => panic!("a refused socket sent {other:?}"),
            _ => {}
        }
    }
}

#[tokio::test]
async fn tokens_roles_and_the_browsable_api() {
    let server = Server::start(TWO_PRINTERS);
    create_user(&server, "ann", "operator", "ann-secret-123").await;
    let viewer_key = create_user(&server, "vic", "viewer", "vic-secret-123").await;
    let token = |key: &str| {
        let key = key.to_string();
        move |rb: reqwest::RequestBuilder| rb.header("authorization", format!("Token {key}"))
    };
    let admin = token(&server.admin_key);
    let viewer = token(&viewer_key);
    let http = reqwest::Client::new();

    // Token auth: no CSRF needed.
    let (s, v, _) = send(
        admin(http.post(server.url("/api/files/")))
            .multipart(Form::new().part("file", gcode_part("t.gcode", &gcode(2)))),
    )
    .await;
    assert_eq!(s, 201, "{v}");
    let id = v["id"].as_u64().unwrap();
    let (s, v, _) = send(
        admin(http.post(server.url("/api/printers/transfer")))
            .json(&json!({"file": id, "printers": ["v1"]})),
    )
    .await;
    assert_eq!(s, 202, "{v}");
    assert_eq!(v["print"], false);
    assert_eq!(v["jobs"], json!([]));

    // A key that belongs to nobody.
    let (s, v, _) = send(token("nope")(http.get(server.url("/api/printers/")))).await;
    assert_eq!((s, &v), (403, &json!({"detail": "Invalid token."})));

    // Viewers read, never change.
    let (s, v, _) = send(viewer(http.get(server.url("/api/files/")))).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v[0]["id"], id);
    let (s, v, _) = send(
        viewer(http.post(server.url("/api/printers/transfer")))
            .json(&json!({"file": id, "printers": ["v1"], "print": true})),
    )
    .await;
    assert_eq!((s, &v), (403, &json!({"detail": PERMISSION_DENIED})));
    // A viewer logged in is refused the same way (after passing CSRF).
    let mut pod = Pod::new(&server);
    let (s, _, _) = pod.login("vic", "vic-secret-123").await;
    assert_eq!(s, 200);
    let rb = pod
        .unsafe_request(Method::POST, "/api/files/")
        .multipart(Form::new().part("file", gcode_part("v.gcode", &gcode(2))));
    let (s, v, _) = send(rb).await;
    assert_eq!((s, &v), (403, &json!({"detail": PERMISSION_DENIED})));
    // …and the status socket takes a token in the query.
    let (mut ws, _) = tokio_tungstenite::connect_async(format!(
        "ws://127.0.0.1:{}/ws/status?token={viewer_key}",
        server.port
    ))
    .await
    .unwrap();
    let first = ws_until(&mut ws, 10, |v| v.get("current").is_some()).await;
    assert!(
        ["v1", "v2"].contains(&first["printer"].as_str().unwrap()),
        "{first}"
    );

    // The browsable API: HTML for browsers, with forms, escaped JSON.
    let html = |path: &str| {
        admin(http.get(server.url(path))).header("accept", "text/html,application/xhtml+xml")
    };
    for (path, needle) in [
        ("/api", "/api/printlogs/"),
        ("/api/", "Api Root"),
        ("/api/printers/", "/api/printers/transfer"),
        ("/api/files/", "multipart/form-data"),
        ("/api/printlogs/", "Print Log List"),
    ] {
        let r = html(path).send().await.unwrap();
        assert_eq!(r.status(), 200, "{path}");
        assert!(
            r.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/html"),
            "{path}"
        );
        let text = r.text().await.unwrap();
        assert!(text.contains(needle), "{path}: {text}");
        assert!(text.contains("<pre>"), "{path}: {text}");
        if path != "/api/printlogs/" {
            // Non-empty JSON: its quotes are escaped, not markup.
            assert!(text.contains("&quot;"), "{path}: JSON is escaped");
        }
    }
    // JSON stays JSON for API clients.
    let (s, root, _) = send(admin(http.get(server.url("/api/")))).await;
    assert_eq!(s, 200);
    assert_eq!(root["files"], server.url("/api/files/"));
    // The login form for browsers.
    let r = http
        .get(server.url("/accounts/login/"))
        .header("accept", "text/html")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.text().await.unwrap().contains("name=\"password\""));
    // Missing login fields.
    let (s, v, _) = send(
        http.post(server.url("/accounts/login/"))
            .form(&[("username", "ann")]),
    )
    .await;
    assert_eq!(
        (s, &v),
        (400, &json!({"password": ["This field is required."]}))
    );
}

#[tokio::test]
async fn print_logs_show_pauses_resumes_and_cancellations() {
    // A printer in real time, so the print lasts long enough to pause it.
    let server =
        Server::start("[[printers]]\nid = \"slow\"\nport = \"virtual\"\nvirtual-speed = 1\n");
    wait_state(&server, "slow", "operational").await;
    let admin = reqwest::Client::new();
    let auth = format!("Token {}", server.admin_key);
    let (s, file, _) = send(
        admin
            .post(server.url("/api/files/"))
            .header("authorization", &auth)
            .multipart(Form::new().part("file", gcode_part("long.gcode", &gcode(60)))),
    )
    .await;
    assert_eq!(s, 201, "{file}");
    let (s, v, _) = send(
        admin
            .post(server.url("/api/printers/transfer"))
            .header("authorization", &auth)
            .json(&json!({"file": file["id"], "printers": ["slow"], "print": true})),
    )
    .await;
    assert_eq!(s, 202, "{v}");
    wait_state(&server, "slow", "printing").await;
    for (action, state) in [("pause", "paused"), ("resume", "printing")] {
        let (s, v) = server
            .call(
                Method::POST,
                &format!("/farm/api/printers/slow/{action}"),
                None,
            )
            .await;
        assert!((200..300).contains(&s), "{action}: {s} {v}");
        wait_state(&server, "slow", state).await;
    }
    let (s, v) = server
        .call(Method::POST, "/farm/api/printers/slow/cancel", None)
        .await;
    assert!((200..300).contains(&s), "cancel: {s} {v}");

    let logs = wait_for("the cancellation in the print logs", 30, async || {
        let (_, logs, _) = send(
            admin
                .get(server.url("/api/printlogs/"))
                .header("authorization", &auth),
        )
        .await;
        logs.as_array()
            .unwrap()
            .iter()
            .any(|e| e["event"] == "PrintCancelled")
            .then_some(logs)
    })
    .await;
    let kinds: Vec<&str> = logs
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event"].as_str().unwrap())
        .collect();
    // Newest first.
    assert_eq!(
        kinds,
        [
            "PrintCancelled",
            "PrintResumed",
            "PrintPaused",
            "PrintStarted"
        ],
        "{logs}"
    );
    assert!(logs
        .as_array()
        .unwrap()
        .iter()
        .all(|e| e["printer"] == "slow" && e["filename"] == format!("{}-long.gcode", file["id"])));
}
