//! `/api/system…`: the machine behind the server. OctoPrint reserves these to holders of its
//! SYSTEM permission (admins); the farm's machine is not its clients' to restart, so no command
//! is offered, and what would describe the machine describes the farm's host as far as the
//! plugin knows it.

use printfarm_sdk::host_info;
use printfarm_sdk::printers;
use printfarm_sdk::{Error, Request, Response};
use serde_json::{json, Value};

use crate::auth::{self, Access};
use crate::errors::host;
use crate::settings::OCTOPRINT_VERSION;

/// The command sources OctoPrint knows.
const SOURCES: [&str; 3] = ["core", "custom", "plugin"];

/// `GET /api/system/commands`: every source, each empty.
pub fn commands(req: &Request) -> Result<Response, Error> {
    auth::require(req, Access::Admin)?;
    Ok(Response::ok_json(
        &json!({"core": [], "custom": [], "plugin": []}),
    ))
}

/// `GET /api/system/commands/{source}`: an empty list for a known source, 404 otherwise.
pub fn commands_of(req: &Request) -> Result<Response, Error> {
    auth::require(req, Access::Admin)?;
    let source: String = req.param("source")?;
    if !SOURCES.contains(&source.as_str()) {
        return Err(not_found());
    }
    Ok(Response::ok_json(&json!([])))
}

/// `POST /api/system/commands/{source}/{action}`: no command exists, so 404 after the auth check.
pub fn run_command(req: &Request) -> Result<Response, Error> {
    auth::require(req, Access::Admin)?;
    Err(not_found())
}

/// `POST /api/system`: OctoPrint's old way to run a system command (`action`); none exists.
pub fn old_command(req: &Request) -> Result<Response, Error> {
    auth::require(req, Access::Admin)?;
    Err(not_found())
}

/// `GET /api/system/info`: OctoPrint's flat key list, filled with what the farm knows.
pub fn info(req: &Request) -> Result<Response, Error> {
    auth::require(req, Access::Admin)?;
    let printer = printers::get(req.require_printer()?).map_err(host)?;
    let farm = host_info();
    Ok(Response::ok_json(&json!({"systeminfo": {
        "browser.user_agent": req.header("user-agent").unwrap_or(""),
        "connectivity.connection_check": "1.1.1.1:53",
        "connectivity.connection_ok": true,
        "connectivity.enabled": false,
        "connectivity.online": true,
        "connectivity.resolution_check": "octoprint.org",
        "connectivity.resolution_ok": true,
        "env.hardware.cores": Value::Null,
        "env.hardware.freq": Value::Null,
        "env.hardware.ram": Value::Null,
        "env.os.bits": 64,
        "env.os.id": "printfarm",
        "env.os.platform": format!("printfarm {} (node {})", farm.version, farm.node),
        "env.python.pip": "unknown",
        "env.python.version": "unknown",
        "env.python.virtualenv": false,
        "octoprint.last_safe_mode.date": "unknown",
        "octoprint.last_safe_mode.reason": "unknown",
        "octoprint.safe_mode": false,
        "octoprint.version": OCTOPRINT_VERSION,
        // The contract does not carry the firmware's M115 name; the printer's profile is the
        // closest the plugin knows.
        "printer.firmware": printer.profile.unwrap_or_else(|| "unknown".into()),
        "systeminfo.generated": crate::clock::now_z(),
        "systeminfo.generator": "systemapi",
    }})))
}

/// `GET /api/system/usage`: OctoPrint's storage folders. The farm's disks are the host's
/// business; each folder is reported with unknown sizes (`null`), which clients show as such.
pub fn usage(req: &Request) -> Result<Response, Error> {
    auth::require(req, Access::Admin)?;
    let folders = [
        "data",
        "generated",
        "logs",
        "plugins",
        "printerProfiles",
        "scripts",
        "slicingProfiles",
        "timelapse",
        "timelapse_tmp",
        "translations",
        "uploads",
        "virtualSd",
        "watched",
    ];
    let usage: serde_json::Map<String, Value> = folders
        .iter()
        .map(|f| (f.to_string(), json!({"free": null, "total": null})))
        .collect();
    Ok(Response::ok_json(&json!({ "usage": usage })))
}

/// `GET /api/system/startup`: OctoPrint's start-up progress; a farm printer is always started.
pub fn startup(req: &Request) -> Result<Response, Error> {
    auth::require(req, Access::Admin)?;
    Ok(Response::ok_json(&json!({"startup": {}})))
}

fn not_found() -> Error {
    Error::not_found(crate::errors::NOT_FOUND)
}
