//! Silences: how long the firmware may stay silent with lines in flight, and asking it where it
//! stands when it stays silent longer (a line or an `ok` was lost). Which commands may keep it
//! silent for long is `engine/liveness.rs`'s business.

use std::time::{Duration, Instant};

use super::Session;
use crate::engine::control::SessionEnd;

/// The shortest silence, with ordinary lines in flight, after which the engine asks again.
const MIN_PROBE_ALLOWANCE: Duration = Duration::from_millis(50);
/// The silence allowed before asking again is this many times the slowest recent
/// acknowledgement: a firmware whose planner is full acknowledges as slowly as it moves, and
/// asking again too early only costs a refused duplicate, asking too late costs the print's
/// time.
const PROBE_LATENCY_FACTOR: u32 = 8;
/// Silence allowed during a long command from firmware that sends `busy:` keep-alives (Marlin's
/// HOST_KEEPALIVE default interval is 2 s).
const BUSY_ALLOWANCE: Duration = Duration::from_secs(3);

impl Session {
    /// Asks the firmware where it stands after a silence with lines in flight.
    ///
    /// Firmware that checks line numbers gets a numbered `M105` as the next line, past the
    /// window's limits (it is short, and the firmware's buffers hold more than the window
    /// counts), and nothing else until it answers. If it has every line in flight, it takes
    /// the probe and answers `ok T:…`, which acknowledges everything up to the probe, a lost
    /// `ok` included; if it lost one, or is in the middle of a resend, it refuses the probe
    /// and asks for the line it wants. Sending the oldest line again instead would not do:
    /// Marlin 2.1 drops a repeat of its last line silently, so a lost `ok` would never come.
    ///
    /// RepRapFirmware checks no line numbers and drops a bad line silently: it gets an
    /// unnumbered `M105` and nothing else until that is answered; since it answers in order,
    /// a line still unacknowledged then was dropped and is sent again (a lost `ok` looks the
    /// same, but RRF drops bad lines, and `ok`s are rarely lost). Klipper ignores line numbers
    /// and never drops a line: an unnumbered `M105`.
    pub(super) fn probe(&mut self, now: Instant) {
        self.last_progress = now;
        let Some(oldest) = self.window.oldest() else {
            return;
        };
        if self.drops_bad_lines && self.poll_line == Some(oldest.number) {
            // An M105 poll in flight: sending it again is the same question.
            self.window.clear();
            self.cursor = oldest.number;
        } else if self.ignores_line_numbers || self.drops_bad_lines {
            self.write_raw(b"M105\n");
            if self.drops_bad_lines {
                self.awaiting_probe = true;
                self.bare_probes.push_back(now);
            }
        } else {
            self.probe_due = true;
            self.probing = true;
        }
    }

    /// Counts a silence longer than the [`allowance`](Session::allowance) with lines in flight
    /// and [asks again](Session::ask_again).
    pub(super) fn on_silence(&mut self, now: Instant) -> Result<(), SessionEnd> {
        if !self.window.is_empty() && now.duration_since(self.silent_since()) >= self.allowance() {
            self.ask_again(now)?;
        }
        Ok(())
    }

    /// A `wait` keep-alive: Marlin says it only when its queue is empty and nothing arrives,
    /// so an ordinary line that has waited a while for its `ok` was lost, or its `ok` was, and
    /// asking now beats waiting out the allowance. It counts as an attempt all the same: a
    /// firmware that keeps saying `wait` and never takes the line is not printing.
    pub(super) fn on_wait(&mut self, now: Instant) -> Result<(), SessionEnd> {
        let waited = |since: Instant| now.duration_since(since) >= MIN_PROBE_ALLOWANCE;
        if !self.window.any_long()
            && self
                .window
                .oldest()
                .is_some_and(|line| waited(line.sent_at))
            && waited(self.silent_since())
        {
            tracing::debug!("`wait` with a line in flight: asking again");
            self.ask_again(now)?;
        }
        Ok(())
    }

    /// Asks the firmware again after a silence, counting the attempt: the session ends after
    /// more than [`EngineConfig::max_timeouts`](crate::engine::EngineConfig::max_timeouts)
    /// attempts in a row made once the allowance has grown to the full
    /// [`EngineConfig::ack_timeout`](crate::engine::EngineConfig::ack_timeout).
    fn ask_again(&mut self, now: Instant) -> Result<(), SessionEnd> {
        let allowance = self.allowance();
        self.timeouts += 1;
        let oldest = self.window.oldest().map_or(0, |line| line.number);
        if allowance >= self.config.ack_timeout {
            self.full_timeouts += 1;
            if self.full_timeouts > self.config.max_timeouts {
                return Err(SessionEnd::Timeout(format!(
                    "no acknowledgement of line {oldest}: the firmware was asked {} times \
                     and did not take it (the last {} times after {:?} or more each)",
                    self.timeouts - 1,
                    self.config.max_timeouts,
                    self.config.ack_timeout
                )));
            }
        }
        tracing::warn!(
            line = oldest,
            attempt = self.timeouts,
            silence = ?allowance,
            "no answer from the firmware; asking again"
        );
        self.probe(now);
        Ok(())
    }

    /// Since when the firmware has owed an answer: its last sign of progress, or the sending
    /// of the oldest line in flight if that came later (a print starting after an idle hour
    /// owes nothing for that hour).
    pub(super) fn silent_since(&self) -> Instant {
        match self.window.oldest() {
            Some(line) => self.last_progress.max(line.sent_at),
            None => self.last_progress,
        }
    }

    /// The silence allowed while lines are in flight. For ordinary lines it starts at
    /// [`PROBE_LATENCY_FACTOR`] times the slowest recent acknowledgement and doubles with
    /// every unanswered attempt, up to
    /// [`EngineConfig::ack_timeout`](crate::engine::EngineConfig::ack_timeout).
    pub(super) fn allowance(&self) -> Duration {
        match (self.window.any_long(), self.busy_protocol) {
            // Firmware with keep-alives says `busy` every 2 s during a long command.
            (true, true) => self.config.ack_timeout.max(BUSY_ALLOWANCE),
            (true, false) => self.config.long_command_timeout,
            (false, _) => {
                let quick = (self.slow_ack * PROBE_LATENCY_FACTOR).max(MIN_PROBE_ALLOWANCE);
                quick
                    .saturating_mul(1 << self.timeouts.min(16))
                    .min(self.config.ack_timeout)
            }
        }
    }
}
