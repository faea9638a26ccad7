//! Acknowledgements: which lines an `ok` acknowledges (the oldest in flight, the ones up to
//! the number ADVANCED_OK or Repetier gives, or everything up to a probe it answers), what its
//! fields say about the firmware's buffers, and crediting the print with the lines the firmware
//! has executed.

use std::time::Instant;

use super::resend::OkAfterResend;
use super::sending::{Purpose, Queued};
use super::{stated_limits, Session};
use crate::engine::control::EngineEvent;
use crate::engine::progress::Origin;
use crate::protocol::line::{self, is_code, parse_numbered};
use crate::protocol::reply::Ack;

/// What says that a line was taken, which decides whether its latency says how fast the
/// firmware answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Evidence {
    /// An `ok` (counted, or numbered up to it).
    OwnOk,
    /// The answer to a question after a silence, or a resend request for a later line: the
    /// line's own `ok` was lost, and its wait says nothing about the firmware's pace.
    Implied,
}

impl Session {
    pub(super) fn note_ack_fields(&mut self, ack: &Ack) {
        if ack.line.is_some() {
            self.numbered_oks = true;
        }
        if let Some(free) = ack.planner_free {
            self.motion_bound = free == 0;
        }
        if let Some(free) = ack.buffer_free {
            if free > self.max_free_slots {
                self.max_free_slots = free;
                if self.config.send_ahead {
                    self.window
                        .set_limits(stated_limits(&self.config, Some(free)));
                }
            }
        }
    }

    pub(super) fn on_ok(&mut self, ack: Ack) {
        self.note_ack_fields(&ack);
        let answers_m105 = ack.temperatures.is_some();
        if let Some(report) = ack.temperatures {
            self.emit(EngineEvent::Temperatures(report));
        }
        // RepRapFirmware's answer to a bare M105 of ours: no line's acknowledgement.
        if answers_m105 && (self.awaiting_probe || !self.bare_probes.is_empty()) {
            self.bare_probes.pop_front();
            if !std::mem::take(&mut self.awaiting_probe) {
                return;
            }
            if let Some(oldest) = self.window.oldest() {
                tracing::debug!(
                    line = oldest.number,
                    "the firmware dropped a line: sending it again"
                );
                self.window.clear();
                self.cursor = oldest.number;
                if let Some(job) = &mut self.job {
                    job.tally.resends += 1;
                }
            }
            return;
        }
        // Marlin with ADVANCED_OK answers M105 with a bare `ok T:…` (M105 prints its own
        // `ok`): it acknowledges the oldest M105 in flight and, since the firmware answers in
        // order, every line before it.
        if answers_m105 && ack.line.is_none() && self.numbered_oks {
            if let Some(m105) = self.oldest_m105_in_flight() {
                self.learning_until = None;
                self.ack_through(m105, Evidence::OwnOk);
            }
            return;
        }
        // The answer to a probe acknowledges everything up to it, whatever `ok`s were lost,
        // unless an older M105 poll in flight may be the one answering.
        if answers_m105 && ack.line.is_none() {
            if let Some(&probe) = self.probe_lines.first() {
                if self.poll_line.is_none_or(|poll| poll > probe) {
                    self.learning_until = None;
                    self.ack_through(probe, Evidence::Implied);
                    return;
                }
            }
        }
        match ack.line {
            Some(number) if self.numbered_oks => {
                // The number says which line is acknowledged: an older one answers a resend
                // request or repeats an `ok` already counted.
                self.learning_until = None;
                self.ack_through(number, Evidence::OwnOk);
                // Lines waiting to be sent again that the firmware says it has: it took the
                // ones sent before its resend request after all.
                if self.window.is_empty() && self.cursor <= number && number < self.next_number {
                    for skipped in self.cursor..=number {
                        self.settle(skipped);
                    }
                    self.cursor = number + 1;
                }
            }
            // This firmware numbers its `ok`s; one without a number answers a resend request.
            None if self.numbered_oks => {}
            _ => {
                if self.learning_until.take().is_some() {
                    self.ok_after_resend = OkAfterResend::Yes;
                    return;
                }
                if self.swallow_oks > 0 {
                    self.swallow_oks -= 1;
                    return;
                }
                // With nothing in flight this is a duplicated `ok`.
                if !self.window.is_empty() {
                    self.ack_oldest(Evidence::OwnOk);
                }
            }
        }
    }

    /// Acknowledges every line in flight up to `number`.
    pub(super) fn ack_through(&mut self, number: u64, evidence: Evidence) {
        while self
            .window
            .oldest()
            .is_some_and(|line| line.number <= number)
        {
            self.ack_oldest(evidence);
        }
    }

    /// The oldest `M105` in flight (a poll, a probe or a user's), by its bytes on the wire.
    fn oldest_m105_in_flight(&self) -> Option<u64> {
        self.window.iter().map(|line| line.number).find(|&number| {
            self.history.get(number).is_some_and(|sent| {
                let wire = line::text(&sent.wire);
                parse_numbered(wire.trim_end()).is_ok_and(|(_, command)| is_code(command, "M105"))
            })
        })
    }

    pub(super) fn ack_oldest(&mut self, evidence: Evidence) {
        let Some(line) = self.window.ack_oldest() else {
            return;
        };
        let now = Instant::now();
        if !line.long && evidence == Evidence::OwnOk {
            let latency = now.saturating_duration_since(line.sent_at);
            self.slow_ack = latency.max(self.slow_ack - self.slow_ack / 64);
        }
        self.last_progress = now;
        self.timeouts = 0;
        self.full_timeouts = 0;
        self.probing = false;
        if self.window.is_empty() {
            // Nothing left that a question could be about.
            self.awaiting_probe = false;
        }
        self.settle(line.number);
    }

    /// Line `number` is known to have been taken by the firmware: what waited for it is over,
    /// and the print is credited with it.
    fn settle(&mut self, number: u64) {
        if !self.probe_lines.is_empty() {
            self.probe_lines.retain(|&probe| probe > number);
        }
        if self.resend_repeat.0 <= number {
            self.resend_repeat = (0, 0);
        }
        if self.stale.is_some_and(|(stale, _)| stale <= number) {
            self.stale = None;
        }
        if self.poll_line == Some(number) {
            self.poll_line = None;
        }
        if self.identify_line == Some(number) {
            self.identify_line = None;
            if std::mem::replace(&mut self.identified, true) {
                self.on_identified();
            } else {
                // The firmware is known; its temperatures come next, before anyone is told.
                self.commands.push_front(Queued {
                    command: "M105".into(),
                    purpose: Purpose::Identify,
                });
            }
        }
        self.credit(number);
    }

    /// Counts line `number` as executed in the print's tally, if it came from the file.
    fn credit(&mut self, number: u64) {
        let Some(sent) = self.history.get(number) else {
            return;
        };
        if let (
            Origin::File {
                file_line,
                end_offset,
            },
            Some(job),
        ) = (sent.origin, &mut self.job)
        {
            // Only forward: a line credited once is never credited again.
            if end_offset > job.tally.acked_offset {
                job.tally.acked_offset = end_offset;
                job.tally.last_acked_line = file_line;
                job.tally.lines_acked += 1;
            }
        }
    }
}
