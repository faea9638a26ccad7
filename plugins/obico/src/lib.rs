//! `obico`: every farm printer is an Obico agent, all from this one plugin.
//!
//! Each linked printer has its own identity on the Obico server (an auth token), its own
//! websocket (held by the host), and reports as OctoPrint-Obico would: status frames, print
//! events, snapshots, notifications; the server pauses, resumes and cancels prints and calls
//! the printer through passthru. The server is the Obico cloud or a self-hosted obico-server:
//! only the base URL differs.
//!
//! Where things are:
//! - [`config`]: the operator's settings and the server URL;
//! - [`linking`]: the three ways a printer is linked;
//! - [`connection`]: the websockets, their backoff, 4321 and refused tokens;
//! - [`status`] and [`reporting`]: the frames and when they go;
//! - [`messages`] and [`passthru`]: what the server sends;
//! - [`snapshots`]: the pictures; [`rest`]: the server's REST API;
//! - [`api`]: the plugin's routes; [`page`]: its web page; [`store`]: what outlives a call.

pub mod api;
pub mod clock;
pub mod config;
pub mod connection;
pub mod form_data;
pub mod linking;
pub mod messages;
pub mod page;
pub mod passthru;
pub mod pause_moves;
pub mod reporting;
pub mod rest;
pub mod snapshots;
pub mod status;
pub mod store;

use printfarm_sdk::events::Event;
use printfarm_sdk::push::Message;
use printfarm_sdk::ws::SocketId;
use printfarm_sdk::{log, printers, Plugin, Router};

use crate::clock::now_ms;
use crate::config::Config;
use crate::store::Socket;

/// Snapshots uploaded in one tick at most, so that a tick stays short with many printers (the
/// rest go on the next ticks).
const SNAPSHOTS_PER_TICK: usize = 4;

/// The plugin. Everything it knows between calls is in kv (see [`store`]).
pub struct Obico;

impl Plugin for Obico {
    fn router() -> Router {
        Router::new()
            .get("/", page::show)
            .get("/api/printers", api::list)
            .get("/api/printers/{id}", api::one)
            .post("/api/printers/{id}/link", api::link)
            .delete("/api/printers/{id}/link", api::unlink)
            .post("/api/printers/{id}/passcode", api::passcode)
            .get("/api/server", api::get_server)
            .put("/api/server", api::put_server)
            .get("/plugin/obico/grab-discovery-secret", api::discovery_secret)
    }

    fn init(config: &serde_json::Value) -> Result<(), String> {
        let config: Config =
            serde_json::from_value(config.clone()).map_err(|e| format!("invalid config: {e}"))?;
        let server = api::current_server(&config)?;
        // The host checks the config's URL against the grants before start; a server set at
        // run time is checked again here, in case the grants changed since.
        printfarm_sdk::http::check(&server.base).map_err(|e| e.into_message())?;
        Ok(())
    }

    fn on_tick() {
        tick();
    }

    fn on_event(event: Event) {
        let Some(printer) = event.printer().map(str::to_string) else {
            return;
        };
        let config = Config::load();
        if !config.includes(&printer) {
            return;
        }
        let mut conns = store::conns();
        let Some(conn) = conns.get_mut(&printer).filter(|c| c.socket == Socket::Open) else {
            return;
        };
        // Temperature reports are the frequent events: most end here, with nothing else read.
        if let Event::Temperatures(report) = &event {
            let now = now_ms();
            if now.saturating_sub(conn.last_status_ms) < reporting::TEMPERATURE_FRAME_GAP_MS
                || !reporting::temperatures_changed(&conn.sent_temps, &report.readings)
            {
                return;
            }
            let info = printers::get(&printer).ok();
            reporting::send_frame(&printer, conn, info.as_ref(), None);
            store::save_conns(&conns);
            return;
        }
        let Some(link) = store::link(&printer) else {
            return;
        };
        let Ok(server) = api::current_server(&config) else {
            return;
        };
        match &event {
            Event::Print(change) => reporting::print_changed(&server, &link, conn, change),
            _ => {
                let info = printers::get(&printer).ok();
                reporting::track_print(&server, &link, conn, info.as_ref());
                reporting::send_frame(&printer, conn, info.as_ref(), None);
            }
        }
        store::save_conns(&conns);
    }

    fn on_socket_message(socket: SocketId, msg: Message) {
        let Some(printer) = store::socket_printer(socket) else {
            return;
        };
        let Some(text) = msg.as_text() else {
            log::debug(&format!(
                "printer {printer}: ignored a binary frame from the Obico server"
            ));
            return;
        };
        let mut conns = store::conns();
        let conn = conns.entry(printer.clone()).or_default();
        messages::handle(&printer, socket, conn, text);
        store::save_conns(&conns);
    }

    fn on_socket_close(socket: SocketId, code: u16, reason: String) {
        let Some(printer) = store::socket_printer(socket) else {
            return;
        };
        store::clear_socket(socket);
        let mut conns = store::conns();
        if let Some(conn) = conns.get_mut(&printer) {
            if conn.socket_id == Some(socket) {
                connection::closed(&printer, conn, code, &reason);
                store::save_conns(&conns);
            }
        }
    }
}

/// The plugin's clock: sockets opened and closed, status frames and snapshots when due, one
/// anonymous poll for an unlinked printer when due.
fn tick() {
    let config = Config::load();
    let server = match api::current_server(&config) {
        Ok(server) => server,
        Err(e) => {
            log::error(&e);
            return;
        }
    };
    let infos = match printers::list() {
        Ok(infos) => infos,
        Err(e) => {
            log::warn(&format!("cannot list the printers: {e}"));
            return;
        }
    };
    let mut conns = store::conns();
    let before = conns.clone();
    let mut snapshots_left = SNAPSHOTS_PER_TICK;
    for info in &infos {
        if !config.includes(&info.id) {
            if let Some(mut conn) = conns.remove(&info.id) {
                connection::close(&info.id, &mut conn, "the printer no longer takes part");
            }
            continue;
        }
        let link = store::link(&info.id);
        let conn = conns.entry(info.id.clone()).or_default();
        let opened = connection::reconcile(&info.id, link.as_ref(), &server, conn);
        let Some(link) = link.filter(|l| l.server == server.base) else {
            continue;
        };
        if conn.socket != Socket::Open {
            continue;
        }
        let now = now_ms();
        if opened || reporting::status_due(&config, conn, Some(info), now) {
            reporting::track_print(&server, &link, conn, Some(info));
            reporting::send_frame(&info.id, conn, Some(info), None);
        }
        if snapshots_left > 0 && snapshots::due(&config, conn, now) {
            snapshots_left -= 1;
            if !snapshots::post(&server, &link, &info.id, conn, now) {
                // Throttled: no more uploads this tick.
                snapshots_left = 0;
            }
        }
    }
    // Printers removed from the farm.
    conns.retain(|id, conn| {
        let present = infos.iter().any(|i| &i.id == id);
        if !present {
            connection::close(id, conn, "the printer left the farm");
        }
        present
    });
    if conns != before {
        store::save_conns(&conns);
    }
    linking::poll(&config, &server, &infos);
}

printfarm_sdk::export_plugin!(Obico);
