//! The farm's printers: their state, and control over them (WIT interface `printers`).
//!
//! Reading ([`list`], [`get`], [`temperature_history`]) needs the `printers.read` capability;
//! everything that changes something needs `printers.control`.

use super::host_call;
use crate::bindings::printfarm::plugin::printers as raw;
use crate::HostError;

/// How far a print has got, counting only what the firmware acknowledged.
pub use raw::PrintProgress;
/// A printer and what it is doing: `id`, `name`, `state`, `state_reason`, `port`, `baud`,
/// `profile`, `temperatures`, `progress` (the running print), `awaiting_bed_clear`, `details`
/// (what it can do) and `webcam_snapshot`.
pub use raw::PrinterInfo;
/// What a printer can do, from its farm profile: build `volume`, `origin_center`, `circular_bed`,
/// `heated_bed`, `heated_chamber`, `extruders`, `nozzle_diameter`, `max_speeds` (X, Y, Z, E mm/min).
pub use raw::PrinterProfile;
/// The state of a printer's connection and print (`Offline`, `Connecting`, `Operational`,
/// `Printing`, `Pausing`, `Paused`, `Cancelling`, `Error`).
pub use raw::PrinterState;
/// One temperature sensor reading: `sensor` (`tool0`, `bed`, `chamber`), `actual`, `target`.
pub use raw::Temperature;
/// The readings of every sensor of a printer at one moment.
pub use raw::TemperatureSample;

impl PrinterState {
    /// The state's name as the WIT contract spells it (`operational`, `printing`…).
    pub fn as_str(&self) -> &'static str {
        match self {
            PrinterState::Offline => "offline",
            PrinterState::Connecting => "connecting",
            PrinterState::Operational => "operational",
            PrinterState::Printing => "printing",
            PrinterState::Pausing => "pausing",
            PrinterState::Paused => "paused",
            PrinterState::Cancelling => "cancelling",
            PrinterState::Error => "error",
        }
    }

    /// OctoPrint's words for this state (`state.text` of its API), for the surfaces that speak
    /// OctoPrint's language (the OctoPrint API, Pod Manager, the Obico agent).
    pub fn octoprint_text(&self) -> &'static str {
        match self {
            PrinterState::Offline => "Offline",
            PrinterState::Connecting => "Connecting",
            PrinterState::Operational => "Operational",
            PrinterState::Printing => "Printing",
            PrinterState::Pausing => "Pausing",
            PrinterState::Paused => "Paused",
            PrinterState::Cancelling => "Cancelling",
            PrinterState::Error => "Offline after error",
        }
    }

    /// OctoPrint's state flags (`state.flags` of its API), every one always present: clients
    /// read a missing flag as false, and some (the Obico web app) then show the printer as
    /// disconnected.
    pub fn octoprint_flags(&self) -> serde_json::Value {
        use PrinterState as S;
        let s = *self;
        serde_json::json!({
            "operational": !matches!(s, S::Offline | S::Connecting | S::Error),
            "printing": s == S::Printing,
            "cancelling": s == S::Cancelling,
            "pausing": s == S::Pausing,
            "resuming": false,
            "finishing": false,
            "closedOrError": matches!(s, S::Offline | S::Error),
            "error": s == S::Error,
            "paused": s == S::Paused,
            "ready": s == S::Operational,
            "sdReady": false,
        })
    }

    /// True while a print is running, pausing, paused or being cancelled.
    pub fn is_busy(&self) -> bool {
        matches!(
            self,
            PrinterState::Printing
                | PrinterState::Pausing
                | PrinterState::Paused
                | PrinterState::Cancelling
        )
    }
}

impl PrintProgress {
    /// The acknowledged fraction of the file, 0.0 to 1.0 (0.0 for an empty file).
    pub fn fraction(&self) -> f64 {
        if self.file_size == 0 {
            0.0
        } else {
            (self.file_pos as f64 / self.file_size as f64).clamp(0.0, 1.0)
        }
    }
}

/// Every printer of the farm, in config order.
pub fn list() -> Result<Vec<PrinterInfo>, HostError> {
    host_call!("printers::list", raw::list())
}

/// One printer.
pub fn get(id: &str) -> Result<PrinterInfo, HostError> {
    host_call!("printers::get", raw::get(id))
}

/// The last `limit` temperature samples of a printer, oldest first.
pub fn temperature_history(id: &str, limit: u32) -> Result<Vec<TemperatureSample>, HostError> {
    host_call!(
        "printers::temperature_history",
        raw::temperature_history(id, limit)
    )
}

/// Connects the printer (opens its port and handshakes).
pub fn connect(id: &str) -> Result<(), HostError> {
    host_call!("printers::connect", raw::connect(id))
}

/// Disconnects the printer. Refused with `conflict` while it prints.
pub fn disconnect(id: &str) -> Result<(), HostError> {
    host_call!("printers::disconnect", raw::disconnect(id))
}

/// Queues raw G-code lines; they are sent at the next line boundary, also during a print.
pub fn send_commands<I, S>(id: &str, commands: I) -> Result<(), HostError>
where
    I: IntoIterator<Item = S>,
    S: Into<String>,
{
    let commands: Vec<String> = commands.into_iter().map(Into::into).collect();
    host_call!("printers::send_commands", raw::send_commands(id, &commands))
}

/// Starts printing a library file now. `conflict` if the printer is not idle and operational.
pub fn start_print(id: &str, file: &str) -> Result<(), HostError> {
    host_call!("printers::start_print", raw::start_print(id, file))
}

/// Pauses the running print. The pause is recorded in the print's history (host API
/// `GET /farm/api/history`) as this plugin's.
pub fn pause(id: &str) -> Result<(), HostError> {
    host_call!("printers::pause", raw::pause(id))
}

/// Pauses the running print like [`pause`], and records `reason` with the pause in the print's
/// history, so that the operator reading it knows why (`"spaghetti detected"`). A reason longer
/// than 1024 bytes is cut there rather than refused. Since contract 0.1.2: the manifest's `api`
/// must then ask for `^0.1.2`.
pub fn pause_with_reason(id: &str, reason: &str) -> Result<(), HostError> {
    host_call!(
        "printers::pause_with_reason",
        raw::pause_with_reason(id, reason)
    )
}

/// Resumes a paused print; its pause in the history ends then.
pub fn resume(id: &str) -> Result<(), HostError> {
    host_call!("printers::resume", raw::resume(id))
}

/// Cancels the running print (runs the profile's cancel script, heaters off).
pub fn cancel(id: &str) -> Result<(), HostError> {
    host_call!("printers::cancel", raw::cancel(id))
}

/// Emergency stop: `M112` ahead of everything, heaters off, port closed.
pub fn emergency_stop(id: &str) -> Result<(), HostError> {
    host_call!("printers::emergency_stop", raw::emergency_stop(id))
}

/// Sets a heater's target in °C (`tool0`, `bed`, `chamber`; 0 turns it off).
pub fn set_temperature(id: &str, heater: &str, target: f64) -> Result<(), HostError> {
    host_call!(
        "printers::set_temperature",
        raw::set_temperature(id, heater, target)
    )
}

/// Moves the print head by (or, with `absolute`, to) the given coordinates in mm, at `speed`
/// mm/min (the profile's default when `None`). Axes given as `None` do not move.
pub fn jog(
    id: &str,
    x: Option<f64>,
    y: Option<f64>,
    z: Option<f64>,
    absolute: bool,
    speed: Option<f64>,
) -> Result<(), HostError> {
    host_call!("printers::jog", raw::jog(id, x, y, z, absolute, speed))
}

/// Homes the given axes (`"x"`, `"y"`, `"z"`); all axes when `axes` is empty.
pub fn home<I, S>(id: &str, axes: I) -> Result<(), HostError>
where
    I: IntoIterator<Item = S>,
    S: Into<String>,
{
    let axes: Vec<String> = axes.into_iter().map(Into::into).collect();
    host_call!("printers::home", raw::home(id, &axes))
}

/// Confirms that the bed of a printer that finished a print has been cleared, so it may take
/// the next job.
pub fn bed_cleared(id: &str) -> Result<(), HostError> {
    host_call!("printers::bed_cleared", raw::bed_cleared(id))
}
