//! The brender 2 farm API (plugin `brender`) end to end, called as the original dashboard called
//! it: form-encoded bodies (lists as repeated keys), the original's status codes and bodies.
//! Built so far: projects, settings, the root and the answers for unknown URLs and bad input.

use printfarm_e2e::*;
use serde_json::{json, Value};

/// A form-encoded request to the brender API with the admin's key.
async fn form(
    server: &Server,
    method: reqwest::Method,
    path: &str,
    fields: &[(&str, &str)],
) -> (u16, Value) {
    let (status, body, _) = send(
        server
            .client()
            .request(method, server.url(&format!("/brender{path}")))
            .form(fields),
    )
    .await;
    (status, body)
}

async fn get(server: &Server, path: &str) -> (u16, Value) {
    form(server, reqwest::Method::GET, path, &[]).await
}

const PATHS: [(&str, &str); 8] = [
    ("path_server", "orders/acme"),
    ("path_linux", "orders/acme"),
    ("path_win", "C:\\orders\\acme"),
    ("path_osx", "/Volumes/orders/acme"),
    ("render_path_server", "out"),
    ("render_path_linux", "out"),
    ("render_path_win", "C:\\out"),
    ("render_path_osx", "/Volumes/out"),
];

#[tokio::test]
async fn projects_are_kept_and_answered_as_the_original_did() {
    let server = Server::start(ONE_PRINTER);
    assert_eq!(
        get(&server, "/").await,
        (200, json!({"message": "Brender server up and running!"}))
    );
    // The mount's root answers without the trailing slash too.
    assert_eq!(get(&server, "").await.0, 200);
    assert_eq!(get(&server, "/projects").await, (200, json!({})));

    let mut fields = vec![("name", "Acme order"), ("is_active", "False")];
    fields.extend(PATHS);
    let (status, created) = form(&server, reqwest::Method::POST, "/projects", &fields).await;
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_i64().unwrap();
    assert_eq!(created["path_win"], "C:\\orders\\acme");
    // 'False' means false (the original made the project active: a defect).
    assert_eq!(created["is_active"], false);

    let (status, list) = get(&server, "/projects").await;
    assert_eq!(status, 200);
    let entry = &list[id.to_string()];
    assert_eq!(entry["name"], "Acme order");
    assert!(
        entry.get("id").is_none() && entry.get("is_active").is_none(),
        "{entry}"
    );

    // A PUT sets every path it does not send to null, and answers 201.
    let (status, updated) = form(
        &server,
        reqwest::Method::PUT,
        &format!("/projects/{id}"),
        &[("path_server", "orders/acme2"), ("is_active", "True")],
    )
    .await;
    assert_eq!(status, 201, "{updated}");
    assert_eq!(updated["path_server"], "orders/acme2");
    assert!(updated["path_win"].is_null());
    assert_eq!(updated["is_active"], true);
    let (_, settings) = get(&server, "/settings").await;
    assert_eq!(settings["active_project"], id.to_string());

    let (status, _) = form(
        &server,
        reqwest::Method::DELETE,
        &format!("/projects/{id}"),
        &[],
    )
    .await;
    assert_eq!(status, 204);
    let (status, body) = form(
        &server,
        reqwest::Method::DELETE,
        &format!("/projects/{id}"),
        &[],
    )
    .await;
    assert_eq!(status, 404);
    assert_eq!(body["status"], 404);
    let (_, settings) = get(&server, "/settings").await;
    assert!(settings["active_project"].is_null(), "{settings}");
}

#[tokio::test]
async fn settings_are_read_back_as_written_and_bad_input_is_a_400() {
    let server = Server::start(ONE_PRINTER);
    let (status, settings) = get(&server, "/settings").await;
    assert_eq!(status, 200);
    assert_eq!(settings.as_object().unwrap().len(), 7);
    assert!(settings["blender_path_linux"].is_null());
    let (status, _) = form(
        &server,
        reqwest::Method::POST,
        "/settings",
        &[
            ("blender_path_linux", "/usr/bin/blender"),
            ("render_settings_path_linux", "profiles"),
        ],
    )
    .await;
    assert_eq!(status, 204);
    let (_, settings) = get(&server, "/settings").await;
    assert_eq!(settings["blender_path_linux"], "/usr/bin/blender");
    assert!(settings["blender_path_win"].is_null());

    // The original's answers: an unknown URL, a bad integer, a bad boolean, no name.
    assert_eq!(
        get(&server, "/nothing/here").await,
        (
            404,
            json!({"code": 404, "message": "No interface defined for URL"})
        )
    );
    assert_eq!(
        get(&server, "/projects/abc").await,
        (
            400,
            json!({"message": "invalid literal for int() with base 10: 'abc'"})
        )
    );
    let (status, body) = form(
        &server,
        reqwest::Method::POST,
        "/projects",
        &[("name", "x"), ("is_active", "maybe")],
    )
    .await;
    assert_eq!(status, 400, "{body}");
    let (status, body) = form(
        &server,
        reqwest::Method::POST,
        "/projects",
        &[("path_server", "a")],
    )
    .await;
    assert_eq!(
        (status, body["message"].as_str()),
        (400, Some("`name` is required"))
    );
    // JSON bodies work as well as forms.
    let (status, body, _) = send(
        server
            .client()
            .post(server.url("/brender/projects"))
            .json(&json!({"name": "From JSON", "path_server": ""})),
    )
    .await;
    assert_eq!((status, body["name"].as_str()), (201, Some("From JSON")));
}

#[tokio::test]
async fn keys_are_needed_and_viewers_only_read() {
    let server = Server::start(ONE_PRINTER);
    let (status, _, _) = send(reqwest::Client::new().get(server.url("/brender/projects"))).await;
    assert_eq!(status, 401);
    let viewer = client_with_key(&server.create_user_key("vic", "viewer").await);
    let (status, _, _) = send(viewer.get(server.url("/brender/projects"))).await;
    assert_eq!(status, 200);
    let (status, _, _) = send(
        viewer
            .post(server.url("/brender/projects"))
            .form(&[("name", "nope")]),
    )
    .await;
    assert_eq!(status, 403);
}
