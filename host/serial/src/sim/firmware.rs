//! The firmware model: RX buffer, line-number and checksum checks, the command queue,
//! execution, and what the firmware says, per flavour.
//!
//! It is a discrete-event simulation driven by [`Firmware::run_until`]: bytes reach the RX
//! buffer at the instants the [`RxWire`] gives them, commands finish at the instants the
//! [`Machine`] gives them, and each event is handled in time order, so RX overflows and
//! flushes happen exactly as they would on the device whatever the thread's scheduling.

use std::collections::VecDeque;
use std::fmt;
use std::time::{Duration, Instant};

use super::dialect::{Duplicates, REPETIER_SKIPS_AFTER_RESEND, WAIT_INTERVAL};
use super::faults::{Fault, FaultSource};
use super::machine::{self, Machine};
use super::wire::{RxWire, TxWire};
use super::{Flavour, SimConfig, SimStats};
use crate::protocol::line::checksum;

/// Marlin's HOST_KEEPALIVE_INTERVAL.
const BUSY_INTERVAL: Duration = Duration::from_secs(2);
/// How often M109/M190 report temperatures while they wait.
const HEATING_REPORT: Duration = Duration::from_secs(1);
/// Marlin's MAX_CMD_SIZE: the line buffer a command is read into.
const MAX_CMD_SIZE: usize = 96;
/// How much of a line the emergency parser looks at (`N<digits> M112`).
const EMERGENCY_PREFIX: usize = 32;

/// Whether the firmware runs, and if not, why.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum State {
    Running,
    /// After kill(): reads and ignores everything.
    Halted,
    /// [`Fault::Hang`]: reads, never answers.
    Hung,
    /// The pty is closed; nothing happens until replug.
    Unplugged,
}

/// A command in one of the BUFSIZE slots.
#[derive(Debug)]
struct Command {
    text: String,
    /// Its line number, if it came numbered.
    n: Option<u64>,
    /// A fault acting on its execution ([`Fault::DropOk`], [`Fault::Busy`], …).
    fault: Option<Fault>,
}

/// The queue head while it executes.
#[derive(Debug, Clone, Copy)]
struct Active {
    done_at: Instant,
    next_busy: Option<Instant>,
    next_temperatures: Option<Instant>,
}

/// Why a numbered line is refused.
#[derive(Debug, Clone, Copy)]
enum Refusal {
    /// Not last + 1; carries the number received.
    LineNumber(u64),
    Checksum,
    NoChecksum,
}

/// A numbered line taken apart as Marlin does it.
#[derive(Debug)]
struct NumberedLine {
    /// The `N` the line starts with.
    n: u64,
    /// The line number it sets: `n`, or for `M110 N<m>` the last `N` parameter.
    sets: u64,
    m110: bool,
    /// Where the command text is, between the number and the `*`.
    body: std::ops::Range<usize>,
    star: Option<usize>,
}

fn is_line_end(byte: u8) -> bool {
    byte == b'\n' || byte == b'\r'
}

/// Leading decimal digits as a number (strtol-like: none is 0, too many saturate).
fn leading_number(bytes: &[u8]) -> (u64, usize) {
    let digits = bytes.iter().take_while(|b| b.is_ascii_digit()).count();
    let value = bytes[..digits].iter().fold(0u64, |acc, d| {
        acc.saturating_mul(10).saturating_add(u64::from(d - b'0'))
    });
    (value, digits)
}

/// Whether `text` is an M110 command word followed by a non-digit.
fn starts_with_code(text: &[u8], code: &[u8]) -> bool {
    text.len() >= code.len()
        && text[..code.len()].eq_ignore_ascii_case(code)
        && text.get(code.len()).is_none_or(|b| !b.is_ascii_digit())
}

impl NumberedLine {
    /// `line` starts with `N`.
    fn parse(line: &[u8]) -> NumberedLine {
        let (n, digits) = leading_number(&line[1..]);
        let star = line.iter().rposition(|&b| b == b'*');
        let end = star.unwrap_or(line.len());
        let start = (1 + digits).min(end);
        let text = line[start..end].trim_ascii();
        let m110 = starts_with_code(text, b"M110");
        // The last `N<digits>` after the M110 wins (`N5 M110 N0` sets 0).
        let sets = if m110 {
            (4..text.len())
                .rev()
                .find(|&i| {
                    text[i].eq_ignore_ascii_case(&b'N')
                        && text.get(i + 1).is_some_and(u8::is_ascii_digit)
                })
                .map_or(n, |i| leading_number(&text[i + 1..]).0)
        } else {
            n
        };
        NumberedLine {
            n,
            sets,
            m110,
            body: start..end,
            star,
        }
    }
}

fn text_of(bytes: &[u8]) -> String {
    crate::protocol::line::text(bytes.trim_ascii()).into_owned()
}

/// Writes one reply line at the firmware's current instant.
macro_rules! say {
    ($fw:expr, $($arg:tt)*) => { $fw.say(format_args!($($arg)*)) };
}

/// The simulated firmware, everything but the file descriptors.
#[derive(Debug)]
pub(super) struct Firmware {
    config: SimConfig,
    /// `ok` before a command's output (Repetier always).
    ok_first: bool,
    slots: usize,
    uuid: String,
    pub(super) rx_wire: RxWire,
    pub(super) tx: TxWire,
    now: Instant,
    state: State,
    rx: Vec<u8>,
    /// Complete lines in `rx`.
    rx_lines: usize,
    /// After a flush cut a line in two: its rest is dropped when it arrives.
    discard_to_eol: bool,
    /// The start of the line being received, as the emergency parser sees it.
    emergency_line: Vec<u8>,
    last_n: u64,
    queue: VecDeque<Command>,
    active: Option<Active>,
    machine: Machine,
    slow_heat: bool,
    /// M155 interval and the next report.
    autoreport: Option<(Duration, Instant)>,
    faults: FaultSource,
    /// Executed since the owner last collected them.
    executed: Vec<String>,
    /// Bytes that reached the firmware since the owner last collected them.
    arrived: Vec<u8>,
    stats: SimStats,
    unplug_requested: bool,
    /// Since when nothing arrived and nothing ran (for `wait`).
    idle_since: Instant,
    /// Repetier: refused lines still to answer with `skip` after a resend request.
    skips_left: u32,
    segment: Vec<u8>,
    line: Vec<u8>,
}

impl Firmware {
    /// A firmware that has just booted (its `start` is waiting to be sent).
    pub(super) fn new(config: SimConfig, uuid: String, now: Instant) -> Firmware {
        let mut firmware = Firmware {
            ok_first: config.ok_before_output || config.flavour.ok_before_output(),
            slots: config.command_slots.max(1),
            uuid,
            rx_wire: RxWire::new(config.baud),
            tx: TxWire::new(config.baud, config.latency),
            now,
            state: State::Running,
            rx: Vec::with_capacity(config.rx_buffer),
            rx_lines: 0,
            discard_to_eol: false,
            emergency_line: Vec::with_capacity(EMERGENCY_PREFIX),
            last_n: 0,
            queue: VecDeque::new(),
            active: None,
            machine: Machine::new(config.speed, now),
            slow_heat: false,
            autoreport: None,
            faults: FaultSource::new(&config.faults),
            executed: Vec::new(),
            arrived: Vec::new(),
            stats: SimStats::default(),
            unplug_requested: false,
            idle_since: now,
            skips_left: 0,
            segment: Vec::with_capacity(4096),
            line: Vec::with_capacity(128),
            config,
        };
        firmware.boot(now);
        firmware
    }

    /// Reboots: everything received and queued is gone, line numbers restart, heaters off,
    /// and the firmware says `start`.
    pub(super) fn boot(&mut self, now: Instant) {
        self.advance(now);
        self.rx_wire.clear();
        self.rx.clear();
        self.rx_lines = 0;
        self.discard_to_eol = false;
        self.emergency_line.clear();
        self.last_n = 0;
        self.queue.clear();
        self.active = None;
        self.machine.reset(now);
        self.slow_heat = false;
        self.autoreport = None;
        self.state = State::Running;
        self.unplug_requested = false;
        self.idle_since = now;
        self.skips_left = 0;
        if let Some(banner) = self.config.flavour.boot_banner() {
            self.say(format_args!("{banner}"));
        }
    }

    /// A new pty: nothing of the old one is delivered, and the firmware reboots.
    pub(super) fn replugged(&mut self, now: Instant) {
        self.tx.clear();
        self.boot(now);
    }

    /// The pty was closed: the firmware stops until [`Firmware::replugged`].
    pub(super) fn unplugged(&mut self) {
        self.state = State::Unplugged;
        self.unplug_requested = false;
        self.rx_wire.clear();
        self.tx.clear();
    }

    /// Whether a [`Fault::Unplug`] asks the owner to close the pty.
    pub(super) fn unplug_requested(&self) -> bool {
        self.unplug_requested
    }

    pub(super) fn stats(&self) -> &SimStats {
        &self.stats
    }

    /// Counts bytes read from the pty.
    pub(super) fn received(&mut self, bytes: usize) {
        self.stats.bytes_received += bytes as u64;
    }

    /// Moves the commands executed since the last call to `log`.
    pub(super) fn collect_executed(&mut self, log: &mut Vec<String>) {
        log.append(&mut self.executed);
    }

    pub(super) fn has_executed(&self) -> bool {
        !self.executed.is_empty()
    }

    /// Moves the bytes that reached the firmware since the last call to `log`.
    pub(super) fn collect_arrived(&mut self, log: &mut Vec<u8>) {
        if !self.arrived.is_empty() {
            log.append(&mut self.arrived);
        }
    }

    /// A fault from [`VirtualPrinter::inject`](super::VirtualPrinter::inject), at `now`.
    pub(super) fn inject(&mut self, fault: Fault, now: Instant) {
        if !fault.acts_at_once() {
            self.faults.inject(fault);
            return;
        }
        if self.state == State::Unplugged {
            return;
        }
        self.advance(now);
        match fault {
            Fault::Unplug => {
                self.unplug_requested = true;
                self.state = State::Unplugged;
            }
            Fault::Reset => self.boot(now),
            _ if self.state != State::Running => {}
            Fault::Hang => self.state = State::Hung,
            Fault::Fatal(message) => self.kill(Some(&message)),
            Fault::Action(action) => self.action(&action),
            _ => {}
        }
    }

    /// When something next happens without new input: a byte-paced line end, a command
    /// finishing, a keep-alive or report, a reply reaching the host.
    ///
    /// An event inside the firmware (a command ending, a line fully arrived, a report falling
    /// due) shows only through the replies it makes, which reach the host a USB latency later.
    /// Waking that much after it handles it at its own instant all the same (events are taken
    /// in time order, each at its own time) and delivers its replies on time: with a latency,
    /// the wake-up for a command's end and the one for its `ok` are one.
    pub(super) fn next_wake(&self) -> Option<Instant> {
        let latency = self.config.latency;
        let inside = [self.next_timer(), self.rx_wire.next_wake()]
            .into_iter()
            .flatten()
            .min()
            .map(|at| at + latency);
        [inside, self.tx.next_due()].into_iter().flatten().min()
    }

    /// Handles, in time order, everything that happens up to `limit`.
    pub(super) fn run_until(&mut self, limit: Instant) {
        while self.state != State::Unplugged {
            let timer = self.next_timer();
            let stop = timer.map_or(limit, |t| t.min(limit));
            let mut segment = std::mem::take(&mut self.segment);
            segment.clear();
            let line_end = self.rx_wire.take(stop, &mut segment);
            if let Some(at) = line_end {
                self.advance(at);
                // Bytes arriving at the same instant (an unpaced write) are all in RX before
                // the firmware looks at them, as Marlin's loop finds them after its ISR.
                while self.rx_wire.take(at, &mut segment).is_some() {}
            }
            self.arrived.extend_from_slice(&segment);
            if !segment.is_empty() {
                self.idle_since = self.now;
            }
            self.receive(&segment);
            self.segment = segment;
            if line_end.is_some() {
                self.pump();
                continue;
            }
            match timer {
                Some(at) if at <= limit => {
                    self.advance(at);
                    self.on_timer();
                }
                _ => {
                    self.advance(limit);
                    return;
                }
            }
        }
    }

    fn advance(&mut self, to: Instant) {
        if to > self.now {
            self.now = to;
        }
    }

    fn say(&mut self, line: fmt::Arguments<'_>) {
        if matches!(self.state, State::Hung | State::Unplugged) {
            return;
        }
        self.tx.line_fmt(self.now, line);
    }

    fn next_timer(&self) -> Option<Instant> {
        if self.state != State::Running {
            return None;
        }
        let active = self
            .active
            .map(|a| [Some(a.done_at), a.next_busy, a.next_temperatures]);
        active
            .into_iter()
            .flatten()
            .chain([self.autoreport.map(|(_, next)| next), self.next_wait()])
            .flatten()
            .min()
    }

    /// When an idle firmware that says `wait` says it next.
    fn next_wait(&self) -> Option<Instant> {
        (self.config.flavour.waits_when_idle() && self.active.is_none() && self.queue.is_empty())
            .then(|| self.idle_since + WAIT_INTERVAL)
    }

    /// The M105 report, in this firmware's format.
    fn temperatures(&self) -> String {
        let (hotend, bed) = self.machine.temperatures(self.now);
        self.config.flavour.temperatures(hotend, bed)
    }

    /// Bytes that reached the firmware, the last one possibly a line end.
    ///
    /// Handled a line's body at a time rather than byte by byte (the simulator receives every
    /// byte of every print), with the same outcome: the emergency parser sees each line's first
    /// bytes, a full RX buffer drops what does not fit, a flushed line's rest is discarded.
    fn receive(&mut self, mut bytes: &[u8]) {
        while !bytes.is_empty() && self.state == State::Running {
            let body_len = memchr::memchr2(b'\n', b'\r', bytes).unwrap_or(bytes.len());
            let (body, rest) = bytes.split_at(body_len);
            if self.config.emergency_parser {
                let room = EMERGENCY_PREFIX.saturating_sub(self.emergency_line.len());
                self.emergency_line
                    .extend_from_slice(&body[..room.min(body.len())]);
            }
            if !self.discard_to_eol {
                self.push_rx(body);
            }
            let Some((&end, after)) = rest.split_first() else {
                return;
            };
            if self.config.emergency_parser {
                let emergency = is_m112(&self.emergency_line);
                self.emergency_line.clear();
                if emergency {
                    self.record("M112".to_owned());
                    self.kill(None);
                    return;
                }
            }
            if self.discard_to_eol {
                self.discard_to_eol = false;
            } else if self.push_rx(&[end]) == 1 {
                self.rx_lines += 1;
            }
            bytes = after;
        }
    }

    /// Puts bytes into the RX buffer as far as it has room, counting the rest as overflow;
    /// returns how many it took.
    fn push_rx(&mut self, bytes: &[u8]) -> usize {
        // While a command slot is free, Marlin's loop moves received characters out of the
        // RX ring into its line buffer as they come: the ring fills only behind full slots.
        let line_buffer = if self.queue.len() < self.slots {
            MAX_CMD_SIZE
        } else {
            0
        };
        let taken = (self.config.rx_buffer + line_buffer)
            .saturating_sub(self.rx.len())
            .min(bytes.len());
        self.rx.extend_from_slice(&bytes[..taken]);
        self.stats.rx_overflows += (bytes.len() - taken) as u64;
        self.stats.max_rx_used = self.stats.max_rx_used.max(self.rx.len());
        taken
    }

    /// Moves lines into free slots and runs the queue until it has to wait.
    fn pump(&mut self) {
        while self.state == State::Running {
            self.intake();
            if self.state != State::Running {
                return;
            }
            match self.active {
                None if self.queue.is_empty() => return,
                None => self.start_head(),
                Some(active) if active.done_at <= self.now => self.complete_head(),
                Some(_) => return,
            }
        }
    }

    /// Takes complete lines out of RX while a command slot is free.
    fn intake(&mut self) {
        while self.state == State::Running && self.rx_lines > 0 && self.queue.len() < self.slots {
            let Some(end) = self.rx.iter().position(|&b| is_line_end(b)) else {
                self.rx_lines = 0;
                return;
            };
            let mut line = std::mem::take(&mut self.line);
            line.clear();
            line.extend_from_slice(&self.rx[..end]);
            self.rx.drain(..=end);
            self.rx_lines -= 1;
            self.accept(&line);
            self.line = line;
        }
    }

    fn accept(&mut self, line: &[u8]) {
        let line = line.trim_ascii();
        if line.is_empty() {
            return;
        }
        if self.config.flavour == Flavour::Klipper {
            self.accept_klipper(line);
        } else if line[0] == b'N' {
            self.accept_numbered(line);
        } else {
            self.accept_unnumbered(line);
        }
        self.stats.max_slots_used = self.stats.max_slots_used.max(self.queue.len());
    }

    fn accept_unnumbered(&mut self, line: &[u8]) {
        let end = line.iter().rposition(|&b| b == b'*').unwrap_or(line.len());
        let text = text_of(&line[..end]);
        if text.is_empty() {
            return;
        }
        if machine::code(&text) == Some((b'M', 110)) {
            if let Some(n) = machine::param(&text, b'N').filter(|n| *n >= 0.0) {
                self.last_n = n as u64;
                self.faults.renumbered(self.last_n);
            }
        }
        self.queue.push_back(Command {
            text,
            n: None,
            fault: None,
        });
    }

    fn accept_numbered(&mut self, line: &[u8]) {
        let flavour = self.config.flavour;
        let ok_after = self.config.ok_after_resend && flavour.ok_after_resend();
        let mut parsed = NumberedLine::parse(line);
        let in_sequence =
            parsed.m110 || parsed.n == self.last_n.wrapping_add(1) || !flavour.checks_sequence();
        let fault = if in_sequence {
            self.faults.for_line(parsed.n, self.config.flavour)
        } else {
            None
        };
        let mut corrupted = Vec::new();
        let mut line = line;
        let fault = match fault {
            Some(Fault::ResendRequest) => {
                return self.refuse(Refusal::LineNumber(parsed.n), ok_after)
            }
            Some(Fault::ResendWithoutOk) => {
                return self.refuse(Refusal::LineNumber(parsed.n), false)
            }
            Some(Fault::ChecksumMismatch) => return self.refuse(Refusal::Checksum, ok_after),
            Some(Fault::MissingLineNumber) => return self.refuse(Refusal::NoChecksum, ok_after),
            Some(Fault::CorruptByte) => {
                let (at, mask) = self
                    .faults
                    .corruption(parsed.n, parsed.star.unwrap_or(line.len()));
                corrupted.extend_from_slice(line);
                corrupted[at] ^= mask;
                line = &corrupted;
                parsed = NumberedLine::parse(line);
                None
            }
            Some(fault) => match self.fault_on_arrival(fault) {
                Some(kept) => kept,
                None => return,
            },
            None => None,
        };
        if flavour.checks_sequence() && !(parsed.m110 || parsed.n == self.last_n.wrapping_add(1)) {
            return self.out_of_sequence(parsed.n, ok_after);
        }
        let Some(star) = parsed.star else {
            return self.refuse(Refusal::NoChecksum, ok_after);
        };
        let given = line[star + 1..].trim_ascii_start();
        let (given, digits) = leading_number(given);
        if digits == 0 || given != u64::from(checksum(&line[..star])) {
            return self.refuse(Refusal::Checksum, ok_after);
        }
        self.last_n = parsed.sets;
        self.skips_left = 0;
        if parsed.m110 {
            self.faults.renumbered(parsed.sets);
        }
        self.queue.push_back(Command {
            text: text_of(&line[parsed.body]),
            n: Some(parsed.n),
            fault,
        });
    }

    /// Klipper: no line numbers, no checksums, never a resend.
    fn accept_klipper(&mut self, line: &[u8]) {
        let (n, digits) = if line[0] == b'N' {
            leading_number(&line[1..])
        } else {
            (0, 0)
        };
        let numbered = digits > 0;
        let fault = if numbered {
            self.faults.for_line(n, Flavour::Klipper)
        } else {
            None
        };
        let mut corrupted = Vec::new();
        let mut line = line;
        let fault = match fault {
            Some(
                Fault::ResendRequest
                | Fault::ResendWithoutOk
                | Fault::ChecksumMismatch
                | Fault::MissingLineNumber,
            ) => None,
            Some(Fault::CorruptByte) => {
                let (at, mask) = self.faults.corruption(n, line.len());
                corrupted.extend_from_slice(line);
                corrupted[at] ^= mask;
                line = &corrupted;
                None
            }
            Some(fault) => match self.fault_on_arrival(fault) {
                Some(kept) => kept,
                None => return,
            },
            None => None,
        };
        let mut body = line;
        if numbered && body[0] == b'N' {
            body = &body[1 + leading_number(&body[1..]).1..];
        }
        if let Some(star) = body.iter().rposition(|&b| b == b'*') {
            body = &body[..star];
        }
        let text = text_of(body);
        if text.is_empty() {
            return;
        }
        self.queue.push_back(Command {
            text,
            n: numbered.then_some(n),
            fault,
        });
    }

    /// A fault that acts when its line arrives. Returns the fault to carry into execution,
    /// or `None` when the line is gone.
    fn fault_on_arrival(&mut self, fault: Fault) -> Option<Option<Fault>> {
        match fault {
            Fault::SilentDrop => None,
            Fault::Reset => {
                self.boot(self.now);
                None
            }
            Fault::Fatal(message) => {
                self.kill(Some(&message));
                None
            }
            Fault::Hang => {
                self.state = State::Hung;
                None
            }
            Fault::Unplug => {
                self.unplug_requested = true;
                self.state = State::Unplugged;
                None
            }
            Fault::SlowHeat => {
                self.slow_heat = true;
                Some(None)
            }
            fault => Some(Some(fault)),
        }
    }

    /// A numbered line out of sequence: a repeat gets what the flavour gives repeats, the rest
    /// a refusal.
    fn out_of_sequence(&mut self, n: u64, ok: bool) {
        let last = self.last_n;
        let repeat = n <= last;
        match self.config.flavour.duplicates() {
            Duplicates::DropSilently if repeat && last - n <= 1 => return,
            Duplicates::Skip if (repeat && last - n < 40) || self.skips_left > 0 => {
                self.skips_left = self.skips_left.saturating_sub(1);
                say!(self, "skip {n}");
                say!(self, "ok");
                return;
            }
            _ => {}
        }
        self.refuse(Refusal::LineNumber(n), ok);
    }

    /// Refuses a numbered line: error, resend request, maybe `ok`, in the flavour's words; the
    /// RX buffer is drained where the flavour does it (everything in flight is then gone:
    /// go-back-N). RepRapFirmware says nothing.
    fn refuse(&mut self, why: Refusal, ok: bool) {
        let last = self.last_n;
        let expected = last.wrapping_add(1);
        let flavour = self.config.flavour;
        match flavour {
            Flavour::RepRapFirmware | Flavour::Klipper => return,
            Flavour::Marlin | Flavour::Prusa | Flavour::PrusaBuddy => {
                let message = match why {
                    Refusal::LineNumber(_) => "Line Number is not Last Line Number+1",
                    Refusal::Checksum => "checksum mismatch",
                    Refusal::NoChecksum => "No Checksum with line number",
                };
                say!(self, "Error:{message}, Last Line: {last}");
                say!(self, "Resend: {expected}");
            }
            Flavour::Repetier => {
                match why {
                    Refusal::LineNumber(got) => {
                        say!(self, "Error:expected line {expected} got {got}")
                    }
                    Refusal::Checksum => say!(self, "Error:Wrong checksum"),
                    Refusal::NoChecksum => say!(self, "Error:Missing checksum"),
                }
                say!(self, "");
                say!(self, "Resend:{expected}");
                self.skips_left = REPETIER_SKIPS_AFTER_RESEND;
            }
            Flavour::Smoothieware => say!(self, "rs N{expected}"),
        }
        if ok {
            say!(self, "ok");
        }
        self.stats.errors_sent += 1;
        if !flavour.drains_on_error() {
            return;
        }
        if self.rx.last().is_some_and(|&b| !is_line_end(b)) {
            self.discard_to_eol = true;
        }
        self.rx.clear();
        self.rx_lines = 0;
    }

    /// kill(): the message, heaters off, everything dropped, halted until reset.
    fn kill(&mut self, message: Option<&str>) {
        if self.config.flavour == Flavour::Klipper {
            match message {
                Some(message) => say!(self, "!! {message}"),
                None => say!(self, "!! Shutdown due to M112 command"),
            }
        } else {
            if let Some(message) = message {
                say!(self, "Error:{message}");
            }
            say!(self, "Error:Printer halted. kill() called!");
        }
        self.stats.errors_sent += 1;
        self.machine.heaters_off(self.now);
        self.queue.clear();
        self.active = None;
        self.rx.clear();
        self.rx_lines = 0;
        self.autoreport = None;
        self.state = State::Halted;
    }

    fn record(&mut self, text: String) {
        self.executed.push(text);
        self.stats.lines_executed += 1;
    }

    /// Starts the queue head: its effects now, its `ok` when it is done.
    fn start_head(&mut self) {
        let now = self.now;
        let Some(head) = self.queue.front() else {
            return;
        };
        let code = machine::code(&head.text);
        if code == Some((b'M', 112)) {
            if let Some(head) = self.queue.pop_front() {
                self.record(head.text);
            }
            self.kill(None);
            return;
        }
        if code == Some((b'M', 155)) && self.config.autoreport_temp {
            let interval = machine::param(&head.text, b'S').unwrap_or(0.0);
            self.autoreport = (interval > 0.0 && interval.is_finite()).then(|| {
                let interval = Duration::from_secs_f64(interval);
                (interval, now + interval)
            });
        }
        let timing = self.machine.start(now, &head.text, &mut self.slow_heat);
        let mut done_at = timing.done_at;
        if let Some(Fault::Busy(busy)) = head.fault {
            done_at = done_at.max(now + busy);
        }
        let keepalive = self.config.flavour.keepalive().is_some();
        self.active = Some(Active {
            done_at,
            next_busy: Some(now + BUSY_INTERVAL).filter(|at| keepalive && *at < done_at),
            next_temperatures: Some(now + HEATING_REPORT)
                .filter(|at| timing.heating && *at < done_at),
        });
    }

    /// The queue head is done: its output and `ok`, then its slot is free.
    fn complete_head(&mut self) {
        self.active = None;
        self.idle_since = self.now;
        let Some(head) = self.queue.pop_front() else {
            return;
        };
        // Marlin reports the free slots while the command still holds its own.
        let free_slots = self.slots.saturating_sub(self.queue.len() + 1);
        let oks = match head.fault {
            Some(Fault::DropOk) => 0,
            Some(Fault::DuplicateOk) => 2,
            _ => 1,
        };
        if head.fault == Some(Fault::Wait) {
            say!(self, "wait");
        }
        if let Some(Fault::Say(text)) = &head.fault {
            say!(self, "{text}");
        }
        let code = machine::code(&head.text);
        if code == Some((b'M', 105)) && !self.ok_first {
            let temperatures = self.temperatures();
            for _ in 0..oks {
                say!(self, "ok {temperatures}");
            }
            if oks == 0 {
                say!(self, "{temperatures}");
            }
        } else {
            if self.ok_first {
                self.oks(oks, head.n, free_slots);
            }
            self.output(code, &head.text);
            if !self.ok_first {
                self.oks(oks, head.n, free_slots);
            }
        }
        if let Some(Fault::Action(action)) = &head.fault {
            self.action(action);
        }
        self.record(head.text);
    }

    /// A host action command: `//action:pause` (Klipper: `// action:pause`).
    fn action(&mut self, action: &str) {
        match self.config.flavour {
            Flavour::Klipper => say!(self, "// action:{action}"),
            _ => say!(self, "//action:{action}"),
        }
    }

    fn oks(&mut self, count: usize, n: Option<u64>, free_slots: usize) {
        for _ in 0..count {
            match (self.config.flavour, n) {
                (Flavour::Marlin, n) if self.config.advanced_ok => {
                    let planner = self.machine.planner_free(self.now);
                    match n {
                        Some(n) => say!(self, "ok N{n} P{planner} B{free_slots}"),
                        None => say!(self, "ok P{planner} B{free_slots}"),
                    }
                }
                (Flavour::Repetier, Some(n)) => say!(self, "ok {n}"),
                _ => say!(self, "ok"),
            }
        }
    }

    /// What a command prints besides its `ok`.
    fn output(&mut self, code: Option<(u8, u32)>, text: &str) {
        match code {
            Some((b'M', 105)) => {
                let temperatures = self.temperatures();
                say!(self, "{temperatures}");
            }
            Some((b'M', 114)) => {
                let position = self.machine.position();
                say!(self, "{position}");
            }
            Some((b'M', 115)) => self.capabilities(),
            Some((b'M', 155)) if !self.config.autoreport_temp => match self.config.flavour {
                Flavour::Klipper => say!(self, "!! Unknown command:\"{text}\""),
                _ => say!(self, "echo:Unknown command: \"{text}\""),
            },
            _ => {}
        }
    }

    /// The M115 report.
    fn capabilities(&mut self) {
        let identification = self.config.flavour.identification(&self.uuid);
        say!(self, "{identification}");
        if !self.config.flavour.reports_capabilities() {
            return;
        }
        let autoreport = u8::from(self.config.autoreport_temp);
        let emergency = u8::from(self.config.emergency_parser);
        let caps: [(&str, u8); 20] = [
            ("SERIAL_XON_XOFF", 0),
            ("BINARY_FILE_TRANSFER", 0),
            ("EEPROM", 0),
            ("VOLUMETRIC", 1),
            ("AUTOREPORT_POS", 0),
            ("AUTOREPORT_TEMP", autoreport),
            ("PROGRESS", 0),
            ("PRINT_JOB", 1),
            ("AUTOLEVEL", 1),
            ("Z_PROBE", 1),
            ("EMERGENCY_PARSER", emergency),
            ("HOST_ACTION_COMMANDS", 1),
            ("PROMPT_SUPPORT", 1),
            ("SDCARD", 0),
            ("AUTOREPORT_SD_STATUS", 0),
            ("LONG_FILENAME", 0),
            ("EXTENDED_M20", 0),
            ("THERMAL_PROTECTION", 1),
            ("ARCS", 1),
            ("CHAMBER_TEMPERATURE", 0),
        ];
        for (name, value) in caps {
            say!(self, "Cap:{name}:{value}");
        }
    }

    /// Keep-alives, heating reports and autoreports that are due, then the queue.
    fn on_timer(&mut self) {
        let now = self.now;
        if let Some(mut active) = self.active {
            if active.next_busy.is_some_and(|at| at <= now) {
                if let Some(keepalive) = self.config.flavour.keepalive() {
                    say!(self, "{keepalive}");
                }
                active.next_busy = active
                    .next_busy
                    .map(|at| following(at, BUSY_INTERVAL, now))
                    .filter(|at| *at < active.done_at);
            }
            if active.next_temperatures.is_some_and(|at| at <= now) {
                let temperatures = self.temperatures();
                say!(self, "{temperatures}");
                active.next_temperatures = active
                    .next_temperatures
                    .map(|at| following(at, HEATING_REPORT, now))
                    .filter(|at| *at < active.done_at);
            }
            self.active = Some(active);
        }
        if self.next_wait().is_some_and(|at| at <= now) {
            say!(self, "wait");
            self.idle_since = now;
        }
        if let Some((interval, next)) = self.autoreport {
            if next <= now {
                let temperatures = self.temperatures();
                say!(self, "{temperatures}");
                self.autoreport = Some((interval, following(next, interval, now)));
            }
        }
        self.pump();
    }
}

/// The next tick of a periodic report after the one `at`, skipping ticks missed by `now`.
fn following(at: Instant, interval: Duration, now: Instant) -> Instant {
    let next = at + interval;
    if next > now {
        next
    } else {
        now + interval
    }
}

/// The emergency parser's test: `[N<digits> ]M112`.
fn is_m112(line: &[u8]) -> bool {
    let mut rest = line.trim_ascii_start();
    if rest.first() == Some(&b'N') {
        let digits = rest[1..].iter().take_while(|b| b.is_ascii_digit()).count();
        rest = rest[1 + digits..].trim_ascii_start();
    }
    starts_with_code(rest, b"M112")
}
