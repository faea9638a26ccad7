//! `/api/job` and the selected file: OctoPrint's "one file selected, then printed" model on top
//! of the farm's printers. Starting maps to `printers::start_print`, which queues a single-copy
//! task for this printer ahead of everything and starts it at once.

use printfarm_sdk::files::{self, FileInfo};
use printfarm_sdk::jobs::{self, TaskState};
use printfarm_sdk::printers::{self, PrinterInfo, PrinterState};
use printfarm_sdk::{kv, Error, Request, Response};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::auth::{self, Access};
use crate::errors::{self, host, not_operational};
use crate::printer::{is_operational, state_text};

/// The file selected on a printer, kept in kv because no call can count on another's memory.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Selection {
    /// The library path.
    pub path: String,
    /// Whether it was started since it was selected: then the last print of it on this
    /// printer is "the job" OctoPrint keeps reporting after it ends.
    #[serde(default)]
    pub started: bool,
}

/// The kv key of a printer's selection.
fn key(printer: &str) -> String {
    format!("selected/{printer}")
}

/// The printer's selected file.
pub fn selection(printer: &str) -> Result<Option<Selection>, Error> {
    kv::get_json(&key(printer)).map_err(host)
}

/// Selects a file (not yet started).
pub fn select(printer: &str, path: &str) -> Result<(), Error> {
    let sel = Selection {
        path: path.to_string(),
        started: false,
    };
    kv::set_json(&key(printer), &sel).map_err(host)
}

/// Clears the selection.
pub fn unselect(printer: &str) -> Result<(), Error> {
    kv::delete(&key(printer)).map_err(host)
}

/// Starts printing `path` now and marks the selection as started.
pub fn start(printer: &str, path: &str) -> Result<(), Error> {
    crate::settings::forget_pending_disconnect(printer)?;
    printers::start_print(printer, path).map_err(host)?;
    kv::set_json(
        &key(printer),
        &Selection {
            path: path.to_string(),
            started: true,
        },
    )
    .map_err(host)
}

/// OctoPrint's empty job and progress, when nothing is selected.
fn empty_job() -> (Value, Value) {
    (
        json!({
            "file": {"name": null, "path": null, "display": null, "origin": null, "size": null, "date": null},
            "estimatedPrintTime": null,
            "averagePrintTime": null,
            "lastPrintTime": null,
            "filament": null,
            "user": null,
        }),
        json!({
            "completion": null,
            "filepos": null,
            "printTime": null,
            "printTimeLeft": null,
            "printTimeLeftOrigin": null,
        }),
    )
}

/// The `job` object for a file.
fn job_object(path: &str, info: Option<&FileInfo>, times: (Option<f64>, Option<f64>)) -> Value {
    let name = path.rsplit('/').next().unwrap_or(path);
    let a = info.and_then(|i| i.analysis.as_ref());
    let filament = a.map(|a| {
        let mut m = serde_json::Map::new();
        for (i, mm) in a.filament_mm.iter().enumerate() {
            let r = 0.175 / 2.0;
            let volume = std::f64::consts::PI * r * r * (mm / 10.0);
            m.insert(format!("tool{i}"), json!({"length": mm, "volume": volume}));
        }
        Value::Object(m)
    });
    json!({
        "file": {
            "name": name,
            "path": path,
            "display": name,
            "origin": "local",
            "size": info.map(|i| i.size),
            "date": info.map(|i| i.modified / 1000),
        },
        "estimatedPrintTime": a.and_then(|a| a.estimated_print_secs),
        "averagePrintTime": times.0,
        "lastPrintTime": times.1,
        "filament": filament,
        "user": null,
    })
}

/// `averagePrintTime` and `lastPrintTime` of a file on this printer, from the farm's history of
/// successful prints, and the printer's newest ended task of the file.
fn history(printer: &str, path: &str) -> (Option<f64>, Option<f64>, Option<jobs::TaskInfo>) {
    let Ok(tasks) = jobs::history(Some(printer), Some(path), 10) else {
        return (None, None, None);
    };
    let durations: Vec<f64> = tasks
        .iter()
        .filter(|t| t.state == TaskState::Done)
        .filter_map(|t| Some((t.finished? as f64 - t.started? as f64) / 1000.0))
        .collect();
    let average =
        (!durations.is_empty()).then(|| durations.iter().sum::<f64>() / durations.len() as f64);
    (
        average,
        durations.first().copied(),
        tasks.into_iter().next(),
    )
}

/// `GET /api/job` data: always answers, also for an offline printer.
pub fn job_state(p: &PrinterInfo) -> Result<Value, Error> {
    let selected = selection(&p.id)?;
    let (job, progress) = if let Some(pr) = &p.progress {
        // A print runs: the truth is the printer's acknowledged position in the file.
        let info = files::stat(&pr.file).ok();
        let (avg, last, _) = history(&p.id, &pr.file);
        let progress = json!({
            "completion": pr.fraction() * 100.0,
            "filepos": pr.file_pos,
            "printTime": pr.elapsed_secs.round() as u64,
            "printTimeLeft": pr.remaining_secs.map(|s| s.round() as u64),
            "printTimeLeftOrigin": pr.remaining_secs.map(|_| "estimate"),
        });
        (job_object(&pr.file, info.as_ref(), (avg, last)), progress)
    } else if let Some(sel) = selected {
        let info = files::stat(&sel.path).ok();
        let (avg, last, newest) = history(&p.id, &sel.path);
        let job = job_object(&sel.path, info.as_ref(), (avg, last));
        // After a print of the selected file ended, OctoPrint keeps reporting where it got.
        let progress = match (sel.started, newest, info.as_ref()) {
            (true, Some(t), Some(info)) => {
                let done = t.state == TaskState::Done;
                let pos = if done {
                    info.size
                } else {
                    t.file_pos.unwrap_or(0)
                };
                let completion = if info.size == 0 {
                    100.0
                } else {
                    pos as f64 * 100.0 / info.size as f64
                };
                let time = match (t.started, t.finished) {
                    (Some(s), Some(f)) => Some(((f.saturating_sub(s)) as f64 / 1000.0).round()),
                    _ => None,
                };
                json!({
                    "completion": completion,
                    "filepos": pos,
                    "printTime": time,
                    "printTimeLeft": if done { Some(0) } else { None },
                    "printTimeLeftOrigin": null,
                })
            }
            _ => empty_job().1,
        };
        (job, progress)
    } else {
        empty_job()
    };
    let mut out = json!({"job": job, "progress": progress, "state": state_text(p)});
    if p.state == PrinterState::Error {
        out["error"] = json!(p.state_reason.clone().unwrap_or_default());
    }
    Ok(out)
}

/// `GET/POST /api/job`.
pub fn job(req: &Request) -> Result<Response, Error> {
    let id = req.require_printer()?;
    if req.method() == "GET" {
        auth::require(req, Access::Read)?;
        let p = printers::get(id).map_err(host)?;
        return Ok(Response::ok_json(&job_state(&p)?));
    }
    // OctoPrint's order: credentials, the printer's state, the command, then the permission to
    // print (so a viewer's malformed command is a 400 and any command while offline a 409).
    let caller = auth::require(req, Access::Read)?;
    let p = printers::get(id).map_err(host)?;
    if !is_operational(&p) {
        return Err(not_operational());
    }
    let cmd = errors::command(req, &["start", "restart", "pause", "cancel"])?;
    if !caller.identity.role.can_operate() {
        return Err(crate::errors::forbidden());
    }
    let active = matches!(
        p.state,
        PrinterState::Printing | PrinterState::Pausing | PrinterState::Paused
    );
    match cmd.name.as_str() {
        "start" => {
            if p.state.is_busy() {
                return Err(Error::conflict("Printer already has an active print job"));
            }
            // With nothing selected OctoPrint starts nothing and says nothing else.
            if let Some(sel) = selection(id)? {
                start(id, &sel.path)?;
            }
        }
        "restart" => {
            if p.state != PrinterState::Paused {
                return Err(Error::conflict("Can only restart a paused print job"));
            }
            let file = p
                .progress
                .as_ref()
                .map(|pr| pr.file.clone())
                .ok_or_else(|| Error::conflict("No active print job"))?;
            restart(id, &file)?;
        }
        "pause" => {
            if !active {
                return Err(Error::conflict(
                    "Can only pause or resume a running print job",
                ));
            }
            let action = match cmd.data.get("action") {
                None => "toggle",
                Some(Value::String(a)) if ["pause", "resume", "toggle"].contains(&a.as_str()) => {
                    a.as_str()
                }
                Some(a) => return Err(Error::bad_request(format!("Unknown action: {a}"))),
            };
            let paused = p.state == PrinterState::Paused;
            match (action, paused) {
                ("pause", false) | ("toggle", false) if p.state == PrinterState::Printing => {
                    printers::pause(id).map_err(host)?;
                }
                ("resume", true) | ("toggle", true) => printers::resume(id).map_err(host)?,
                // Pausing a paused print or resuming a running one changes nothing.
                _ => {}
            }
        }
        _ => {
            if !active {
                return Err(Error::conflict("No active print job to cancel"));
            }
            printers::cancel(id).map_err(host)?;
        }
    }
    Ok(Response::no_content())
}

/// Restarts a paused print from the beginning. The farm has no restart of its own, so this
/// cancels the print, waits (within the call's deadline) until the printer is idle again, and
/// starts the same file anew.
fn restart(id: &str, file: &str) -> Result<(), Error> {
    printers::cancel(id).map_err(host)?;
    for _ in 0..60 {
        let p = printers::get(id).map_err(host)?;
        if p.state == PrinterState::Operational {
            return start(id, file);
        }
        if !is_operational(&p) {
            return Err(not_operational());
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    Err(Error::conflict(
        "The print was cancelled but the printer did not become ready in time to restart it",
    ))
}
