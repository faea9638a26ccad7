//! Outbound HTTP (WIT interface `outbound-http`). Needs the `outbound-http` capability, and the
//! URL's `scheme://host[:port]` must be granted: listed by the operator under
//! `[plugins.<id>] outbound-hosts` in `printfarm.toml`, or by the manifest's `outbound-hosts` when
//! the operator lists none. Anything else fails with [`HostError::Denied`], whose message says
//! what the operator adds where; [`check`] asks without sending anything.
//!
//! ```no_run
//! use printfarm_sdk::http::{self, OutboundRequest};
//!
//! # fn main() -> Result<(), printfarm_sdk::HostError> {
//! let res = http::get("https://app.example.com/api/status")?;
//! if res.is_success() {
//!     let _status: serde_json::Value = res.json().unwrap();
//! }
//! let req = OutboundRequest::post("https://app.example.com/api/notify")
//!     .with_header("authorization", "Bearer abc")
//!     .with_json(&serde_json::json!({"event": "done"}))
//!     .with_timeout_ms(2_000);
//! http::send(req)?;
//! # Ok(())
//! # }
//! ```

use serde::de::DeserializeOwned;
use serde::Serialize;

use super::host_call;
use crate::bindings::printfarm::plugin::outbound_http as raw;
use crate::{Header, HostError};

/// A request to send: `method`, `url`, `headers`, `body`, `timeout_ms`. Build one with
/// [`OutboundRequest::new`], [`get`](OutboundRequest::get), [`post`](OutboundRequest::post)…
pub use raw::OutboundRequest;
/// The answer: `status`, `headers` (names lower case), `body`.
pub use raw::OutboundResponse;

impl OutboundRequest {
    /// A request with a method and an absolute `http`/`https` URL, no headers, no body, the
    /// default timeout (10 s, at most the plugin's call deadline).
    pub fn new(method: &str, url: &str) -> Self {
        OutboundRequest {
            method: method.to_ascii_uppercase(),
            url: url.to_string(),
            headers: Vec::new(),
            body: Vec::new(),
            timeout_ms: None,
        }
    }

    /// A `GET` request.
    pub fn get(url: &str) -> Self {
        Self::new("GET", url)
    }

    /// A `POST` request.
    pub fn post(url: &str) -> Self {
        Self::new("POST", url)
    }

    /// A `PUT` request.
    pub fn put(url: &str) -> Self {
        Self::new("PUT", url)
    }

    /// A `DELETE` request.
    pub fn delete(url: &str) -> Self {
        Self::new("DELETE", url)
    }

    /// Sets a header, replacing any of the same name.
    pub fn with_header(mut self, name: &str, value: &str) -> Self {
        let name = name.to_ascii_lowercase();
        self.headers.retain(|h| h.name != name);
        self.headers.push(Header {
            name,
            value: value.to_string(),
        });
        self
    }

    /// Sets the body bytes.
    pub fn with_body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = body.into();
        self
    }

    /// Sets a JSON body and `content-type: application/json`. A value that cannot be
    /// serialized leaves the body empty.
    pub fn with_json<T: Serialize + ?Sized>(self, value: &T) -> Self {
        let body = serde_json::to_vec(value).unwrap_or_default();
        self.with_header("content-type", "application/json")
            .with_body(body)
    }

    /// Gives up after this many milliseconds.
    pub fn with_timeout_ms(mut self, ms: u32) -> Self {
        self.timeout_ms = Some(ms);
        self
    }
}

impl OutboundResponse {
    /// True for 2xx statuses.
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// The first value of a header, matched case-insensitively.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(name))
            .map(|h| h.value.as_str())
    }

    /// The body as text (invalid UTF-8 replaced with `U+FFFD`).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body parsed as JSON.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, serde_json::Error> {
        serde_json::from_slice(&self.body)
    }
}

/// Sends a request and waits for the whole answer. Any HTTP status is `Ok`; `Err` means the
/// request could not be made (denied host, connection failure, timeout, body too large).
pub fn send(req: OutboundRequest) -> Result<OutboundResponse, HostError> {
    host_call!("http::send", raw::send(&req))
}

/// Whether this plugin may reach `url`, without sending anything: `Ok` when [`send`] (for an
/// `http`/`https` URL) or [`ws::connect`](crate::ws::connect) (for `ws`/`wss`) would let it
/// through. A `ws`/`wss` URL is granted by its `http`/`https` origin and needs the `outbound-ws`
/// capability instead of `outbound-http`.
///
/// [`HostError::Denied`] when the capability is missing or the origin is not granted, with the
/// message [`send`] gives too (`outbound origin https://x:1234 is not granted to plugin obico:
/// add "https://x:1234" to outbound-hosts under [plugins.obico] in printfarm.toml`), worth
/// showing the operator as it is; [`HostError::Invalid`] for a URL that does not parse or is not
/// http, https, ws or wss. Since contract 0.1.2: the manifest's `api` must ask for `^0.1.2`.
///
/// ```no_run
/// # fn main() {
/// if let Err(e) = printfarm_sdk::http::check("wss://obico.example:3334/ws/dev/") {
///     printfarm_sdk::log::warn(&format!("the server cannot be reached: {e}"));
/// }
/// # }
/// ```
pub fn check(url: &str) -> Result<(), HostError> {
    host_call!("http::check", raw::check(url))
}

/// `GET url`.
pub fn get(url: &str) -> Result<OutboundResponse, HostError> {
    send(OutboundRequest::get(url))
}

/// `POST url` with a JSON body.
pub fn post_json<T: Serialize + ?Sized>(
    url: &str,
    value: &T,
) -> Result<OutboundResponse, HostError> {
    send(OutboundRequest::post(url).with_json(value))
}
