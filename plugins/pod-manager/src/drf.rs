//! Django REST Framework's answers: `{"detail": …}` for request-level errors, `{"field": […]}`
//! for validation errors, with DRF's own wording, so clients written against the original
//! server recognise them.

use printfarm_sdk::{Error, Response};
use serde_json::json;

/// DRF's `NotAuthenticated`. DRF answers it with 403 (not 401) when session authentication comes
/// first, as it did on the original server: sessions have no `WWW-Authenticate` challenge.
pub const NOT_AUTHENTICATED: &str = "Authentication credentials were not provided.";
/// DRF's `PermissionDenied`.
pub const PERMISSION_DENIED: &str = "You do not have permission to perform this action.";
/// What DRF's `SessionAuthentication` answers when Django's CSRF check fails.
pub const CSRF_FAILED: &str = "CSRF Failed: CSRF token missing or incorrect.";
/// DRF's `TokenAuthentication` for an unknown key.
pub const INVALID_TOKEN: &str = "Invalid token.";
/// DRF's `NotFound`.
pub const NOT_FOUND: &str = "Not found.";
/// A required field was not sent.
pub const REQUIRED: &str = "This field is required.";

/// `{"detail": message}` with a status.
pub fn detail(status: u16, message: &str) -> Response {
    Response::json(status, &json!({ "detail": message }))
}

/// A validation error on one field: `400 {"field": [message]}`.
pub fn field_error(field: &str, message: &str) -> Response {
    Response::json(400, &json!({ field: [message] }))
}

/// DRF's message for a related object that does not exist (`PrimaryKeyRelatedField`).
pub fn does_not_exist(value: &str) -> String {
    format!("Invalid pk \"{value}\" - object does not exist.")
}

/// The router's error handler: every `Err` a handler returns, and the router's own 404 and 405,
/// as `{"detail": …}` with DRF's wording where DRF has one.
pub fn on_error(e: &Error) -> Response {
    let message = match e.status {
        404 if e.message.starts_with("no handler for route") => NOT_FOUND.to_string(),
        // The SDK says "method DELETE is not allowed on `…`"; DRF says `Method "DELETE" not allowed.`
        405 => {
            let method = e
                .message
                .strip_prefix("method ")
                .and_then(|rest| rest.split(' ').next())
                .unwrap_or("?");
            format!("Method \"{method}\" not allowed.")
        }
        _ => e.message.clone(),
    };
    detail(e.status, &message)
}

/// A 403 error with DRF's message.
pub fn forbidden(message: &str) -> Error {
    Error::forbidden(message)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    #[test]
    fn errors_read_like_drf() {
        let r = on_error(&Error::method_not_allowed(
            "method DELETE is not allowed on `/api/files/`",
        ));
        assert_eq!(
            r.body_json::<Value>().unwrap(),
            json!({"detail": "Method \"DELETE\" not allowed."})
        );
        let r = field_error("file", "No file was submitted.");
        assert_eq!(r.status(), 400);
        assert_eq!(
            r.body_json::<Value>().unwrap(),
            json!({"file": ["No file was submitted."]})
        );
    }
}
