//! One websocket per linked printer (`/ws/dev/`), owned by the host: opened when a printer is
//! linked, reopened with the agents' capped, jittered backoff when it drops, left alone when the
//! server says the token connected from elsewhere (4321), and ended when the server refuses
//! the token (the printer was deleted there).

use printfarm_sdk::{log, ws};

use crate::clock::{backoff_ms, now_ms};
use crate::config::Server;
use crate::linking;
use crate::store::{self, Conn, Link, Socket};

/// The close code the server uses when the same token connected again elsewhere.
pub const USED_ELSEWHERE: u16 = 4321;

/// What the server's refusal of a handshake looks like in the host's error (0.1.2 promises the
/// status as `HTTP <code>`).
fn refused_token(message: &str) -> bool {
    message.contains("HTTP 401") || message.contains("HTTP 403")
}

/// Brings a printer's socket in line with its link: closes a socket of an old token or of a
/// printer no longer linked, and opens one when it is due. Returns whether a socket opened now
/// (its first status frame is then due at once).
pub fn reconcile(printer: &str, link: Option<&Link>, server: &Server, conn: &mut Conn) -> bool {
    let now = now_ms();
    let current = link.filter(|l| l.server == server.base);
    if let (Some(link), None) = (link, current) {
        // A new server does not know the old server's token.
        linking::unlink(
            printer,
            Some(format!(
                "the Obico server changed from {} to {}: link this printer again",
                link.server, server.base
            )),
        );
    }
    let token = current.map(|l| l.token.as_str());
    if conn.token.as_deref() != token {
        close(printer, conn, "the printer's link changed");
        *conn = Conn {
            token: token.map(str::to_string),
            ..Conn::default()
        };
    }
    let Some(token) = token else {
        return false;
    };
    if conn.socket != Socket::Closed || now < conn.retry_at_ms {
        return false;
    }
    match ws::connect(
        &server.websocket,
        &[("authorization", &format!("bearer {token}"))],
    ) {
        Ok(socket) => {
            conn.socket = Socket::Open;
            conn.socket_id = Some(socket);
            conn.attempts = 0;
            conn.error = None;
            conn.error_at_ms = None;
            conn.viewing = false;
            conn.should_watch = false;
            conn.last_status_ms = 0;
            if let Err(e) = store::save_socket_printer(socket, printer) {
                log::error(&format!(
                    "cannot remember socket {socket} of printer {printer}: {e}"
                ));
            }
            log::info(&format!(
                "printer {printer} connected to {}",
                server.websocket
            ));
            true
        }
        Err(e) if refused_token(e.message()) => {
            let reason = format!(
                "the Obico server refused the printer's token ({}): the printer was deleted on the server; link it again",
                e.message()
            );
            log::warn(&format!("printer {printer}: {reason}"));
            linking::unlink(printer, Some(reason));
            *conn = Conn::default();
            false
        }
        Err(e) => {
            failed(
                conn,
                format!("cannot connect to {}: {}", server.websocket, e.message()),
            );
            false
        }
    }
}

/// Records a failed or dropped connection and schedules the next attempt.
fn failed(conn: &mut Conn, error: String) {
    let now = now_ms();
    conn.attempts = conn.attempts.saturating_add(1);
    conn.retry_at_ms = now + backoff_ms(conn.attempts);
    conn.error = Some(error);
    conn.error_at_ms = Some(now);
}

/// Closes the printer's socket, if it has one.
pub fn close(printer: &str, conn: &mut Conn, why: &str) {
    if let Some(socket) = conn.socket_id.take() {
        let _ = ws::close(socket, 1000, why);
        store::clear_socket(socket);
        log::info(&format!(
            "printer {printer}: closed its Obico socket ({why})"
        ));
    }
    conn.socket = Socket::Closed;
}

/// The server (or the network) closed a printer's socket.
pub fn closed(printer: &str, conn: &mut Conn, code: u16, reason: &str) {
    conn.socket_id = None;
    if code == USED_ELSEWHERE {
        conn.socket = Socket::UsedElsewhere;
        conn.error = Some(format!(
            "the server closed the socket with {code}: the printer's token connected from elsewhere (another agent uses it). Not reconnecting; unlink and link the printer again to take it back"
        ));
        conn.error_at_ms = Some(now_ms());
        log::warn(&format!(
            "printer {printer}: {}",
            conn.error.as_deref().unwrap_or_default()
        ));
        return;
    }
    conn.socket = Socket::Closed;
    let why = if reason.is_empty() {
        format!("the socket closed ({code})")
    } else {
        format!("the socket closed ({code} {reason})")
    };
    failed(conn, why);
    log::info(&format!(
        "printer {printer}: Obico socket closed ({code}); reconnecting in {} ms",
        conn.retry_at_ms.saturating_sub(now_ms())
    ));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_4321_stops_reconnecting_and_other_closes_back_off() {
        printfarm_sdk::testing::reset();
        let mut conn = Conn {
            socket: Socket::Open,
            socket_id: Some(3),
            ..Conn::default()
        };
        closed("p1", &mut conn, USED_ELSEWHERE, "");
        assert_eq!(conn.socket, Socket::UsedElsewhere);
        assert!(conn.error.as_deref().unwrap().contains("elsewhere"));

        let mut conn = Conn {
            socket: Socket::Open,
            socket_id: Some(4),
            attempts: 5,
            ..Conn::default()
        };
        let before = now_ms();
        closed("p1", &mut conn, 1006, "");
        assert_eq!(conn.socket, Socket::Closed);
        assert_eq!(conn.attempts, 6);
        // 2^(6-3) s = 8 s, times 0.5 to 1.5.
        let wait = conn.retry_at_ms - before;
        assert!((3_900..=12_100).contains(&wait), "{wait}");
    }

    #[test]
    fn handshake_refusals_are_told_from_other_failures() {
        assert!(refused_token(
            "websocket handshake with ws://x/ws/dev/ refused: HTTP 403 Forbidden"
        ));
        assert!(!refused_token(
            "websocket handshake with ws://x/ws/dev/ refused: HTTP 500 Internal Server Error"
        ));
        assert!(!refused_token("connection refused"));
    }
}
