//! Core events delivered to [`Plugin::on_event`](crate::Plugin::on_event) (WIT interface `events`).
//!
//! A plugin receives only the events its manifest subscribes to with `events = [...]`:
//! `printer-state`, `temperatures`, `progress`, `print`, `files`, `jobs`, `printer-log`. Events
//! arrive in order; a plugin that falls far behind loses the oldest ones.

/// One core event. Its variants carry the records below; [`Event::name`] gives the
/// subscription name and [`Event::printer`] the printer, if any.
pub use crate::bindings::printfarm::plugin::events::Event;

/// Which way a serial line went (`Sent`, `Received`).
pub use crate::bindings::printfarm::plugin::events::Direction;
/// What happened to a library file (`Added`, `Removed`, `Analysed`).
pub use crate::bindings::printfarm::plugin::events::FileChange;
/// The library changed (`files`): `path`, `change`.
pub use crate::bindings::printfarm::plugin::events::FileChanged;
/// A job was queued, changed or ended (`jobs`): `job_id`, `what`.
pub use crate::bindings::printfarm::plugin::events::JobChanged;
/// A line of a printer's serial log (`printer-log`): `printer`, `direction`, `line`.
pub use crate::bindings::printfarm::plugin::events::LogLine;
/// A print started, paused, resumed or ended (`print`): `printer`, `phase`, `file`, `task_id`,
/// `elapsed_secs`, `reason`.
pub use crate::bindings::printfarm::plugin::events::PrintChanged;
/// What happened to a print (`Started`, `Paused`, `Resumed`, `Done`, `Failed`, `Cancelled`).
pub use crate::bindings::printfarm::plugin::events::PrintPhase;
/// A print advanced (`progress`): `printer`, `progress`.
pub use crate::bindings::printfarm::plugin::events::ProgressReported;
/// A printer changed state (`printer-state`): `printer`, `previous`, `current`, `reason`.
pub use crate::bindings::printfarm::plugin::events::StateChanged;
/// New temperature readings (`temperatures`): `printer`, `time`, `readings`.
pub use crate::bindings::printfarm::plugin::events::TemperaturesReported;

impl Event {
    /// The event's name as used in the manifest's `events` list (`printer-state`, `print`…).
    pub fn name(&self) -> &'static str {
        match self {
            Event::PrinterState(_) => "printer-state",
            Event::Temperatures(_) => "temperatures",
            Event::Progress(_) => "progress",
            Event::Print(_) => "print",
            Event::Files(_) => "files",
            Event::Jobs(_) => "jobs",
            Event::PrinterLog(_) => "printer-log",
        }
    }

    /// The printer the event is about; `None` for `files` and `jobs` events.
    pub fn printer(&self) -> Option<&str> {
        match self {
            Event::PrinterState(e) => Some(&e.printer),
            Event::Temperatures(e) => Some(&e.printer),
            Event::Progress(e) => Some(&e.printer),
            Event::Print(e) => Some(&e.printer),
            Event::PrinterLog(e) => Some(&e.printer),
            Event::Files(_) | Event::Jobs(_) => None,
        }
    }
}

impl PrintPhase {
    /// The phase's name as the WIT contract spells it (`started`, `done`…).
    pub fn as_str(&self) -> &'static str {
        match self {
            PrintPhase::Started => "started",
            PrintPhase::Paused => "paused",
            PrintPhase::Resumed => "resumed",
            PrintPhase::Done => "done",
            PrintPhase::Failed => "failed",
            PrintPhase::Cancelled => "cancelled",
        }
    }
}

impl FileChange {
    /// The change's name as the WIT contract spells it (`added`, `removed`, `analysed`).
    pub fn as_str(&self) -> &'static str {
        match self {
            FileChange::Added => "added",
            FileChange::Removed => "removed",
            FileChange::Analysed => "analysed",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::printers::PrinterState;

    #[test]
    fn names_and_printers() {
        let e = Event::PrinterState(StateChanged {
            printer: "p1".into(),
            previous: PrinterState::Offline,
            current: PrinterState::Operational,
            reason: None,
        });
        assert_eq!(e.name(), "printer-state");
        assert_eq!(e.printer(), Some("p1"));
        let json = serde_json::to_value(&e).unwrap();
        assert_eq!(json["printer-state"]["current"], "operational");
        let e = Event::Jobs(JobChanged {
            job_id: "j".into(),
            what: "queued".into(),
        });
        assert_eq!(e.name(), "jobs");
        assert_eq!(e.printer(), None);
    }
}
