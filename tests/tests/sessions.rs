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

/// Logs `user` in with a fresh cookie jar; returns the client and its CSRF token.
async fn logged_in(server: &Server, user: &str) -> (reqwest::Client, String) {
    let client = browser();
    let (status, session, _) = login(server, &client, user, "long enough").await;
    assert_eq!(status, 200, "{session}");
    (client, session["csrf"].as_str().unwrap().to_string())
}

#[tokio::test]
async fn a_plugins_own_page_opens_with_the_dashboard_session_and_nobody_can_forge_one() {
    let server = Server::start(ONE_PRINTER);
    server.create_user_key("olga", "operator").await;
    server.create_user_key("vera", "viewer").await;

    // The dashboard learns the page from the plugin list.
    let obico = server.get_json("/farm/api/plugins/obico").await;
    assert_eq!(obico["pages"][0]["url"], "/obico/", "{obico}");
    assert!(obico["pages"][0]["title"]
        .as_str()
        .unwrap()
        .contains("Obico"));

    let page = server.url("/obico/");
    let text = |client: reqwest::Client, headers: &[(&str, &str)]| {
        let mut request = client.get(&page);
        for (k, v) in headers {
            request = request.header(*k, *v);
        }
        async move {
            let r = request.send().await.unwrap();
            (r.status().as_u16(), r.text().await.unwrap())
        }
    };
    // Without a session: a page that says to log in. Headers claiming a user are the host's to
    // set, and dropped when a client sends them.
    let forged = [("x-printfarm-user", "admin"), ("x-printfarm-role", "admin")];
    for headers in [&[][..], &forged[..]] {
        let (status, body) = text(reqwest::Client::new(), headers).await;
        assert_eq!(status, 401, "{body}");
        assert!(body.contains("Log in to the farm's"), "{body}");
    }

    let (vera, vera_csrf) = logged_in(&server, "vera").await;
    let (status, body) = text(vera.clone(), &forged).await;
    assert_eq!(status, 200, "{body}");
    assert!(
        body.contains("Signed in as vera (viewer)")
            && body.contains("data-printer=\"v1\"")
            && body.contains("unlinked"),
        "{body}"
    );
    assert!(
        !body.contains("Get a passcode"),
        "a viewer sees no action: {body}"
    );

    let (olga, csrf) = logged_in(&server, "olga").await;
    let (status, body) = text(olga.clone(), &[]).await;
    assert_eq!(status, 200);
    assert!(body.contains("Get a passcode"), "{body}");

    // A change through the plugin with the cookie alone is not the user's: it needs the token.
    let unlink = server.url("/obico/api/printers/v1/link");
    let (status, body, _) = send(olga.delete(&unlink)).await;
    assert_eq!(status, 401, "{body}");
    let (status, body, _) = send(olga.delete(&unlink).header("X-CSRF-Token", "forged")).await;
    assert_eq!(status, 401, "{body}");
    let (status, body, _) = send(olga.delete(&unlink).header("X-CSRF-Token", &csrf)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["state"], "unlinked");
    let (status, body, _) = send(vera.delete(&unlink).header("X-CSRF-Token", &vera_csrf)).await;
    assert_eq!(status, 403, "{body}");
}
