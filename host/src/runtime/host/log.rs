//! `printfarm:plugin/log` and the guest's stderr: into the host's structured log, tagged with the plugin.

use super::super::bindings::printfarm::plugin::log::{self, Level};
use super::super::state::CallState;

/// Longest log line kept; a plugin cannot flood the log with megabyte lines.
pub const MAX_LOG_LINE: usize = 8 << 10;

impl log::Host for CallState {
    async fn write(&mut self, level: Level, message: String) {
        let plugin = self.plugin.id.as_str();
        let mut message = message;
        if message.len() > MAX_LOG_LINE {
            let mut cut = MAX_LOG_LINE;
            while !message.is_char_boundary(cut) {
                cut -= 1;
            }
            message.truncate(cut);
            message.push('…');
        }
        match level {
            Level::Trace => tracing::trace!(target: "plugin", plugin, "{message}"),
            Level::Debug => tracing::debug!(target: "plugin", plugin, "{message}"),
            Level::Info => tracing::info!(target: "plugin", plugin, "{message}"),
            Level::Warn => tracing::warn!(target: "plugin", plugin, "{message}"),
            Level::Error => tracing::error!(target: "plugin", plugin, "{message}"),
        }
    }
}
