//! Example: **events**. A plugin that reacts to what happens on the farm.
//!
//! `events = ["print", "printer-state"]` in `plugin.toml` subscribes to those kinds; the host
//! calls [`Plugin::on_event`] for each, in order, one at a time per plugin. Here every event is
//! kept as a line in `kv` (the last [`KEEP`] of them), and `GET /recent` serves them oldest
//! first, e.g. `[{"event": "print", "printer": "v1", "what": "done"}]`.

use printfarm_sdk::events::Event;
use printfarm_sdk::{kv, log, Error, Plugin, Request, Response, Router};
use serde::{Deserialize, Serialize};

/// How many events are kept.
pub const KEEP: usize = 50;
/// The kv key of the list.
const RECENT: &str = "recent";

/// One event as kept.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Seen {
    /// `print` or `printer-state`.
    pub event: String,
    /// The printer it is about.
    pub printer: String,
    /// The print phase (`started`, `done`…) or the printer's new state (`printing`…).
    pub what: String,
}

/// What is kept of an event; `None` for kinds this plugin does not keep.
pub fn seen(event: &Event) -> Option<Seen> {
    let what = match event {
        Event::Print(e) => e.phase.as_str().to_string(),
        Event::PrinterState(e) => e.current.as_str().to_string(),
        _ => return None,
    };
    Some(Seen {
        event: event.name().to_string(),
        printer: event.printer()?.to_string(),
        what,
    })
}

/// The plugin; its state is in kv.
pub struct Events;

impl Plugin for Events {
    fn router() -> Router {
        Router::new().get("/recent", recent)
    }

    fn on_event(event: Event) {
        let Some(seen) = seen(&event) else { return };
        // Events of one plugin are delivered one at a time, so this read-modify-write is safe.
        let mut list: Vec<Seen> = kv::get_json(RECENT).ok().flatten().unwrap_or_default();
        list.push(seen);
        let excess = list.len().saturating_sub(KEEP);
        list.drain(..excess);
        if let Err(error) = kv::set_json(RECENT, &list) {
            log::warn(&format!("could not keep an event: {error}"));
        }
    }
}

/// `GET /recent`.
fn recent(_: &Request) -> Result<Response, Error> {
    let list: Vec<Seen> = kv::get_json(RECENT)?.unwrap_or_default();
    Ok(Response::ok_json(&list))
}

printfarm_sdk::export_plugin!(Events);

#[cfg(test)]
mod tests {
    use super::*;
    use printfarm_sdk::events::{PrintChanged, PrintPhase};

    fn print(phase: PrintPhase) -> Event {
        Event::Print(PrintChanged {
            printer: "v1".into(),
            phase,
            file: "cube.gcode".into(),
            task_id: None,
            elapsed_secs: 1.0,
            reason: None,
        })
    }

    #[test]
    fn keeps_the_last_events_oldest_first() {
        printfarm_sdk::testing::reset();
        Events::on_event(print(PrintPhase::Started));
        for _ in 0..KEEP {
            Events::on_event(print(PrintPhase::Done));
        }
        let list: Vec<Seen> = recent(&Request::builder("GET", "/recent").build())
            .unwrap()
            .body_json()
            .unwrap();
        assert_eq!(list.len(), KEEP);
        assert!(list
            .iter()
            .all(|seen| seen.what == "done" && seen.printer == "v1"));
    }
}
