//! A client of one printer's OctoPrint surface, as the OctoPrint tests use it: GET, POST, a
//! command that must answer exactly 204, and multipart uploads.

use reqwest::multipart::{Form, Part};
use reqwest::{Method, StatusCode};
use serde_json::Value;

use crate::{client_with_key, send, Server};

/// An OctoPrint client of one printer's mount, with one key (or none).
pub struct Octo {
    /// The surface's base URL (`…/octoprint/<printer>`).
    pub base: String,
    /// The client, with its key as a default header.
    pub client: reqwest::Client,
}

impl Octo {
    /// A client of `printer`'s mount with `key` (or none).
    pub fn new(server: &Server, printer: &str, key: Option<&str>) -> Octo {
        Octo {
            base: server.url(&format!("/octoprint/{printer}")),
            client: match key {
                Some(k) => client_with_key(k),
                None => reqwest::Client::new(),
            },
        }
    }

    /// A browser-like client without a key: it loads the login page for OctoPrint's CSRF cookie
    /// and echoes the token in `X-CSRF-Token` on every request, as OctoPrint's web pages do.
    pub async fn browser(server: &Server, printer: &str) -> Octo {
        let base = server.url(&format!("/octoprint/{printer}"));
        let page = reqwest::Client::new()
            .get(format!("{base}/login/"))
            .send()
            .await
            .unwrap();
        let (name, token) = page
            .headers()
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .filter_map(|v| v.split(';').next()?.split_once('='))
            .find(|(name, _)| name.starts_with("csrf_token_P"))
            .map(|(n, t)| (n.to_string(), t.to_string()))
            .expect("the login page sets OctoPrint's CSRF cookie");
        let mut headers = reqwest::header::HeaderMap::new();
        headers.insert("x-csrf-token", token.parse().unwrap());
        headers.insert("cookie", format!("{name}={token}").parse().unwrap());
        Octo {
            base,
            client: reqwest::Client::builder()
                .default_headers(headers)
                .build()
                .unwrap(),
        }
    }

    /// `GET` → status and body.
    pub async fn get(&self, path: &str) -> (u16, Value) {
        let (s, b, _) = send(self.client.get(format!("{}{path}", self.base))).await;
        (s, b)
    }

    /// `GET` that must answer 200 → body.
    pub async fn ok(&self, path: &str) -> Value {
        let (s, b) = self.get(path).await;
        assert_eq!(s, 200, "GET {path}: {b}");
        b
    }

    /// `POST` of a JSON body → status and body.
    pub async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        let (s, b, _) = send(
            self.client
                .request(Method::POST, format!("{}{path}", self.base))
                .json(&body),
        )
        .await;
        (s, b)
    }

    /// A command that must answer exactly 204 with an empty body (HA raises on anything else).
    pub async fn command(&self, path: &str, body: Value) {
        let r = self
            .client
            .post(format!("{}{path}", self.base))
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = r.status();
        let text = r.text().await.unwrap();
        assert_eq!(status, StatusCode::NO_CONTENT, "POST {path} {body}: {text}");
        assert!(text.is_empty(), "{text}");
    }

    /// A multipart upload to `/api/files/local`.
    pub async fn upload(&self, form: Form) -> (u16, Value, reqwest::header::HeaderMap) {
        send(
            self.client
                .post(format!("{}/api/files/local", self.base))
                .multipart(form),
        )
        .await
    }
}

/// A file part as slicers send it (`application/octet-stream`).
pub fn file_part(name: &str, body: String) -> Part {
    Part::text(body)
        .file_name(name.to_string())
        .mime_str("application/octet-stream")
        .unwrap()
}
