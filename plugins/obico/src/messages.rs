//! What the server sends down a printer's socket: commands (pause, resume, cancel; a `system`
//! pause is the failure detector's), `remote_status` updates (someone views the printer, the
//! detector watches it) and passthru calls. A malformed frame is logged and ignored; the link
//! stays up.

use printfarm_sdk::{log, printers, ws};
use serde_json::{json, Value};

use crate::store::Conn;
use crate::{passthru, pause_moves};

/// What the history records for a pause of Obico's failure detection.
pub const DETECTION_PAUSE_REASON: &str = "Obico's failure detection paused the print";

/// Handles one text frame from the server for `printer`.
pub fn handle(printer: &str, socket: u64, conn: &mut Conn, text: &str) {
    let message: Value = match serde_json::from_str(text) {
        Ok(Value::Object(map)) => Value::Object(map),
        Ok(_) | Err(_) => {
            log::warn(&format!(
                "printer {printer}: ignored a malformed frame from the Obico server: {}",
                excerpt(text)
            ));
            return;
        }
    };
    let mut understood = false;
    if let Some(remote) = message.get("remote_status").and_then(Value::as_object) {
        understood = true;
        if let Some(viewing) = remote.get("viewing").and_then(Value::as_bool) {
            if viewing && !conn.viewing {
                conn.pic_due = true;
            }
            conn.viewing = viewing;
        }
        if let Some(watch) = remote.get("should_watch").and_then(Value::as_bool) {
            conn.should_watch = watch;
        }
    }
    if let Some(commands) = message.get("commands") {
        understood = true;
        match commands.as_array() {
            Some(list) => {
                for command in list {
                    run_command(printer, conn, command);
                }
            }
            None => log::warn(&format!(
                "printer {printer}: `commands` from the Obico server is not a list: {}",
                excerpt(text)
            )),
        }
    }
    if let Some(call) = message.get("passthru") {
        understood = true;
        let reply = passthru::call(printer, call);
        if let Err(e) = ws::send_text(socket, &json!({ "passthru": reply }).to_string()) {
            log::warn(&format!(
                "printer {printer}: answering a passthru call: {e}"
            ));
        }
    }
    if !understood {
        // `janus`, tunnels and future messages: not offered by this agent.
        log::debug(&format!(
            "printer {printer}: ignored a message this agent does not handle: {}",
            excerpt(text)
        ));
    }
}

fn run_command(printer: &str, conn: &mut Conn, command: &Value) {
    let cmd = command
        .get("cmd")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let system = command.get("initiator").and_then(Value::as_str) == Some("system");
    let args = command.get("args").cloned().unwrap_or(Value::Null);
    let result = match cmd {
        "pause" => {
            let result = if system {
                if let Some(print) = conn.print.as_mut() {
                    print.paused_by_detection = true;
                }
                printers::pause_with_reason(printer, DETECTION_PAUSE_REASON)
            } else {
                printers::pause(printer)
            };
            if result.is_ok() {
                conn.pause_moves = pause_moves::after_pause(printer, &args);
            }
            result
        }
        "resume" => {
            if let Some(moves) = conn.pause_moves.take() {
                pause_moves::before_resume(printer, &moves);
            }
            printers::resume(printer)
        }
        "cancel" => {
            conn.pause_moves = None;
            printers::cancel(printer)
        }
        other => {
            log::warn(&format!(
                "printer {printer}: the Obico server sent the unknown command `{other}`; ignored"
            ));
            return;
        }
    };
    match result {
        Ok(()) => log::info(&format!(
            "printer {printer}: {cmd} from the Obico server{}",
            if system { " (failure detection)" } else { "" }
        )),
        Err(e) => log::warn(&format!(
            "printer {printer}: the Obico server's {cmd} failed: {e}"
        )),
    }
}

/// The first 200 characters of a frame, for the log.
fn excerpt(text: &str) -> String {
    match text.char_indices().nth(200) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remote_status_updates_are_partial_and_viewing_asks_for_a_picture() {
        printfarm_sdk::testing::reset();
        let mut conn = Conn::default();
        handle(
            "p1",
            1,
            &mut conn,
            r#"{"remote_status":{"viewing":true},"type":"printer.message"}"#,
        );
        assert!(conn.viewing && conn.pic_due && !conn.should_watch);
        conn.pic_due = false;
        handle(
            "p1",
            1,
            &mut conn,
            r#"{"remote_status":{"should_watch":true}}"#,
        );
        assert!(conn.viewing && conn.should_watch && !conn.pic_due);
    }

    #[test]
    fn malformed_frames_change_nothing() {
        printfarm_sdk::testing::reset();
        let mut conn = Conn::default();
        for text in [
            "not json",
            "[1,2]",
            r#"{"commands": 5}"#,
            r#"{"remote_status": "x"}"#,
            "",
        ] {
            handle("p1", 1, &mut conn, text);
        }
        assert_eq!(conn, Conn::default());
    }
}
