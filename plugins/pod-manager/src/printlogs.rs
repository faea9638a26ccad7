//! `GET /api/printlogs/`: print events per printer, newest first, each with the printer's
//! OctoPrint `host` and `port`, the `filename` and a `timestamp`:
//!
//! * `PrintStarted` and the ending (`PrintDone`, `PrintFailed`, `PrintCancelled`) come from the
//!   core's print history (`jobs::history`), one record per attempt, so they are complete even
//!   for prints that ran while the plugin was disabled. An `interrupted` attempt (the server
//!   stopped mid-print) ends in `PrintFailed`.
//! * `PrintPaused` and `PrintResumed` are not in the history: the plugin records them from the
//!   core's `print` events into kv (`printlog/<ms>-<printer>`), keeping the newest
//!   [`KEEP_EVENTS`].
//!
//! `?printer=<id>` keeps one printer's events.

use std::collections::HashMap;

use printfarm_sdk::events::{PrintChanged, PrintPhase};
use printfarm_sdk::jobs::{self, TaskState};
use printfarm_sdk::{kv, Error, Request, Response};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::auth;
use crate::printers::surfaces;
use crate::time::{now_ms, rfc3339_ms};

/// Pause and resume events kept in kv.
pub const KEEP_EVENTS: usize = 500;
/// History records read per listing.
const HISTORY_LIMIT: u32 = 500;

/// A pause or resume the plugin recorded.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Recorded {
    /// The printer.
    pub printer: String,
    /// `PrintPaused` or `PrintResumed`.
    pub event: String,
    /// The library file.
    pub file: String,
    /// When, Unix ms.
    pub ms: u64,
}

/// OctoPrint's event name for a print phase (the names the Pod Manager's logs used).
pub fn event_name(phase: PrintPhase) -> &'static str {
    match phase {
        PrintPhase::Started => "PrintStarted",
        PrintPhase::Paused => "PrintPaused",
        PrintPhase::Resumed => "PrintResumed",
        PrintPhase::Done => "PrintDone",
        PrintPhase::Failed => "PrintFailed",
        PrintPhase::Cancelled => "PrintCancelled",
    }
}

/// Records pauses and resumes (the rest is in the core's history).
pub fn on_print(p: &PrintChanged) {
    if !matches!(p.phase, PrintPhase::Paused | PrintPhase::Resumed) {
        return;
    }
    let ms = now_ms();
    let record = Recorded {
        printer: p.printer.clone(),
        event: event_name(p.phase).to_string(),
        file: p.file.clone(),
        ms,
    };
    if let Err(e) = kv::set_json(&format!("printlog/{ms:013}-{}", p.printer), &record) {
        printfarm_sdk::warn!("pod-manager: cannot record a print event: {e}");
        return;
    }
    // Keep the newest; the keys sort by time.
    if let Ok(keys) = kv::list_keys("printlog/", (KEEP_EVENTS * 2) as u32) {
        if keys.len() > KEEP_EVENTS {
            for k in &keys[..keys.len() - KEEP_EVENTS] {
                let _ = kv::delete(k);
            }
        }
    }
}

/// The last path component.
fn file_name(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

/// `GET /api/printlogs/`.
pub fn list(req: &Request) -> Result<Response, Error> {
    auth::require(req)?;
    let only = req.query_param("printer").filter(|p| !p.is_empty());
    let where_: HashMap<String, (String, u16)> = surfaces(req.base_url())?
        .into_iter()
        .map(|(p, s)| (p.id, (s.hostname, s.port)))
        .collect();
    // (time, printer, event, file)
    let mut events: Vec<(u64, String, String, String)> = Vec::new();

    let mut job_files: HashMap<String, String> = HashMap::new();
    for task in jobs::history(only.as_deref(), None, HISTORY_LIMIT)? {
        let Some(printer) = task.printer.clone() else {
            continue;
        };
        // The history's records name their job, not the file: one lookup per job.
        let file = job_files
            .entry(task.job_id.clone())
            .or_insert_with(|| {
                jobs::get(&task.job_id)
                    .map(|j| j.spec.file)
                    .unwrap_or_default()
            })
            .clone();
        if let Some(started) = task.started {
            events.push((
                started,
                printer.clone(),
                "PrintStarted".into(),
                file.clone(),
            ));
        }
        let end = match task.state {
            TaskState::Done => Some("PrintDone"),
            TaskState::Failed | TaskState::Interrupted => Some("PrintFailed"),
            TaskState::Cancelled => Some("PrintCancelled"),
            TaskState::Queued | TaskState::Running => None,
        };
        if let (Some(end), Some(finished)) = (end, task.finished) {
            events.push((finished, printer, end.into(), file));
        }
    }
    for key in kv::list_keys("printlog/", (KEEP_EVENTS * 2) as u32)? {
        if let Ok(Some(r)) = kv::get_json::<Recorded>(&key) {
            if only.as_ref().is_none_or(|p| *p == r.printer) {
                events.push((r.ms, r.printer, r.event, r.file));
            }
        }
    }
    // Newest first; at equal times the ending after the start it follows.
    events.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| rank(&b.2).cmp(&rank(&a.2))));

    let items: Vec<Value> = events
        .into_iter()
        .map(|(ms, printer, event, file)| {
            let (host, port) = where_.get(&printer).cloned().unwrap_or_default();
            json!({
                "printer": printer,
                "event": event,
                "host": host,
                "port": port,
                "filename": file_name(&file),
                "path": file,
                "timestamp": rfc3339_ms(ms),
            })
        })
        .collect();
    Ok(Response::ok_json(&items))
}

/// Order of events that share a millisecond: a print starts before it pauses, before it ends.
fn rank(event: &str) -> u8 {
    match event {
        "PrintStarted" => 0,
        "PrintPaused" => 1,
        "PrintResumed" => 2,
        _ => 3,
    }
}
