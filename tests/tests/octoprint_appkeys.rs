//! OctoPrint's application-key workflow through the `octoprint` plugin, end to end: the requests
//! Home Assistant's setup (and Cura's discovery) send, decided by a farm admin through the host
//! API (`/farm/api/key-requests`) or approved automatically by config, yielding real farm API keys.

use printfarm_e2e::*;
use reqwest::StatusCode;
use serde_json::{json, Value};

const MOUNT: &str = "/octoprint/v1";

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

/// The pending request of `app`, as the host API lists it to an admin.
async fn pending_request(server: &Server, app: &str) -> Option<Value> {
    let list = server.get_json("/farm/api/key-requests").await;
    list.as_array()
        .unwrap()
        .iter()
        .find(|r| r["app"] == app)
        .cloned()
}

/// `POST /farm/api/key-requests/{id}` with `key`.
async fn decide(server: &Server, key: &str, id: &Value, body: Value) -> (u16, Value) {
    let (s, v, _) = send(
        client_with_key(key)
            .post(server.url(&format!("/farm/api/key-requests/{id}")))
            .json(&body),
    )
    .await;
    (s, v)
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
    let ann_key = server.create_user_key("ann", "operator").await;
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
    assert_eq!((s, &v), (202, &json!({"message": "Awaiting decision"})));

    // The admin sees it in the host API, with who asked and from where.
    let entry = pending_request(&server, "Home Assistant")
        .await
        .expect("listed");
    assert_eq!(
        (&entry["user"], &entry["plugin"]),
        (&json!("ann"), &json!("octoprint"))
    );
    assert!(
        entry["client"].as_str().unwrap().starts_with("127.0.0.1"),
        "{entry}"
    );
    assert!(
        !entry.to_string().contains(&token),
        "the list never shows the token"
    );

    // Only admins decide: an operator's key is 403, a bad key 401; the request stays pending.
    let (s, _) = decide(&server, &ann_key, &entry["id"], json!({"approve": true})).await;
    assert_eq!(s, 403);
    let (s, _) = decide(
        &server,
        "wrongwrongwrongwrongwrongwrong12",
        &entry["id"],
        json!({"approve": true}),
    )
    .await;
    assert_eq!(s, 401);
    assert_eq!(poll(&server, &token).await.0, 202);
    let (s, v) = decide(
        &server,
        &server.admin_key,
        &entry["id"],
        json!({"approve": "yes"}),
    )
    .await;
    assert_eq!(s, 400, "{v}");

    // Approved: the next poll hands out a real farm key for ann, once.
    let (s, v) = decide(
        &server,
        &server.admin_key,
        &entry["id"],
        json!({"approve": true}),
    )
    .await;
    assert_eq!(s, 204, "{v}");
    let (s, v) = poll(&server, &token).await;
    assert_eq!(s, 200, "{v}");
    let key = v["api_key"].as_str().unwrap().to_string();
    assert_eq!(current_user(&server, &key).await["name"], "ann");
    let r = client_with_key(&key)
        .get(server.url(&format!("{MOUNT}/api/settings")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let r = client_with_key(&key)
        .get(server.url("/farm/api/printers"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        StatusCode::OK,
        "the same farm key works on the host API"
    );
    assert_eq!(poll(&server, &token).await.0, 404);
    assert!(pending_request(&server, "Home Assistant").await.is_none());

    // A denial: the poll answers 404, and the request cannot be decided again.
    let token = request_key(&server, "Cura", None).await;
    let entry = pending_request(&server, "Cura").await.unwrap();
    let (s, _) = decide(
        &server,
        &server.admin_key,
        &entry["id"],
        json!({"approve": false}),
    )
    .await;
    assert_eq!(s, 204);
    assert_eq!(poll(&server, &token).await.0, 404);
    let (s, _) = decide(
        &server,
        &server.admin_key,
        &entry["id"],
        json!({"approve": true}),
    )
    .await;
    assert_eq!(s, 404);

    // Without a user in the request the key is the approving admin's, unless the admin names one.
    let token = request_key(&server, "Slicer", None).await;
    let entry = pending_request(&server, "Slicer").await.unwrap();
    let (s, v) = decide(
        &server,
        &server.admin_key,
        &entry["id"],
        json!({"approve": true, "user": "nobody"}),
    )
    .await;
    assert_eq!(s, 400, "{v}");
    assert!(v["error"].as_str().unwrap().contains("nobody"), "{v}");
    let (s, _) = decide(
        &server,
        &server.admin_key,
        &entry["id"],
        json!({"approve": true, "user": "ann"}),
    )
    .await;
    assert_eq!(s, 204);
    let key = poll(&server, &token).await.1["api_key"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(current_user(&server, &key).await["name"], "ann");
    let token = request_key(&server, "Other", None).await;
    let entry = pending_request(&server, "Other").await.unwrap();
    decide(
        &server,
        &server.admin_key,
        &entry["id"],
        json!({"approve": true}),
    )
    .await;
    let key = poll(&server, &token).await.1["api_key"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(current_user(&server, &key).await["name"], "admin");

    // Bad requests.
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
    assert!(pending_request(&server, "Home Assistant").await.is_none());
}

#[tokio::test]
async fn untrusted_networks_still_wait_for_an_admin() {
    let server = Server::start(&format!(
        "{ONE_PRINTER}\n[plugins.octoprint.config]\nappkeys-auto-approve-user = \"admin\"\n\
         appkeys-auto-approve-networks = [\"10.0.0.0/8\"]\n"
    ));
    let token = request_key(&server, "Home Assistant", None).await;
    assert_eq!(poll(&server, &token).await.0, 202);
    let entry = pending_request(&server, "Home Assistant").await.unwrap();
    let (s, _) = decide(
        &server,
        &server.admin_key,
        &entry["id"],
        json!({"approve": true}),
    )
    .await;
    assert_eq!(s, 204);
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
