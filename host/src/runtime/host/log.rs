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

#[cfg(test)]
mod tests {
    use super::super::testing::Harness;
    use super::*;
    use crate::logging::CapturedLog;

    /// Lines reach the host's log at their level, tagged with the plugin, with no capability;
    /// a line longer than [`MAX_LOG_LINE`] is cut there.
    #[tokio::test(flavor = "current_thread")]
    async fn lines_are_tagged_with_the_plugin_and_cut_to_length() {
        let captured = CapturedLog::default();
        let writer = captured.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::INFO)
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .finish();
        let _guard = tracing::subscriber::set_default(subscriber);
        let harness = Harness::new().await;
        let mut call = harness.call(&[], &[], "");
        log::Host::write(&mut call, Level::Warn, "the belt slipped".into()).await;
        log::Host::write(&mut call, Level::Debug, "below the level".into()).await;
        log::Host::write(&mut call, Level::Info, "y".repeat(MAX_LOG_LINE + 100)).await;
        let text = captured.text();
        let warn = text
            .lines()
            .find(|line| line.contains("the belt slipped"))
            .expect(&text);
        assert!(
            warn.contains("WARN") && warn.contains("plugin=\"probe\""),
            "{warn}"
        );
        assert!(!text.contains("below the level"), "{text}");
        let long = text
            .lines()
            .find(|line| line.contains("yyyy"))
            .expect(&text);
        assert_eq!(long.matches('y').count(), MAX_LOG_LINE, "{}", long.len());
        assert!(long.contains('…'));
    }
}
