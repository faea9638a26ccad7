//! The serial line itself: baud-rate pacing in both directions and USB latency on replies.
//!
//! Nothing here sleeps. Each received byte gets the instant it would have arrived at the
//! firmware (10 bit times after the previous one, 8N1); each batch of replies gets the
//! instant its last byte would reach the host. The firmware thread wakes at those instants.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// How many bytes may wait "on the wire" before the simulator stops reading the pty: the
/// host's writes then block as they would on a real UART with a few KiB of driver buffer.
pub(super) const WIRE_CAPACITY: usize = 16 * 1024;

/// Nanoseconds one byte takes at `baud` (8N1: 10 bits), 0 for an unpaced line.
fn byte_nanos(baud: u32) -> u64 {
    if baud == 0 {
        0
    } else {
        10_000_000_000 / u64::from(baud)
    }
}

fn is_line_end(byte: u8) -> bool {
    byte == b'\n' || byte == b'\r'
}

/// Bytes the host wrote that have not yet reached the firmware's RX buffer.
#[derive(Debug)]
pub(super) struct RxWire {
    byte_ns: u64,
    chunks: VecDeque<Chunk>,
    /// When the last byte pushed arrives.
    tail_at: Option<Instant>,
    len: usize,
}

/// Bytes sent back to back: byte `pos` arrives at `next_at`, each following one a byte time
/// later.
#[derive(Debug)]
struct Chunk {
    data: Vec<u8>,
    pos: usize,
    next_at: Instant,
}

impl RxWire {
    pub(super) fn new(baud: u32) -> RxWire {
        RxWire {
            byte_ns: byte_nanos(baud),
            chunks: VecDeque::new(),
            tail_at: None,
            len: 0,
        }
    }

    /// Bytes still on the wire.
    pub(super) fn len(&self) -> usize {
        self.len
    }

    pub(super) fn clear(&mut self) {
        self.chunks.clear();
        self.len = 0;
    }

    /// Puts bytes read from the pty at `now` on the wire, behind those already on it.
    pub(super) fn push(&mut self, now: Instant, bytes: &[u8]) {
        if bytes.is_empty() {
            return;
        }
        self.len += bytes.len();
        if self.byte_ns == 0 {
            self.chunks.push_back(Chunk {
                data: bytes.to_vec(),
                pos: 0,
                next_at: now,
            });
            self.tail_at = Some(now);
            return;
        }
        let byte = Duration::from_nanos(self.byte_ns);
        let busy_until = self.tail_at.filter(|tail| *tail > now);
        match (busy_until, self.chunks.back_mut()) {
            // The line is still sending the previous bytes: these follow them back to back.
            (Some(_), Some(last)) => last.data.extend_from_slice(bytes),
            _ => self.chunks.push_back(Chunk {
                data: bytes.to_vec(),
                pos: 0,
                next_at: busy_until.unwrap_or(now) + byte,
            }),
        }
        let start = busy_until.unwrap_or(now);
        self.tail_at = Some(start + self.span(bytes.len()));
    }

    /// Until when the line stays busy with the bytes already on it (paced lines only). Bytes
    /// pushed before then queue behind those, so their arrival times do not depend on exactly
    /// when they were pushed.
    pub(super) fn busy_until(&self) -> Option<Instant> {
        if self.byte_ns == 0 || self.len == 0 {
            None
        } else {
            self.tail_at
        }
    }

    /// When the next line terminator arrives, or, with the wire full, when all of it has
    /// arrived (so a full wire without a terminator is still drained).
    pub(super) fn next_wake(&self) -> Option<Instant> {
        for chunk in &self.chunks {
            if let Some(i) = chunk.data[chunk.pos..].iter().position(|&b| is_line_end(b)) {
                return Some(chunk.next_at + self.span(i));
            }
        }
        if self.len >= WIRE_CAPACITY {
            self.tail_at
        } else {
            None
        }
    }

    /// Appends to `out` the bytes that have arrived by `stop`, up to and including the first
    /// line terminator; returns when that terminator arrived, or `None` if none has yet.
    pub(super) fn take(&mut self, stop: Instant, out: &mut Vec<u8>) -> Option<Instant> {
        while let Some(chunk) = self.chunks.front_mut() {
            if chunk.next_at > stop {
                return None;
            }
            let remaining = chunk.data.len() - chunk.pos;
            let arrived = if self.byte_ns == 0 {
                remaining
            } else {
                let since = (stop - chunk.next_at).as_nanos();
                remaining.min(
                    usize::try_from(since / u128::from(self.byte_ns))
                        .unwrap_or(usize::MAX)
                        .saturating_add(1),
                )
            };
            let window = &chunk.data[chunk.pos..chunk.pos + arrived];
            let (count, ended) = match memchr::memchr2(b'\n', b'\r', window) {
                Some(i) => (i + 1, true),
                None => (arrived, false),
            };
            out.extend_from_slice(&window[..count]);
            let last_at = chunk.next_at + Duration::from_nanos(self.byte_ns * (count as u64 - 1));
            chunk.pos += count;
            chunk.next_at = last_at + Duration::from_nanos(self.byte_ns);
            self.len -= count;
            if chunk.pos == chunk.data.len() {
                self.chunks.pop_front();
            }
            if ended {
                return Some(last_at);
            }
            if count < remaining {
                return None;
            }
        }
        None
    }

    /// How long `bytes` bytes take on this line (the time from one byte's arrival to the
    /// arrival of the byte `bytes` positions later).
    fn span(&self, bytes: usize) -> Duration {
        Duration::from_nanos(self.byte_ns.saturating_mul(bytes as u64))
    }
}

/// Replies on their way to the host.
#[derive(Debug)]
pub(super) struct TxWire {
    byte_ns: u64,
    latency: Duration,
    /// When the line finishes sending what is already queued.
    free_at: Option<Instant>,
    /// Lines produced at `batch_at`, not yet put on the line.
    batch: Vec<u8>,
    batch_at: Option<Instant>,
    /// Sealed batches and the instant each reaches the host.
    in_flight: VecDeque<(Instant, Vec<u8>)>,
    /// Bytes that have reached the host's side: to be written to the pty master.
    ready: Vec<u8>,
}

impl TxWire {
    pub(super) fn new(baud: u32, latency: Duration) -> TxWire {
        TxWire {
            byte_ns: byte_nanos(baud),
            latency,
            free_at: None,
            batch: Vec::with_capacity(256),
            batch_at: None,
            in_flight: VecDeque::new(),
            ready: Vec::with_capacity(4096),
        }
    }

    /// Drops everything not yet written to the pty (a new pty after replug).
    pub(super) fn clear(&mut self) {
        self.batch.clear();
        self.batch_at = None;
        self.in_flight.clear();
        self.ready.clear();
        self.free_at = None;
    }

    /// Sends one reply line produced at `at`. Lines produced at the same instant travel
    /// together.
    pub(super) fn line_fmt(&mut self, at: Instant, text: std::fmt::Arguments<'_>) {
        use std::io::Write as _;
        if self.batch_at.is_some_and(|batch_at| batch_at != at) {
            self.seal();
        }
        self.batch_at = Some(at);
        // Writing to a Vec cannot fail.
        let _ = self.batch.write_fmt(text);
        self.batch.push(b'\n');
    }

    /// Puts the current batch on the line.
    fn seal(&mut self) {
        let Some(at) = self.batch_at.take() else {
            return;
        };
        if self.batch.is_empty() {
            return;
        }
        if self.byte_ns == 0 && self.latency.is_zero() {
            self.ready.append(&mut self.batch);
            return;
        }
        let start = self.free_at.map_or(at, |free| free.max(at));
        let done =
            start + Duration::from_nanos(self.byte_ns.saturating_mul(self.batch.len() as u64));
        self.free_at = Some(done);
        let batch = std::mem::replace(&mut self.batch, Vec::with_capacity(256));
        self.in_flight.push_back((done + self.latency, batch));
    }

    /// Moves what has reached the host by `now` to the bytes to write.
    pub(super) fn deliver(&mut self, now: Instant) {
        self.seal();
        while self.in_flight.front().is_some_and(|(at, _)| *at <= now) {
            if let Some((_, bytes)) = self.in_flight.pop_front() {
                self.ready.extend_from_slice(&bytes);
            }
        }
    }

    /// When the next batch reaches the host.
    pub(super) fn next_due(&self) -> Option<Instant> {
        self.in_flight.front().map(|(at, _)| *at)
    }

    /// The bytes to write to the pty master now; the writer drains what it wrote.
    pub(super) fn ready(&mut self) -> &mut Vec<u8> {
        &mut self.ready
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_pushed_while_the_line_is_busy_arrive_as_if_pushed_earlier() {
        // 100 000 baud: 100 µs per byte.
        let start = Instant::now();
        let line = b"G1 X1\n";
        let mut early = RxWire::new(100_000);
        let mut late = RxWire::new(100_000);
        early.push(start, line);
        late.push(start, line);
        let busy = late.busy_until().expect("a paced line is busy");
        assert_eq!(busy, start + Duration::from_micros(600));
        // The second line pushed at once, or only just before the first finishes: same arrival.
        early.push(start, line);
        late.push(busy - Duration::from_micros(1), line);
        let (mut a, mut b) = (Vec::new(), Vec::new());
        let end = start + Duration::from_secs(1);
        assert_eq!(early.take(end, &mut a), late.take(end, &mut b));
        assert_eq!(early.take(end, &mut a), late.take(end, &mut b));
        assert_eq!(a, b);
        assert_eq!(
            late.busy_until(),
            None,
            "everything arrived: the line is idle"
        );
    }

    #[test]
    fn an_unpaced_line_is_never_busy() {
        let mut wire = RxWire::new(0);
        wire.push(Instant::now(), b"M105\n");
        assert_eq!(wire.busy_until(), None);
    }
}
