//! The status frame an agent sends over its websocket: built from what the host says of the
//! printer, with every flag always present and no value whose absence could fail the build (a
//! missing temperature once made an agent go silent and look offline).

use printfarm_sdk::printers::{PrinterInfo, PrinterState};
use serde_json::{json, Map, Value};

use crate::store::PrintSeen;

/// The agent name the server's web app reads: any name but `moonraker_obico` makes it take the
/// OctoPrint-style paths (passthru targets `_printer`, `_file_manager`…), which are the ones this
/// plugin answers.
pub const AGENT_NAME: &str = "octoprint_obico";

/// The agent version reported with the name, so the web app enables what the OctoPrint agent of
/// this generation offers.
pub const AGENT_VERSION: &str = "2.5.0";

/// An event of a frame: the agents' OctoPrint event names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    /// A print started.
    PrintStarted,
    /// A print finished.
    PrintDone,
    /// A print was cancelled (followed by [`Event::PrintFailed`], as the agents do).
    PrintCancelled,
    /// A print failed.
    PrintFailed,
    /// A print paused.
    PrintPaused,
    /// A print resumed.
    PrintResumed,
}

impl Event {
    /// The name on the wire.
    pub fn name(self) -> &'static str {
        match self {
            Event::PrintStarted => "PrintStarted",
            Event::PrintDone => "PrintDone",
            Event::PrintCancelled => "PrintCancelled",
            Event::PrintFailed => "PrintFailed",
            Event::PrintPaused => "PrintPaused",
            Event::PrintResumed => "PrintResumed",
        }
    }
}

/// What the frame says about the print.
#[derive(Debug, Clone, Copy)]
pub enum PrintTs<'a> {
    /// A print is open: its start and file.
    Open(&'a PrintSeen),
    /// No print: `current_print_ts: -1` closes any open one on the server.
    Idle,
}

/// The file part of `job` (all null when there is no print).
fn job(print: Option<&PrintSeen>, file_size: Option<u64>) -> Value {
    let file = match print {
        Some(p) => json!({
            "name": file_name(&p.file),
            "path": p.file,
            "display": file_name(&p.file),
            "origin": "local",
            "size": file_size,
            "obico_g_code_file_id": p.g_code_file_id,
        }),
        None => json!({
            "name": null, "path": null, "display": null, "origin": null, "size": null,
            "obico_g_code_file_id": null,
        }),
    };
    json!({"file": file, "estimatedPrintTime": null, "filament": null, "user": null})
}

/// The last segment of a library path.
pub fn file_name(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

/// `temperatures`: one entry per sensor the printer reported, `offset` always 0.
fn temperatures(info: &PrinterInfo) -> Value {
    let mut out = Map::new();
    for t in &info.temperatures {
        // NaN or infinite readings (a broken thermistor) become null, never a failed frame.
        let actual = finite(t.actual);
        let target = t.target.and_then(finite);
        out.insert(
            t.sensor.clone(),
            json!({"actual": actual, "target": target, "offset": 0}),
        );
    }
    Value::Object(out)
}

fn finite(v: f64) -> Option<f64> {
    v.is_finite().then_some(v)
}

fn progress(info: &PrinterInfo) -> Value {
    match &info.progress {
        Some(p) => json!({
            "completion": finite(p.fraction() * 100.0),
            "filepos": p.file_pos,
            "printTime": finite(p.elapsed_secs).map(|s| s.round() as i64),
            "printTimeLeft": p.remaining_secs.and_then(finite).map(|s| s.round() as i64),
            "printTimeLeftOrigin": p.remaining_secs.map(|_| "estimate"),
            "filamentUsed": null,
        }),
        None => json!({
            "completion": null, "filepos": null, "printTime": null, "printTimeLeft": null,
            "printTimeLeftOrigin": null, "filamentUsed": null,
        }),
    }
}

/// `settings`: the agent's name and version, its cameras, its platform.
pub fn settings(info: Option<&PrinterInfo>) -> Value {
    let has_camera = info.is_some_and(|i| i.webcam_snapshot.is_some() || i.port == "virtual");
    let webcams: Vec<Value> = if has_camera {
        vec![json!({
            "name": "camera",
            "is_primary_camera": true,
            "is_nozzle_camera": false,
            "stream_mode": "disabled",
            "flipV": false,
            "flipH": false,
            "rotation": 0,
            "streamRatio": "16:9",
        })]
    } else {
        Vec::new()
    };
    json!({
        "webcams": webcams,
        "agent": {"name": AGENT_NAME, "version": AGENT_VERSION},
        "platform_uname": ["printfarm", printfarm_host_node(), "", "", "wasm32", ""],
        "installed_plugins": [],
    })
}

fn printfarm_host_node() -> String {
    #[cfg(target_arch = "wasm32")]
    {
        printfarm_sdk::host_info().node
    }
    #[cfg(not(target_arch = "wasm32"))]
    {
        "test".to_string()
    }
}

/// A whole status frame. `info` is `None` when the host could not say (the frame then reports
/// the printer as offline rather than not being sent).
pub fn frame(
    info: Option<&PrinterInfo>,
    print: PrintTs<'_>,
    event: Option<Event>,
    now_s: f64,
) -> Value {
    let state = info.map(|i| i.state).unwrap_or(PrinterState::Offline);
    let open = match print {
        PrintTs::Open(p) => Some(p),
        PrintTs::Idle => None,
    };
    let error = match state {
        PrinterState::Error | PrinterState::Offline => info.and_then(|i| i.state_reason.clone()),
        _ => None,
    };
    let file_size = info.and_then(|i| i.progress.as_ref()).map(|p| p.file_size);
    let mut status = json!({
        "_ts": now_s,
        "state": {"text": state.octoprint_text(), "flags": state.octoprint_flags(), "error": error},
        "job": job(open, file_size),
        "progress": info.map(progress).unwrap_or_else(|| json!({})),
        "temperatures": info.map(temperatures).unwrap_or_else(|| json!({})),
        "currentZ": null,
        "currentLayerHeight": null,
        "currentFeedRate": null,
        "currentFlowRate": null,
        "currentFanSpeed": null,
        "file_metadata": {},
    });
    if info.is_none() {
        status["progress"] = progress_none();
    }
    let mut out = json!({
        "current_print_ts": open.map(|p| p.started_s).unwrap_or(-1),
        "status": status,
        "settings": settings(info),
    });
    if let Some(event) = event {
        let name = open.map(|p| file_name(&p.file).to_string());
        let path = open.map(|p| p.file.clone());
        out["event"] = json!({
            "event_type": event.name(),
            "data": {"name": name, "path": path, "origin": "local"},
        });
    }
    out
}

fn progress_none() -> Value {
    json!({
        "completion": null, "filepos": null, "printTime": null, "printTimeLeft": null,
        "printTimeLeftOrigin": null, "filamentUsed": null,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use printfarm_sdk::printers::{PrintProgress, PrinterProfile, Temperature};

    const FLAGS: [&str; 8] = [
        "operational",
        "printing",
        "paused",
        "pausing",
        "cancelling",
        "error",
        "ready",
        "closedOrError",
    ];

    pub(crate) fn info(state: PrinterState) -> PrinterInfo {
        PrinterInfo {
            id: "p1".into(),
            name: "Printer 1".into(),
            state,
            state_reason: None,
            port: "virtual".into(),
            baud: 115200,
            profile: None,
            temperatures: vec![
                Temperature {
                    sensor: "tool0".into(),
                    actual: 210.5,
                    target: Some(210.0),
                },
                Temperature {
                    sensor: "bed".into(),
                    actual: f64::NAN,
                    target: None,
                },
            ],
            progress: Some(PrintProgress {
                file: "parts/benchy.gcode".into(),
                file_size: 1000,
                file_pos: 250,
                lines_sent: 10,
                lines_acked: 9,
                elapsed_secs: 60.4,
                remaining_secs: Some(180.0),
                resends: 0,
            }),
            awaiting_bed_clear: false,
            details: PrinterProfile {
                name: "generic".into(),
                volume: (200.0, 200.0, 200.0),
                origin_center: false,
                circular_bed: false,
                heated_bed: true,
                heated_chamber: false,
                extruders: 1,
                nozzle_diameter: 0.4,
                max_speeds: (6000.0, 6000.0, 600.0, 300.0),
            },
            webcam_snapshot: None,
        }
    }

    #[test]
    fn every_flag_is_in_every_frame_whatever_the_state() {
        for state in [
            PrinterState::Offline,
            PrinterState::Connecting,
            PrinterState::Operational,
            PrinterState::Printing,
            PrinterState::Pausing,
            PrinterState::Paused,
            PrinterState::Cancelling,
            PrinterState::Error,
        ] {
            let f = frame(Some(&info(state)), PrintTs::Idle, None, 1.5);
            let flags = &f["status"]["state"]["flags"];
            for name in FLAGS {
                assert!(flags[name].is_boolean(), "{state:?} lacks {name}: {f}");
            }
            assert_eq!(f["status"]["_ts"], 1.5);
        }
        let none = frame(None, PrintTs::Idle, None, 2.0);
        assert_eq!(none["status"]["state"]["flags"]["closedOrError"], true);
        assert!(none["status"]["progress"]
            .as_object()
            .unwrap()
            .contains_key("completion"));
    }

    #[test]
    fn a_printing_frame_carries_the_print_and_its_progress() {
        let seen = PrintSeen {
            started_s: 1_700_000_000,
            file: "parts/benchy.gcode".into(),
            g_code_file_id: Some(42),
            paused_by_detection: false,
        };
        let f = frame(
            Some(&info(PrinterState::Printing)),
            PrintTs::Open(&seen),
            Some(Event::PrintStarted),
            10.0,
        );
        assert_eq!(f["current_print_ts"], 1_700_000_000);
        assert_eq!(f["status"]["state"]["text"], "Printing");
        assert_eq!(f["status"]["job"]["file"]["name"], "benchy.gcode");
        assert_eq!(f["status"]["job"]["file"]["obico_g_code_file_id"], 42);
        assert_eq!(f["status"]["progress"]["completion"], 25.0);
        assert_eq!(f["status"]["progress"]["printTime"], 60);
        assert_eq!(f["status"]["progress"]["printTimeLeft"], 180);
        assert_eq!(f["status"]["temperatures"]["tool0"]["target"], 210.0);
        assert!(f["status"]["temperatures"]["bed"]["actual"].is_null());
        assert_eq!(f["event"]["event_type"], "PrintStarted");
        assert_eq!(f["event"]["data"]["name"], "benchy.gcode");
        assert_eq!(f["settings"]["agent"]["name"], AGENT_NAME);
        assert_eq!(f["settings"]["webcams"][0]["is_primary_camera"], true);
    }

    #[test]
    fn an_error_says_why_and_an_idle_printer_has_no_print() {
        let mut broken = info(PrinterState::Error);
        broken.state_reason = Some("thermal runaway".into());
        broken.progress = None;
        let f = frame(Some(&broken), PrintTs::Idle, None, 1.0);
        assert_eq!(f["current_print_ts"], -1);
        assert_eq!(f["status"]["state"]["text"], "Offline after error");
        assert_eq!(f["status"]["state"]["error"], "thermal runaway");
        assert!(f["status"]["job"]["file"]["name"].is_null());
        assert!(f.get("event").is_none());
    }
}
