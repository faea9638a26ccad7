//! Errors: [`Error`] (an HTTP error a handler returns) and [`HostError`] (why a host call failed).

use std::fmt;

use crate::bindings::printfarm::plugin::types::HostError as RawHostError;

/// An HTTP error: a status code and a message for the client.
///
/// Handlers return `Result<Response, Error>`; the [`Router`](crate::Router) turns an `Error` into
/// a response with its error handler (by default `{"error": "<message>"}`, see
/// [`Router::on_error`](crate::Router::on_error)).
///
/// `?` converts a [`HostError`] into an `Error` (see the [`From<HostError>`](#impl-From<HostError>-for-Error)
/// impl for the status codes), so host calls can be used directly in handlers:
///
/// ```
/// use printfarm_sdk::{kv, Error, Request, Response};
///
/// fn handler(_req: &Request) -> Result<Response, Error> {
///     let value = kv::get_string("motd")?.ok_or_else(|| Error::not_found("no message of the day"))?;
///     Ok(Response::text(200, value))
/// }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    /// The HTTP status code (400–599).
    pub status: u16,
    /// The message for the client.
    pub message: String,
}

impl Error {
    /// An error with any status code.
    pub fn new(status: u16, message: impl Into<String>) -> Self {
        Error {
            status,
            message: message.into(),
        }
    }

    /// 400 Bad Request: the client sent something malformed.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(400, message)
    }

    /// 401 Unauthorized: the client must authenticate (or its credentials are wrong).
    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(401, message)
    }

    /// 403 Forbidden: the client is known but may not do this.
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(403, message)
    }

    /// 404 Not Found.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(404, message)
    }

    /// 405 Method Not Allowed.
    pub fn method_not_allowed(message: impl Into<String>) -> Self {
        Self::new(405, message)
    }

    /// 409 Conflict: the request conflicts with the current state.
    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(409, message)
    }

    /// 413 Payload Too Large.
    pub fn payload_too_large(message: impl Into<String>) -> Self {
        Self::new(413, message)
    }

    /// 415 Unsupported Media Type: the body has the wrong `content-type`.
    pub fn unsupported_media_type(message: impl Into<String>) -> Self {
        Self::new(415, message)
    }

    /// 422 Unprocessable Entity: well-formed but semantically wrong.
    pub fn unprocessable(message: impl Into<String>) -> Self {
        Self::new(422, message)
    }

    /// 500 Internal Server Error.
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(500, message)
    }

    /// 503 Service Unavailable: try again later.
    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::new(503, message)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.status, self.message)
    }
}

impl std::error::Error for Error {}

/// Maps a failed host call to an HTTP error, keeping the host's message:
///
/// | host error      | status |
/// |-----------------|--------|
/// | `denied`        | 500 (a missing capability is the operator's configuration problem, not the client's) |
/// | `unavailable`   | 503 |
/// | `not-found`     | 404 |
/// | `invalid`       | 400 |
/// | `conflict`      | 409 |
/// | `limit`         | 413 |
/// | `internal`      | 500 |
impl From<HostError> for Error {
    fn from(e: HostError) -> Self {
        Error::new(e.status(), e.into_message())
    }
}

/// Why a host call failed. Mirrors the WIT variant `host-error`.
///
/// Every message says what was wrong and, where possible, what to do about it; plugins may pass
/// it on to their clients. Match on the variants, or use the `is_*` helpers:
///
/// ```
/// use printfarm_sdk::{kv, HostError};
///
/// match kv::get("counter") {
///     Ok(value) => { /* … */ }
///     Err(e) if e.is_denied() => { /* the operator did not grant `kv` */ }
///     Err(e) => { /* something else: e.message() says what */ }
/// }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostError {
    /// The plugin did not declare the capability in its `plugin.toml`, or the operator did not
    /// grant it. The message names the capability.
    Denied(String),
    /// The host cannot serve this call at the moment (the part of the core behind it is not
    /// running, or the printer is offline). Retrying later may succeed.
    Unavailable(String),
    /// The printer, file, job, key or socket named in the call does not exist.
    NotFound(String),
    /// An argument was malformed (a bad path, an unknown heater, a negative copy count…).
    Invalid(String),
    /// The call conflicts with the current state (a print is already running, the file exists…).
    Conflict(String),
    /// A limit the host enforces for this plugin was hit (value too large, too many sockets…).
    Limit(String),
    /// Something failed inside the host. The host has logged the details.
    Internal(String),
}

impl HostError {
    /// The variant's name as the WIT contract spells it: `denied`, `unavailable`, `not-found`,
    /// `invalid`, `conflict`, `limit` or `internal`.
    pub fn kind(&self) -> &'static str {
        match self {
            HostError::Denied(_) => "denied",
            HostError::Unavailable(_) => "unavailable",
            HostError::NotFound(_) => "not-found",
            HostError::Invalid(_) => "invalid",
            HostError::Conflict(_) => "conflict",
            HostError::Limit(_) => "limit",
            HostError::Internal(_) => "internal",
        }
    }

    /// The host's message.
    pub fn message(&self) -> &str {
        match self {
            HostError::Denied(m)
            | HostError::Unavailable(m)
            | HostError::NotFound(m)
            | HostError::Invalid(m)
            | HostError::Conflict(m)
            | HostError::Limit(m)
            | HostError::Internal(m) => m,
        }
    }

    /// The host's message, by value.
    pub fn into_message(self) -> String {
        match self {
            HostError::Denied(m)
            | HostError::Unavailable(m)
            | HostError::NotFound(m)
            | HostError::Invalid(m)
            | HostError::Conflict(m)
            | HostError::Limit(m)
            | HostError::Internal(m) => m,
        }
    }

    /// The HTTP status code `From<HostError> for Error` uses for this error.
    pub fn status(&self) -> u16 {
        match self {
            HostError::Denied(_) => 500,
            HostError::Unavailable(_) => 503,
            HostError::NotFound(_) => 404,
            HostError::Invalid(_) => 400,
            HostError::Conflict(_) => 409,
            HostError::Limit(_) => 413,
            HostError::Internal(_) => 500,
        }
    }

    /// True for [`HostError::Denied`].
    pub fn is_denied(&self) -> bool {
        matches!(self, HostError::Denied(_))
    }

    /// True for [`HostError::Unavailable`].
    pub fn is_unavailable(&self) -> bool {
        matches!(self, HostError::Unavailable(_))
    }

    /// True for [`HostError::NotFound`].
    pub fn is_not_found(&self) -> bool {
        matches!(self, HostError::NotFound(_))
    }

    /// True for [`HostError::Invalid`].
    pub fn is_invalid(&self) -> bool {
        matches!(self, HostError::Invalid(_))
    }

    /// True for [`HostError::Conflict`].
    pub fn is_conflict(&self) -> bool {
        matches!(self, HostError::Conflict(_))
    }

    /// True for [`HostError::Limit`].
    pub fn is_limit(&self) -> bool {
        matches!(self, HostError::Limit(_))
    }

    /// True for [`HostError::Internal`].
    pub fn is_internal(&self) -> bool {
        matches!(self, HostError::Internal(_))
    }
}

impl fmt::Display for HostError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.kind(), self.message())
    }
}

impl std::error::Error for HostError {}

impl From<RawHostError> for HostError {
    fn from(e: RawHostError) -> Self {
        match e {
            RawHostError::Denied(m) => HostError::Denied(m),
            RawHostError::Unavailable(m) => HostError::Unavailable(m),
            RawHostError::NotFound(m) => HostError::NotFound(m),
            RawHostError::Invalid(m) => HostError::Invalid(m),
            RawHostError::Conflict(m) => HostError::Conflict(m),
            RawHostError::Limit(m) => HostError::Limit(m),
            RawHostError::Internal(m) => HostError::Internal(m),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_errors_map_to_statuses_and_keep_messages() {
        let cases = [
            (HostError::Denied("capability `kv` not granted".into()), 500),
            (HostError::Unavailable("printer offline".into()), 503),
            (HostError::NotFound("no printer p9".into()), 404),
            (HostError::Invalid("bad path".into()), 400),
            (HostError::Conflict("already printing".into()), 409),
            (HostError::Limit("value too large".into()), 413),
            (HostError::Internal("oops".into()), 500),
        ];
        for (host, status) in cases {
            let message = host.message().to_string();
            let e: Error = host.into();
            assert_eq!(e.status, status);
            assert_eq!(e.message, message);
        }
    }

    #[test]
    fn host_error_kinds_and_predicates() {
        let e = HostError::NotFound("x".into());
        assert_eq!(e.kind(), "not-found");
        assert!(e.is_not_found());
        assert!(!e.is_denied());
        assert_eq!(e.to_string(), "not-found: x");
        assert!(HostError::Denied("d".into()).is_denied());
        assert!(HostError::Limit("l".into()).is_limit());
    }

    #[test]
    fn raw_host_error_converts() {
        let e: HostError = RawHostError::Conflict("busy".into()).into();
        assert_eq!(e, HostError::Conflict("busy".into()));
    }
}
