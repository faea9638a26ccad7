//! Flow control: how many lines may be in flight without overrunning the firmware.
//!
//! A line the firmware has not acknowledged sits either in its serial RX buffer (bytes) or in
//! its command queue (slots). Counting every unacknowledged line against both limits can never
//! overrun either, whatever the firmware does with them.

use std::collections::VecDeque;
use std::time::Instant;

/// Marlin's RX ring is 128 bytes and holds 127; used when ADVANCED_OK reveals send-ahead
/// support but the config does not state the buffer.
pub const MARLIN_RX_BYTES: usize = 127;

/// The limits of the link.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Unacknowledged lines at most (1 = ping-pong).
    pub lines: usize,
    /// Unacknowledged bytes at most.
    pub bytes: usize,
}

impl Limits {
    /// One line at a time, whatever its length.
    pub const PING_PONG: Limits = Limits {
        lines: 1,
        bytes: usize::MAX,
    };

    /// Whether more than one line may be in flight.
    pub fn is_send_ahead(&self) -> bool {
        self.lines > 1
    }
}

/// A line on its way: sent, not yet acknowledged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct InFlight {
    /// Its line number.
    pub number: u64,
    /// Its length on the wire.
    pub bytes: usize,
    /// Whether it may keep the firmware busy for long (see [`super::liveness`]).
    pub long: bool,
    /// When it was (last) written: an acknowledgement's latency, and how long a line has
    /// been waiting for one.
    pub sent_at: Instant,
}

/// The lines in flight, oldest first.
#[derive(Debug)]
pub(super) struct Window {
    limits: Limits,
    lines: VecDeque<InFlight>,
    bytes: usize,
}

impl Window {
    /// An empty window with these limits.
    pub(super) fn new(limits: Limits) -> Window {
        Window {
            limits,
            lines: VecDeque::with_capacity(limits.lines.min(64)),
            bytes: 0,
        }
    }

    /// The limits in force.
    pub(super) fn limits(&self) -> Limits {
        self.limits
    }

    /// Changes the limits (the firmware revealed its buffers). Lines already in flight stay.
    pub(super) fn set_limits(&mut self, limits: Limits) {
        self.limits = limits;
    }

    /// Whether a line of `bytes` may be sent now. An empty window always takes one line, so
    /// a line longer than the stated buffer is not stuck forever.
    pub(super) fn has_room(&self, bytes: usize) -> bool {
        self.lines.is_empty()
            || (self.lines.len() < self.limits.lines && self.bytes + bytes <= self.limits.bytes)
    }

    /// Whether two lines of `bytes` each may be sent now, in a window that holds at least
    /// three; an empty window always takes them. Asked before every new line while the
    /// firmware is motion-bound, so in effect it keeps the window one line smaller then.
    pub(super) fn has_room_for_two(&self, bytes: usize) -> bool {
        let holds_three = self.limits.lines >= 3 && 3 * bytes <= self.limits.bytes;
        self.lines.is_empty()
            || !holds_three
            || (self.lines.len() + 2 <= self.limits.lines
                && self.bytes + 2 * bytes <= self.limits.bytes)
    }

    /// Records a sent line.
    pub(super) fn push(&mut self, line: InFlight) {
        self.bytes += line.bytes;
        self.lines.push_back(line);
    }

    /// Acknowledges the oldest line in flight.
    pub(super) fn ack_oldest(&mut self) -> Option<InFlight> {
        let line = self.lines.pop_front()?;
        self.bytes -= line.bytes;
        Some(line)
    }

    /// The oldest line in flight.
    pub(super) fn oldest(&self) -> Option<InFlight> {
        self.lines.front().copied()
    }

    /// Whether nothing is in flight.
    pub(super) fn is_empty(&self) -> bool {
        self.lines.is_empty()
    }

    /// The lines in flight, oldest first.
    pub(super) fn iter(&self) -> impl Iterator<Item = &InFlight> {
        self.lines.iter()
    }

    /// Whether line `number` is in flight.
    pub(super) fn contains(&self, number: u64) -> bool {
        self.lines.iter().any(|l| l.number == number)
    }

    /// How many lines in flight have a number above `number`.
    pub(super) fn count_after(&self, number: u64) -> usize {
        self.lines.iter().filter(|l| l.number > number).count()
    }

    /// Whether a long-running command is in flight.
    pub(super) fn any_long(&self) -> bool {
        self.lines.iter().any(|l| l.long)
    }

    /// Forgets every line in flight (the firmware discarded them: a resend request or a reset).
    pub(super) fn clear(&mut self) {
        self.lines.clear();
        self.bytes = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn respects_both_line_and_byte_limits() {
        let mut window = Window::new(Limits {
            lines: 4,
            bytes: 127,
        });
        for number in 1..=4 {
            assert!(window.has_room(30));
            window.push(InFlight {
                number,
                bytes: 30,
                long: false,
                sent_at: Instant::now(),
            });
        }
        assert!(!window.has_room(1), "4 lines is the slot limit");
        window.ack_oldest();
        assert!(!window.has_room(38), "90 + 38 bytes would overrun 127");
        assert!(window.has_room(37));
        assert_eq!(window.count_after(2), 2);
        assert!(window.contains(4) && !window.contains(1));
        window.clear();
        assert!(window.is_empty());
        assert!(window.has_room(500), "an empty window takes any one line");
    }

    #[test]
    fn two_at_a_time_only_where_three_fit() {
        let mut window = Window::new(Limits {
            lines: 4,
            bytes: 127,
        });
        let line = |number| InFlight {
            number,
            bytes: 37,
            long: false,
            sent_at: Instant::now(),
        };
        assert!(window.has_room_for_two(37));
        window.push(line(1));
        window.push(line(2));
        window.push(line(3));
        window.ack_oldest();
        assert!(window.has_room(37), "room for one more");
        assert!(!window.has_room_for_two(37), "but not for two");
        window.ack_oldest();
        assert!(window.has_room_for_two(37));
        // Where three do not fit, two at a time would stall: it never holds back.
        let mut small = Window::new(Limits {
            lines: 4,
            bytes: 100,
        });
        small.push(line(1));
        assert!(small.has_room_for_two(37));
    }

    #[test]
    fn ping_pong_keeps_one_line_in_flight() {
        let mut window = Window::new(Limits::PING_PONG);
        assert!(window.has_room(90));
        window.push(InFlight {
            number: 1,
            bytes: 10,
            long: true,
            sent_at: Instant::now(),
        });
        assert!(!window.has_room(1));
        assert!(window.any_long());
        assert_eq!(window.ack_oldest().map(|l| l.number), Some(1));
        assert!(window.has_room(1));
    }
}
