//! Snapshots for the server's failure detection and the app: every 10 s while someone views
//! the printer or the server asks to watch it, every 120 s otherwise, and at once when viewing
//! starts. The host takes the picture (the printer's camera, or a generated one for a virtual
//! printer); a printer without a camera sends none.

use printfarm_sdk::{camera, log};

use crate::config::{Config, Server};
use crate::rest::{self, RestError};
use crate::store::{Conn, Link};

/// Whether a snapshot of this printer is due.
pub fn due(config: &Config, conn: &Conn, now: u64) -> bool {
    if conn.pic_due {
        return true;
    }
    let interval = if conn.viewing || conn.should_watch {
        config.viewing_snapshot_interval_secs
    } else {
        config.snapshot_interval_secs
    };
    now.saturating_sub(conn.last_pic_ms) >= interval * 1000
}

/// The printer's snapshot as JPEG bytes, `None` when it has no camera or the camera failed
/// (logged: a camera that answers HTML or an oversized picture is the operator's to fix).
pub fn take(printer: &str) -> Option<Vec<u8>> {
    match camera::snapshot(printer) {
        Ok(snapshot) => Some(snapshot.data),
        Err(e) if e.is_not_found() => None,
        Err(e) => {
            log::warn(&format!("printer {printer}: no snapshot: {e}"));
            None
        }
    }
}

/// Takes and uploads a snapshot. Returns `false` when the server throttled uploads.
///
/// Only the picture sent at once when viewing starts is a `viewing_boost` one: the server skips
/// failure detection on those, so the regular pictures of a watched print must go without it
/// (as the Obico agents send them).
pub fn post(server: &Server, link: &Link, printer: &str, conn: &mut Conn, now: u64) -> bool {
    let boost = std::mem::take(&mut conn.pic_due) && conn.viewing;
    conn.last_pic_ms = now;
    let Some(jpeg) = take(printer) else {
        return true;
    };
    match rest::pic(server, &link.token, &jpeg, boost) {
        Ok(_) => true,
        Err(RestError::Throttled(_)) => false,
        Err(e) => {
            log::warn(&format!("printer {printer}: uploading a snapshot: {e}"));
            true
        }
    }
}
