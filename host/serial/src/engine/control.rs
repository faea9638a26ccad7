//! What goes into a session (control) and what comes out of it (events, its end).

use std::path::PathBuf;

use tokio::sync::oneshot;

use super::progress::Progress;
use super::window::Limits;
use crate::protocol::reply::{Action, FirmwareInfo, Position};
use crate::protocol::temperature::TemperatureReport;

/// A request to a running session.
#[derive(Debug)]
pub enum Control {
    /// Queue raw G-code lines; they go out at the next line boundary, also during a print.
    Send(Vec<String>),
    /// Start streaming a file.
    StartPrint {
        /// The file.
        file: PathBuf,
        /// Told whether the print started.
        reply: oneshot::Sender<Result<(), ControlError>>,
    },
    /// Pause the running print: stop feeding, then run the pause script.
    Pause(oneshot::Sender<Result<(), ControlError>>),
    /// Resume a paused print: run the resume script, then feed again.
    Resume(oneshot::Sender<Result<(), ControlError>>),
    /// Cancel the running or paused print: stop feeding, run the cancel script, heaters off.
    Cancel(oneshot::Sender<Result<(), ControlError>>),
    /// `M112` ahead of everything, heaters off, port closed.
    EmergencyStop,
    /// Close the port. Refused by the supervisor while printing; the session obeys.
    Disconnect,
}

/// Why a control request was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ControlError {
    /// A print is already running or paused.
    #[error("the printer is already printing `{0}`; cancel that print first")]
    AlreadyPrinting(String),
    /// There is no print to pause, resume or cancel.
    #[error("the printer is not printing")]
    NotPrinting,
    /// Resume asked of a print that is not paused.
    #[error("the print is not paused")]
    NotPaused,
    /// The file cannot be read.
    #[error("cannot read `{file}`: {reason}")]
    File {
        /// The file.
        file: String,
        /// The OS error.
        reason: String,
    },
    /// The request itself is wrong (an unknown heater, an out-of-range value).
    #[error("{0}")]
    Invalid(String),
    /// The request needs the printer idle (disconnect while printing).
    #[error("the printer is busy: {0}")]
    Busy(String),
    /// The session is still handshaking or has ended.
    #[error("the printer is not connected (state: {0})")]
    NotConnected(String),
}

/// What a session reports.
#[derive(Debug, Clone, PartialEq)]
pub enum EngineEvent {
    /// The handshake finished: the printer is operational.
    Connected {
        /// The M115 report (empty when the firmware sent none).
        firmware: FirmwareInfo,
        /// The M115 `Cap:` lines seen so far.
        capabilities: Vec<(String, bool)>,
        /// The flow control in force.
        limits: Limits,
    },
    /// The firmware identified itself (after `Connected`, for firmware that prints `ok` first).
    Firmware(FirmwareInfo),
    /// New temperatures.
    Temperatures(TemperatureReport),
    /// An M114 position report.
    Position(Position),
    /// A firmware message worth showing: errors, `echo:` lines, action prompts.
    Message(String),
    /// A host action command the engine does not handle itself (prompts, notifications).
    Action(Action),
    /// A print started.
    PrintStarted(Progress),
    /// A print advanced (at most every [`PROGRESS_INTERVAL`](super::session::PROGRESS_INTERVAL)).
    Progress(Progress),
    /// A pause was requested; the firmware is finishing the lines in its buffer.
    PrintPausing(Progress),
    /// The print is paused.
    PrintPaused(Progress),
    /// The print resumed.
    PrintResumed(Progress),
    /// A cancel was requested; the firmware is finishing the lines in its buffer.
    PrintCancelling(Progress),
    /// Every line of the file was acknowledged.
    PrintDone(Progress),
    /// The print was cancelled.
    PrintCancelled(Progress),
    /// The print failed; `progress` says how far the printer really got.
    PrintFailed {
        /// Why.
        reason: String,
        /// The last acknowledged line and its byte offset, and the rest of the tally.
        progress: Progress,
    },
}

/// Why a session ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionEnd {
    /// Closed on request.
    Disconnected,
    /// The device could not be opened or went away (EOF, EIO: USB unplugged).
    Gone(String),
    /// The firmware stopped answering.
    Timeout(String),
    /// The firmware reported a fatal error (or an unknown one, treated as fatal); its message.
    Fatal(String),
    /// The firmware restarted (`start` while connected): its line counter and state are lost.
    Reset,
    /// An emergency stop was sent.
    EmergencyStop,
    /// The link cannot go on: a resend loop, or a resend of a line no longer kept.
    Protocol(String),
}

impl SessionEnd {
    /// A one-line reason for logs and for the printer's state.
    pub fn reason(&self) -> String {
        match self {
            SessionEnd::Disconnected => "disconnected".into(),
            SessionEnd::Gone(why) => format!("device gone: {why}"),
            SessionEnd::Timeout(why) => format!("printer stopped answering: {why}"),
            SessionEnd::Fatal(message) => format!("firmware error: {message}"),
            SessionEnd::Reset => "the firmware restarted".into(),
            SessionEnd::EmergencyStop => "emergency stop".into(),
            SessionEnd::Protocol(why) => format!("serial protocol failure: {why}"),
        }
    }
}
