//! Logging into the host's structured log, tagged with the plugin's id (WIT interface `log`).
//! Always available.
//!
//! Use the functions ([`info`], [`warn`], …) or the formatting macros
//! [`info!`](crate::info), [`warn!`](crate::warn), [`error!`](crate::error),
//! [`debug!`](crate::debug) and [`trace!`](crate::trace):
//!
//! ```
//! use printfarm_sdk::log;
//!
//! log::info("plugin started");
//! printfarm_sdk::warn!("printer {} is offline", "p1");
//! ```
//!
//! In native builds the lines go to stderr.

/// Severity of a log line: `Trace`, `Debug`, `Info`, `Warn`, `Error`.
pub use crate::bindings::printfarm::plugin::log::Level;

impl Level {
    /// The level's name as the WIT contract spells it (`info`, `warn`…).
    pub fn as_str(&self) -> &'static str {
        match self {
            Level::Trace => "trace",
            Level::Debug => "debug",
            Level::Info => "info",
            Level::Warn => "warn",
            Level::Error => "error",
        }
    }
}

/// Writes one log line at the given level.
pub fn write(level: Level, message: &str) {
    #[cfg(target_arch = "wasm32")]
    {
        crate::bindings::printfarm::plugin::log::write(level, message);
    }
    #[cfg(not(target_arch = "wasm32"))]
    {
        eprintln!("[{}] {}", level.as_str(), message);
    }
}

/// Writes a `trace` line.
pub fn trace(message: &str) {
    write(Level::Trace, message)
}

/// Writes a `debug` line.
pub fn debug(message: &str) {
    write(Level::Debug, message)
}

/// Writes an `info` line.
pub fn info(message: &str) {
    write(Level::Info, message)
}

/// Writes a `warn` line.
pub fn warn(message: &str) {
    write(Level::Warn, message)
}

/// Writes an `error` line.
pub fn error(message: &str) {
    write(Level::Error, message)
}

/// Logs a formatted `trace` line: `printfarm_sdk::trace!("x = {}", x)`.
#[macro_export]
macro_rules! trace {
    ($($arg:tt)*) => { $crate::log::write($crate::log::Level::Trace, &::std::format!($($arg)*)) };
}

/// Logs a formatted `debug` line: `printfarm_sdk::debug!("x = {}", x)`.
#[macro_export]
macro_rules! debug {
    ($($arg:tt)*) => { $crate::log::write($crate::log::Level::Debug, &::std::format!($($arg)*)) };
}

/// Logs a formatted `info` line: `printfarm_sdk::info!("x = {}", x)`.
#[macro_export]
macro_rules! info {
    ($($arg:tt)*) => { $crate::log::write($crate::log::Level::Info, &::std::format!($($arg)*)) };
}

/// Logs a formatted `warn` line: `printfarm_sdk::warn!("x = {}", x)`.
#[macro_export]
macro_rules! warn {
    ($($arg:tt)*) => { $crate::log::write($crate::log::Level::Warn, &::std::format!($($arg)*)) };
}

/// Logs a formatted `error` line: `printfarm_sdk::error!("x = {}", x)`.
#[macro_export]
macro_rules! error {
    ($($arg:tt)*) => { $crate::log::write($crate::log::Level::Error, &::std::format!($($arg)*)) };
}
