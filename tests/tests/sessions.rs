//! Browser sessions end to end: log in with a password, the session cookie's attributes, the
//! CSRF token every change made with the cookie needs, listing and revoking sessions, logout.

use printfarm_e2e::*;
use serde_json::{json, Value};

/// A client with a cookie jar, as a browser has.
fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .build()
        .unwrap()
}

async fn login(
    server: &Server,
    client: &reqwest::Client,
    user: &str,
    password: &str,
) -> (u16, Value, reqwest::header::HeaderMap) {
    send(
        client
            .post(server.url("/farm/api/login"))
            .json(&json!({"user": user, "password": password})),
    )
    .await
}

#[tokio::test]
async fn a_password_login_opens_a_cookie_session_whose_changes_need_the_csrf_token() {
    let server = Server::start(ONE_PRINTER);
    server.create_user_key("olga", "operator").await;
    let client = browser();

    let (status, body, _) = login(&server, &client, "olga", "wrong password").await;
    assert_eq!(status, 401, "{body}");
    assert!(body["error"]
        .as_str()
        .unwrap()
        .contains("wrong user name or password"));
    let (status, _, _) = login(&server, &client, "nobody", "long enough").await;
    assert_eq!(status, 401);

    let (status, session, headers) = login(&server, &client, "olga", "long enough").await;
    assert_eq!(status, 200, "{session}");
    assert_eq!(
        (session["user"].as_str(), session["role"].as_str()),
        (Some("olga"), Some("operator"))
    );
    let cookie = headers["set-cookie"].to_str().unwrap().to_string();
    for attribute in [
        "printfarm_session=",
        "HttpOnly",
        "SameSite=Strict",
        "Path=/",
    ] {
        assert!(cookie.contains(attribute), "{cookie}");
    }
    assert!(!cookie.contains("Secure"), "no TLS, no Secure: {cookie}");
    let csrf = session["csrf"].as_str().unwrap().to_string();

    // Reads need only the cookie; the page learns its CSRF token again after a reload.
    let (status, me, _) = send(client.get(server.url("/farm/api/session"))).await;
    assert_eq!(
        (status, me["csrf"].as_str()),
        (200, Some(csrf.as_str())),
        "{me}"
    );
    let (status, _, _) = send(client.get(server.url("/farm/api/printers"))).await;
    assert_eq!(status, 200);

    // A change with the cookie alone (what a forged form on another site would send) is refused.
    let bed = server.url("/farm/api/printers/v1/bed-cleared");
    let (status, body, _) = send(client.post(&bed)).await;
    assert_eq!(status, 403, "{body}");
    assert!(body["error"].as_str().unwrap().contains("CSRF"), "{body}");
    let (status, _, _) = send(client.post(&bed).header("X-CSRF-Token", "forged")).await;
    assert_eq!(status, 403);
    let (status, body, _) = send(client.post(&bed).header("X-CSRF-Token", &csrf)).await;
    assert_eq!(status, 204, "{body}");

    // Sessions are listed and revocable; a second login is a second session.
    let other = browser();
    let (_, second, _) = login(&server, &other, "olga", "long enough").await;
    let (status, list, _) = send(client.get(server.url("/farm/api/sessions"))).await;
    assert_eq!(status, 200);
    let ids: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), 2, "{list}");
    assert!(
        ids.contains(&session["session"].as_str().unwrap())
            && ids.contains(&second["session"].as_str().unwrap())
    );
    let revoke = server.url(&format!(
        "/farm/api/sessions/{}",
        second["session"].as_str().unwrap()
    ));
    let (status, _, _) = send(client.delete(&revoke).header("X-CSRF-Token", &csrf)).await;
    assert_eq!(status, 204);
    let (status, _, _) = send(other.get(server.url("/farm/api/printers"))).await;
    assert_eq!(status, 401, "the revoked session no longer works");
    let (status, _, _) = send(client.delete(&revoke).header("X-CSRF-Token", &csrf)).await;
    assert_eq!(status, 404);

    // Logout needs the token too, then ends the session and clears the cookie.
    let (status, _, _) = send(client.post(server.url("/farm/api/logout"))).await;
    assert_eq!(status, 403);
    let (status, _, headers) = send(
        client
            .post(server.url("/farm/api/logout"))
            .header("X-CSRF-Token", &csrf),
    )
    .await;
    assert_eq!(status, 204);
    assert!(headers["set-cookie"]
        .to_str()
        .unwrap()
        .contains("Max-Age=0"));
    let (status, _, _) = send(client.get(server.url("/farm/api/printers"))).await;
    assert_eq!(status, 401);
}

#[tokio::test]
async fn viewers_read_with_a_session_and_cookies_are_secure_behind_tls() {
    let server = Server::start(ONE_PRINTER);
    server.create_user_key("vera", "viewer").await;
    let client = browser();
    let (status, session, headers) = send(
        client
            .post(server.url("/farm/api/login"))
            .header("X-Forwarded-Proto", "https")
            .json(&json!({"user": "vera", "password": "long enough"})),
    )
    .await;
    assert_eq!(status, 200, "{session}");
    assert!(headers["set-cookie"].to_str().unwrap().contains("Secure"));
    let csrf = session["csrf"].as_str().unwrap();
    let (status, _, _) = send(client.get(server.url("/farm/api/printers"))).await;
    assert_eq!(status, 200);
    let (status, _, _) = send(
        client
            .post(server.url("/farm/api/printers/v1/pause"))
            .header("X-CSRF-Token", csrf),
    )
    .await;
    assert_eq!(status, 403, "a viewer changes nothing, token or not");
    // With an API key there is no session to show.
    let (status, _) = server
        .call(reqwest::Method::GET, "/farm/api/session", None)
        .await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn an_api_key_revoked_stops_working_at_once() {
    let server = Server::start(ONE_PRINTER);
    let key = server.create_user_key("kim", "viewer").await;
    let kim = client_with_key(&key);
    assert_eq!(send(kim.get(server.url("/farm/api/me"))).await.0, 200);
    let keys = server.get_json("/farm/api/users/kim/keys").await;
    let listed = keys.as_array().unwrap();
    assert_eq!(listed.len(), 1, "{keys}");
    assert!(
        listed[0].get("api_key").is_none() && !keys.to_string().contains(&key),
        "{keys}"
    );
    let path = format!("/farm/api/users/kim/keys/{}", listed[0]["id"]);
    let (status, _) = server.call(reqwest::Method::DELETE, &path, None).await;
    assert_eq!(status, 204);
    assert_eq!(send(kim.get(server.url("/farm/api/me"))).await.0, 401);
    let (status, body) = server.call(reqwest::Method::DELETE, &path, None).await;
    assert_eq!(status, 404, "{body}");
}

#[tokio::test]
async fn an_event_stream_ends_when_its_session_is_revoked() {
    use futures::StreamExt;
    let server = Server::start(ONE_PRINTER);
    server.create_user_key("olga", "operator").await;
    let client = browser();
    let (_, session, _) = login(&server, &client, "olga", "long enough").await;
    let response = client
        .get(server.url("/farm/api/events"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let mut body = response.bytes_stream();
    let path = format!(
        "/farm/api/sessions/{}",
        session["session"].as_str().unwrap()
    );
    let (status, _) = server.call(reqwest::Method::DELETE, &path, None).await;
    assert_eq!(status, 204);
    let ended = tokio::time::timeout(std::time::Duration::from_secs(15), async {
        while let Some(Ok(_)) = body.next().await {}
    })
    .await;
    assert!(ended.is_ok(), "the stream outlived its revoked session");
}
