//! Sending: the queue of commands, filling the window (lines to resend first, then queued
//! commands, then the file), and writing to the port, numbered or raw.

use std::time::Instant;

use tokio::io::AsyncWriteExt;

use super::print::Phase;
use super::Session;
use crate::engine::control::{EngineEvent, SessionEnd};
use crate::engine::liveness::is_long_running;
use crate::engine::progress::Origin;
use crate::engine::window::InFlight;
use crate::protocol::line::{strip, write_numbered};
use crate::terminal::Direction;

/// What a queued command is for, so its acknowledgement can be recognised.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Purpose {
    /// A user's or a script's command.
    Command,
    /// M105 temperature poll.
    Poll,
    /// M115 identification at connect.
    Identify,
    /// Other housekeeping (M155).
    Housekeeping,
}

#[derive(Debug)]
pub(super) struct Queued {
    pub(super) command: String,
    pub(super) purpose: Purpose,
}

impl Session {
    /// Fills the window: lines to resend first, then queued commands, then the file.
    pub(super) fn pump(&mut self) {
        if self.learning_until.is_some() || self.awaiting_probe {
            return;
        }
        let now = Instant::now();
        if std::mem::take(&mut self.probe_due) {
            // Numbered as the next new line, also in the middle of a resend: the firmware then
            // refuses it and names the line it wants.
            let number = self.next_number;
            let resending = self.cursor < number;
            self.scratch.clear();
            write_numbered(&mut self.scratch, number, "M105");
            self.history
                .push(number, &self.scratch, Origin::Housekeeping, false);
            self.window.push(InFlight {
                number,
                bytes: self.scratch.len(),
                long: false,
                sent_at: now,
            });
            self.terminal.record(Direction::Sent, &self.scratch);
            self.out.extend_from_slice(&self.scratch);
            self.probe_lines.push(number);
            self.next_number += 1;
            if !resending {
                self.cursor = self.next_number;
            }
        }
        loop {
            // While asking again, one line at a time until the firmware answers.
            if self.probing && !self.window.is_empty() {
                break;
            }
            if self.cursor < self.next_number {
                let Some(line) = self.history.get(self.cursor) else {
                    break;
                };
                if !self.window.has_room(line.wire.len()) {
                    break;
                }
                self.window.push(InFlight {
                    number: line.number,
                    bytes: line.wire.len(),
                    long: line.long,
                    sent_at: now,
                });
                self.terminal.record(Direction::Sent, &line.wire);
                self.out.extend_from_slice(&line.wire);
                self.cursor += 1;
                continue;
            }
            if !self.fill_pending_file_line() {
                break;
            }
            let number = self.next_number;
            let (command, origin, purpose) = if let Some(queued) = self.commands.front() {
                let origin = match queued.purpose {
                    Purpose::Command => Origin::Command,
                    Purpose::Poll | Purpose::Identify | Purpose::Housekeeping => {
                        Origin::Housekeeping
                    }
                };
                (queued.command.as_str(), origin, queued.purpose)
            } else if let Some(line) = self
                .job
                .as_ref()
                .and_then(|job| job.has_pending.then_some(&job.pending))
            {
                let origin = Origin::File {
                    file_line: line.file_line,
                    end_offset: line.end_offset,
                };
                (line.command.as_str(), origin, Purpose::Command)
            } else {
                break;
            };
            self.scratch.clear();
            write_numbered(&mut self.scratch, number, command);
            if !self.window.has_room(self.scratch.len())
                || (self.motion_bound && !self.window.has_room_for_two(self.scratch.len()))
            {
                break;
            }
            let long = is_long_running(command);
            match purpose {
                Purpose::Poll => self.poll_line = Some(number),
                Purpose::Identify => self.identify_line = Some(number),
                Purpose::Command | Purpose::Housekeeping => {}
            }
            if self.commands.pop_front().is_none() {
                if let Some(job) = &mut self.job {
                    job.has_pending = false;
                    job.tally.lines_sent += 1;
                }
            }
            self.history.push(number, &self.scratch, origin, long);
            self.window.push(InFlight {
                number,
                bytes: self.scratch.len(),
                long,
                sent_at: now,
            });
            self.terminal.record(Direction::Sent, &self.scratch);
            self.out.extend_from_slice(&self.scratch);
            self.next_number += 1;
            self.cursor = self.next_number;
        }
    }

    /// Reads the next file line when the job is feeding and none is pending. False when
    /// there is nothing at all to send.
    pub(super) fn fill_pending_file_line(&mut self) -> bool {
        if !self.commands.is_empty() {
            return true;
        }
        let Some(job) = &mut self.job else {
            return false;
        };
        if job.phase != Phase::Running || job.eof {
            return false;
        }
        if !job.has_pending {
            match job.source.next_line_into(&mut job.pending) {
                Ok(true) => job.has_pending = true,
                Ok(false) => {
                    job.eof = true;
                    return false;
                }
                Err(error) => {
                    let reason = format!("reading {}: {error}", job.tally.file.display());
                    let progress = job.tally.snapshot();
                    self.job = None;
                    tracing::error!(%reason, "print failed");
                    self.emit(EngineEvent::PrintFailed { reason, progress });
                    return false;
                }
            }
        }
        true
    }

    pub(super) async fn flush(&mut self) -> Result<(), SessionEnd> {
        if self.out.is_empty() {
            return Ok(());
        }
        // The tty almost always takes the whole window at once: write directly and keep the
        // timed async path (a timer per write) for when it does not.
        match self.port.try_write(&self.out) {
            Ok(written) => {
                self.out.drain(..written);
                if self.out.is_empty() {
                    return Ok(());
                }
            }
            Err(error) if error.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(error) if error.kind() == std::io::ErrorKind::Interrupted => {}
            Err(error) => return Err(SessionEnd::Gone(error.to_string())),
        }
        let write = self.port.write_all(&self.out);
        match tokio::time::timeout(self.config.ack_timeout, write).await {
            Ok(Ok(())) => {
                self.out.clear();
                Ok(())
            }
            Ok(Err(error)) => Err(SessionEnd::Gone(error.to_string())),
            Err(_) => Err(SessionEnd::Timeout(
                "the port accepts no more bytes (the firmware stopped reading)".into(),
            )),
        }
    }

    /// Writes bytes outside the numbered stream, best effort (emergency stop, heaters off).
    pub(super) fn write_raw(&mut self, bytes: &[u8]) {
        // Non-blocking write on the raw fd: these few bytes fit in any tty buffer, and when
        // the device is gone there is nobody to tell.
        self.terminal.record(Direction::Sent, bytes);
        let _ = self.port.try_write_all(bytes);
    }

    pub(super) fn queue_user_lines(&mut self, lines: Vec<String>) {
        for line in lines {
            if let Some(command) = strip(&line) {
                self.commands.push_back(Queued {
                    command: command.to_string(),
                    purpose: Purpose::Command,
                });
            }
        }
    }

    pub(super) fn queue_poll(&mut self) {
        self.next_poll = Instant::now() + self.config.temperature_interval;
        let queued = self.commands.iter().any(|c| c.purpose == Purpose::Poll);
        // While a bare M105 of ours is unanswered, an answer could not be told from the poll's.
        if self.poll_line.is_none() && !queued && self.bare_probes.is_empty() {
            self.commands.push_back(Queued {
                command: "M105".into(),
                purpose: Purpose::Poll,
            });
        }
    }
}
