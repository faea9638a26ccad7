//! Resends: the firmware's requests for a line again, the transmission errors that come with
//! them (or, from some firmware, instead of them), and the waits for the `ok` or the `Resend:`
//! that may follow. A resend repeats the bytes sent before, from the history.

use std::time::{Duration, Instant};

use super::acks::Evidence;
use super::Session;
use crate::engine::control::SessionEnd;
use crate::protocol::reply::FirmwareError;

/// After the first resend request, how long to wait for an `ok` that belongs to it. Marlin
/// builds differ: most send `Resend: n` then `ok`, some 2.0.x builds no `ok`.
const RESEND_OK_GRACE: Duration = Duration::from_millis(500);
/// After a transmission error, how long to wait for the `Resend:` most firmware sends right
/// after it before resynchronising from the error's own words (`Last Line: 41`). OctoPrint's
/// simulator sends none after `No Line Number with checksum`, RepRapFirmware none at all.
const ERROR_RESEND_GRACE: Duration = Duration::from_millis(100);
/// The same line requested this many times in a row means the link cannot carry it.
const RESEND_LOOP_LIMIT: u32 = 10;

/// Whether this firmware sends an `ok` after a `Resend:`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum OkAfterResend {
    Unknown,
    Yes,
    No,
}

impl Session {
    /// A resend request for `requested`; `inferred` when no `Resend:` came and the engine
    /// took the line from a transmission error's words (no `ok` follows those).
    pub(super) fn on_resend(&mut self, requested: u64, inferred: bool) -> Result<(), SessionEnd> {
        self.error_resync = None;
        // The firmware answered: whatever was asked is now known.
        self.probing = false;
        // The firmware has every line before the one it asks for.
        if let Some(before) = requested.checked_sub(1) {
            self.ack_through(before, Evidence::Implied);
        }
        if !self.numbered_oks && !inferred {
            match self.ok_after_resend {
                OkAfterResend::Yes => self.swallow_oks += 1,
                OkAfterResend::Unknown if self.learning_until.is_none() => {
                    self.learning_until = Some(Instant::now() + RESEND_OK_GRACE);
                }
                // A second request before any `ok`: this firmware sends none after them.
                OkAfterResend::Unknown => {
                    self.learning_until = None;
                    self.ok_after_resend = OkAfterResend::No;
                }
                OkAfterResend::No => {}
            }
        }
        // Firmware that does not drain its input on an error (Prusa MK3, Repetier, OctoPrint's
        // simulator) may take lines sent ahead before a resend request after all and then
        // refuse our copies as duplicates: a request caused by a duplicate needs nothing when
        // the line it asks for is already on its way again, and acting on it would start yet
        // another round of duplicates. Only with send-ahead (one line at a time leaves nothing
        // to duplicate), and only for a refused line close enough to be such a copy: the
        // number may itself be a corrupted one. Should it be wrong, the next silence asks.
        let limits = self.window.limits();
        let copies = 2 * limits.lines as u64 + 1;
        if self.refused.take().is_some_and(|got| {
            limits.is_send_ahead() && got < requested && got + copies >= requested
        }) && (self.window.contains(requested)
            || (self.cursor <= requested && requested < self.next_number))
        {
            tracing::trace!(
                line = requested,
                "ignoring a resend request caused by a duplicate: the line is on its way"
            );
            return Ok(());
        }
        // Every other request counts, repeats from lines sent earlier too: a line refused
        // this often will not get through.
        if self.resend_repeat.0 == requested {
            self.resend_repeat.1 += 1;
            if self.resend_repeat.1 >= RESEND_LOOP_LIMIT {
                return Err(SessionEnd::Protocol(format!(
                    "the firmware requested line {requested} {RESEND_LOOP_LIMIT} times in a row"
                )));
            }
        } else {
            self.resend_repeat = (requested, 1);
        }
        if let Some((line, left)) = &mut self.stale {
            if *line == requested && *left > 0 {
                *left -= 1;
                tracing::trace!(
                    line = requested,
                    "ignoring a repeated resend request from lines sent before it"
                );
                return Ok(());
            }
        }
        if requested >= self.next_number {
            if requested == self.next_number {
                // Nothing after what it has: e.g. the answer to re-sending a line it had.
                self.cursor = self.next_number;
                self.window.clear();
                return Ok(());
            }
            // Never sent: a number garbled on the way, most likely. The next silence asks
            // again; a firmware that insists hits the repeat limit above.
            tracing::warn!(
                line = requested,
                last_sent = self.next_number - 1,
                "the firmware asks for a line not sent yet: ignored"
            );
            return Ok(());
        }
        if self.history.get(requested).is_none() {
            return Err(SessionEnd::Protocol(format!(
                "the firmware asks for line {requested}, older than the history kept (from {})",
                self.history.oldest().unwrap_or(0)
            )));
        }
        self.stale = Some((requested, self.window.count_after(requested)));
        self.window.clear();
        self.cursor = requested;
        if let Some(job) = &mut self.job {
            job.tally.resends += 1;
        }
        tracing::debug!(line = requested, "resending on request");
        Ok(())
    }

    /// A transmission error: part of a resend. The line it says the firmware refused is kept
    /// for the resend request that follows; if none follows within [`ERROR_RESEND_GRACE`], the
    /// session goes on from the line the error names, or asks again when it names none.
    pub(super) fn on_transmission_error(&mut self, error: &FirmwareError) {
        tracing::debug!(message = %error.message, "firmware transmission error");
        self.refused = error.refused_line();
        if self.error_resync.is_none() {
            self.error_resync = Some((Instant::now() + ERROR_RESEND_GRACE, error.expected_line()));
        }
    }

    /// Ends the waits of a resend whose time has run out: for an `ok` after the first resend
    /// request, and for the `Resend:` after a transmission error.
    pub(super) fn on_resend_timers(&mut self, now: Instant) -> Result<(), SessionEnd> {
        if self.learning_until.is_some_and(|until| now >= until) {
            self.learning_until = None;
            self.ok_after_resend = OkAfterResend::No;
        }
        if let Some((until, expected)) = self.error_resync {
            if now >= until {
                self.error_resync = None;
                match expected {
                    Some(line) => {
                        tracing::debug!(line, "no resend request after a transmission error: going on from the line it named");
                        self.on_resend(line, true)?;
                    }
                    None if !self.window.is_empty() => {
                        tracing::debug!(
                            "no resend request after a transmission error: asking again"
                        );
                        self.probe(now);
                    }
                    None => {}
                }
            }
        }
        Ok(())
    }
}
