//! One connection's life: handshake, then the streaming loop.
//!
//! This file holds the [`Session`] and its state, [`run`], and the streaming loop: the wait for
//! the port, the control channel and the timer, and the hand-off of each reply to the code for
//! its kind. The session's duties each have their own file, as an `impl Session` block:
//!
//! - `handshake.rs`: from the open port to the identified printer (`M110 N0`, `M115`).
//! - `sending.rs`: the command queue; filling the window with lines to resend, commands and
//!   file lines; writing to the port.
//! - `acks.rs`: which lines an `ok` acknowledges, and crediting the print with them.
//! - `resend.rs`: resend requests, transmission errors, and the waits that follow them.
//! - `silence.rs`: how long a silence is normal, and asking the firmware where it stands after
//!   a longer one.
//! - `errors.rs`: firmware errors by kind.
//! - `requests.rs`: control messages, host action commands and the emergency stop.
//! - `print.rs`: the print job, from start to done, cancelled or failed.

mod acks;
mod errors;
mod handshake;
mod print;
mod requests;
mod resend;
mod sending;
mod silence;

use std::collections::VecDeque;
use std::future::Future;
use std::task::Poll;
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::mpsc;

use self::print::Job;
use self::resend::OkAfterResend;
use self::sending::{Purpose, Queued};
use super::config::EngineConfig;
use super::control::{Control, EngineEvent, SessionEnd};
use super::history::History;
use super::window::{Limits, Window, MARLIN_RX_BYTES};
use crate::protocol::line;
use crate::protocol::reply::{self, FirmwareInfo, Reply};
use crate::terminal::{Direction, Terminal};
use crate::transport;

/// Progress events are sent at most this often per printer.
pub(super) const PROGRESS_INTERVAL: Duration = Duration::from_millis(250);
/// Read size: a burst of replies from a fast firmware fits in one read.
const READ_CHUNK: usize = 4096;
/// Lines kept for resends beyond the largest window we allow.
const MAX_WINDOW_LINES: usize = 64;

/// Runs one session on `config.port` until it ends: opens the port, handshakes, then streams
/// and obeys `control` until a disconnect, an emergency stop, a fatal error or the device's
/// disappearance. A print running when the session ends is reported as failed, with the last
/// acknowledged line and its byte offset.
pub async fn run(
    config: EngineConfig,
    control: &mut mpsc::Receiver<Control>,
    events: &mpsc::UnboundedSender<EngineEvent>,
    terminal: Terminal,
) -> SessionEnd {
    let port = match transport::open(&config.port, config.baud) {
        Ok(port) => port,
        Err(error) => {
            return SessionEnd::Gone(format!("cannot open {}: {error}", config.port.display()))
        }
    };
    let mut session = Session::new(config, port, events.clone(), terminal);
    let end = match session.handshake(control).await {
        Ok(()) => session.stream(control).await,
        Err(end) => end,
    };
    session.fail_print(&end);
    tracing::info!(port = %session.config.port.display(), reason = %end.reason(), "serial session ended");
    end
}

/// What ended a wait of the streaming loop.
enum Wake {
    /// The port had data, or an error or end of file.
    Read(std::io::Result<usize>),
    /// A control message (or `None`: every sender is gone).
    Control(Option<Control>),
    /// The timer of [`Session::next_wake`] fired.
    Timer,
    /// Writing to the port failed.
    WriteFailed(std::io::Error),
}

struct Session {
    config: EngineConfig,
    port: transport::Port,
    events: mpsc::UnboundedSender<EngineEvent>,
    /// Where every line written and read is recorded.
    terminal: Terminal,
    /// Bytes received after the last complete line.
    rx: Vec<u8>,
    /// Bytes to write.
    out: Vec<u8>,
    /// The next new line's number.
    next_number: u64,
    /// The next number to transmit; below `next_number` while resending.
    cursor: u64,
    history: History,
    window: Window,
    commands: VecDeque<Queued>,
    job: Option<Job>,
    /// `ok`s carry the acknowledged line's number (ADVANCED_OK, Repetier).
    numbered_oks: bool,
    /// The largest free command slot count ADVANCED_OK reported.
    max_free_slots: u32,
    /// ADVANCED_OK said the planner was full: the firmware is as slow as its motion, and a new
    /// line goes out only when the window has room for two (`Window::has_room_for_two`).
    motion_bound: bool,
    ok_after_resend: OkAfterResend,
    /// `ok`s still to come that answer resend requests rather than lines.
    swallow_oks: u32,
    /// Waiting to learn whether an `ok` follows the first resend request; nothing is sent meanwhile.
    learning_until: Option<Instant>,
    /// Repeats of the current resend request expected from lines sent before it, which the
    /// firmware rejects one by one: (line, how many more to ignore).
    stale: Option<(u64, usize)>,
    /// The line a transmission error said it refused (`expected line 1003 got 1001`), until
    /// the resend request that follows it.
    refused: Option<u64>,
    /// The line last requested again and how often in a row (until it is acknowledged).
    resend_repeat: (u64, u32),
    /// A transmission error arrived and no `Resend:` yet: when to resynchronise by ourselves,
    /// and the line the error said the firmware wants (if it said).
    error_resync: Option<(Instant, Option<u64>)>,
    /// The slowest recent acknowledgement of an ordinary line (decaying), which sets how long
    /// a silence is normal.
    slow_ack: Duration,
    /// Asking again after a silence by resending (firmware that ignores line numbers' order
    /// but drops bad lines): one line in flight until something is acknowledged.
    probing: bool,
    /// A numbered `M105` is to be sent past the window's limits to ask the firmware where it
    /// stands (see [`Session::probe`]).
    probe_due: bool,
    /// Numbered `M105`s sent to ask again and not yet acknowledged.
    probe_lines: Vec<u64>,
    /// RepRapFirmware: a bad line is dropped silently and line numbers are not checked, so
    /// only the lost line itself, sent again, recovers it.
    drops_bad_lines: bool,
    /// An unnumbered `M105` went out to ask RepRapFirmware where it stands; nothing is sent
    /// until its `ok T:…` answers, and lines still unacknowledged then were dropped. Over as
    /// soon as nothing is in flight (the answer may never come: the question may be lost).
    awaiting_probe: bool,
    /// When the unnumbered `M105`s sent to RepRapFirmware and not answered yet went out. Their
    /// answers are not acknowledgements of lines; one unanswered for
    /// [`EngineConfig::ack_timeout`] was lost.
    bare_probes: VecDeque<Instant>,
    /// Silences at the full [`EngineConfig::ack_timeout`] in a row; past
    /// [`EngineConfig::max_timeouts`] the printer is declared gone.
    full_timeouts: u32,
    last_rx: Instant,
    last_progress: Instant,
    /// Since when the tty has refused the bytes in `out` (the firmware stopped reading).
    write_blocked_since: Option<Instant>,
    timeouts: u32,
    /// The firmware sends `busy:` keep-alives, so a long silence is suspect even in G28.
    busy_protocol: bool,
    autoreport: bool,
    next_poll: Instant,
    poll_line: Option<u64>,
    identify_line: Option<u64>,
    /// `M115` was answered and the first `M105` asked: its answer makes the session connected,
    /// so that a connected printer always has temperatures to show (Home Assistant creates its
    /// sensors from the first answer it gets).
    identified: bool,
    connected: bool,
    firmware: FirmwareInfo,
    capabilities: Vec<(String, bool)>,
    /// Klipper ignores line numbers: a lost `ok` is recovered with M105, never by resending.
    ignores_line_numbers: bool,
    last_progress_event: Instant,
    scratch: Vec<u8>,
}

impl Session {
    fn new(
        config: EngineConfig,
        port: transport::Port,
        events: mpsc::UnboundedSender<EngineEvent>,
        terminal: Terminal,
    ) -> Session {
        let limits = if config.send_ahead
            && (config.rx_buffer.is_some() || config.command_buffer.is_some())
        {
            stated_limits(&config, None)
        } else {
            Limits::PING_PONG
        };
        let now = Instant::now();
        Session {
            port,
            events,
            terminal,
            rx: Vec::with_capacity(READ_CHUNK),
            out: Vec::with_capacity(1024),
            next_number: 1,
            cursor: 1,
            history: History::new(MAX_WINDOW_LINES),
            window: Window::new(limits),
            commands: VecDeque::new(),
            job: None,
            numbered_oks: false,
            max_free_slots: 0,
            motion_bound: false,
            ok_after_resend: OkAfterResend::Unknown,
            swallow_oks: 0,
            learning_until: None,
            stale: None,
            refused: None,
            resend_repeat: (0, 0),
            error_resync: None,
            slow_ack: Duration::ZERO,
            probing: false,
            probe_due: false,
            probe_lines: Vec::new(),
            drops_bad_lines: false,
            awaiting_probe: false,
            bare_probes: VecDeque::new(),
            full_timeouts: 0,
            last_rx: now,
            last_progress: now,
            write_blocked_since: None,
            timeouts: 0,
            busy_protocol: false,
            autoreport: false,
            next_poll: now,
            poll_line: None,
            identify_line: None,
            identified: false,
            connected: false,
            firmware: FirmwareInfo::default(),
            capabilities: Vec::new(),
            ignores_line_numbers: false,
            last_progress_event: now,
            scratch: Vec::with_capacity(128),
            config,
        }
    }

    fn emit(&self, event: EngineEvent) {
        // The supervisor owns the receiver for as long as the session runs.
        let _ = self.events.send(event);
    }

    // ---- streaming loop -------------------------------------------------------------------

    async fn stream(&mut self, control: &mut mpsc::Receiver<Control>) -> SessionEnd {
        let mut buffer = vec![0u8; READ_CHUNK];
        let sleep = tokio::time::sleep_until(Instant::now().into());
        tokio::pin!(sleep);
        loop {
            if let Err(end) = self.process_lines() {
                return end;
            }
            self.advance_job();
            self.pump();
            // Re-arming a timer costs more than a spurious wake-up: move it only when it must
            // fire earlier, or when it already fired.
            let wake = tokio::time::Instant::from(self.next_wake());
            if wake < sleep.deadline() || sleep.is_elapsed() {
                sleep.as_mut().reset(wake);
            }
            let step = match self.wait(&mut buffer, control, sleep.as_mut()).await {
                Wake::Read(read) => self.on_read(read, &buffer),
                Wake::Control(message) => self.on_control(message).await,
                Wake::Timer => self.on_tick(),
                Wake::WriteFailed(error) => Err(SessionEnd::Gone(error.to_string())),
            };
            if let Err(end) = step {
                return end;
            }
        }
    }

    /// Writes what [`pump`](Session::pump) queued and waits for the next thing to act on.
    ///
    /// The write is the last thing done before the thread sleeps: everything the wait needs
    /// (the read, the control channel, the timer) is registered first. Measured on a 2-core
    /// virtual machine, one microsecond of work after the write cost 40 % of the ping-pong rate
    /// and the same work before it nothing: the reply then seems to be delivered through the
    /// other, sleeping CPU, and waking a virtual CPU costs tens of microseconds.
    async fn wait(
        &mut self,
        buffer: &mut [u8],
        control: &mut mpsc::Receiver<Control>,
        mut sleep: std::pin::Pin<&mut tokio::time::Sleep>,
    ) -> Wake {
        std::future::poll_fn(|cx| {
            let mut read_buffer = tokio::io::ReadBuf::new(buffer);
            let woken = if let Poll::Ready(read) =
                std::pin::Pin::new(&mut self.port).poll_read(cx, &mut read_buffer)
            {
                Some(Wake::Read(read.map(|()| read_buffer.filled().len())))
            } else if let Poll::Ready(message) = control.poll_recv(cx) {
                Some(Wake::Control(message))
            } else if sleep.as_mut().poll(cx).is_ready() {
                Some(Wake::Timer)
            } else {
                None
            };
            // A control message is handled first: an emergency stop then clears what waits
            // here, so that `M112` is the next thing on the wire.
            let control_first = matches!(woken, Some(Wake::Control(_)));
            while !control_first && !self.out.is_empty() {
                match std::pin::Pin::new(&mut self.port).poll_write(cx, &self.out) {
                    Poll::Ready(Ok(0)) => {
                        return Poll::Ready(Wake::WriteFailed(std::io::ErrorKind::WriteZero.into()))
                    }
                    Poll::Ready(Ok(written)) => {
                        self.out.drain(..written);
                    }
                    Poll::Ready(Err(error)) if error.kind() == std::io::ErrorKind::Interrupted => {}
                    Poll::Ready(Err(error)) => return Poll::Ready(Wake::WriteFailed(error)),
                    // The tty is full; its writability is registered.
                    Poll::Pending => break,
                }
            }
            if !control_first {
                self.write_blocked_since = match (self.out.is_empty(), self.write_blocked_since) {
                    (true, _) => None,
                    (false, since) => Some(since.unwrap_or_else(Instant::now)),
                };
            }
            match woken {
                Some(wake) => Poll::Ready(wake),
                None => {
                    if !control_first {
                        // Off the reply's path: the next file line is read while the firmware
                        // works on this one, not after its `ok` arrives.
                        self.fill_pending_file_line();
                    }
                    Poll::Pending
                }
            }
        })
        .await
    }

    fn on_read(&mut self, read: std::io::Result<usize>, buffer: &[u8]) -> Result<(), SessionEnd> {
        match read {
            Ok(0) => Err(SessionEnd::Gone("the port reported end of file".into())),
            Ok(n) => {
                self.rx.extend_from_slice(&buffer[..n]);
                self.last_rx = Instant::now();
                Ok(())
            }
            Err(error) if error.kind() == std::io::ErrorKind::Interrupted => Ok(()),
            Err(error) if error.kind() == std::io::ErrorKind::WouldBlock => Ok(()),
            Err(error) => Err(SessionEnd::Gone(error.to_string())),
        }
    }

    /// The next complete line received, without its line ending.
    fn take_line(&mut self) -> Option<String> {
        let end = self.rx.iter().position(|&b| b == b'\n')?;
        self.terminal.record(Direction::Received, &self.rx[..end]);
        let line = line::text(&self.rx[..end])
            .trim_end_matches('\r')
            .to_string();
        self.rx.drain(..=end);
        Some(line)
    }

    fn process_lines(&mut self) -> Result<(), SessionEnd> {
        if !self.rx.contains(&b'\n') {
            return Ok(());
        }
        let data = std::mem::take(&mut self.rx);
        let mut start = 0;
        let mut result = Ok(());
        while let Some(end) = data[start..].iter().position(|&b| b == b'\n') {
            let raw = &data[start..start + end];
            start += end + 1;
            self.terminal.record(Direction::Received, raw);
            let text = line::text(raw);
            tracing::trace!(line = %text, "received");
            if let Err(end) = self.handle_reply(reply::parse(text.trim_end_matches('\r'))) {
                result = Err(end);
                break;
            }
        }
        let mut rest = data;
        rest.drain(..start);
        self.rx = rest;
        result
    }

    fn handle_reply(&mut self, reply: Reply) -> Result<(), SessionEnd> {
        match reply {
            Reply::Ok(ack) => self.on_ok(ack),
            Reply::Resend(line) => return self.on_resend(line, false),
            Reply::Error(error) => return self.on_error(error),
            Reply::Busy(_) => {
                self.busy_protocol = true;
                self.last_progress = Instant::now();
            }
            // A keep-alive of the link, not progress.
            Reply::Wait => return self.on_wait(Instant::now()),
            Reply::Start => {
                if self.connected {
                    return Err(SessionEnd::Reset);
                }
            }
            Reply::Action(action) => self.on_action(action),
            Reply::Temperatures(report) => {
                // During heat-and-wait the reports are the firmware's only life sign.
                if self.window.any_long() {
                    self.last_progress = Instant::now();
                }
                self.emit(EngineEvent::Temperatures(report));
            }
            Reply::Position(position) => self.emit(EngineEvent::Position(position)),
            Reply::Firmware(info) => {
                let name = info.name.to_ascii_lowercase();
                self.ignores_line_numbers = name.contains("klipper");
                self.drops_bad_lines = name.contains("reprapfirmware");
                self.firmware = info.clone();
                if self.connected {
                    self.emit(EngineEvent::Firmware(info));
                }
            }
            Reply::Capability { name, enabled } => {
                if name == "AUTOREPORT_TEMP" && enabled && !self.autoreport {
                    self.autoreport = true;
                    let seconds = self.config.temperature_interval.as_secs().max(1);
                    self.commands.push_back(Queued {
                        command: format!("M155 S{seconds}"),
                        purpose: Purpose::Housekeeping,
                    });
                }
                self.capabilities.push((name, enabled));
            }
            Reply::Sd(message) => tracing::debug!(?message, "SD card message"),
            Reply::Info(text) => {
                if !text.trim().is_empty() {
                    tracing::debug!(%text, "firmware says");
                    self.emit(EngineEvent::Message(text));
                }
            }
        }
        Ok(())
    }

    fn on_tick(&mut self) -> Result<(), SessionEnd> {
        let now = Instant::now();
        if self
            .write_blocked_since
            .is_some_and(|since| now.duration_since(since) >= self.config.ack_timeout)
        {
            return Err(SessionEnd::Timeout(
                "the port accepts no more bytes (the firmware stopped reading)".into(),
            ));
        }
        while self
            .bare_probes
            .front()
            .is_some_and(|&sent| now.duration_since(sent) >= self.config.ack_timeout)
        {
            self.bare_probes.pop_front();
        }
        self.on_resend_timers(now)?;
        self.on_silence(now)?;
        if self.connected {
            // Without autoreport, poll on schedule; with it, only an idle and silent link is
            // asked whether it is still there.
            let due = if self.autoreport {
                let idle_probe = self.config.ack_timeout + self.config.temperature_interval;
                self.window.is_empty() && now.duration_since(self.last_rx) >= idle_probe
            } else {
                now >= self.next_poll
            };
            if due {
                self.queue_poll();
            }
        }
        if now.duration_since(self.last_progress_event) >= PROGRESS_INTERVAL {
            if let Some(job) = &self.job {
                self.last_progress_event = now;
                self.emit(EngineEvent::Progress(job.tally.snapshot()));
            }
        }
        Ok(())
    }

    fn next_wake(&self) -> Instant {
        let now = Instant::now();
        let mut wake = now
            + if self.job.is_some() {
                PROGRESS_INTERVAL
            } else {
                Duration::from_secs(1)
            };
        if !self.window.is_empty() {
            wake = wake.min(self.silent_since() + self.allowance());
        }
        if self.connected && !self.autoreport {
            wake = wake.min(self.next_poll);
        }
        if let Some(until) = self.learning_until {
            wake = wake.min(until);
        }
        if let Some((until, _)) = self.error_resync {
            wake = wake.min(until);
        }
        if let Some(since) = self.write_blocked_since {
            wake = wake.min(since + self.config.ack_timeout);
        }
        wake.max(now)
    }
}

/// The send-ahead limits from the config and, when known, ADVANCED_OK's free slots.
fn stated_limits(config: &EngineConfig, free_slots: Option<u32>) -> Limits {
    let slots = config
        .command_buffer
        .or(free_slots.map(|free| free as usize))
        .unwrap_or(4)
        .clamp(1, MAX_WINDOW_LINES);
    Limits {
        lines: slots,
        bytes: config
            .rx_buffer
            .map_or(MARLIN_RX_BYTES, |rx| rx.saturating_sub(1).max(1)),
    }
}
