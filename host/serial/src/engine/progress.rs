//! How far a print really got: counted from what the firmware acknowledged, not what was sent.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde::Serialize;

/// Where a sent line came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// A line of the file being printed: its 1-based line number in the file and the byte
    /// offset just past it.
    File {
        /// 1-based line number in the file.
        file_line: u64,
        /// Byte offset just past this line in the file.
        end_offset: u64,
    },
    /// A command a user or a script queued.
    Command,
    /// A line the engine sends for itself (M105 polling, M110, M115, M155).
    Housekeeping,
}

/// A print's progress. Everything "acked" counts lines the firmware confirmed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Progress {
    /// The file being printed.
    pub file: PathBuf,
    /// Its size in bytes.
    pub file_size: u64,
    /// 1-based file line number of the last acknowledged G-code line (0 before the first).
    pub last_acked_line: u64,
    /// Byte offset in the file just past the last acknowledged line.
    pub acked_offset: u64,
    /// File lines sent (counting each line once, however often it was resent).
    pub lines_sent: u64,
    /// File lines acknowledged.
    pub lines_acked: u64,
    /// Lines the firmware asked for again.
    pub resends: u64,
    /// Seconds since the print started, pauses included.
    pub elapsed_secs: f64,
}

impl Progress {
    /// Resends per line sent (0 when nothing was sent).
    pub fn resend_ratio(&self) -> f64 {
        if self.lines_sent == 0 {
            0.0
        } else {
            self.resends as f64 / self.lines_sent as f64
        }
    }

    /// The acknowledged fraction of the file's bytes, 0..=1.
    pub fn fraction(&self) -> f64 {
        if self.file_size == 0 {
            1.0
        } else {
            self.acked_offset as f64 / self.file_size as f64
        }
    }
}

/// The running tally behind [`Progress`].
#[derive(Debug)]
pub(crate) struct Tally {
    pub file: PathBuf,
    pub file_size: u64,
    pub started: Instant,
    pub last_acked_line: u64,
    pub acked_offset: u64,
    pub lines_sent: u64,
    pub lines_acked: u64,
    pub resends: u64,
}

impl Tally {
    pub(super) fn new(file: PathBuf, file_size: u64) -> Tally {
        Tally {
            file,
            file_size,
            started: Instant::now(),
            last_acked_line: 0,
            acked_offset: 0,
            lines_sent: 0,
            lines_acked: 0,
            resends: 0,
        }
    }

    pub(super) fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    pub(super) fn snapshot(&self) -> Progress {
        Progress {
            file: self.file.clone(),
            file_size: self.file_size,
            last_acked_line: self.last_acked_line,
            acked_offset: self.acked_offset,
            lines_sent: self.lines_sent,
            lines_acked: self.lines_acked,
            resends: self.resends,
            elapsed_secs: self.elapsed().as_secs_f64(),
        }
    }
}
