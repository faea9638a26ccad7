//! The bundled OctoPrint plugins that clients probe: the plugin manager, software update,
//! logging, backup, announcements, achievements, health check and the action-command prompt and
//! notifications. Each answers in its shape, with the permissions OctoPrint gives it, as an
//! OctoPrint would whose plugins have nothing to report: the farm is updated, logged and backed
//! up by its host, not through a printer's surface.

use printfarm_sdk::{Error, Request, Response};
use serde_json::{json, Map, Value};

use crate::auth::{self, Access};
use crate::errors;
use crate::settings::OCTOPRINT_VERSION;

/// The bundled plugins the surface answers for, with their display names, as the plugin
/// manager lists them.
const PLUGINS: [(&str, &str); 22] = [
    ("achievements", "Achievements Plugin"),
    (
        "action_command_notification",
        "Action Command Notification Support",
    ),
    ("action_command_prompt", "Action Command Prompt Support"),
    ("announcements", "Announcement Plugin"),
    ("appkeys", "Application Keys Plugin"),
    ("backup", "Backup & Restore"),
    ("classicwebcam", "Classic Webcam"),
    ("corewizard", "Core Wizard"),
    ("customcontrolmanager", "Custom Control Manager"),
    ("discovery", "Discovery"),
    ("errortracking", "Error Tracking"),
    ("eventmanager", "Event Manager"),
    ("file_check", "File Check"),
    ("firmware_check", "Firmware Check"),
    ("gcodeviewer", "GCode Viewer"),
    ("health_check", "Health Check"),
    ("logging", "Logging"),
    ("pluginmanager", "Plugin Manager"),
    ("softwareupdate", "Software Update"),
    ("tracking", "Anonymous Usage Tracking"),
    ("uploadmanager", "Upload Manager"),
    ("virtual_printer", "Virtual Printer"),
];

fn plugin_entries() -> Vec<Value> {
    PLUGINS
        .iter()
        .map(|(key, name)| {
            json!({
                "key": key, "name": name, "version": null, "author": null, "description": null,
                "license": "AGPLv3", "url": null, "bundled": true, "enabled": true,
                "managable": false, "blacklisted": false, "forced_disabled": false,
                "incompatible": false, "disabling_discouraged": false, "origin": "module",
                "pending_enable": false, "pending_disable": false, "pending_install": false,
                "pending_uninstall": false, "safe_mode_victim": false, "notifications": null,
                "privacypolicy": null, "python": ">=3.7,<4", "attributes": [],
            })
        })
        .collect()
}

fn environment() -> Value {
    json!({
        "octoprint": OCTOPRINT_VERSION,
        "online": true,
        "os": "printfarm",
        "pip": {"available": false, "version": null, "install_dir": null, "use_user": false,
                "virtual_env": false, "additional_args": null, "python": null},
        "safe_mode": false,
        "supported_extensions": {
            "archive": [".zip", ".tar.gz", ".tgz", ".tar", ".gz", ".whl"],
            "json": [".json"],
            "python": [".py"],
        },
    })
}

/// `GET /api/plugin/{plugin}` and `POST`: the simple API of the bundled plugins. An unknown
/// plugin is a 404 for `GET` and a 400 for `POST`, as OctoPrint answers.
pub fn simple_api(req: &Request) -> Result<Response, Error> {
    let plugin: String = req.param("plugin")?;
    let post = req.method() == "POST";
    match (plugin.as_str(), post) {
        ("pluginmanager", false) => {
            auth::require(req, Access::Admin)?;
            let mut out = environment();
            out["plugins"] = json!(plugin_entries());
            out["orphan_data"] = json!({});
            out["repository"] = json!({"available": false, "plugins": []});
            Ok(Response::ok_json(&out))
        }
        ("pluginmanager", true) => {
            // OctoPrint parses the command before it checks permissions; no command is valid
            // here (installing, enabling or uninstalling is the farm host's business).
            auth::require(req, Access::Read)?;
            errors::command(req, &[])?;
            Ok(Response::no_content())
        }
        ("health_check", false) => {
            auth::require(req, Access::Admin)?;
            let ok = json!({"result": "ok", "context": {}});
            Ok(Response::ok_json(&json!({"health": {
                "filesystem_storage": ok, "octoprint_freshness": ok, "python_eol": ok,
            }})))
        }
        ("action_command_prompt", false) => {
            auth::require(req, Access::Control)?;
            // No prompt is ever open: the farm answers prompts itself.
            Ok(Response::ok_json(&Value::Null))
        }
        ("action_command_prompt", true) => {
            auth::require(req, Access::Control)?;
            errors::command(req, &["select"])?;
            Err(Error::conflict("No active prompt"))
        }
        ("action_command_notification", false) => {
            auth::require(req, Access::Control)?;
            Ok(Response::ok_json(&json!({"notifications": []})))
        }
        ("action_command_notification", true) => {
            auth::require(req, Access::Control)?;
            errors::command(req, &["clear"])?;
            Ok(Response::no_content())
        }
        (_, true) => {
            auth::require(req, Access::Read)?;
            Err(Error::bad_request(
                "The browser (or proxy) sent a request that this server could not understand.",
            ))
        }
        _ => Err(Error::not_found(errors::NOT_FOUND)),
    }
}

/// `GET /plugin/{plugin}/…`: the bundled plugins' own pages of data.
pub fn blueprint(req: &Request) -> Result<Response, Error> {
    let path = req.path().trim_start_matches(req.mount());
    let (access, body) = match path.trim_end_matches('/') {
        "/plugin/pluginmanager/plugins" => (Access::Admin, {
            let mut out = environment();
            out["plugins"] = json!(plugin_entries());
            out
        }),
        "/plugin/pluginmanager/plugins/versions" => (Access::Read, {
            let versions: Map<String, Value> = PLUGINS
                .iter()
                .map(|(key, _)| (key.to_string(), Value::Null))
                .collect();
            Value::Object(versions)
        }),
        "/plugin/pluginmanager/orphans" => (Access::Admin, json!({"orphan_data": {}})),
        "/plugin/pluginmanager/repository" => (
            Access::Admin,
            json!({"repository": {"available": false, "plugins": []}}),
        ),
        "/plugin/pluginmanager/export" => (Access::Admin, json!([])),
        "/plugin/softwareupdate/check" => (
            Access::Control,
            json!({
                "status": "current",
                "information": {},
                "environment": {"supported": true, "versions": []},
                "storage": {"free": [], "sufficient": true},
                "timestamp": crate::clock::now_secs(),
            }),
        ),
        "/plugin/softwareupdate/updatelog" => (Access::Admin, json!({"updatelog": []})),
        "/plugin/logging" => (
            Access::Admin,
            json!({
                "logs": {"files": [], "free": null, "total": null},
                "setup": {"levels": {}, "loggers": []},
                "serial_log": {"enabled": false},
                "plugintimings_log": {"enabled": false},
            }),
        ),
        "/plugin/logging/logs" => (
            Access::Admin,
            json!({"files": [], "free": null, "total": null}),
        ),
        "/plugin/logging/setup" => (Access::Admin, json!({"levels": {}, "loggers": []})),
        "/plugin/logging/setup/levels" => (Access::Admin, json!({})),
        "/plugin/backup" => (
            Access::Admin,
            json!({
                "backups": [], "backup_in_progress": false, "restore_supported": false,
                "unknown_plugins": [], "max_upload_size": 0,
            }),
        ),
        "/plugin/backup/unknown_plugins" => (Access::Admin, json!({"unknown_plugins": []})),
        "/plugin/announcements/channels" => (Access::Admin, json!({"channels": []})),
        "/plugin/achievements" => (Access::Read, achievements()),
        _ => return Err(Error::not_found(errors::NOT_FOUND)),
    };
    auth::require(req, access)?;
    Ok(Response::ok_json(&body))
}

/// The achievements plugin's answer: every counter at zero (the farm keeps its statistics in
/// its own history), in the current year too.
fn achievements() -> Value {
    let counters = json!({
        "files_deleted": 0, "files_uploaded": 0, "last_version": OCTOPRINT_VERSION,
        "longest_print_date": 0, "longest_print_duration": 0.0, "most_plugins": PLUGINS.len(),
        "plugins_installed": 0, "plugins_uninstalled": 0, "print_duration_cancelled": 0.0,
        "print_duration_errored": 0.0, "print_duration_finished": 0.0,
        "print_duration_total": 0.0, "prints_cancelled": 0, "prints_errored": 0,
        "prints_finished": 0, "prints_started": 0, "prints_started_per_weekday": {},
        "seen_versions": 1, "server_starts": 1,
    });
    let mut stats = counters.clone();
    stats["created"] = json!(0);
    stats["created_version"] = json!(OCTOPRINT_VERSION);
    let mut year = counters;
    year["achievements"] = json!(0);
    year["year"] = json!(time::OffsetDateTime::now_utc().year());
    json!({
        "achievements": [],
        "hidden_achievements": 0,
        "stats": stats,
        "available_years": [],
        "current_year": year,
        "timezone": {"name": "UTC", "offset": 0},
    })
}

/// `GET /api/logs`: OctoPrint's old path, moved permanently to the logging plugin.
pub fn old_logs(req: &Request) -> Result<Response, Error> {
    Ok(Response::redirect(&req.url_for("/plugin/logging/logs")).with_status(301))
}
