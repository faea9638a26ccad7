//! Printers as the rest of the host sees them.

use serde::Serialize;

use printfarm_serial::engine::Progress;
use printfarm_serial::supervisor::PrinterStatus;

use crate::config::{PrinterConfig, PrinterProfile};

pub use printfarm_serial::supervisor::PrinterState;

/// One temperature reading: the supervisor's own type, used as is.
pub use printfarm_serial::supervisor::SensorReading as Temperature;

/// A printer and its state.
#[derive(Debug, Clone, Serialize)]
pub struct PrinterSummary {
    /// Id from the config.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Device path or `virtual`.
    pub port: String,
    /// Baud rate.
    pub baud: u32,
    /// Profile name.
    pub profile: Option<String>,
    /// Current state.
    pub state: PrinterState,
    /// Why it is in that state.
    pub state_reason: Option<String>,
    /// Latest readings.
    pub temperatures: Vec<Temperature>,
    /// The running print's progress.
    pub progress: Option<Progress>,
    /// Seconds the running print has left, when that can be estimated.
    pub remaining_secs: Option<f64>,
    /// Whether the printer is held until an operator decides about an interrupted print.
    pub held: bool,
    /// Whether its bed is confirmed clear for the next queued print.
    pub bed_clear: bool,
    /// Whether the bed clears itself after a print.
    pub self_clearing: bool,
    /// Tags queued jobs can ask for.
    pub tags: Vec<String>,
    /// What the printer can do (its profile).
    pub details: PrinterProfile,
    /// Its webcam snapshot URL.
    pub webcam_snapshot: Option<String>,
}

impl PrinterSummary {
    /// A printer as its supervisor sees it now.
    pub fn new(config: &PrinterConfig, status: PrinterStatus) -> PrinterSummary {
        PrinterSummary {
            id: config.id.clone(),
            name: config.display_name().to_string(),
            port: config.port.clone(),
            baud: config.baud,
            profile: config.profile.clone(),
            state: status.state,
            state_reason: status.reason,
            temperatures: status.temperatures,
            progress: status.progress,
            remaining_secs: None,
            held: false,
            bed_clear: false,
            self_clearing: config.self_clearing(),
            tags: config.tags(),
            details: config.details.clone(),
            webcam_snapshot: config.webcam_snapshot.clone(),
        }
    }

    /// Whether the printer is idle and waits for an operator to confirm its bed is clear.
    pub fn awaiting_bed_clear(&self) -> bool {
        self.state == PrinterState::Operational && !self.bed_clear && !self.self_clearing
    }

    /// A printer no supervisor runs (`printfarm plugin check`).
    pub fn declared(config: &PrinterConfig) -> PrinterSummary {
        PrinterSummary::new(
            config,
            PrinterStatus::offline(Some("not driven by this process".into())),
        )
    }
}
