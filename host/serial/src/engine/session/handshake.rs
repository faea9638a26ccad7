//! The handshake: from the open port to a printer that answers. `M110 N0` is sent until an `ok`
//! comes back (after the boot `start`, for boards that reset on open); then `M115` is queued,
//! then a first `M105`, and the acknowledgement of that makes the session connected: a printer
//! reported connected has its temperatures already.

use std::time::{Duration, Instant};

use tokio::io::AsyncReadExt;
use tokio::sync::mpsc;

use super::sending::{Purpose, Queued};
use super::{Session, READ_CHUNK};
use crate::engine::control::{Control, ControlError, EngineEvent, SessionEnd};
use crate::engine::progress::Origin;
use crate::protocol::line::write_numbered;
use crate::protocol::reply::{self, Reply};
use crate::terminal::Direction;

/// Between two `M110 N0` probes during the handshake.
const PROBE_INTERVAL: Duration = Duration::from_secs(1);

impl Session {
    pub(super) async fn handshake(
        &mut self,
        control: &mut mpsc::Receiver<Control>,
    ) -> Result<(), SessionEnd> {
        let deadline = Instant::now() + self.config.handshake_timeout;
        // Boards that reset on open print `start` when booted; give them the time to boot.
        let boot = (Instant::now() + self.config.boot_wait).min(deadline);
        self.wait_for(boot, control, |reply| matches!(reply, Reply::Start))
            .await?;
        loop {
            self.out.clear();
            write_numbered(&mut self.out, 0, "M110 N0");
            self.terminal.record(Direction::Sent, &self.out);
            self.flush().await?;
            let until = (Instant::now() + PROBE_INTERVAL).min(deadline);
            if self
                .wait_for(until, control, |reply| matches!(reply, Reply::Ok(_)))
                .await?
            {
                break;
            }
            if Instant::now() >= deadline {
                return Err(SessionEnd::Timeout(format!(
                    "no answer to M110 within {:?}; check the port and the baud rate ({})",
                    self.config.handshake_timeout, self.config.baud
                )));
            }
        }
        self.history.push(0, &self.out, Origin::Housekeeping, false);
        self.out.clear();
        self.next_number = 1;
        self.cursor = 1;
        self.last_progress = Instant::now();
        self.commands.push_front(Queued {
            command: "M115".into(),
            purpose: Purpose::Identify,
        });
        Ok(())
    }

    /// Reads replies until one matches `wanted` (true) or `until` passes (false).
    async fn wait_for(
        &mut self,
        until: Instant,
        control: &mut mpsc::Receiver<Control>,
        wanted: impl Fn(&Reply) -> bool,
    ) -> Result<bool, SessionEnd> {
        let mut buffer = [0u8; READ_CHUNK];
        loop {
            while let Some(line) = self.take_line() {
                let reply = reply::parse(&line);
                if wanted(&reply) {
                    // Anything after the wanted reply is for the streaming loop.
                    if let Reply::Ok(ack) = &reply {
                        self.note_ack_fields(ack);
                    }
                    return Ok(true);
                }
                self.handle_reply(reply)?;
            }
            tokio::select! {
                read = self.port.read(&mut buffer) => self.on_read(read, &buffer)?,
                message = control.recv() => self.on_control_while_connecting(message).await?,
                _ = tokio::time::sleep_until(until.into()) => return Ok(false),
            }
        }
    }

    async fn on_control_while_connecting(
        &mut self,
        message: Option<Control>,
    ) -> Result<(), SessionEnd> {
        match message {
            None | Some(Control::Disconnect) => Err(SessionEnd::Disconnected),
            Some(Control::EmergencyStop) => Err(self.emergency_stop().await),
            Some(Control::Send(lines)) => {
                self.queue_user_lines(lines);
                Ok(())
            }
            Some(Control::StartPrint { reply, .. }) => {
                let _ = reply.send(Err(ControlError::NotConnected("connecting".into())));
                Ok(())
            }
            Some(Control::Pause(reply) | Control::Resume(reply) | Control::Cancel(reply)) => {
                let _ = reply.send(Err(ControlError::NotPrinting));
                Ok(())
            }
        }
    }

    pub(super) fn on_identified(&mut self) {
        self.connected = true;
        self.next_poll = Instant::now();
        tracing::info!(
            port = %self.config.port.display(),
            firmware = %self.firmware.name,
            limits = ?self.window.limits(),
            "printer connected"
        );
        self.emit(EngineEvent::Connected {
            firmware: self.firmware.clone(),
            capabilities: self.capabilities.clone(),
            limits: self.window.limits(),
        });
    }
}
