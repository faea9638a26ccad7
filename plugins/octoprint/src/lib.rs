//! `octoprint`: every farm printer is an OctoPrint to its clients.
//!
//! Mounted once per printer (`/octoprint/{printer}`), this plugin answers OctoPrint's REST API
//! with OctoPrint's status codes, JSON shapes and quirks, so slicers (PrusaSlicer, OrcaSlicer,
//! Cura), Home Assistant and OctoPrint client libraries work unchanged. It is built only on the
//! SDK: keys are the farm's own API keys, the `local` file tree is the farm's G-code library,
//! and jobs run through the farm's printers.
//!
//! One module per idea: [`auth`] (keys), [`errors`] (OctoPrint's error answers and body
//! parsing), [`settings`] (server-level endpoints), [`printer`], [`job`], [`files`],
//! [`appkeys`] (the application-key workflow, decided by the farm's admins) and [`push`] (the
//! SockJS channel).

pub mod appkeys;
pub mod auth;
pub mod errors;
pub mod files;
pub mod job;
pub mod printer;
pub mod push;
pub mod settings;

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
            .get("/api/currentuser", settings::current_user)
            .get("/api/settings", settings::settings)
            .route("GET,POST", "/api/connection", settings::connection)
            .get("/api/printer", printer::get)
            .post("/api/printer/tool", printer::tool)
            .post("/api/printer/bed", printer::bed)
            .post("/api/printer/chamber", printer::chamber)
            .post("/api/printer/printhead", printer::printhead)
            .post("/api/printer/command", printer::command)
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
            .get("/api/printerprofiles", settings::printer_profiles)
            .get("/api/system/commands", settings::system_commands)
            .post(
                "/api/system/commands/{source}/{action}",
                settings::system_command,
            )
            .get("/sockjs/info", push::info)
            .get("/plugin/appkeys/probe", appkeys::probe)
            .post("/plugin/appkeys/request", appkeys::request)
            .get("/plugin/appkeys/request/{app_token}", appkeys::poll)
    }

    // The push channel (SockJS); see the `push` module.
    fn on_event(event: Event) {
        push::on_event(event)
    }

    fn on_tick() {
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
