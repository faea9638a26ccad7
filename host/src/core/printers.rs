//! Printers as the rest of the host sees them.

use serde::Serialize;

use crate::config::PrinterConfig;

/// A printer's connection and print state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum PrinterState {
    /// Not connected.
    Offline,
    /// Opening the port and handshaking.
    Connecting,
    /// Connected and idle.
    Operational,
    /// Printing.
    Printing,
    /// Pause requested.
    Pausing,
    /// Paused.
    Paused,
    /// Cancel requested.
    Cancelling,
    /// A fatal error; see the reason.
    Error,
}

/// One temperature reading.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Temperature {
    /// `tool0`, `bed`, `chamber`, …
    pub sensor: String,
    /// °C measured.
    pub actual: f64,
    /// °C target, if known.
    pub target: Option<f64>,
}

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
}

impl PrinterSummary {
    /// A printer as declared, before any engine has touched it.
    pub fn declared(config: &PrinterConfig) -> PrinterSummary {
        PrinterSummary {
            id: config.id.clone(),
            name: config.display_name().to_string(),
            port: config.port.clone(),
            baud: config.baud,
            profile: config.profile.clone(),
            state: PrinterState::Offline,
            state_reason: Some(
                "this printfarm build has no serial engine yet; printers stay offline".into(),
            ),
            temperatures: Vec::new(),
        }
    }
}
