//! What the server hears of a printer: status frames (on connect, on every state change and
//! print event, and periodically), the print they open and close through `current_print_ts`,
//! the G-code file id the status carries, and the notifications of `printer_events`.

use printfarm_sdk::events::{PrintChanged, PrintPhase};
use printfarm_sdk::printers::{self, PrinterInfo, Temperature};
use printfarm_sdk::{log, ws};

use crate::clock::{now_ms, now_s};
use crate::config::{Config, Server};
use crate::rest::{self, PrinterEvent};
use crate::snapshots;
use crate::status::{self, Event, PrintTs};
use crate::store::{Conn, Link, PrintSeen};

/// Whether a periodic frame is due.
pub fn status_due(config: &Config, conn: &Conn, info: Option<&PrinterInfo>, now: u64) -> bool {
    let printing = info.is_some_and(|i| i.state.is_busy());
    let interval = if printing {
        config.printing_status_interval_secs
    } else {
        config.status_interval_secs
    };
    now.saturating_sub(conn.last_status_ms) >= interval * 1000
}

/// Updates the print the server knows of from what the host says: a new print opens (and its
/// file is registered for its id), an ended one closes.
pub fn track_print(server: &Server, link: &Link, conn: &mut Conn, info: Option<&PrinterInfo>) {
    let running = info.and_then(|i| i.progress.as_ref().filter(|_| i.state.is_busy()));
    match (running, &conn.print) {
        (Some(p), Some(seen)) if seen.file == p.file => {}
        (Some(p), _) => {
            let started_s = (now_s() - p.elapsed_secs.max(0.0)).round() as i64;
            let g_code_file_id = match rest::g_code_file(server, &link.token, &p.file, p.file_size)
            {
                Ok(id) => id,
                Err(e) => {
                    log::warn(&format!(
                        "registering {} with the Obico server: {e}",
                        p.file
                    ));
                    None
                }
            };
            conn.print = Some(PrintSeen {
                started_s,
                file: p.file.clone(),
                g_code_file_id,
                paused_by_detection: false,
            });
        }
        (None, _) => conn.print = None,
    }
}

/// Sends one frame on the printer's socket. A failed send is logged; the socket's close hook
/// handles the reconnect.
pub fn send_frame(
    printer: &str,
    conn: &mut Conn,
    info: Option<&PrinterInfo>,
    event: Option<Event>,
) {
    let Some(socket) = conn.socket_id else { return };
    let print = match &conn.print {
        Some(seen) => PrintTs::Open(seen),
        None => PrintTs::Idle,
    };
    let frame = status::frame(info, print, event, now_s());
    match ws::send_text(socket, &frame.to_string()) {
        Ok(()) => {
            conn.last_status_ms = now_ms();
            if let Some(info) = info {
                conn.sent_temps = info
                    .temperatures
                    .iter()
                    .map(|t| (t.sensor.clone(), t.actual, t.target))
                    .collect();
            }
        }
        Err(e) => log::warn(&format!("printer {printer}: sending status: {e}")),
    }
}

/// How far a reading must move from the last frame's to be worth a frame of its own (°C).
pub const TEMPERATURE_STEP: f64 = 5.0;

/// The least time between two frames sent for temperatures (ms): heaters report every second
/// or two, and 50 printers must not flood the server.
pub const TEMPERATURE_FRAME_GAP_MS: u64 = 2_000;

/// Whether new readings differ enough from the last frame's to send one now: a target changed
/// (someone set a temperature), a sensor came or went, or a reading moved [`TEMPERATURE_STEP`].
pub fn temperatures_changed(sent: &[(String, f64, Option<f64>)], readings: &[Temperature]) -> bool {
    if sent.len() != readings.len() {
        return true;
    }
    readings.iter().any(
        |r| match sent.iter().find(|(sensor, _, _)| *sensor == r.sensor) {
            None => true,
            Some((_, actual, target)) => {
                *target != r.target || (r.actual - actual).abs() >= TEMPERATURE_STEP
            }
        },
    )
}

/// A print event for a linked, connected printer: the frames the agents send for it, and the
/// notification for the ends of a print.
pub fn print_changed(server: &Server, link: &Link, conn: &mut Conn, change: &PrintChanged) {
    let printer = change.printer.as_str();
    let info = printers::get(printer).ok();
    match change.phase {
        PrintPhase::Started => {
            conn.print = None;
            track_print(server, link, conn, info.as_ref());
            if conn.print.is_none() {
                // The host reported the start before the progress: open the print from the event.
                conn.print = Some(PrintSeen {
                    started_s: (now_s() - change.elapsed_secs.max(0.0)).round() as i64,
                    file: change.file.clone(),
                    g_code_file_id: None,
                    paused_by_detection: false,
                });
            }
            send_frame(printer, conn, info.as_ref(), Some(Event::PrintStarted));
        }
        PrintPhase::Paused => {
            // A failure-detection pause is notified by the server itself (FAILURE_ALERTED, then
            // PAUSED from this frame).
            send_frame(printer, conn, info.as_ref(), Some(Event::PrintPaused));
        }
        PrintPhase::Resumed => {
            if let Some(print) = conn.print.as_mut() {
                print.paused_by_detection = false;
            }
            send_frame(printer, conn, info.as_ref(), Some(Event::PrintResumed));
        }
        PrintPhase::Done => {
            // The server makes its own "Print Job Finished" event and notification of this frame.
            send_frame(printer, conn, info.as_ref(), Some(Event::PrintDone));
            conn.print = None;
            send_frame(printer, conn, info.as_ref(), None);
        }
        PrintPhase::Cancelled => {
            // As the agents: PrintCancelled, then PrintFailed, then current_print_ts -1. The
            // server makes its own "Print Job Canceled" event of them.
            send_frame(printer, conn, info.as_ref(), Some(Event::PrintCancelled));
            send_frame(printer, conn, info.as_ref(), Some(Event::PrintFailed));
            conn.print = None;
            send_frame(printer, conn, info.as_ref(), None);
        }
        PrintPhase::Failed => {
            send_frame(printer, conn, info.as_ref(), Some(Event::PrintFailed));
            // What the server cannot see in the frames: why the printer failed the print.
            notify(
                server,
                link,
                printer,
                &format!(
                    "{} failed on {printer}{}",
                    status::file_name(&change.file),
                    reason_suffix(change)
                ),
            );
            conn.print = None;
            send_frame(printer, conn, info.as_ref(), None);
        }
    }
}

fn reason_suffix(change: &PrintChanged) -> String {
    change
        .reason
        .as_deref()
        .map(|r| format!(": {r}"))
        .unwrap_or_default()
}

/// A `PRINTER_ERROR` event of `printer_events` (the server shows and notifies it as the agents'
/// printer errors), with a snapshot when the printer has a camera.
fn notify(server: &Server, link: &Link, printer: &str, text: &str) {
    let event = PrinterEvent {
        event_type: "PRINTER_ERROR",
        event_class: "ERROR",
        title: "Printer Error".to_string(),
        text: text.to_string(),
    };
    let jpeg = snapshots::take(printer);
    if let Err(e) = rest::printer_event(server, &link.token, &event, jpeg.as_deref()) {
        log::warn(&format!(
            "printer {printer}: sending the printer error to the Obico server: {e}"
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reading(sensor: &str, actual: f64, target: Option<f64>) -> Temperature {
        Temperature {
            sensor: sensor.into(),
            actual,
            target,
        }
    }

    #[test]
    fn a_new_target_or_a_big_move_is_worth_a_frame_and_noise_is_not() {
        let sent = vec![("tool0".to_string(), 20.0, Some(0.0))];
        assert!(!temperatures_changed(
            &sent,
            &[reading("tool0", 22.0, Some(0.0))]
        ));
        assert!(temperatures_changed(
            &sent,
            &[reading("tool0", 20.5, Some(210.0))]
        ));
        assert!(temperatures_changed(
            &sent,
            &[reading("tool0", 25.0, Some(0.0))]
        ));
        assert!(temperatures_changed(
            &sent,
            &[
                reading("tool0", 20.0, Some(0.0)),
                reading("bed", 20.0, None)
            ]
        ));
    }
}
