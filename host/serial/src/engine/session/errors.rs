//! Firmware errors by kind: transmission errors are part of a resend (`resend.rs`), harmless
//! ones are reported, fatal ones end the session with the heaters off, and errors of no known
//! kind are handled as configured ([`UnknownErrors`]).

use super::Session;
use crate::engine::config::UnknownErrors;
use crate::engine::control::{EngineEvent, SessionEnd};
use crate::protocol::reply::{ErrorKind, FirmwareError};

impl Session {
    pub(super) fn on_error(&mut self, error: FirmwareError) -> Result<(), SessionEnd> {
        match error.kind {
            // Part of a resend: the `Resend:` that usually follows is what counts. When none
            // comes, the error's own words say where to go on from.
            ErrorKind::Resend => {
                self.on_transmission_error(&error);
                Ok(())
            }
            ErrorKind::Harmless => {
                tracing::info!(message = %error.message, "firmware error (harmless)");
                self.emit(EngineEvent::Message(format!("Error: {}", error.message)));
                Ok(())
            }
            ErrorKind::Fatal => Err(self.fatal(error.message, false)),
            ErrorKind::Unknown => {
                self.emit(EngineEvent::Message(format!("Error: {}", error.message)));
                match self.config.unknown_errors {
                    UnknownErrors::Disconnect => Err(self.fatal(error.message, true)),
                    UnknownErrors::Cancel => {
                        tracing::warn!(message = %error.message, "firmware error: failing the print");
                        if let Some(job) = &mut self.job {
                            job.failure = Some(format!("firmware error: {}", error.message));
                        }
                        let _ = self.cancel();
                        Ok(())
                    }
                    UnknownErrors::Ignore => {
                        tracing::warn!(message = %error.message, "firmware error (ignored as configured)");
                        Ok(())
                    }
                }
            }
        }
    }

    fn fatal(&mut self, message: String, unknown: bool) -> SessionEnd {
        tracing::error!(port = %self.config.port.display(), %message, "fatal firmware error");
        if unknown {
            // An error nobody knows could be anything: stop the printer before letting go.
            self.write_raw(b"M112\n");
        }
        self.write_raw(b"M104 S0\nM140 S0\n");
        SessionEnd::Fatal(message)
    }
}
