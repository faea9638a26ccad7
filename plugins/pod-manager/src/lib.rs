//! `pod-manager`: the Type A Machines Pod Manager API (a Django REST Framework server for a
//! "pod" of OctoPrint printers) over the whole farm, mounted at the root (`/api/…`,
//! `/accounts/…`) as the original was.
//!
//! One pod is one farm: printers are the farm's printers, each reached through the OctoPrint
//! surface (plugin `octoprint`); files are the farm library; a transfer with `print` queues farm
//! jobs; print logs are the farm's print history. One module per idea: [`auth`] (who calls),
//! [`accounts`] (login, logout, sessions, CSRF tokens), [`drf`] (DRF's answers), [`printers`],
//! [`files`], [`transfer`], [`printlogs`], [`status`] (the multiplexed status websocket),
//! [`browsable`] (HTML pages for browsers), [`time`], [`config`].

pub mod accounts;
pub mod auth;
pub mod browsable;
pub mod config;
pub mod drf;
pub mod files;
pub mod printers;
pub mod printlogs;
pub mod sessions;
pub mod status;
pub mod time;
pub mod transfer;

use printfarm_sdk::events::Event;
use printfarm_sdk::push::{Connection, ConnectionId};
use printfarm_sdk::{Plugin, Request, Response, Router};

/// How often (by the wall clock) the timer sweeps state that nothing owns any more.
const SWEEP_MS: u64 = 60_000;

/// The plugin. Its state (file index, session CSRF tokens, print events, sockets) lives in kv.
pub struct PodManager;

impl Plugin for PodManager {
    fn router() -> Router {
        // Exactly the routes of plugin.toml.
        Router::new()
            .route("GET,POST", "/accounts/login/", accounts::login)
            .get("/accounts/logout/", accounts::logout)
            .get("/api", browsable::api_root)
            .get("/api/", browsable::api_root)
            .get("/api/printers/", printers::list)
            .get("/api/printers/{id}/", printers::get)
            .route(
                "GET,POST,PUT,PATCH,DELETE",
                "/api/printers/{id}/{*path}",
                printers::proxy,
            )
            .post("/api/printers/transfer", transfer::transfer)
            .route("GET,POST", "/api/files/", files::files)
            .get("/api/files/{id}/", files::get)
            .get("/api/printlogs/", printlogs::list)
            .get("/uploads/{id}/{name}", files::download)
            .on_error(drf::on_error)
    }

    /// Dispatches, then adds what DRF adds: `Vary: Accept` on the API, and the HTML page for
    /// browsers.
    fn handle(req: &Request) -> Response {
        let res = printfarm_sdk::dispatch::<Self>(req);
        if !req.path().starts_with("/api") {
            return res;
        }
        let res = res.with_header("vary", "Accept");
        if browsable::wants_html(req) {
            browsable::wrap(req, res)
        } else {
            res
        }
    }

    fn init(config: &serde_json::Value) -> Result<(), String> {
        serde_json::from_value::<config::Config>(config.clone())
            .map(|_| ())
            .map_err(|e| format!("invalid configuration: {e}"))
    }

    fn on_event(event: Event) {
        if let Event::Print(p) = &event {
            printlogs::on_print(p);
        }
        status::on_event(event);
    }

    fn on_tick() {
        let now = time::now_ms();
        // Roughly once a minute, with no state needed to schedule it.
        if now % SWEEP_MS < 1000 {
            accounts::sweep();
            status::sweep();
        }
        status::on_tick();
    }

    fn on_push_open(conn: &Connection) -> Result<(), String> {
        status::on_open(conn)
    }

    fn on_push_close(conn: ConnectionId) {
        status::on_close(conn)
    }
}

printfarm_sdk::export_plugin!(PodManager);

#[cfg(test)]
mod tests {
    use super::*;

    /// The router must serve exactly the manifest's routes.
    #[test]
    fn router_matches_manifest() {
        let manifest = include_str!("../plugin.toml");
        let table = PodManager::router().route_table();
        for route in &table {
            assert!(
                manifest.contains(&format!("\"{route}\"")),
                "{route} is not in plugin.toml"
            );
        }
        let declared = manifest.matches("\n    \"").count();
        assert_eq!(declared, table.len());
    }

    #[test]
    fn anonymous_requests_get_drf_403() {
        let res = PodManager::handle(&Request::builder("GET", "/api/files/").build());
        // Natively the auth host calls are unavailable, but no credentials means no host call.
        assert_eq!(res.status(), 403);
        assert_eq!(
            res.body_json::<serde_json::Value>().unwrap(),
            serde_json::json!({"detail": drf::NOT_AUTHENTICATED})
        );
        let res = PodManager::handle(&Request::builder("DELETE", "/api/files/").build());
        assert_eq!(res.status(), 405);
    }
}
