//! The host API of one server over HTTP: URLs, the key, and errors that say what to do.

use std::fmt::Write as _;
use std::time::Duration;

use anyhow::{anyhow, bail, Context as _};
use reqwest::header::HeaderValue;
use reqwest::{RequestBuilder, Response, StatusCode};
use serde_json::Value;
use url::Url;

use super::RemoteArgs;

/// How long a plain request may take. Uploads have no overall limit: a large file on a slow
/// link takes as long as it takes, and the progress bar shows that it moves.
pub(super) const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// Advice for a 404 on a route that always exists.
pub(super) const WRONG_BASE: &str =
    "is --server the printfarm server's base URL, like http://127.0.0.1:8080 (without /farm)?";

/// The host API of one server, with the caller's key.
pub(super) struct Api {
    /// The server's base URL, parsed.
    base: Url,
    /// The base URL as the user gave it, for messages.
    shown: String,
    key: HeaderValue,
    pub(super) http: reqwest::Client,
}

impl Api {
    /// Checks the arguments (before any request, so a missing key costs no round trip).
    pub(super) fn new(remote: &RemoteArgs) -> anyhow::Result<Api> {
        let key = match remote.api_key.as_deref().map(str::trim) {
            Some(k) if !k.is_empty() => k,
            _ => bail!(
                "no API key: give one with --api-key KEY or the PRINTFARM_API_KEY environment \
                 variable (an admin creates keys with `printfarm user add NAME`)"
            ),
        };
        let mut key = HeaderValue::from_str(key).map_err(|_| {
            anyhow!(
                "the API key holds characters no HTTP header can carry; check the value of \
                 --api-key or PRINTFARM_API_KEY"
            )
        })?;
        // Keeps the key out of reqwest's debug output.
        key.set_sensitive(true);
        let shown = remote.server.trim().to_string();
        let base = parse_server(&shown)?;
        let http = reqwest::Client::builder()
            .user_agent(concat!("printfarm-cli/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(Duration::from_secs(10))
            .build()
            .context("setting up the HTTP client")?;
        Ok(Api {
            base,
            shown,
            key,
            http,
        })
    }

    /// The URL of a host API route: `segments` are appended to `<base>/farm/api` one path
    /// segment each (percent-encoded, so a printer id cannot change the route).
    pub(super) fn url(&self, segments: &[&str]) -> Url {
        api_url(&self.base, segments)
    }

    /// GETs a route and returns the body (checked to be JSON).
    pub(super) async fn get(&self, what: &str, segments: &[&str]) -> anyhow::Result<String> {
        let url = self.url(segments);
        let request = self.http.get(url.clone()).timeout(REQUEST_TIMEOUT);
        // Every route read here always exists: a 404 means --server is not the base URL.
        let response = self
            .send(what, &url, request, &[(StatusCode::NOT_FOUND, WRONG_BASE)])
            .await?;
        self.json_body(what, response).await
    }

    /// POSTs a JSON body and returns the answer (checked to be JSON).
    pub(super) async fn post_json(
        &self,
        what: &str,
        segments: &[&str],
        body: &Value,
        hints: &[(StatusCode, &str)],
    ) -> anyhow::Result<String> {
        let url = self.url(segments);
        let request = self
            .http
            .post(url.clone())
            .json(body)
            .timeout(REQUEST_TIMEOUT);
        let response = self.send(what, &url, request, hints).await?;
        self.json_body(what, response).await
    }

    /// Sends a request with the key and turns every failure into a message that says what to
    /// do. `hints` add advice for particular error statuses.
    pub(super) async fn send(
        &self,
        what: &str,
        url: &Url,
        request: RequestBuilder,
        hints: &[(StatusCode, &str)],
    ) -> anyhow::Result<Response> {
        let response = match request.header("x-api-key", self.key.clone()).send().await {
            Ok(r) => r,
            Err(e) => return Err(self.transport_error(what, url, &e)),
        };
        let status = response.status();
        if status.is_success() {
            return Ok(response);
        }
        let body = response.text().await.unwrap_or_default();
        let server_message = serde_json::from_str::<Value>(&body)
            .ok()
            .and_then(|v| v.get("error")?.as_str().map(str::to_string));
        let mut message = match (status, server_message) {
            (StatusCode::UNAUTHORIZED, Some(m)) => format!(
                "{what}: the server refused the API key: {m}; give a valid key with --api-key \
                 or PRINTFARM_API_KEY"
            ),
            (StatusCode::UNAUTHORIZED, None) => format!(
                "{what}: the server refused the API key; give a valid key with --api-key or \
                 PRINTFARM_API_KEY (an admin creates keys with `printfarm user add NAME`)"
            ),
            (StatusCode::FORBIDDEN, Some(m)) => {
                format!("{what}: {m}; use the API key of a user with that role")
            }
            (_, Some(m)) => format!("{what}: {m} ({status})"),
            // A 404 that is not the API's own JSON error: not a printfarm server, or one
            // behind a path --server does not name.
            (StatusCode::NOT_FOUND, None) => {
                let mut m = format!("{what}: {url} does not exist (404)");
                if !hints.iter().any(|(s, _)| *s == StatusCode::NOT_FOUND) {
                    let _ = write!(m, "; {WRONG_BASE}");
                }
                m
            }
            (_, None) => format!(
                "{what}: the server at {} answered {status}{}",
                self.shown,
                snippet(&body)
            ),
        };
        if status.is_server_error() {
            message.push_str("; the server's log tells more");
        }
        for (s, hint) in hints {
            if *s == status {
                let _ = write!(message, "; {hint}");
            }
        }
        Err(anyhow!(message))
    }

    /// An error for a request that got no answer.
    pub(super) fn transport_error(
        &self,
        what: &str,
        url: &Url,
        e: &reqwest::Error,
    ) -> anyhow::Error {
        let cause = error_chain(e);
        if e.is_connect() {
            // The innermost cause says it ("Connection refused"); the layers above it repeat
            // the URL and the layer names.
            let mut root: &dyn std::error::Error = e;
            while let Some(next) = root.source() {
                root = next;
            }
            anyhow!(
                "{what}: cannot reach the server at {} ({root}); is it running? Give its URL \
                 with --server or PRINTFARM_SERVER",
                self.shown
            )
        } else if e.is_timeout() {
            anyhow!(
                "{what}: the server at {} did not answer in time ({cause}); check that it runs \
                 and that --server names it",
                self.shown
            )
        } else {
            anyhow!("{what}: the request to {url} failed ({cause})")
        }
    }

    /// Reads a success answer's body and checks that it is JSON, so callers can pass it on.
    pub(super) async fn json_body(&self, what: &str, response: Response) -> anyhow::Result<String> {
        let body = response
            .text()
            .await
            .map_err(|e| anyhow!("{what}: reading the answer failed ({})", error_chain(&e)))?;
        if let Err(e) = serde_json::from_str::<serde::de::IgnoredAny>(&body) {
            bail!(
                "{what}: the server at {} answered something that is not JSON ({e}){}; is \
                 --server the printfarm server's base URL?",
                self.shown,
                snippet(&body)
            );
        }
        Ok(body)
    }
}

/// Parses `--server`, accepting `host:port` without a scheme.
pub(super) fn parse_server(server: &str) -> anyhow::Result<Url> {
    let with_scheme = if server.contains("://") {
        server.to_string()
    } else {
        format!("http://{server}")
    };
    let url = Url::parse(&with_scheme).map_err(|e| {
        anyhow!("--server `{server}` is not a URL ({e}); give one like http://127.0.0.1:8080")
    })?;
    if !matches!(url.scheme(), "http" | "https") {
        bail!(
            "--server `{server}` is a {} URL; give an http:// or https:// one, like \
             http://127.0.0.1:8080",
            url.scheme()
        );
    }
    Ok(url)
}

/// `<base>/farm/api/<segments…>`. The base's own path is kept (a server behind a proxy at
/// `/printfarm/`), with or without a trailing slash.
pub(super) fn api_url(base: &Url, segments: &[&str]) -> Url {
    let mut url = base.clone();
    url.set_query(None);
    url.set_fragment(None);
    if let Ok(mut path) = url.path_segments_mut() {
        path.pop_if_empty();
        path.extend(crate::HOST_PREFIX.split('/').filter(|s| !s.is_empty()));
        path.push("api");
        path.extend(segments);
    }
    url
}

/// An error with its causes: reqwest's own message alone omits the useful part ("connection
/// refused").
pub(super) fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        let line = cause.to_string();
        // Some errors repeat their source's message in their own.
        if !text.contains(&line) {
            let _ = write!(text, ": {line}");
        }
        source = cause.source();
    }
    text
}

/// The start of an unexpected body, for an error message.
pub(super) fn snippet(body: &str) -> String {
    let body = body.trim();
    if body.is_empty() {
        return String::new();
    }
    let short: String = body.chars().take(200).collect();
    let more = if short.len() < body.len() { "…" } else { "" };
    format!(": {short}{more}")
}

/// Deserialises an answer for a table. A mismatch means client and server disagree on the API.
pub(super) fn parse<T: serde::de::DeserializeOwned>(body: &str, what: &str) -> anyhow::Result<T> {
    serde_json::from_str(body).map_err(|e| {
        anyhow!(
            "{what} from the server is not what this printfarm expects ({e}); are the server \
             and this command the same version? --json shows the raw answer"
        )
    })
}

/// Re-indents the server's JSON for people (keys sorted by serde_json).
pub(super) fn pretty_json(json: &str) -> String {
    serde_json::from_str::<Value>(json)
        .and_then(|v| serde_json::to_string_pretty(&v))
        .unwrap_or_else(|_| json.to_string())
}

/// Writes a result to stdout. A closed pipe (`printfarm jobs | head -1`) is not an error.
pub(super) fn emit(text: &str) -> anyhow::Result<()> {
    use std::io::Write as _;
    let mut out = std::io::stdout().lock();
    match writeln!(out, "{text}").and_then(|()| out.flush()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => other.context("writing to standard output"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_urls_survive_trailing_slashes_and_odd_ids() {
        for base in [
            "http://h:8080",
            "http://h:8080/",
            "h:8080",
            "http://h:8080/?x=1",
        ] {
            let url = api_url(&parse_server(base).unwrap(), &["printers"]);
            assert_eq!(url.as_str(), "http://h:8080/farm/api/printers", "{base}");
        }
        let proxied = parse_server("https://h/printfarm/").unwrap();
        assert_eq!(
            api_url(&proxied, &["printers", "a/b c", "bed-cleared"]).as_str(),
            "https://h/printfarm/farm/api/printers/a%2Fb%20c/bed-cleared"
        );
        assert!(parse_server("ftp://h").is_err());
        assert!(parse_server("http://").is_err());
    }

    #[test]
    fn missing_or_empty_key_fails_before_any_request() {
        for key in [None, Some(String::new()), Some("  ".to_string())] {
            let args = RemoteArgs {
                server: "http://127.0.0.1:1".into(),
                api_key: key,
                json: false,
            };
            let e = Api::new(&args).err().unwrap().to_string();
            assert!(
                e.contains("--api-key") && e.contains("PRINTFARM_API_KEY"),
                "{e}"
            );
        }
    }
}
