//! JSON error responses: every error says what was wrong.

use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use printfarm_core::CoreError;

use crate::runtime::CallError;

/// A status another server answered the host with, as messages show it: `HTTP 403 Forbidden`,
/// or `HTTP 499` for a code without a standard reason (which `StatusCode`'s own display would
/// call `<unknown status code>`).
pub fn status_text(status: StatusCode) -> String {
    match status.canonical_reason() {
        Some(reason) => format!("HTTP {} {reason}", status.as_u16()),
        None => format!("HTTP {}", status.as_u16()),
    }
}

/// A JSON error `{"error": message}` with a status.
pub fn json_error(status: StatusCode, message: impl Into<String>) -> Response {
    (status, axum::Json(json!({ "error": message.into() }))).into_response()
}

/// The status a core error answers with: the caller's mistakes are 4xx, the host's own failures 500.
pub fn core_status(e: &CoreError) -> StatusCode {
    match e {
        CoreError::Invalid(_) => StatusCode::BAD_REQUEST,
        CoreError::NotFound(_) => StatusCode::NOT_FOUND,
        CoreError::Conflict(_) => StatusCode::CONFLICT,
        CoreError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
        CoreError::Storage(_) | CoreError::Io { .. } => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// The response for a failed plugin call: the status of [`CallError::status`], the plugin named.
pub fn call_error(e: &CallError) -> Response {
    let plugin = match e {
        CallError::Trap { plugin, .. }
        | CallError::Timeout { plugin, .. }
        | CallError::MemoryLimit { plugin, .. }
        | CallError::Disabled { plugin, .. }
        | CallError::Capacity { plugin, .. } => plugin.clone(),
    };
    let status = StatusCode::from_u16(e.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = (
        status,
        axum::Json(json!({ "error": e.to_string(), "plugin": plugin, "kind": e.kind() })),
    )
        .into_response();
    if status == StatusCode::SERVICE_UNAVAILABLE {
        response
            .headers_mut()
            .insert("retry-after", HeaderValue::from_static("5"));
    }
    response
}
