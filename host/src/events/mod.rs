//! The event bus: the core publishes, plugins (and later the dashboard) subscribe.
//!
//! A broadcast channel with a bounded backlog: a slow subscriber loses the oldest events and is
//! told how many, the core never waits for a plugin.

pub mod stream;

use tokio::sync::broadcast;

use printfarm_serial::engine::Progress;

use crate::farm::{PrinterState, Temperature};

/// How many events a subscriber may fall behind before it loses the oldest. Temperatures arrive
/// about once a second per printer, so this holds several seconds of a hundred-printer farm.
pub const BACKLOG: usize = 4096;

pub use printfarm_core::library::FileChange;
pub use printfarm_serial::supervisor::PrintPhase;

/// One event of the core.
#[derive(Debug, Clone)]
pub enum CoreEvent {
    /// A printer changed state.
    PrinterState {
        /// Printer id.
        printer: String,
        /// Before.
        previous: PrinterState,
        /// Now.
        current: PrinterState,
        /// Why.
        reason: Option<String>,
    },
    /// New temperature readings.
    Temperatures {
        /// Printer id.
        printer: String,
        /// Unix ms.
        time: u64,
        /// Readings.
        readings: Vec<Temperature>,
    },
    /// A print advanced (a few times a second at most).
    Progress {
        /// Printer id.
        printer: String,
        /// How far it got, counted from what the firmware acknowledged.
        progress: Progress,
        /// Seconds it has left, when that can be estimated.
        remaining_secs: Option<f64>,
    },
    /// A line the firmware sent that is worth showing (errors, `echo:`, prompts); `ok`s and
    /// temperature reports are not logged line by line.
    PrinterLog {
        /// Printer id.
        printer: String,
        /// The line.
        line: String,
    },
    /// A print started, paused, resumed or ended.
    Print {
        /// Printer id.
        printer: String,
        /// What happened.
        phase: PrintPhase,
        /// Library path.
        file: String,
        /// Queue task, if any.
        task_id: Option<String>,
        /// Seconds since start.
        elapsed_secs: f64,
        /// Why, for failures.
        reason: Option<String>,
    },
    /// A library file or folder was added, removed or analysed.
    Files {
        /// Library path.
        path: String,
        /// What happened.
        change: FileChange,
    },
    /// A job was queued, changed or ended.
    Jobs {
        /// Job id.
        job_id: String,
        /// A short description.
        what: String,
    },
}

impl CoreEvent {
    /// The subscription name of this event's kind (as in manifests' `events`).
    pub fn kind(&self) -> &'static str {
        match self {
            CoreEvent::PrinterState { .. } => "printer-state",
            CoreEvent::Temperatures { .. } => "temperatures",
            CoreEvent::Progress { .. } => "progress",
            CoreEvent::PrinterLog { .. } => "printer-log",
            CoreEvent::Print { .. } => "print",
            CoreEvent::Files { .. } => "files",
            CoreEvent::Jobs { .. } => "jobs",
        }
    }
}

/// The bus. Cheap to clone.
#[derive(Clone)]
pub struct EventBus {
    sender: broadcast::Sender<CoreEvent>,
}

impl Default for EventBus {
    fn default() -> Self {
        EventBus {
            sender: broadcast::channel(BACKLOG).0,
        }
    }
}

impl EventBus {
    /// Publishes an event to every subscriber. Never blocks; with no subscriber it is dropped.
    pub fn publish(&self, event: CoreEvent) {
        let _ = self.sender.send(event);
    }

    /// A new subscription that sees events published from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<CoreEvent> {
        self.sender.subscribe()
    }
}
