//! [`Request`]: one HTTP request the host routed to the plugin.

use std::str::FromStr;

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::bindings::printfarm::plugin::http_types::Request as RawRequest;
use crate::Error;

/// An HTTP header: a lower-case name and a value. Used by requests, responses and outbound calls.
pub use crate::bindings::printfarm::plugin::types::Header;

/// One non-file field of a multipart or `application/x-www-form-urlencoded` body
/// (`name`, `value`), in client order.
pub use crate::bindings::printfarm::plugin::http_types::FormField;

/// One file part of a multipart request, staged on disk by the host; the bytes never enter the
/// plugin.
///
/// Fields: `field` (the multipart field name), `filename` (as the client sent it),
/// `content_type` (`Option<String>`), `size` (bytes) and `handle`, which
/// [`files::store_upload`](crate::files::store_upload) accepts to keep the file in the library.
/// The handle is valid only during the request that carried it; the host deletes unclaimed
/// uploads when the request ends.
pub use crate::bindings::printfarm::plugin::http_types::UploadedFile as Upload;

/// An HTTP request the host routed to this plugin.
///
/// The host has already matched the request against the routes of the plugin's manifest:
/// [`route`](Request::route) is the matched route exactly as written in `plugin.toml`
/// (`/greet/{name}`), and the path parameters are available through
/// [`param`](Request::param) and [`params`](Request::params).
///
/// Multipart and url-encoded bodies arrive already parsed: the non-file fields through
/// [`form_field`](Request::form_field) / [`form_fields`](Request::form_fields), the file parts
/// as staged [`Upload`]s. Other bodies arrive as bytes ([`body`](Request::body),
/// [`json`](Request::json), [`text`](Request::text)).
#[derive(Debug, Clone)]
pub struct Request {
    raw: RawRequest,
}

impl Request {
    /// Wraps the raw WIT request the host passed in.
    pub fn from_raw(raw: RawRequest) -> Self {
        Request { raw }
    }

    /// Starts building a request by hand, for unit tests of handlers:
    ///
    /// ```
    /// use printfarm_sdk::Request;
    ///
    /// let req = Request::builder("GET", "/greet/{name}").param("name", "Ada").build();
    /// assert_eq!(req.param::<String>("name").unwrap(), "Ada");
    /// ```
    pub fn builder(method: &str, route: &str) -> RequestBuilder {
        RequestBuilder::new(method, route)
    }

    /// The raw WIT request.
    pub fn raw(&self) -> &RawRequest {
        &self.raw
    }

    /// The raw WIT request, by value.
    pub fn into_raw(self) -> RawRequest {
        self.raw
    }

    /// The method, upper case (`GET`).
    pub fn method(&self) -> &str {
        &self.raw.method
    }

    /// The full request path as received (`/octoprint/p1/api/job`), mount prefix included.
    pub fn path(&self) -> &str {
        &self.raw.path
    }

    /// The manifest route that matched, exactly as written in `plugin.toml` (`/api/files/{location}/{*path}`).
    pub fn route(&self) -> &str {
        &self.raw.route
    }

    /// A path parameter as text (percent-decoded), `None` if the route has no such parameter.
    /// For a catch-all `{*rest}` the name is `rest`.
    pub fn param_str(&self, name: &str) -> Option<&str> {
        self.raw
            .params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// A path parameter parsed into any [`FromStr`] type (`String`, `u32`, `uuid`…).
    ///
    /// A missing parameter or one that does not parse is a 400 error naming the parameter.
    pub fn param<T>(&self, name: &str) -> Result<T, Error>
    where
        T: FromStr,
        T::Err: std::fmt::Display,
    {
        let raw = self
            .param_str(name)
            .ok_or_else(|| Error::bad_request(format!("missing path parameter `{name}`")))?;
        raw.parse::<T>().map_err(|e| {
            Error::bad_request(format!("invalid path parameter `{name}` ({raw:?}): {e}"))
        })
    }

    /// All path parameters as `(name, value)` pairs, in route order.
    pub fn param_pairs(&self) -> &[(String, String)] {
        &self.raw.params
    }

    /// All path parameters deserialized into a struct whose fields are the parameter names.
    /// Values are parsed like query strings (`"3"` into a `u32` field works). A mismatch is a
    /// 400 error.
    ///
    /// ```
    /// use printfarm_sdk::Request;
    ///
    /// #[derive(serde::Deserialize)]
    /// struct P { printer: String, tool: u8 }
    ///
    /// let req = Request::builder("POST", "/{printer}/tool/{tool}")
    ///     .param("printer", "p1").param("tool", "1").build();
    /// let p: P = req.params().unwrap();
    /// assert_eq!((p.printer.as_str(), p.tool), ("p1", 1));
    /// ```
    pub fn params<T: DeserializeOwned>(&self) -> Result<T, Error> {
        let encoded = serde_urlencoded::to_string(&self.raw.params)
            .map_err(|e| Error::internal(format!("cannot encode path parameters: {e}")))?;
        serde_urlencoded::from_str(&encoded)
            .map_err(|e| Error::bad_request(format!("invalid path parameters: {e}")))
    }

    /// The raw query string without the leading `?` (empty when there is none).
    pub fn query_string(&self) -> &str {
        &self.raw.query
    }

    /// The query string deserialized (with `serde_urlencoded`) into `T`, typically a struct with
    /// `Option` fields or `#[serde(default)]`. A mismatch is a 400 error.
    pub fn query<T: DeserializeOwned>(&self) -> Result<T, Error> {
        serde_urlencoded::from_str(&self.raw.query)
            .map_err(|e| Error::bad_request(format!("invalid query string: {e}")))
    }

    /// All query parameters as decoded `(name, value)` pairs, in order (repeats included).
    pub fn query_pairs(&self) -> Vec<(String, String)> {
        serde_urlencoded::from_str(&self.raw.query).unwrap_or_default()
    }

    /// The first value of a query parameter, decoded. `?flag` gives `Some("")`.
    pub fn query_param(&self, name: &str) -> Option<String> {
        self.query_pairs()
            .into_iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v)
    }

    /// All request headers (names lower case), in order.
    pub fn headers(&self) -> &[Header] {
        &self.raw.headers
    }

    /// The first value of a header; the name is matched case-insensitively.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.raw
            .headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(name))
            .map(|h| h.value.as_str())
    }

    /// Every value of a header (for headers that may repeat), matched case-insensitively.
    pub fn header_all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.raw
            .headers
            .iter()
            .filter(move |h| h.name.eq_ignore_ascii_case(name))
            .map(|h| h.value.as_str())
    }

    /// The media type of the body: the `content-type` header without parameters, trimmed and
    /// lower case (`application/json`).
    pub fn content_type(&self) -> Option<String> {
        self.header("content-type").map(|v| {
            v.split(';')
                .next()
                .unwrap_or_default()
                .trim()
                .to_ascii_lowercase()
        })
    }

    /// True if the body is declared as JSON: `application/json` or `application/<anything>+json`.
    pub fn is_json(&self) -> bool {
        match self.content_type() {
            Some(ct) => {
                ct == "application/json"
                    || (ct.starts_with("application/") && ct.ends_with("+json"))
            }
            None => false,
        }
    }

    /// The raw body bytes (empty for multipart and url-encoded bodies, which arrive as
    /// [`form_fields`](Request::form_fields) and [`uploads`](Request::uploads)).
    pub fn body(&self) -> &[u8] {
        &self.raw.body
    }

    /// The body as UTF-8 text; a 400 error if it is not valid UTF-8.
    pub fn text(&self) -> Result<&str, Error> {
        std::str::from_utf8(&self.raw.body)
            .map_err(|e| Error::bad_request(format!("request body is not valid UTF-8: {e}")))
    }

    /// The body parsed as JSON into `T`.
    ///
    /// Requires a JSON `content-type` (see [`is_json`](Request::is_json)): anything else is a
    /// 415 error. A body that does not parse into `T` is a 400 error carrying serde's message
    /// (which names the offending field, line and column). Use
    /// [`json_any_content_type`](Request::json_any_content_type) for clients that send JSON
    /// without saying so.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, Error> {
        if !self.is_json() {
            let got = self
                .header("content-type")
                .map(|v| format!("`{v}`"))
                .unwrap_or_else(|| "none".to_string());
            return Err(Error::unsupported_media_type(format!(
                "expected content-type application/json, got {got}"
            )));
        }
        self.json_any_content_type()
    }

    /// The body parsed as JSON into `T`, whatever the `content-type` says. A body that does not
    /// parse is a 400 error carrying serde's message.
    pub fn json_any_content_type<T: DeserializeOwned>(&self) -> Result<T, Error> {
        serde_json::from_slice(&self.raw.body)
            .map_err(|e| Error::bad_request(format!("invalid JSON body: {e}")))
    }

    /// The first form field with this name (multipart or url-encoded bodies).
    pub fn form_field(&self, name: &str) -> Option<&str> {
        self.raw
            .form
            .iter()
            .find(|f| f.name == name)
            .map(|f| f.value.as_str())
    }

    /// Every form field, in client order.
    pub fn form_fields(&self) -> &[FormField] {
        &self.raw.form
    }

    /// The form fields deserialized into `T` (with `serde_urlencoded` semantics: `"3"` into a
    /// number works). A mismatch is a 400 error.
    pub fn form<T: DeserializeOwned>(&self) -> Result<T, Error> {
        let pairs: Vec<(&str, &str)> = self
            .raw
            .form
            .iter()
            .map(|f| (f.name.as_str(), f.value.as_str()))
            .collect();
        let encoded = serde_urlencoded::to_string(&pairs)
            .map_err(|e| Error::internal(format!("cannot encode form fields: {e}")))?;
        serde_urlencoded::from_str(&encoded)
            .map_err(|e| Error::bad_request(format!("invalid form fields: {e}")))
    }

    /// Every staged file part of a multipart body, in client order.
    pub fn uploads(&self) -> &[Upload] {
        &self.raw.uploads
    }

    /// The first staged file part with this multipart field name (`file`).
    pub fn upload(&self, field: &str) -> Option<&Upload> {
        self.raw.uploads.iter().find(|u| u.field == field)
    }

    /// The printer this mount serves, for plugins mounted once per printer (`per-printer = true`).
    pub fn printer(&self) -> Option<&str> {
        self.raw.printer.as_deref()
    }

    /// The printer this mount serves, or a 404 error for mounts without one.
    pub fn require_printer(&self) -> Result<&str, Error> {
        self.printer()
            .ok_or_else(|| Error::not_found("this mount does not serve a printer"))
    }

    /// The mount prefix the request came through (`/octoprint/p1`); empty when the plugin is
    /// mounted at the root or on a listener of its own.
    pub fn mount(&self) -> &str {
        &self.raw.mount
    }

    /// `scheme://host[:port]` as the client addressed the server.
    pub fn base_url(&self) -> &str {
        &self.raw.base_url
    }

    /// An absolute URL for a path below this plugin's mount, as the client can reach it:
    /// `base_url + mount + path` (`url_for("/api/job")` → `http://farm:8080/octoprint/p1/api/job`).
    pub fn url_for(&self, path: &str) -> String {
        format!("{}{}{}", self.raw.base_url, self.raw.mount, path)
    }

    /// The client's address (`ip:port`).
    pub fn remote_addr(&self) -> &str {
        &self.raw.remote_addr
    }
}

impl From<RawRequest> for Request {
    fn from(raw: RawRequest) -> Self {
        Request::from_raw(raw)
    }
}

/// Builds a [`Request`] by hand, for unit tests. Start with [`Request::builder`].
///
/// Defaults: the path is the route, no parameters, headers or body, no printer, empty mount,
/// base URL `http://localhost`, remote address `127.0.0.1:0`.
#[derive(Debug, Clone)]
pub struct RequestBuilder {
    raw: RawRequest,
}

impl RequestBuilder {
    fn new(method: &str, route: &str) -> Self {
        RequestBuilder {
            raw: RawRequest {
                method: method.to_ascii_uppercase(),
                path: route.to_string(),
                route: route.to_string(),
                params: Vec::new(),
                query: String::new(),
                headers: Vec::new(),
                body: Vec::new(),
                form: Vec::new(),
                uploads: Vec::new(),
                printer: None,
                mount: String::new(),
                base_url: "http://localhost".to_string(),
                remote_addr: "127.0.0.1:0".to_string(),
            },
        }
    }

    /// Sets the full request path.
    pub fn path(mut self, path: &str) -> Self {
        self.raw.path = path.to_string();
        self
    }

    /// Adds a path parameter.
    pub fn param(mut self, name: &str, value: &str) -> Self {
        self.raw.params.push((name.to_string(), value.to_string()));
        self
    }

    /// Sets the raw query string (without `?`).
    pub fn query(mut self, query: &str) -> Self {
        self.raw.query = query.to_string();
        self
    }

    /// Adds a header (the name is lower-cased, as the host does).
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.raw.headers.push(Header {
            name: name.to_ascii_lowercase(),
            value: value.to_string(),
        });
        self
    }

    /// Sets the body bytes.
    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.raw.body = body.into();
        self
    }

    /// Sets a JSON body and the `content-type: application/json` header.
    pub fn json<T: Serialize + ?Sized>(self, value: &T) -> Self {
        let body = serde_json::to_vec(value).expect("value serializes to JSON");
        self.header("content-type", "application/json").body(body)
    }

    /// Adds a form field.
    pub fn form_field(mut self, name: &str, value: &str) -> Self {
        self.raw.form.push(FormField {
            name: name.to_string(),
            value: value.to_string(),
        });
        self
    }

    /// Adds a staged upload.
    pub fn upload(mut self, upload: Upload) -> Self {
        self.raw.uploads.push(upload);
        self
    }

    /// Sets the printer of the mount.
    pub fn printer(mut self, printer: &str) -> Self {
        self.raw.printer = Some(printer.to_string());
        self
    }

    /// Sets the mount prefix.
    pub fn mount(mut self, mount: &str) -> Self {
        self.raw.mount = mount.to_string();
        self
    }

    /// Sets the base URL.
    pub fn base_url(mut self, base_url: &str) -> Self {
        self.raw.base_url = base_url.to_string();
        self
    }

    /// Sets the client address.
    pub fn remote_addr(mut self, addr: &str) -> Self {
        self.raw.remote_addr = addr.to_string();
        self
    }

    /// Finishes the request.
    pub fn build(self) -> Request {
        Request { raw: self.raw }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[test]
    fn typed_params() {
        let req = Request::builder("GET", "/job/{id}/copy/{n}")
            .param("id", "abc")
            .param("n", "3")
            .build();
        assert_eq!(req.param::<String>("id").unwrap(), "abc");
        assert_eq!(req.param::<u32>("n").unwrap(), 3);
        let e = req.param::<u32>("id").unwrap_err();
        assert_eq!(e.status, 400);
        assert!(e.message.contains("`id`"), "{}", e.message);
        let e = req.param::<u32>("missing").unwrap_err();
        assert_eq!(e.status, 400);
        assert!(e.message.contains("`missing`"), "{}", e.message);

        #[derive(Deserialize)]
        struct P {
            id: String,
            n: u32,
        }
        let p: P = req.params().unwrap();
        assert_eq!((p.id.as_str(), p.n), ("abc", 3));
        #[derive(Deserialize, Debug)]
        #[allow(dead_code)]
        struct Bad {
            id: u32,
        }
        assert_eq!(req.params::<Bad>().unwrap_err().status, 400);
    }

    #[test]
    fn catch_all_param_keeps_slashes() {
        let req = Request::builder("GET", "/files/{*path}")
            .param("path", "a/b c/d.gcode")
            .build();
        #[derive(Deserialize)]
        struct P {
            path: String,
        }
        assert_eq!(req.params::<P>().unwrap().path, "a/b c/d.gcode");
    }

    #[test]
    fn query_and_headers() {
        let req = Request::builder("GET", "/x")
            .query("recursive=true&limit=5&name=a%20b&flag")
            .header("X-Api-Key", "k")
            .build();
        assert_eq!(req.query_param("name").as_deref(), Some("a b"));
        assert_eq!(req.query_param("flag").as_deref(), Some(""));
        assert_eq!(req.query_param("nope"), None);
        #[derive(Deserialize)]
        struct Q {
            recursive: bool,
            limit: u32,
        }
        let q: Q = req.query().unwrap();
        assert!(q.recursive);
        assert_eq!(q.limit, 5);
        assert_eq!(req.header("x-api-key"), Some("k"));
        assert_eq!(req.header("X-API-KEY"), Some("k"));
        #[derive(Deserialize, Debug)]
        #[allow(dead_code)]
        struct BadQ {
            limit: bool,
        }
        assert_eq!(req.query::<BadQ>().unwrap_err().status, 400);
    }

    #[test]
    fn json_body_checks_content_type_and_syntax() {
        #[derive(Deserialize, Debug)]
        struct Cmd {
            command: String,
        }
        let ok = Request::builder("POST", "/c")
            .json(&serde_json::json!({"command": "start"}))
            .build();
        assert_eq!(ok.json::<Cmd>().unwrap().command, "start");

        let with_charset = Request::builder("POST", "/c")
            .header("Content-Type", "application/json; charset=utf-8")
            .body(r#"{"command":"pause"}"#)
            .build();
        assert_eq!(with_charset.json::<Cmd>().unwrap().command, "pause");

        let wrong_type = Request::builder("POST", "/c")
            .header("content-type", "text/plain")
            .body(r#"{"command":"x"}"#)
            .build();
        let e = wrong_type.json::<Cmd>().unwrap_err();
        assert_eq!(e.status, 415);
        assert!(wrong_type.json_any_content_type::<Cmd>().is_ok());

        let no_type = Request::builder("POST", "/c").body("{}").build();
        assert_eq!(no_type.json::<Cmd>().unwrap_err().status, 415);

        let malformed = Request::builder("POST", "/c")
            .header("content-type", "application/json")
            .body("{\"command\": ")
            .build();
        let e = malformed.json::<Cmd>().unwrap_err();
        assert_eq!(e.status, 400);
        assert!(e.message.contains("EOF"), "{}", e.message);

        let missing_field = Request::builder("POST", "/c")
            .header("content-type", "application/json")
            .body("{}")
            .build();
        let e = missing_field.json::<Cmd>().unwrap_err();
        assert_eq!(e.status, 400);
        assert!(e.message.contains("command"), "{}", e.message);
    }

    #[test]
    fn forms_uploads_and_context() {
        let req = Request::builder("POST", "/upload")
            .form_field("select", "true")
            .form_field("path", "a/b")
            .upload(Upload {
                field: "file".into(),
                filename: "cube.gcode".into(),
                content_type: Some("text/x-gcode".into()),
                size: 12,
                handle: 7,
            })
            .printer("p1")
            .mount("/octoprint/p1")
            .base_url("http://farm:8080")
            .build();
        assert_eq!(req.form_field("path"), Some("a/b"));
        assert_eq!(req.form_fields().len(), 2);
        assert_eq!(req.upload("file").unwrap().handle, 7);
        assert!(req.upload("other").is_none());
        assert_eq!(req.printer(), Some("p1"));
        assert_eq!(
            req.url_for("/api/job"),
            "http://farm:8080/octoprint/p1/api/job"
        );
        #[derive(Deserialize)]
        struct F {
            select: bool,
        }
        assert!(req.form::<F>().unwrap().select);
    }
}
