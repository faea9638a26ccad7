//! `/api/timelapse` and `/api/slicing`: OctoPrint features the farm does not offer. Their
//! listings answer as an OctoPrint with the feature unused does (timelapse off, no files, no
//! slicer configured), so clients that list them show nothing rather than an error.

use printfarm_sdk::{Error, Request, Response};
use serde_json::json;

use crate::auth::{self, Access};
use crate::errors;

/// `GET /api/timelapse`: no recordings; with `?unrendered=true`, no unrendered ones either.
pub fn list(req: &Request) -> Result<Response, Error> {
    auth::require(req, Access::Read)?;
    let mut body = json!({"config": {"type": "off"}, "enabled": true, "files": []});
    if req
        .query_param("unrendered")
        .is_some_and(|u| errors::truthy(&u))
    {
        body["unrendered"] = json!([]);
    }
    Ok(Response::ok_json(&body))
}

/// `GET /api/slicing`: no slicer is configured (operators and admins, who may slice).
pub fn slicers(req: &Request) -> Result<Response, Error> {
    auth::require(req, Access::Control)?;
    Ok(Response::ok_json(&json!({})))
}
