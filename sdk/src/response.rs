//! [`Response`]: what a handler answers.

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::bindings::printfarm::plugin::http_types::{Body as RawBody, Response as RawResponse};
use crate::{Error, Header};

const JSON: &str = "application/json";
const TEXT: &str = "text/plain; charset=utf-8";
const HTML: &str = "text/html; charset=utf-8";

/// Where a response body comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResponseBody {
    /// No body.
    Empty,
    /// Bytes produced by the plugin (capped by the manifest's `limits.max-response-bytes`).
    Bytes(Vec<u8>),
    /// A file of the G-code library, streamed by the host from disk. Needs the `files.read`
    /// capability. The host sets `content-length`, and a `content-type` if the plugin set none.
    LibraryFile(String),
}

/// An HTTP response.
///
/// Build one with a constructor ([`json`](Response::json), [`ok_json`](Response::ok_json),
/// [`text`](Response::text), [`empty`](Response::empty), [`library_file`](Response::library_file),
/// [`created`](Response::created), …) and refine it with [`with_header`](Response::with_header).
/// Every constructor sets the matching `content-type`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    status: u16,
    headers: Vec<(String, String)>,
    body: ResponseBody,
}

impl Response {
    /// A response with a status, no headers and no body.
    pub fn empty(status: u16) -> Self {
        Response {
            status,
            headers: Vec::new(),
            body: ResponseBody::Empty,
        }
    }

    /// `204 No Content`.
    pub fn no_content() -> Self {
        Self::empty(204)
    }

    /// A JSON response: `value` serialized with `serde_json`, `content-type: application/json`.
    ///
    /// If `value` cannot be serialized (a map with non-string keys, a failing `Serialize` impl)
    /// the response is a 500 with `{"error": "<why>"}` instead.
    pub fn json<T: Serialize + ?Sized>(status: u16, value: &T) -> Self {
        match serde_json::to_vec(value) {
            Ok(body) => Self::bytes(status, JSON, body),
            Err(e) => Self::error_json(&Error::internal(format!(
                "cannot serialize the response: {e}"
            ))),
        }
    }

    /// `200 OK` with a JSON body.
    pub fn ok_json<T: Serialize + ?Sized>(value: &T) -> Self {
        Self::json(200, value)
    }

    /// A JSON response from text that already is JSON (no check is made): the cheapest way to
    /// answer a constant like `{"ok":true}`.
    pub fn json_text(status: u16, json: impl Into<String>) -> Self {
        Self::bytes(status, JSON, json.into().into_bytes())
    }

    /// `201 Created` with a `location` header and a JSON body.
    pub fn created<T: Serialize + ?Sized>(location: &str, value: &T) -> Self {
        Self::json(201, value).with_header("location", location)
    }

    /// A plain-text response (`text/plain; charset=utf-8`).
    pub fn text(status: u16, text: impl Into<String>) -> Self {
        Self::bytes(status, TEXT, text.into().into_bytes())
    }

    /// An HTML response (`text/html; charset=utf-8`).
    pub fn html(status: u16, html: impl Into<String>) -> Self {
        Self::bytes(status, HTML, html.into().into_bytes())
    }

    /// A response with arbitrary bytes and content type.
    pub fn bytes(status: u16, content_type: &str, body: impl Into<Vec<u8>>) -> Self {
        Response {
            status,
            headers: vec![("content-type".to_string(), content_type.to_string())],
            body: ResponseBody::Bytes(body.into()),
        }
    }

    /// `200 OK` streaming a file of the G-code library (`parts/benchy.gcode`) from the host's
    /// disk; the bytes never pass through the plugin. Needs the `files.read` capability. Add a
    /// `content-disposition` header with [`with_header`](Response::with_header) for downloads.
    pub fn library_file(path: &str) -> Self {
        Response {
            status: 200,
            headers: Vec::new(),
            body: ResponseBody::LibraryFile(path.to_string()),
        }
    }

    /// A redirect (`302 Found`) to `location`.
    pub fn redirect(location: &str) -> Self {
        Self::empty(302).with_header("location", location)
    }

    /// The default error response: the error's status and `{"error": "<message>"}`.
    pub fn error_json(error: &Error) -> Self {
        Self::json(error.status, &serde_json::json!({ "error": error.message }))
    }

    /// Sets a header, replacing any header of the same name (names are lower-cased).
    pub fn with_header(mut self, name: &str, value: &str) -> Self {
        let name = name.to_ascii_lowercase();
        self.headers.retain(|(n, _)| *n != name);
        self.headers.push((name, value.to_string()));
        self
    }

    /// Adds a header, keeping any others of the same name (for `set-cookie` and the like).
    pub fn append_header(mut self, name: &str, value: &str) -> Self {
        self.headers
            .push((name.to_ascii_lowercase(), value.to_string()));
        self
    }

    /// Replaces the status code.
    pub fn with_status(mut self, status: u16) -> Self {
        self.status = status;
        self
    }

    /// The status code.
    pub fn status(&self) -> u16 {
        self.status
    }

    /// The headers, names lower case, in order.
    pub fn headers(&self) -> &[(String, String)] {
        &self.headers
    }

    /// The first value of a header (matched case-insensitively).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The body.
    pub fn body(&self) -> &ResponseBody {
        &self.body
    }

    /// The body bytes, `None` for an empty or library-file body.
    pub fn body_bytes(&self) -> Option<&[u8]> {
        match &self.body {
            ResponseBody::Bytes(b) => Some(b),
            _ => None,
        }
    }

    /// The body as UTF-8 text (`None` if there are no bytes or they are not UTF-8). Handy in tests.
    pub fn body_text(&self) -> Option<&str> {
        self.body_bytes().and_then(|b| std::str::from_utf8(b).ok())
    }

    /// The body parsed as JSON (`None` if there is no byte body or it does not parse). Handy in tests.
    pub fn body_json<T: DeserializeOwned>(&self) -> Option<T> {
        self.body_bytes()
            .and_then(|b| serde_json::from_slice(b).ok())
    }

    /// Drops the body but keeps status and headers (used to answer `HEAD`).
    pub fn without_body(mut self) -> Self {
        self.body = ResponseBody::Empty;
        self
    }

    /// Converts into the WIT response handed back to the host.
    pub fn into_raw(self) -> RawResponse {
        RawResponse {
            status: self.status,
            headers: self
                .headers
                .into_iter()
                .map(|(name, value)| Header { name, value })
                .collect(),
            body: match self.body {
                ResponseBody::Empty => RawBody::Empty,
                ResponseBody::Bytes(b) => RawBody::Bytes(b),
                ResponseBody::LibraryFile(p) => RawBody::LibraryFile(p),
            },
        }
    }
}

/// The default error shape, `{"error": "<message>"}`, with the error's status.
impl From<Error> for Response {
    fn from(e: Error) -> Self {
        Response::error_json(&e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constructors_set_content_types() {
        let r = Response::ok_json(&serde_json::json!({"a": 1}));
        assert_eq!(r.status(), 200);
        assert_eq!(r.header("Content-Type"), Some("application/json"));
        assert_eq!(r.body_text(), Some(r#"{"a":1}"#));

        let r = Response::text(418, "teapot");
        assert_eq!(r.header("content-type"), Some("text/plain; charset=utf-8"));
        assert_eq!(r.body_text(), Some("teapot"));

        let r = Response::empty(204);
        assert_eq!(r.status(), 204);
        assert!(r.headers().is_empty());
        assert_eq!(r.body(), &ResponseBody::Empty);

        let r = Response::created("/api/jobs/7", &serde_json::json!({"id": 7}));
        assert_eq!(r.status(), 201);
        assert_eq!(r.header("location"), Some("/api/jobs/7"));

        let r = Response::library_file("a/b.gcode");
        assert_eq!(r.body(), &ResponseBody::LibraryFile("a/b.gcode".into()));
        match r.into_raw().body {
            RawBody::LibraryFile(p) => assert_eq!(p, "a/b.gcode"),
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn with_header_replaces_append_header_adds() {
        let r = Response::json_text(200, "{}")
            .with_header("Content-Type", "application/vnd.x+json")
            .append_header("set-cookie", "a=1")
            .append_header("set-cookie", "b=2");
        assert_eq!(r.header("content-type"), Some("application/vnd.x+json"));
        assert_eq!(
            r.headers()
                .iter()
                .filter(|(n, _)| n == "content-type")
                .count(),
            1
        );
        assert_eq!(
            r.headers()
                .iter()
                .filter(|(n, _)| n == "set-cookie")
                .count(),
            2
        );
        let raw = r.into_raw();
        assert_eq!(raw.headers.len(), 3);
    }

    #[test]
    fn error_converts_to_default_shape() {
        let r: Response = Error::conflict("busy").into();
        assert_eq!(r.status(), 409);
        assert_eq!(
            r.body_json::<serde_json::Value>().unwrap(),
            serde_json::json!({"error": "busy"})
        );
    }

    #[test]
    fn unserializable_json_is_a_500() {
        let mut m = std::collections::HashMap::new();
        m.insert(vec![1u8], 1);
        let r = Response::ok_json(&m);
        assert_eq!(r.status(), 500);
    }
}
