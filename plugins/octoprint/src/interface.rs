//! What OctoPrint's own web interface loads as it starts, for admins: the setup wizards, the
//! UI's template order and the language packs. The farm configures its printers elsewhere, so
//! every wizard is done and there are no templates or extra languages; the shapes are
//! OctoPrint's, so a client that reads them finds every key.

use printfarm_sdk::{Error, Request, Response};
use serde_json::{json, Map, Value};

use crate::auth::{self, Access};

/// The template kinds of OctoPrint 1.11's interface, in its `order` object.
const TEMPLATE_KINDS: [&str; 11] = [
    "about",
    "generic",
    "navbar",
    "plugin_pluginmanager_about_thirdparty",
    "settings",
    "sidebar",
    "tab",
    "usersettings",
    "usersettings_mfa",
    "webcam",
    "wizard",
];

/// `GET /api/setup/wizard`: the bundled wizards, none required. `POST` finishes them
/// (`{"handled": […]}`): there is nothing to record.
pub fn wizard(req: &Request) -> Result<Response, Error> {
    auth::require(req, Access::Admin)?;
    if req.method() == "POST" {
        let handled = crate::errors::json_object(req)?;
        if !handled.get("handled").is_some_and(Value::is_array) {
            return Err(Error::bad_request(
                "The browser (or proxy) sent a request that this server could not understand.",
            ));
        }
        return Ok(Response::no_content());
    }
    let done = |version: Value, details: Value| json!({"details": details, "ignored": false, "required": false, "version": version});
    Ok(Response::ok_json(&json!({
        "backup": done(Value::Null, json!({"required": false})),
        "classicwebcam": done(json!(1), json!({})),
        "corewizard": done(json!(4), json!({
            "acl": {"required": false},
            "onlinecheck": {"required": false},
            "pluginblacklist": {"required": false},
            "printerprofile": {"required": false},
            "servercommands": {"required": false},
        })),
        "file_check": done(json!(1), json!({})),
        "softwareupdate": done(json!(1), json!({})),
        "tracking": done(Value::Null, json!({})),
    })))
}

/// `GET /api/settings/templates`: the interface's template order, every kind empty.
pub fn templates(req: &Request) -> Result<Response, Error> {
    auth::require(req, Access::Admin)?;
    let order: Map<String, Value> = TEMPLATE_KINDS
        .iter()
        .map(|kind| (kind.to_string(), json!([])))
        .collect();
    Ok(Response::ok_json(&json!({ "order": order })))
}

/// `GET /api/languages`: only the core's (English) pack. `POST` (installing a pack) needs a
/// `file`; the farm installs none.
pub fn languages(req: &Request) -> Result<Response, Error> {
    auth::require(req, Access::Admin)?;
    if req.method() == "POST" {
        return Err(Error::bad_request(if req.upload("file").is_none() {
            "No file included"
        } else {
            "Language packs are not installed on a farm printer"
        }));
    }
    Ok(Response::ok_json(&json!({"language_packs": {
        "_core": {"display": "Core", "identifier": "_core", "languages": []},
    }})))
}
