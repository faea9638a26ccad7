//! What the host's log lets through.
//!
//! The operator picks levels with `RUST_LOG`; on top of that, a few libraries' trace lines are
//! never written because they hold secrets: tungstenite writes the whole handshake request of an
//! outbound websocket at trace level, headers included, and a plugin's `authorization` header is
//! a credential (the WIT contract promises plugins their header values are never logged).

use tracing_subscriber::EnvFilter;

/// Log targets whose trace lines hold secrets, capped at `debug` whatever `RUST_LOG` says.
pub const SECRET_TRACES: [&str; 1] = ["tungstenite::handshake::client"];

/// The filter of the host's log: `RUST_LOG` when it is set and valid, else `default_level`,
/// with the [`SECRET_TRACES`] capped.
pub fn filter(default_level: &str) -> EnvFilter {
    let from_env = EnvFilter::try_from_default_env();
    capped(from_env.unwrap_or_else(|_| EnvFilter::new(default_level)))
}

/// `filter` with the [`SECRET_TRACES`] capped at `debug`. Added last, so that each replaces a
/// directive `RUST_LOG` gave for the same target.
fn capped(mut filter: EnvFilter) -> EnvFilter {
    for target in SECRET_TRACES {
        let directive = format!("{target}=debug")
            .parse()
            .expect("a valid log directive");
        filter = filter.add_directive(directive);
    }
    filter
}

/// A log writer that keeps what is written, for tests that read the log's lines.
#[cfg(test)]
#[derive(Clone, Default)]
pub(crate) struct CapturedLog(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

#[cfg(test)]
impl CapturedLog {
    /// Everything written so far.
    pub(crate) fn text(&self) -> String {
        String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
    }
}

#[cfg(test)]
impl std::io::Write for CapturedLog {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Even with every target at trace, by name or by default, the handshake request is not
    /// written, while other trace lines are.
    #[test]
    fn the_websocket_handshake_request_is_never_logged() {
        for asked in ["trace", "tungstenite::handshake::client=trace,trace"] {
            let captured = CapturedLog::default();
            let writer = captured.clone();
            let subscriber = tracing_subscriber::fmt()
                .with_env_filter(capped(EnvFilter::new(asked)))
                .with_ansi(false)
                .with_writer(move || writer.clone())
                .finish();
            tracing::subscriber::with_default(subscriber, || {
                tracing::trace!(target: "tungstenite::handshake::client", "Request: authorization: Bearer s3cret");
                tracing::debug!(target: "tungstenite::handshake::client", "Client handshake done.");
                tracing::trace!(target: "printfarm::other", "an ordinary trace line");
            });
            let text = captured.text();
            assert!(!text.contains("s3cret"), "{asked}: {text}");
            assert!(text.contains("handshake done"), "{asked}: {text}");
            assert!(text.contains("an ordinary trace line"), "{asked}: {text}");
        }
    }
}
