//! `/api/timelapse` and `/api/slicing`: OctoPrint features the farm does not offer. Their
//! listings answer as an OctoPrint with the feature unused does (timelapse off, no files, no
//! slicer configured), so clients that list them show nothing rather than an error.

use printfarm_sdk::{Error, Request, Response};
use serde_json::json;

use crate::auth::{self, Access};
use crate::errors;

/// `GET /api/timelapse`: no recordings; with `?unrendered=true`, no unrendered ones either.
/// `POST` (the timelapse settings, for operators) answers the same: recording stays off.
pub fn list(req: &Request) -> Result<Response, Error> {
    let access = if req.method() == "POST" {
        Access::Control
    } else {
        Access::Read
    };
    auth::require(req, access)?;
    let mut body = json!({"config": {"type": "off"}, "enabled": true, "files": []});
    if req
        .query_param("unrendered")
        .is_some_and(|u| errors::truthy(&u))
    {
        body["unrendered"] = json!([]);
    }
    Ok(Response::ok_json(&body))
}

/// `GET /api/timelapse/{name}`: a recording is a download, as OctoPrint redirects it (there are
/// none, so the download is a 404).
pub fn one(req: &Request) -> Result<Response, Error> {
    auth::require(req, Access::Read)?;
    let name = req.param_str("name").unwrap_or_default();
    Ok(Response::redirect(
        &req.url_for(&format!("/downloads/timelapse/{name}")),
    ))
}

/// `GET /api/slicing/{slicer}/profiles`: no slicer is configured, so none is known (404).
pub fn profiles(req: &Request) -> Result<Response, Error> {
    auth::require(req, Access::Control)?;
    Err(Error::not_found(errors::NOT_FOUND))
}

/// `GET /api/slicing`: no slicer is configured (operators and admins, who may slice).
pub fn slicers(req: &Request) -> Result<Response, Error> {
    auth::require(req, Access::Control)?;
    Ok(Response::ok_json(&json!({})))
}
