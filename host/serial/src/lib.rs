//! printfarm's serial side: the G-code protocol, the engine that streams to one printer, the
//! supervisor that keeps it connected, and a simulated Marlin-style printer on a real pty.
//!
//! Data flows one way: [`transport`] (a serial port) → [`engine`] (line numbers, checksums,
//! send-ahead, resends, liveness) → [`engine::EngineEvent`]s → [`supervisor`] (state machine,
//! reconnects) → [`supervisor::PrinterEvent`]s for whoever subscribed (the host's event bus).
//! [`sim`] is the other end of the wire, for tests, benchmarks and `port = "virtual"`.

pub mod commands;
pub mod engine;
pub mod protocol;
pub mod sim;
pub mod supervisor;
pub mod temperature_history;
pub mod terminal;
pub mod transport;
