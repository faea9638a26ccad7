//! The G-code engine: one session per connection to one printer, on tokio.
//!
//! A session opens the port, handshakes (`start` or a probe, `M110 N0`, `M115`, then M155
//! autoreport or M105 polling), and streams lines with numbers and checksums. It keeps several
//! lines in flight when the firmware's buffers are known (ADVANCED_OK or the config) and never
//! more than they hold, resends exactly the bytes sent before, recovers lost `ok`s, tells long
//! commands from a dead link, and counts progress only from what the firmware acknowledged.
//!
//! It is driven by [`Control`] messages and reports [`EngineEvent`]s; when it ends, the
//! [`SessionEnd`] says why, so the supervisor can decide whether to reconnect.

mod config;
mod control;
mod history;
mod liveness;
mod progress;
mod session;
mod source;
mod window;

pub use config::{EngineConfig, UnknownErrors};
pub use control::{Control, ControlError, EngineEvent, SessionEnd};
pub use history::HISTORY_MARGIN;
pub use liveness::is_long_running;
pub use progress::{Origin, Progress};
pub use session::run;
pub use source::{gcode_lines, FileLine, GcodeSource};
pub use window::{Limits, MARLIN_RX_BYTES};
