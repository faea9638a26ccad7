//! OctoPrint's application-key workflow through the `octoprint` plugin, end to end: the requests
//! Home Assistant's setup (and Cura's discovery) send, decided by a farm admin through the
//! plugin's own routes or approved automatically by config, yielding real farm API keys.

use printfarm_e2e::*;
use reqwest::StatusCode;
use serde_json::{json, Value};

const ONE_PRINTER: &str = r#"
[[printers]]
id = "v1"
port = "virtual"
virtual-speed = 0
"#;

const MOUNT: &str = "/octoprint/v1";

async fn send(rb: reqwest::RequestBuilder) -> (u16, Value, reqwest::header::HeaderMap) {
    let r = rb.send().await.unwrap();
    let status = r.status().as_u16();
    let headers = r.headers().clone();
    let text = r.text().await.unwrap();
    let body = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or(json!({ "raw": text }))
    };
    (status, body, headers)
}

/// `POST /plugin/appkeys/request` without a key, as HA sends it; returns the token after
/// checking the 201 answer and its `Location`.
async fn request_key(server: &Server, app: &str, user: Option<&str>) -> String {
    let mut body = json!({ "app": app });
    if let Some(u) = user {
        body["user"] = json!(u);
    }
    let anon = reqwest::Client::new();
    let (s, v, h) = send(
        anon.post(server.url(&format!("{MOUNT}/plugin/appkeys/request")))
            .json(&body),
    )
    .await;
    assert_eq!(s, 201, "{v}");
    let token = v["app_token"].as_str().expect("app_token").to_string();
    assert!(!token.is_empty());
    assert!(
        v["auth_dialog"].as_str().unwrap().starts_with("http"),
        "{v}"
    );
    // pyoctoprintapi takes the token from the Location header's last segment; octorest polls it.
    let location = h["location"].to_str().unwrap();
    assert_eq!(
        location,
        server.url(&format!("{MOUNT}/plugin/appkeys/request/{token}"))
    );
    token
}

/// Polls as an anonymous client: status and body.
async fn poll(server: &Server, token: &str) -> (u16, Value) {
    let (s, v, _) = send(
        reqwest::Client::new().get(server.url(&format!("{MOUNT}/plugin/appkeys/request/{token}"))),
    )
    .await;
    (s, v)
}

/// `POST /plugin/appkeys/decide/<token>` with `key`.
async fn decide(server: &Server, key: &str, token: &str, body: Value) -> (u16, Value) {
    let (s, v, _) = send(
        client_with_key(key)
            .post(server.url(&format!("{MOUNT}/plugin/appkeys/decide/{token}")))
            .json(&body),
    )
    .await;
    (s, v)
}

async fn create_user(server: &Server, name: &str, role: &str) -> String {
    let (s, v) = server
        .call(
            reqwest::Method::POST,
            "/farm/api/users",
            Some(json!({"name": name, "role": role, "password": "long enough pw"})),
        )
        .await;
    assert!(s == 200 || s == 201, "{s} {v}");
    v["api_key"].as_str().unwrap().to_string()
}

/// Who a key belongs to, according to the OctoPrint surface.
async fn current_user(server: &Server, key: &str) -> Value {
    let r = client_with_key(key)
        .get(server.url(&format!("{MOUNT}/api/currentuser")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    r.json().await.unwrap()
}

#[tokio::test]
async fn home_assistant_flow_with_admin_decisions() {
    let server = Server::start(ONE_PRINTER);
    let ann_key = create_user(&server, "ann", "operator").await;
    let anon = reqwest::Client::new();

    // Probe, without a key.
    let r = anon
        .get(server.url(&format!("{MOUNT}/plugin/appkeys/probe")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);

    // HA asks for a key for the user the person typed in, then polls.
    let token = request_key(&server, "Home Assistant", Some("ann")).await;
    let (s, v) = poll(&server, &token).await;
    assert_eq!(s, 202, "{v}");
    assert_eq!(v, json!({"message": "Awaiting decision"}));

    // The admin sees it among the pending requests.
    let pending = server
        .get_json(&format!("{MOUNT}/plugin/appkeys/pending"))
        .await;
    let entry = pending["pending"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["app_token"] == token.as_str())
        .unwrap_or_else(|| panic!("{token} not pending: {pending}"))
        .clone();
    assert_eq!(entry["app"], "Home Assistant");
    assert_eq!(entry["user"], "ann");
    assert!(
        entry["requested"].as_u64().unwrap() > 1_600_000_000,
        "{entry}"
    );

    // Only admins decide: an operator's key, a bad key and no key are all 403.
    for key in [ann_key.as_str(), "not-a-key"] {
        let (s, v, _) =
            send(client_with_key(key).get(server.url(&format!("{MOUNT}/plugin/appkeys/pending"))))
                .await;
        assert_eq!(s, 403, "{v}");
        let (s, v) = decide(&server, key, &token, json!({"decision": true})).await;
        assert_eq!(s, 403, "{v}");
    }
    let (s, _, _) = send(
        anon.post(server.url(&format!("{MOUNT}/plugin/appkeys/decide/{token}")))
            .json(&json!({"decision": true})),
    )
    .await;
    assert_eq!(s, 403);
    let (s, _) = poll(&server, &token).await;
    assert_eq!(s, 202, "a refused decider must not change the request");

    // Bad decisions are 400; unknown tokens 404.
    let (s, v) = decide(
        &server,
        &server.admin_key,
        &token,
        json!({"decision": "yes"}),
    )
    .await;
    assert_eq!(s, 400, "{v}");
    let (s, v) = decide(
        &server,
        &server.admin_key,
        "DEADBEEF",
        json!({"decision": true}),
    )
    .await;
    assert_eq!(s, 404, "{v}");

    // The admin approves: exactly 204, empty body.
    let r = server
        .client()
        .post(server.url(&format!("{MOUNT}/plugin/appkeys/decide/{token}")))
        .json(&json!({"decision": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert!(r.text().await.unwrap().is_empty());

    // The next poll hands out the key once.
    let (s, v) = poll(&server, &token).await;
    assert_eq!(s, 200, "{v}");
    let key = v["api_key"].as_str().expect("api_key").to_string();
    assert_ne!(key, ann_key);
    let (s, v) = poll(&server, &token).await;
    assert_eq!(s, 404, "the key is handed out once: {v}");

    // It is a real farm key of ann's: HA's next calls work with it, on every printer's mount
    // and on the host API.
    let r = client_with_key(&key)
        .get(server.url(&format!("{MOUNT}/api/settings")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let settings: Value = r.json().await.unwrap();
    assert!(settings["plugins"].is_object(), "{settings}");
    assert_eq!(current_user(&server, &key).await["name"], "ann");
    let r = client_with_key(&key)
        .get(server.url("/farm/api/printers"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    // The pending list no longer shows it.
    let pending = server
        .get_json(&format!("{MOUNT}/plugin/appkeys/pending"))
        .await;
    assert!(!pending.to_string().contains(&token), "{pending}");

    // A denial: the poll then answers 404 (HA: "denied or timed out").
    let denied = request_key(&server, "Cura", None).await;
    assert_eq!(poll(&server, &denied).await.0, 202);
    let (s, v) = decide(
        &server,
        &server.admin_key,
        &denied,
        json!({"decision": false}),
    )
    .await;
    assert_eq!(s, 204, "{v}");
    let (s, v) = poll(&server, &denied).await;
    assert_eq!(s, 404, "{v}");
    let (s, _) = decide(
        &server,
        &server.admin_key,
        &denied,
        json!({"decision": true}),
    )
    .await;
    assert_eq!(s, 404, "a denied request is gone");

    // No user asked for: the key is the approving admin's. The decision may also name the user.
    let mine = request_key(&server, "OctoPrint client", None).await;
    assert_eq!(
        decide(&server, &server.admin_key, &mine, json!({"decision": true}))
            .await
            .0,
        204
    );
    let (s, v) = poll(&server, &mine).await;
    assert_eq!(s, 200, "{v}");
    let admin_app_key = v["api_key"].as_str().unwrap().to_string();
    assert_eq!(current_user(&server, &admin_app_key).await["name"], "admin");
    // Issuing an app key for the admin leaves the admin's own key working.
    server.get_json("/farm/api/printers").await;

    let named = request_key(&server, "Slicer", Some("ann")).await;
    let (s, v) = decide(
        &server,
        &server.admin_key,
        &named,
        json!({"decision": true, "user": "nobody-here"}),
    )
    .await;
    assert_eq!(s, 400, "approving for an unknown user: {v}");
    assert_eq!(poll(&server, &named).await.0, 202);
    let viewer = create_user(&server, "vic", "viewer").await;
    let (s, _) = decide(
        &server,
        &server.admin_key,
        &named,
        json!({"decision": true, "user": "vic"}),
    )
    .await;
    assert_eq!(s, 204);
    let (_, v) = poll(&server, &named).await;
    let vic_key = v["api_key"].as_str().unwrap();
    assert_ne!(vic_key, viewer);
    assert_eq!(current_user(&server, vic_key).await["name"], "vic");

    // Requests without an app name are refused; unknown tokens are 404.
    let (s, v, _) = send(
        anon.post(server.url(&format!("{MOUNT}/plugin/appkeys/request")))
            .json(&json!({"user": "ann"})),
    )
    .await;
    assert_eq!(s, 400, "{v}");
    assert_eq!(poll(&server, "0123456789ABCDEF").await.0, 404);
    assert_eq!(poll(&server, "not%20a%20token").await.0, 404);
}

#[tokio::test]
async fn trusted_networks_are_approved_automatically() {
    // Auto-approval for the admin, from loopback (where the test runs).
    let server = Server::start(&format!(
        "{ONE_PRINTER}\n[plugins.octoprint.config]\nappkeys-auto-approve-user = \"admin\"\n\
         appkeys-auto-approve-networks = [\"127.0.0.0/8\", \"::1\"]\n"
    ));
    let token = request_key(&server, "Home Assistant", Some("someone")).await;
    let (s, v) = poll(&server, &token).await;
    assert_eq!(s, 200, "{v}");
    let key = v["api_key"].as_str().unwrap().to_string();
    assert_eq!(current_user(&server, &key).await["name"], "admin");
    let r = client_with_key(&key)
        .get(server.url(&format!("{MOUNT}/api/settings")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(poll(&server, &token).await.0, 404);
    let pending = server
        .get_json(&format!("{MOUNT}/plugin/appkeys/pending"))
        .await;
    assert_eq!(pending["pending"], json!([]));
}

#[tokio::test]
async fn untrusted_networks_still_wait_for_an_admin() {
    let server = Server::start(&format!(
        "{ONE_PRINTER}\n[plugins.octoprint.config]\nappkeys-auto-approve-user = \"admin\"\n\
         appkeys-auto-approve-networks = [\"10.0.0.0/8\"]\n"
    ));
    let token = request_key(&server, "Home Assistant", None).await;
    assert_eq!(poll(&server, &token).await.0, 202);
    assert_eq!(
        decide(
            &server,
            &server.admin_key,
            &token,
            json!({"decision": true})
        )
        .await
        .0,
        204
    );
    assert_eq!(poll(&server, &token).await.0, 200);
}

#[test]
fn the_config_keys_are_checked_against_the_schema() {
    let refusal = Server::refuse(&format!(
        "{ONE_PRINTER}\n[plugins.octoprint.config]\nappkeys-auto-approve-user = 5\n"
    ));
    assert!(
        refusal.stderr.contains("appkeys-auto-approve-user"),
        "{}",
        refusal.stderr
    );
    let refusal = Server::refuse(&format!(
        "{ONE_PRINTER}\n[plugins.octoprint.config]\nappkeys-auto-aprove-user = \"admin\"\n"
    ));
    assert!(
        refusal.stderr.contains("appkeys-auto-aprove-user"),
        "{}",
        refusal.stderr
    );
}
