//! The lines already sent, kept so that a resend repeats exactly the bytes sent before.

use std::collections::VecDeque;

use super::progress::Origin;

/// How many sent lines are kept beyond the send-ahead window. Firmware asks only for lines
/// after the last one it accepted, which is at most a window behind; the margin covers
/// acknowledgements we may have credited too early (a duplicated `ok`).
pub const HISTORY_MARGIN: usize = 256;

/// One line as it went on the wire.
#[derive(Debug, Clone)]
pub(super) struct SentLine {
    /// Its line number.
    pub number: u64,
    /// `N<n> <command>*<checksum>\n`.
    pub wire: Vec<u8>,
    /// Where it came from.
    pub origin: Origin,
    /// Whether it may keep the firmware busy for long.
    pub long: bool,
}

/// A bounded history of sent lines, by line number.
#[derive(Debug)]
pub(super) struct History {
    lines: VecDeque<SentLine>,
    capacity: usize,
}

impl History {
    /// A history that keeps `window + HISTORY_MARGIN` lines.
    pub(super) fn new(window: usize) -> History {
        let capacity = window + HISTORY_MARGIN;
        History {
            lines: VecDeque::with_capacity(capacity),
            capacity,
        }
    }

    /// Records a line sent for the first time, copying its bytes. Numbers must follow on from
    /// the last one. Once the history is full, the oldest line's buffer takes the new bytes, so
    /// streaming allocates nothing per line.
    pub(super) fn push(&mut self, number: u64, wire: &[u8], origin: Origin, long: bool) {
        debug_assert!(self.lines.back().is_none_or(|l| l.number + 1 == number));
        let mut buffer = if self.lines.len() == self.capacity {
            self.lines.pop_front().map(|oldest| oldest.wire)
        } else {
            None
        }
        .unwrap_or_default();
        buffer.clear();
        buffer.extend_from_slice(wire);
        self.lines.push_back(SentLine {
            number,
            wire: buffer,
            origin,
            long,
        });
    }

    /// The line sent with this number, if still kept.
    pub(super) fn get(&self, number: u64) -> Option<&SentLine> {
        let first = self.lines.front()?.number;
        let index = number.checked_sub(first)?;
        self.lines.get(usize::try_from(index).ok()?)
    }

    /// The oldest line number still kept.
    pub(super) fn oldest(&self) -> Option<u64> {
        self.lines.front().map(|l| l.number)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn push(history: &mut History, number: u64) {
        history.push(
            number,
            format!("N{number} G1\n").as_bytes(),
            Origin::Command,
            false,
        );
    }

    #[test]
    fn keeps_window_plus_margin_and_finds_by_number() {
        let mut history = History::new(4);
        for n in 1..=(4 + HISTORY_MARGIN as u64 + 10) {
            push(&mut history, n);
        }
        assert_eq!(history.oldest(), Some(11));
        assert!(history.get(10).is_none());
        assert_eq!(&*history.get(11).unwrap().wire, b"N11 G1\n");
        assert_eq!(
            history.get(4 + HISTORY_MARGIN as u64 + 10).unwrap().number,
            270
        );
        assert!(history.get(10_000).is_none());
    }
}
