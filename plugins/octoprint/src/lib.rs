//! `octoprint`: every farm printer is an OctoPrint to its clients.
//!
//! Mounted once per printer (`/octoprint/{printer}`), this plugin answers OctoPrint's REST API
//! with OctoPrint's status codes, JSON shapes and quirks, so slicers (PrusaSlicer, OrcaSlicer,
//! Cura), Home Assistant and OctoPrint client libraries work unchanged. It is built only on the
//! SDK: keys are the farm's own API keys, the `local` file tree is the farm's G-code library,
//! and jobs run through the farm's printers.
//!
//! One module per idea: [`auth`] (keys) and [`csrf`] (OctoPrint's token for keyless changes),
//! [`errors`] (OctoPrint's error answers and body parsing), [`settings`] (version, server, login,
//! settings, connection), [`access`] (permissions, groups, users), [`profiles`] (printer
//! profiles), [`printer`], [`job`], [`files`] and [`file_stats`] (uploaders, print results),
//! [`system`], [`interface`] (what OctoPrint's own web client loads), [`timelapse`] (and
//! slicing), [`util_test`], [`bundled`] (the bundled plugins clients probe), [`web`] (the web
//! paths beside the API), [`downloads`] (logs, timelapses, system info), [`appkeys`] (the
//! application-key workflow, decided by the farm's admins) and [`push`] (the SockJS channel).

pub mod access;
pub mod appkeys;
pub mod auth;
pub mod bundled;
pub mod clock;
pub mod csrf;
pub mod downloads;
pub mod errors;
pub mod file_stats;
pub mod files;
pub mod interface;
pub mod job;
pub mod merge;
pub mod printer;
pub mod profiles;
pub mod push;
pub mod settings;
pub mod system;
pub mod timelapse;
pub mod util_test;
pub mod web;

use printfarm_sdk::events::Event;
use printfarm_sdk::push::{Connection, ConnectionId, Message};
use printfarm_sdk::{Plugin, Router};

/// The plugin. All its state (selected files, temperature offsets, push connections) lives in `kv`.
pub struct OctoPrint;

impl Plugin for OctoPrint {
    fn router() -> Router {
        // Exactly the routes of plugin.toml.
        Router::new()
            .get("/api/version", settings::version)
            .get("/api/server", settings::server)
            .post("/api/login", settings::login)
            .post("/api/logout", settings::logout)
            .get("/api/currentuser", settings::current_user)
            .route("GET,POST", "/api/settings", settings::settings)
            .route("GET,POST", "/api/connection", settings::connection)
            .get("/api/printer", printer::get)
            .route("GET,POST", "/api/printer/tool", printer::tool)
            .route("GET,POST", "/api/printer/bed", printer::bed)
            .route("GET,POST", "/api/printer/chamber", printer::chamber)
            .post("/api/printer/printhead", printer::printhead)
            .post("/api/printer/command", printer::command)
            .get("/api/printer/command/custom", printer::custom_controls)
            .get("/api/printer/error", printer::error)
            .route("GET,POST", "/api/printer/sd", printer::sd)
            .route("GET,POST", "/api/job", job::job)
            .get("/api/files", files::list_all)
            .route("GET,POST", "/api/files/{location}", files::location_root)
            .route(
                "GET,POST,DELETE",
                "/api/files/{location}/{*path}",
                files::file,
            )
            .get("/downloads/files/{location}/{*path}", files::download)
            .get("/downloads/logs", downloads::logs)
            .get("/downloads/logs/{name}", downloads::log_file)
            .get("/downloads/timelapses", downloads::timelapses)
            .get("/downloads/systeminfo.zip", downloads::system_info)
            .route("GET,POST", "/api/printerprofiles", profiles::list)
            .route(
                "GET,PATCH,DELETE",
                "/api/printerprofiles/{id}",
                profiles::one,
            )
            .get("/api/system/commands", system::commands)
            .get("/api/system/commands/{source}", system::commands_of)
            .post(
                "/api/system/commands/{source}/{action}",
                system::run_command,
            )
            .get("/api/system/info", system::info)
            .get("/api/system/usage", system::usage)
            .get("/api/system/startup", system::startup)
            .route("GET,POST", "/api/setup/wizard", interface::wizard)
            .get("/api/settings/templates", interface::templates)
            .route("GET,POST", "/api/languages", interface::languages)
            .route("GET,POST", "/api/timelapse", timelapse::list)
            .get("/api/timelapse/{name}", timelapse::one)
            .get("/api/slicing", timelapse::slicers)
            .get("/api/slicing/{slicer}/profiles", timelapse::profiles)
            .post("/api/system", system::old_command)
            .get("/recovery", web::recovery)
            .get("/", web::index)
            .get("/login", web::login)
            .get("/login/", web::login)
            .get("/online.txt", web::online_txt)
            .get("/online.gif", web::pixel)
            .get("/cached.gif", web::pixel)
            .get("/robots.txt", web::robots)
            .get("/reverse_proxy_test/", web::reverse_proxy_test)
            .get("/plugin/discovery/discovery.xml", web::discovery_xml)
            .post("/api/util/test", util_test::run)
            .get("/api/access/permissions", access::permissions)
            .get("/api/access/groups", access::groups)
            .get("/api/access/users/{name}", access::user)
            .get("/api/users", access::old_users)
            .get("/api/users/{name}", access::old_users)
            .route("GET,POST", "/api/plugin/{plugin}", bundled::simple_api)
            .get("/plugin/pluginmanager/plugins", bundled::blueprint)
            .get("/plugin/pluginmanager/plugins/versions", bundled::blueprint)
            .get("/plugin/pluginmanager/orphans", bundled::blueprint)
            .get("/plugin/pluginmanager/repository", bundled::blueprint)
            .get("/plugin/pluginmanager/export", bundled::blueprint)
            .get("/plugin/softwareupdate/check", bundled::blueprint)
            .get("/plugin/softwareupdate/updatelog", bundled::blueprint)
            .get("/plugin/logging/", bundled::blueprint)
            .get("/plugin/logging/logs", bundled::blueprint)
            .get("/plugin/logging/setup", bundled::blueprint)
            .get("/plugin/logging/setup/levels", bundled::blueprint)
            .get("/plugin/backup/", bundled::blueprint)
            .get("/plugin/backup/unknown_plugins", bundled::blueprint)
            .get("/plugin/announcements/channels", bundled::blueprint)
            .get("/plugin/achievements/", bundled::blueprint)
            .get("/api/logs", bundled::old_logs)
            .get("/sockjs/info", push::info)
            .get("/plugin/appkeys/probe", appkeys::probe)
            .post("/plugin/appkeys/request", appkeys::request)
            .get("/plugin/appkeys/request/{app_token}", appkeys::poll)
    }

    // The push channel (SockJS); see the `push` module.
    fn on_event(event: Event) {
        file_stats::on_event(&event);
        push::on_event(event)
    }

    fn on_tick() {
        settings::finish_pending_disconnects();
        push::on_tick()
    }

    fn on_push_open(conn: &Connection) -> Result<(), String> {
        push::on_open(conn)
    }

    fn on_push_message(conn: ConnectionId, msg: Message) {
        push::on_message(conn, msg)
    }

    fn on_push_close(conn: ConnectionId) {
        push::on_close(conn)
    }
}

printfarm_sdk::export_plugin!(OctoPrint);

#[cfg(test)]
mod tests {
    use super::*;

    /// The router must serve exactly the manifest's routes.
    #[test]
    fn router_matches_manifest() {
        let manifest = include_str!("../plugin.toml");
        let table = OctoPrint::router().route_table();
        for route in &table {
            assert!(
                manifest.contains(&format!("\"{route}\"")),
                "{route} is not in plugin.toml"
            );
        }
        let declared = manifest.matches("\"GET").count() + manifest.matches("\"POST").count();
        assert_eq!(declared, table.len());
    }
}
