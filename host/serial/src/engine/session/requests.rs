//! Requests to the session: the supervisor's [`Control`] messages, the firmware's host action
//! commands (`//action:pause`), and the emergency stop either may call for.

use tokio::io::AsyncWriteExt;

use super::Session;
use crate::engine::control::{Control, EngineEvent, SessionEnd};
use crate::protocol::line::{is_code, strip};
use crate::protocol::reply::Action;
use crate::terminal::Direction;

impl Session {
    pub(super) fn on_action(&mut self, action: Action) {
        tracing::info!(?action, "firmware action command");
        let result = match action {
            Action::Pause | Action::Paused => self.pause(),
            Action::Resume => self.resume(true),
            Action::Resumed => self.resume(false),
            Action::Cancel => self.cancel(),
            other => {
                self.emit(EngineEvent::Action(other));
                Ok(())
            }
        };
        if let Err(error) = result {
            tracing::debug!(%error, "firmware action ignored");
        }
    }

    pub(super) async fn on_control(&mut self, message: Option<Control>) -> Result<(), SessionEnd> {
        match message {
            None | Some(Control::Disconnect) => return Err(SessionEnd::Disconnected),
            Some(Control::EmergencyStop) => return Err(self.emergency_stop().await),
            Some(Control::Send(lines)) => {
                if lines
                    .iter()
                    .any(|line| strip(line).is_some_and(is_emergency_stop))
                {
                    return Err(self.emergency_stop().await);
                }
                self.queue_user_lines(lines);
            }
            Some(Control::StartPrint { file, reply }) => {
                let _ = reply.send(self.start_print(file));
            }
            Some(Control::Pause(reply)) => {
                let _ = reply.send(self.pause());
            }
            Some(Control::Resume(reply)) => {
                let _ = reply.send(self.resume(true));
            }
            Some(Control::Cancel(reply)) => {
                let _ = reply.send(self.cancel());
            }
        }
        Ok(())
    }

    pub(super) async fn emergency_stop(&mut self) -> SessionEnd {
        // Ahead of everything: nothing queued or pending is written before it.
        self.out.clear();
        self.terminal
            .record(Direction::Sent, b"M112\nM104 S0\nM140 S0\n");
        let _ = self.port.write_all(b"M112\n").await;
        let _ = self.port.write_all(b"M104 S0\nM140 S0\n").await;
        let _ = self.port.flush().await;
        tracing::warn!(port = %self.config.port.display(), "emergency stop sent");
        SessionEnd::EmergencyStop
    }
}

fn is_emergency_stop(command: &str) -> bool {
    is_code(command, "M112")
}
