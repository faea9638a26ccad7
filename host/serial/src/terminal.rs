//! A printer's terminal: the last lines that went over its serial link, both ways.
//!
//! The engine records every line it writes (as written, with number and checksum, resends
//! included) and every line the firmware sends, in order. Readers ask for the lines after the
//! last sequence number they saw, so a terminal view polls without missing or repeating lines
//! while they are still in the ring, and learns when it fell behind.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::Serialize;

/// Lines kept per printer. A terminal shows the recent conversation; at printing speed that is
/// a few seconds, when idle many minutes. About 80 bytes a line: 40 KB per printer.
pub const TERMINAL_LINES: usize = 500;

/// Longest line kept, in bytes; a longer one is cut (firmware garbage without a newline).
const MAX_LINE_BYTES: usize = 512;

/// Which way a line went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Direction {
    /// Written to the printer.
    Sent,
    /// Received from the printer.
    Received,
}

/// One line of the terminal.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TerminalLine {
    /// Its sequence number: increasing by one per line over the printer's life in this process.
    pub seq: u64,
    /// When it went over the link (Unix ms).
    pub time_ms: u64,
    /// Which way.
    pub direction: Direction,
    /// The line, without its line ending.
    pub text: String,
}

/// What [`Terminal::since`] returns.
#[derive(Debug, Clone, Serialize)]
pub struct TerminalPage {
    /// The lines after the one asked for, oldest first.
    pub lines: Vec<TerminalLine>,
    /// The sequence number to ask after next time.
    pub last_seq: u64,
    /// Lines were lost between the one asked for and the first returned (the ring moved on).
    pub skipped: bool,
}

/// A line as the ring keeps it (a boxed string: no spare capacity).
struct Kept {
    seq: u64,
    time_ms: u64,
    direction: Direction,
    text: Box<str>,
}

#[derive(Default)]
struct Ring {
    lines: VecDeque<Kept>,
    /// The sequence number of the last line recorded (0: none yet).
    last_seq: u64,
}

/// A printer's terminal ring. Cheap to clone; the engine writes, the API reads.
#[derive(Clone, Default)]
pub struct Terminal {
    ring: Arc<Mutex<Ring>>,
}

impl Terminal {
    /// Records the lines of `bytes` (as written to or read from the port) in `direction`.
    /// Empty lines are skipped.
    pub fn record(&self, direction: Direction, bytes: &[u8]) {
        let time_ms = now_ms();
        let mut ring = self.lock();
        for line in bytes.split(|&b| b == b'\n') {
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            if line.is_empty() {
                continue;
            }
            if ring.lines.len() == TERMINAL_LINES {
                ring.lines.pop_front();
            }
            ring.last_seq += 1;
            let kept = Kept {
                seq: ring.last_seq,
                time_ms,
                direction,
                text: String::from_utf8_lossy(&line[..line.len().min(MAX_LINE_BYTES)]).into(),
            };
            ring.lines.push_back(kept);
        }
    }

    /// The lines after sequence number `after` (0: from the oldest kept), at most `limit` of
    /// them, the newest ones when more are waiting. An `after` beyond the last line (a reader
    /// that saw an earlier run of the server) reads from the oldest kept.
    pub fn since(&self, after: u64, limit: usize) -> TerminalPage {
        let ring = self.lock();
        let after = if after > ring.last_seq { 0 } else { after };
        let newer = ring.lines.iter().filter(|l| l.seq > after);
        let waiting = newer.clone().count();
        let lines: Vec<TerminalLine> = newer
            .skip(waiting.saturating_sub(limit))
            .map(|l| TerminalLine {
                seq: l.seq,
                time_ms: l.time_ms,
                direction: l.direction,
                text: l.text.to_string(),
            })
            .collect();
        // Lost: the first line returned is not the one right after `after`.
        let skipped = lines.first().is_some_and(|l| l.seq > after + 1);
        TerminalPage {
            last_seq: lines.last().map_or(after, |l| l.seq),
            skipped,
            lines,
        }
    }

    fn lock(&self) -> MutexGuard<'_, Ring> {
        // A panic while holding the lock leaves whole lines; keep using them.
        self.ring.lock().unwrap_or_else(|e| e.into_inner())
    }
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(page: &TerminalPage) -> Vec<&str> {
        page.lines.iter().map(|l| l.text.as_str()).collect()
    }

    #[test]
    fn lines_are_split_numbered_and_read_after_a_mark() {
        let terminal = Terminal::default();
        terminal.record(Direction::Sent, b"N1 M105*38\nN2 M115*36\n");
        terminal.record(Direction::Received, b"ok T:21.0 /0.0\r\n\nok\n");
        let page = terminal.since(0, 100);
        assert_eq!(
            texts(&page),
            vec!["N1 M105*38", "N2 M115*36", "ok T:21.0 /0.0", "ok"]
        );
        assert_eq!(page.lines[2].direction, Direction::Received);
        assert_eq!(page.last_seq, 4);
        assert!(!page.skipped);
        let page = terminal.since(2, 100);
        assert_eq!(texts(&page), vec!["ok T:21.0 /0.0", "ok"]);
        let page = terminal.since(4, 100);
        assert!(page.lines.is_empty());
        assert_eq!(page.last_seq, 4);
    }

    #[test]
    fn a_reader_that_fell_behind_is_told() {
        let terminal = Terminal::default();
        for i in 0..TERMINAL_LINES + 10 {
            terminal.record(Direction::Received, format!("line {i}\n").as_bytes());
        }
        let page = terminal.since(3, usize::MAX);
        assert!(page.skipped);
        assert_eq!(page.lines.len(), TERMINAL_LINES);
        assert_eq!(page.lines[0].text, "line 10");
        let page = terminal.since(0, 2);
        assert_eq!(
            texts(&page),
            vec![
                format!("line {}", TERMINAL_LINES + 8).as_str(),
                format!("line {}", TERMINAL_LINES + 9).as_str(),
            ]
        );
        assert!(page.skipped, "only the newest 2 of many were returned");
    }

    #[test]
    fn a_mark_from_an_earlier_run_reads_from_the_start() {
        let terminal = Terminal::default();
        terminal.record(Direction::Sent, b"G28\n");
        let page = terminal.since(9_999, 10);
        assert_eq!(texts(&page), vec!["G28"]);
    }

    #[test]
    fn garbage_is_cut_and_kept_as_text() {
        let terminal = Terminal::default();
        let mut long = vec![b'x'; 4 * MAX_LINE_BYTES];
        long.extend_from_slice(b"\xff\n");
        terminal.record(Direction::Received, &long);
        let page = terminal.since(0, 10);
        assert_eq!(page.lines[0].text.len(), MAX_LINE_BYTES);
    }
}
