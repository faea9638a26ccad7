//! How an engine talks to one printer: port, speed, buffers, timeouts, scripts.

use std::path::PathBuf;
use std::time::Duration;

/// Everything an [`Engine`](super::Engine) session needs to know about its printer.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// The serial device (`/dev/ttyACM0`, a stable symlink, or a virtual printer's link).
    pub port: PathBuf,
    /// The baud rate.
    pub baud: u32,
    /// The firmware's serial RX buffer in bytes, when known (Marlin on AVR: 128). Stating it,
    /// or the firmware answering ADVANCED_OK, enables send-ahead.
    pub rx_buffer: Option<usize>,
    /// The firmware's command buffer (Marlin `BUFSIZE`), when known.
    pub command_buffer: Option<usize>,
    /// Allow more than one line in flight when the firmware's buffers are known. Off forces
    /// ping-pong, as OctoPrint and Printrun do.
    pub send_ahead: bool,
    /// How often temperatures are reported (M155 autoreport) or polled (M105).
    pub temperature_interval: Duration,
    /// Silence allowed while lines are in flight before the engine asks again (sends the
    /// oldest unacknowledged line once more, or M105 to firmware that ignores line numbers).
    /// Temperature reports, `busy` and `wait` count as life signs.
    pub ack_timeout: Duration,
    /// Silence allowed while a long-running command (G28, G29, M109, M190, M400, M600, G4, …)
    /// is in flight and the firmware sends no `busy` keep-alives.
    pub long_command_timeout: Duration,
    /// Consecutive timeouts without any answer after which the printer is declared gone.
    pub max_timeouts: u32,
    /// How long to wait for the firmware's `start` after opening the port before probing it.
    pub boot_wait: Duration,
    /// How long the whole handshake may take.
    pub handshake_timeout: Duration,
    /// Lines run when a print pauses (after the buffered moves finished), e.g. retract and park.
    pub pause_script: Vec<String>,
    /// Lines run before a paused print resumes.
    pub resume_script: Vec<String>,
    /// Lines run after a print is cancelled; heaters are switched off after them in any case.
    pub cancel_script: Vec<String>,
    /// What a firmware `Error:` that is neither a transmission error, nor harmless, nor fatal
    /// does (fatal ones always end the session, transmission errors never stop a print).
    pub unknown_errors: UnknownErrors,
}

/// What the engine does with a firmware error it cannot classify, with the choices
/// established hosts offer (OctoPrint's "error handling" setting). The firmware's words are
/// shown in every case.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum UnknownErrors {
    /// Stop the printer (`M112`, heaters off), close the port and fail the print: an error
    /// nobody knows could be anything. OctoPrint's default.
    #[default]
    Disconnect,
    /// Fail the running print (the cancel script runs, heaters go off) and stay connected.
    Cancel,
    /// Log it, show it, go on.
    Ignore,
}

impl EngineConfig {
    /// Defaults for a device path and baud rate: OctoPrint's timeouts, send-ahead when the
    /// firmware advertises it.
    pub fn new(port: impl Into<PathBuf>, baud: u32) -> EngineConfig {
        EngineConfig {
            port: port.into(),
            baud,
            rx_buffer: None,
            command_buffer: None,
            send_ahead: true,
            temperature_interval: Duration::from_secs(2),
            ack_timeout: Duration::from_secs(10),
            long_command_timeout: Duration::from_secs(600),
            max_timeouts: 5,
            boot_wait: Duration::from_secs(2),
            handshake_timeout: Duration::from_secs(15),
            pause_script: Vec::new(),
            resume_script: Vec::new(),
            cancel_script: Vec::new(),
            unknown_errors: UnknownErrors::default(),
        }
    }
}
