//! The original server's answers for what went wrong, byte for byte where clients read them.

use printfarm_sdk::{Error, Request, Response};
use serde_json::json;

/// The body of every error but the two 404s below: Flask-RESTful's `{"message": …}`.
pub fn error(e: &Error) -> Response {
    Response::json(e.status, &json!({ "message": e.message }))
}

/// An URL the API does not have: the original's own 404 body.
pub fn no_interface(_req: &Request) -> Result<Response, Error> {
    Ok(Response::json(
        404,
        &json!({"code": 404, "message": "No interface defined for URL"}),
    ))
}

/// A known route whose row does not exist (`get_or_404`).
pub fn missing(req: &Request) -> Response {
    Response::json(
        404,
        &json!({
            "status": 404,
            "message": format!(
                "Not Found. You have requested this URI [{}] but it does not exist.",
                req.path()
            ),
        }),
    )
}
