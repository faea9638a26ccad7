//! One connection's life: handshake, then the streaming loop.

use std::collections::VecDeque;
use std::future::Future;
use std::path::PathBuf;
use std::task::Poll;
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc;

use super::config::{EngineConfig, UnknownErrors};
use super::control::{Control, ControlError, EngineEvent, SessionEnd};
use super::history::History;
use super::liveness::is_long_running;
use super::progress::{Origin, Tally};
use super::source::{FileLine, GcodeSource};
use super::window::{InFlight, Limits, Window, MARLIN_RX_BYTES};
use crate::protocol::line::{self, strip, write_numbered};
use crate::protocol::reply::{self, Ack, Action, ErrorKind, FirmwareError, FirmwareInfo, Reply};
use crate::transport;

/// Progress events are sent at most this often per printer.
pub const PROGRESS_INTERVAL: Duration = Duration::from_millis(250);
/// Between two `M110 N0` probes during the handshake.
const PROBE_INTERVAL: Duration = Duration::from_secs(1);
/// After the first resend request, how long to wait for an `ok` that belongs to it. Marlin
/// builds differ: most send `Resend: n` then `ok`, some 2.0.x builds no `ok`.
const RESEND_OK_GRACE: Duration = Duration::from_millis(500);
/// After a transmission error, how long to wait for the `Resend:` most firmware sends right
/// after it before resynchronising from the error's own words (`Last Line: 41`). OctoPrint's
/// simulator sends none after `No Line Number with checksum`, RepRapFirmware none at all.
const ERROR_RESEND_GRACE: Duration = Duration::from_millis(100);
/// The shortest silence, with ordinary lines in flight, after which the engine asks again.
const MIN_PROBE_ALLOWANCE: Duration = Duration::from_millis(50);
/// The silence allowed before asking again is this many times the slowest recent
/// acknowledgement: a firmware whose planner is full acknowledges as slowly as it moves, and
/// asking again too early only costs a refused duplicate, asking too late costs the print's
/// time.
const PROBE_LATENCY_FACTOR: u32 = 8;
/// The same line requested this many times in a row means the link cannot carry it.
const RESEND_LOOP_LIMIT: u32 = 10;
/// Silence allowed during a long command from firmware that sends `busy:` keep-alives (Marlin's
/// HOST_KEEPALIVE default interval is 2 s).
const BUSY_ALLOWANCE: Duration = Duration::from_secs(3);
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
) -> SessionEnd {
    let port = match transport::open(&config.port, config.baud) {
        Ok(port) => port,
        Err(error) => {
            return SessionEnd::Gone(format!("cannot open {}: {error}", config.port.display()))
        }
    };
    let mut session = Session::new(config, port, events.clone());
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

/// What a queued command is for, so its acknowledgement can be recognised.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Purpose {
    /// A user's or a script's command.
    Command,
    /// M105 temperature poll.
    Poll,
    /// M115 identification at connect.
    Identify,
    /// Other housekeeping (M155).
    Housekeeping,
}

#[derive(Debug)]
struct Queued {
    command: String,
    purpose: Purpose,
}

/// Whether this firmware sends an `ok` after a `Resend:`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum OkAfterResend {
    Unknown,
    Yes,
    No,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Running,
    Pausing,
    Paused,
    Cancelling,
}

struct Job {
    source: GcodeSource,
    tally: Tally,
    phase: Phase,
    /// The next file line, read but not yet sent (the window was full), when `has_pending`.
    /// Kept between lines so that its command's allocation is reused.
    pending: FileLine,
    has_pending: bool,
    eof: bool,
    /// Set when the print is being stopped because of a firmware error: it then ends as
    /// failed with this reason instead of cancelled.
    failure: Option<String>,
}

struct Session {
    config: EngineConfig,
    port: transport::Port,
    events: mpsc::UnboundedSender<EngineEvent>,
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
    /// until its `ok T:…` answers, and lines still unacknowledged then were dropped.
    awaiting_probe: bool,
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

    // ---- handshake ------------------------------------------------------------------------

    async fn handshake(&mut self, control: &mut mpsc::Receiver<Control>) -> Result<(), SessionEnd> {
        let deadline = Instant::now() + self.config.handshake_timeout;
        // Boards that reset on open print `start` when booted; give them the time to boot.
        let boot = (Instant::now() + self.config.boot_wait).min(deadline);
        self.wait_for(boot, control, |reply| matches!(reply, Reply::Start))
            .await?;
        loop {
            self.out.clear();
            write_numbered(&mut self.out, 0, "M110 N0");
            self.flush().await?;
            let until = (Instant::now() + PROBE_INTERVAL).min(deadline);
            if self
                .wait_for(until, control, |reply| matches!(reply, Reply::Ok(_)))
                .await?
            {
                break;
            }
            if Instant::now() >= deadline {
                return Err(SessionEnd::Timeout(format!(
                    "no answer to M110 within {:?}; check the port and the baud rate ({})",
                    self.config.handshake_timeout, self.config.baud
                )));
            }
        }
        self.history.push(0, &self.out, Origin::Housekeeping, false);
        self.out.clear();
        self.next_number = 1;
        self.cursor = 1;
        self.last_progress = Instant::now();
        self.commands.push_front(Queued {
            command: "M115".into(),
            purpose: Purpose::Identify,
        });
        Ok(())
    }

    /// Reads replies until one matches `wanted` (true) or `until` passes (false).
    async fn wait_for(
        &mut self,
        until: Instant,
        control: &mut mpsc::Receiver<Control>,
        wanted: impl Fn(&Reply) -> bool,
    ) -> Result<bool, SessionEnd> {
        let mut buffer = [0u8; READ_CHUNK];
        loop {
            while let Some(line) = self.take_line() {
                let reply = reply::parse(&line);
                if wanted(&reply) {
                    // Anything after the wanted reply is for the streaming loop.
                    if let Reply::Ok(ack) = &reply {
                        self.note_ack_fields(ack);
                    }
                    return Ok(true);
                }
                self.handle_reply(reply)?;
            }
            tokio::select! {
                read = self.port.read(&mut buffer) => self.on_read(read, &buffer)?,
                message = control.recv() => self.on_control_while_connecting(message).await?,
                _ = tokio::time::sleep_until(until.into()) => return Ok(false),
            }
        }
    }

    async fn on_control_while_connecting(
        &mut self,
        message: Option<Control>,
    ) -> Result<(), SessionEnd> {
        match message {
            None | Some(Control::Disconnect) => Err(SessionEnd::Disconnected),
            Some(Control::EmergencyStop) => Err(self.emergency_stop().await),
            Some(Control::Send(lines)) => {
                self.queue_user_lines(lines);
                Ok(())
            }
            Some(Control::StartPrint { reply, .. }) => {
                let _ = reply.send(Err(ControlError::NotConnected("connecting".into())));
                Ok(())
            }
            Some(Control::Pause(reply) | Control::Resume(reply) | Control::Cancel(reply)) => {
                let _ = reply.send(Err(ControlError::NotPrinting));
                Ok(())
            }
        }
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
                None => Poll::Pending,
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
            // A keep-alive of the link, not progress. Marlin says it only when its queue is
            // empty and nothing arrives: if an ordinary line has waited for its `ok` a while,
            // the line or its `ok` was lost, and asking again now beats waiting out a timeout.
            Reply::Wait => {
                let now = Instant::now();
                if !self.window.any_long()
                    && self
                        .window
                        .oldest()
                        .is_some_and(|line| now.duration_since(line.sent_at) >= MIN_PROBE_ALLOWANCE)
                {
                    tracing::debug!("`wait` with a line in flight: asking again");
                    self.probe(now);
                }
            }
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

    fn note_ack_fields(&mut self, ack: &Ack) {
        if ack.line.is_some() {
            self.numbered_oks = true;
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

    fn on_ok(&mut self, ack: Ack) {
        self.note_ack_fields(&ack);
        let answers_m105 = ack.temperatures.is_some();
        if let Some(report) = ack.temperatures {
            self.emit(EngineEvent::Temperatures(report));
        }
        if answers_m105 && self.awaiting_probe {
            self.awaiting_probe = false;
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
        // The answer to a probe acknowledges everything up to it, whatever `ok`s were lost,
        // unless an older M105 poll in flight may be the one answering.
        if answers_m105 && ack.line.is_none() {
            if let Some(&probe) = self.probe_lines.first() {
                if self.poll_line.is_none_or(|poll| poll > probe) {
                    self.learning_until = None;
                    while self
                        .window
                        .oldest()
                        .is_some_and(|line| line.number <= probe)
                    {
                        self.ack_oldest();
                    }
                    return;
                }
            }
        }
        match ack.line {
            Some(number) if self.numbered_oks => {
                // The number says which line is acknowledged: an older one answers a resend
                // request or repeats an `ok` already counted.
                self.learning_until = None;
                while self
                    .window
                    .oldest()
                    .is_some_and(|line| line.number <= number)
                {
                    self.ack_oldest();
                }
                // Lines waiting to be sent again that the firmware says it has: it took the
                // ones sent before its resend request after all.
                if self.window.is_empty() && self.cursor <= number && number < self.next_number {
                    for skipped in self.cursor..=number {
                        self.credit(skipped);
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
                    self.ack_oldest();
                }
            }
        }
    }

    fn ack_oldest(&mut self) {
        let Some(line) = self.window.ack_oldest() else {
            return;
        };
        let now = Instant::now();
        self.last_progress = now;
        self.timeouts = 0;
        self.full_timeouts = 0;
        self.probing = false;
        if !self.probe_lines.is_empty() {
            self.probe_lines.retain(|&probe| probe > line.number);
        }
        if !line.long {
            let latency = now.saturating_duration_since(line.sent_at);
            self.slow_ack = latency.max(self.slow_ack - self.slow_ack / 64);
        }
        if self.resend_repeat.0 <= line.number {
            self.resend_repeat = (0, 0);
        }
        if self.stale.is_some_and(|(stale, _)| stale <= line.number) {
            self.stale = None;
        }
        if self.poll_line == Some(line.number) {
            self.poll_line = None;
        }
        if self.identify_line == Some(line.number) {
            self.identify_line = None;
            self.on_identified();
        }
        self.credit(line.number);
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

    fn on_identified(&mut self) {
        self.connected = true;
        self.next_poll = Instant::now();
        tracing::info!(
            port = %self.config.port.display(),
            firmware = %self.firmware.name,
            limits = ?self.window.limits(),
            "printer connected"
        );
        self.emit(EngineEvent::Connected {
            firmware: self.firmware.clone(),
            capabilities: self.capabilities.clone(),
            limits: self.window.limits(),
        });
    }

    /// A resend request for `requested`; `inferred` when no `Resend:` came and the engine
    /// took the line from a transmission error's words (no `ok` follows those).
    fn on_resend(&mut self, requested: u64, inferred: bool) -> Result<(), SessionEnd> {
        self.error_resync = None;
        // The firmware has every line before the one it asks for.
        while self
            .window
            .oldest()
            .is_some_and(|line| line.number < requested)
        {
            self.ack_oldest();
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
            return Err(SessionEnd::Protocol(format!(
                "the firmware asks for line {requested}, but the last line sent was {}",
                self.next_number - 1
            )));
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

    fn on_error(&mut self, error: FirmwareError) -> Result<(), SessionEnd> {
        match error.kind {
            // Part of a resend: the `Resend:` that usually follows is what counts. When none
            // comes, the error's own words say where to go on from.
            ErrorKind::Resend => {
                tracing::debug!(message = %error.message, "firmware transmission error");
                self.refused = error.refused_line();
                if self.error_resync.is_none() {
                    self.error_resync =
                        Some((Instant::now() + ERROR_RESEND_GRACE, error.expected_line()));
                }
                Ok(())
            }
            ErrorKind::Harmless => {
                tracing::info!(message = %error.message, "firmware error (harmless)");
                self.emit(EngineEvent::Message(format!("Error: {}", error.message)));
                Ok(())
            }
            ErrorKind::Fatal => Err(self.fatal(error.message, false)),
            ErrorKind::Unknown => {
                self.emit(EngineEvent::Message(format!("Error: {}", error.message)));
                match self.config.unknown_errors {
                    UnknownErrors::Disconnect => Err(self.fatal(error.message, true)),
                    UnknownErrors::Cancel => {
                        tracing::warn!(message = %error.message, "firmware error: failing the print");
                        if let Some(job) = &mut self.job {
                            job.failure = Some(format!("firmware error: {}", error.message));
                        }
                        let _ = self.cancel();
                        Ok(())
                    }
                    UnknownErrors::Ignore => {
                        tracing::warn!(message = %error.message, "firmware error (ignored as configured)");
                        Ok(())
                    }
                }
            }
        }
    }

    /// Asks the firmware where it stands after a silence with lines in flight.
    ///
    /// Firmware that checks line numbers gets a numbered `M105` as the next line, past the
    /// window's limits (it is short, and the firmware's buffers hold more than the window
    /// counts). If it has every line in flight, it takes the probe and answers `ok T:…`,
    /// which acknowledges everything up to the probe, a lost `ok` included; if it lost one, it
    /// refuses the probe and asks for the lost line. Sending the oldest line again instead
    /// would not do: Marlin 2.1 drops a repeat of its last line silently.
    ///
    /// RepRapFirmware checks no line numbers and drops a bad line silently: it gets an
    /// unnumbered `M105` and nothing else until that is answered; since it answers in order,
    /// a line still unacknowledged then was dropped and is sent again (a lost `ok` looks the
    /// same, but RRF drops bad lines, and `ok`s are rarely lost). Klipper ignores line numbers
    /// and never drops a line: an unnumbered `M105`.
    fn probe(&mut self, now: Instant) {
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
            self.awaiting_probe = self.drops_bad_lines;
        } else if self.cursor < self.next_number {
            // Also while resending: the lines from the cursor on are to be sent again anyway.
            self.window.clear();
            self.cursor = oldest.number;
            self.probing = true;
        } else {
            self.probe_due = true;
        }
    }

    fn on_action(&mut self, action: Action) {
        tracing::info!(?action, "firmware action command");
        let result = match action {
            Action::Pause | Action::Paused => self.pause(),
            Action::Resume => self.resume(true),
            Action::Resumed => self.resume(false),
            Action::Cancel => self.cancel(),
            other => {
                self.emit(EngineEvent::Action(other));
                Ok(())
            }
        };
        if let Err(error) = result {
            tracing::debug!(%error, "firmware action ignored");
        }
    }

    async fn on_control(&mut self, message: Option<Control>) -> Result<(), SessionEnd> {
        match message {
            None | Some(Control::Disconnect) => return Err(SessionEnd::Disconnected),
            Some(Control::EmergencyStop) => return Err(self.emergency_stop().await),
            Some(Control::Send(lines)) => {
                if lines
                    .iter()
                    .any(|line| strip(line).is_some_and(is_emergency_stop))
                {
                    return Err(self.emergency_stop().await);
                }
                self.queue_user_lines(lines);
            }
            Some(Control::StartPrint { file, reply }) => {
                let _ = reply.send(self.start_print(file));
            }
            Some(Control::Pause(reply)) => {
                let _ = reply.send(self.pause());
            }
            Some(Control::Resume(reply)) => {
                let _ = reply.send(self.resume(true));
            }
            Some(Control::Cancel(reply)) => {
                let _ = reply.send(self.cancel());
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
        let allowance = self.allowance();
        if !self.window.is_empty() && now.duration_since(self.silent_since()) >= allowance {
            self.timeouts += 1;
            let oldest = self.window.oldest().map_or(0, |line| line.number);
            if allowance >= self.config.ack_timeout {
                self.full_timeouts += 1;
                if self.full_timeouts > self.config.max_timeouts {
                    return Err(SessionEnd::Timeout(format!(
                        "no acknowledgement of line {oldest}: the firmware was asked {} times \
                         and stayed silent, the last {} times for {:?} each",
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
        }
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

    fn queue_poll(&mut self) {
        self.next_poll = Instant::now() + self.config.temperature_interval;
        let queued = self.commands.iter().any(|c| c.purpose == Purpose::Poll);
        if self.poll_line.is_none() && !queued {
            self.commands.push_back(Queued {
                command: "M105".into(),
                purpose: Purpose::Poll,
            });
        }
    }

    /// Since when the firmware has owed an answer: its last sign of progress, or the sending
    /// of the oldest line in flight if that came later (a print starting after an idle hour
    /// owes nothing for that hour).
    fn silent_since(&self) -> Instant {
        match self.window.oldest() {
            Some(line) => self.last_progress.max(line.sent_at),
            None => self.last_progress,
        }
    }

    /// The silence allowed while lines are in flight. For ordinary lines it starts at
    /// [`PROBE_LATENCY_FACTOR`] times the slowest recent acknowledgement and doubles with
    /// every unanswered attempt, up to [`EngineConfig::ack_timeout`].
    fn allowance(&self) -> Duration {
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

    // ---- sending --------------------------------------------------------------------------

    /// Fills the window: lines to resend first, then queued commands, then the file.
    fn pump(&mut self) {
        if self.learning_until.is_some() || self.awaiting_probe {
            return;
        }
        let now = Instant::now();
        if std::mem::take(&mut self.probe_due) && self.cursor == self.next_number {
            let number = self.next_number;
            self.scratch.clear();
            write_numbered(&mut self.scratch, number, "M105");
            self.history
                .push(number, &self.scratch, Origin::Housekeeping, false);
            self.window.push(InFlight {
                number,
                bytes: self.scratch.len(),
                long: false,
                sent_at: now,
            });
            self.out.extend_from_slice(&self.scratch);
            self.probe_lines.push(number);
            self.next_number += 1;
            self.cursor = self.next_number;
        }
        loop {
            // While asking again, one line at a time until the firmware answers.
            if self.probing && !self.window.is_empty() {
                break;
            }
            if self.cursor < self.next_number {
                let Some(line) = self.history.get(self.cursor) else {
                    break;
                };
                if !self.window.has_room(line.wire.len()) {
                    break;
                }
                self.window.push(InFlight {
                    number: line.number,
                    bytes: line.wire.len(),
                    long: line.long,
                    sent_at: now,
                });
                self.out.extend_from_slice(&line.wire);
                self.cursor += 1;
                continue;
            }
            if !self.fill_pending_file_line() {
                break;
            }
            let number = self.next_number;
            let (command, origin, purpose) = if let Some(queued) = self.commands.front() {
                let origin = match queued.purpose {
                    Purpose::Command => Origin::Command,
                    Purpose::Poll | Purpose::Identify | Purpose::Housekeeping => {
                        Origin::Housekeeping
                    }
                };
                (queued.command.as_str(), origin, queued.purpose)
            } else if let Some(line) = self
                .job
                .as_ref()
                .and_then(|job| job.has_pending.then_some(&job.pending))
            {
                let origin = Origin::File {
                    file_line: line.file_line,
                    end_offset: line.end_offset,
                };
                (line.command.as_str(), origin, Purpose::Command)
            } else {
                break;
            };
            self.scratch.clear();
            write_numbered(&mut self.scratch, number, command);
            if !self.window.has_room(self.scratch.len()) {
                break;
            }
            let long = is_long_running(command);
            match purpose {
                Purpose::Poll => self.poll_line = Some(number),
                Purpose::Identify => self.identify_line = Some(number),
                Purpose::Command | Purpose::Housekeeping => {}
            }
            if self.commands.pop_front().is_none() {
                if let Some(job) = &mut self.job {
                    job.has_pending = false;
                    job.tally.lines_sent += 1;
                }
            }
            self.history.push(number, &self.scratch, origin, long);
            self.window.push(InFlight {
                number,
                bytes: self.scratch.len(),
                long,
                sent_at: now,
            });
            self.out.extend_from_slice(&self.scratch);
            self.next_number += 1;
            self.cursor = self.next_number;
        }
    }

    /// Reads the next file line when the job is feeding and none is pending. False when
    /// there is nothing at all to send.
    fn fill_pending_file_line(&mut self) -> bool {
        if !self.commands.is_empty() {
            return true;
        }
        let Some(job) = &mut self.job else {
            return false;
        };
        if job.phase != Phase::Running || job.eof {
            return false;
        }
        if !job.has_pending {
            match job.source.next_line_into(&mut job.pending) {
                Ok(true) => job.has_pending = true,
                Ok(false) => {
                    job.eof = true;
                    return false;
                }
                Err(error) => {
                    let reason = format!("reading {}: {error}", job.tally.file.display());
                    let progress = job.tally.snapshot();
                    self.job = None;
                    tracing::error!(%reason, "print failed");
                    self.emit(EngineEvent::PrintFailed { reason, progress });
                    return false;
                }
            }
        }
        true
    }

    async fn flush(&mut self) -> Result<(), SessionEnd> {
        if self.out.is_empty() {
            return Ok(());
        }
        // The tty almost always takes the whole window at once: write directly and keep the
        // timed async path (a timer per write) for when it does not.
        match self.port.try_write(&self.out) {
            Ok(written) => {
                self.out.drain(..written);
                if self.out.is_empty() {
                    return Ok(());
                }
            }
            Err(error) if error.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(error) if error.kind() == std::io::ErrorKind::Interrupted => {}
            Err(error) => return Err(SessionEnd::Gone(error.to_string())),
        }
        let write = self.port.write_all(&self.out);
        match tokio::time::timeout(self.config.ack_timeout, write).await {
            Ok(Ok(())) => {
                self.out.clear();
                Ok(())
            }
            Ok(Err(error)) => Err(SessionEnd::Gone(error.to_string())),
            Err(_) => Err(SessionEnd::Timeout(
                "the port accepts no more bytes (the firmware stopped reading)".into(),
            )),
        }
    }

    /// Writes bytes outside the numbered stream, best effort (emergency stop, heaters off).
    fn write_raw(&mut self, bytes: &[u8]) {
        // Non-blocking write on the raw fd: these few bytes fit in any tty buffer, and when
        // the device is gone there is nobody to tell.
        let _ = self.port.try_write_all(bytes);
    }

    async fn emergency_stop(&mut self) -> SessionEnd {
        // Ahead of everything: nothing queued or pending is written before it.
        self.out.clear();
        let _ = self.port.write_all(b"M112\n").await;
        let _ = self.port.write_all(b"M104 S0\nM140 S0\n").await;
        let _ = self.port.flush().await;
        tracing::warn!(port = %self.config.port.display(), "emergency stop sent");
        SessionEnd::EmergencyStop
    }

    fn fatal(&mut self, message: String, unknown: bool) -> SessionEnd {
        tracing::error!(port = %self.config.port.display(), %message, "fatal firmware error");
        if unknown {
            // An error nobody knows could be anything: stop the printer before letting go.
            self.write_raw(b"M112\n");
        }
        self.write_raw(b"M104 S0\nM140 S0\n");
        SessionEnd::Fatal(message)
    }

    fn queue_user_lines(&mut self, lines: Vec<String>) {
        for line in lines {
            if let Some(command) = strip(&line) {
                self.commands.push_back(Queued {
                    command: command.to_string(),
                    purpose: Purpose::Command,
                });
            }
        }
    }

    // ---- the print ------------------------------------------------------------------------

    fn start_print(&mut self, file: PathBuf) -> Result<(), ControlError> {
        if !self.connected {
            return Err(ControlError::NotConnected("connecting".into()));
        }
        if let Some(job) = &self.job {
            return Err(ControlError::AlreadyPrinting(
                job.tally.file.display().to_string(),
            ));
        }
        let source = GcodeSource::open(&file).map_err(|error| ControlError::File {
            file: file.display().to_string(),
            reason: error.to_string(),
        })?;
        let tally = Tally::new(file, source.size());
        tracing::info!(file = %tally.file.display(), size = tally.file_size, "print started");
        self.emit(EngineEvent::PrintStarted(tally.snapshot()));
        self.job = Some(Job {
            source,
            tally,
            phase: Phase::Running,
            pending: FileLine::default(),
            has_pending: false,
            eof: false,
            failure: None,
        });
        Ok(())
    }

    fn pause(&mut self) -> Result<(), ControlError> {
        let job = self.job.as_mut().ok_or(ControlError::NotPrinting)?;
        if job.phase == Phase::Running {
            job.phase = Phase::Pausing;
            let progress = job.tally.snapshot();
            self.emit(EngineEvent::PrintPausing(progress));
        }
        Ok(())
    }

    fn resume(&mut self, run_script: bool) -> Result<(), ControlError> {
        let job = self.job.as_mut().ok_or(ControlError::NotPrinting)?;
        match job.phase {
            Phase::Paused => {
                job.phase = Phase::Running;
                let progress = job.tally.snapshot();
                if run_script {
                    let script = self.config.resume_script.clone();
                    self.queue_user_lines(script);
                }
                self.emit(EngineEvent::PrintResumed(progress));
                Ok(())
            }
            Phase::Pausing => {
                job.phase = Phase::Running;
                let progress = job.tally.snapshot();
                self.emit(EngineEvent::PrintResumed(progress));
                Ok(())
            }
            Phase::Running => Ok(()),
            Phase::Cancelling => Err(ControlError::NotPaused),
        }
    }

    fn cancel(&mut self) -> Result<(), ControlError> {
        let job = self.job.as_mut().ok_or(ControlError::NotPrinting)?;
        if job.phase != Phase::Cancelling {
            job.phase = Phase::Cancelling;
            job.has_pending = false;
            let progress = job.tally.snapshot();
            self.emit(EngineEvent::PrintCancelling(progress));
        }
        Ok(())
    }

    /// Moves the print along once the firmware has acknowledged what it needs to.
    fn advance_job(&mut self) {
        let drained = self.window.is_empty() && self.cursor == self.next_number;
        let Some(job) = &mut self.job else {
            return;
        };
        match job.phase {
            Phase::Pausing if drained => {
                job.phase = Phase::Paused;
                let progress = job.tally.snapshot();
                let script = self.config.pause_script.clone();
                self.queue_user_lines(script);
                tracing::info!("print paused");
                self.emit(EngineEvent::PrintPaused(progress));
            }
            Phase::Cancelling if drained => {
                let progress = job.tally.snapshot();
                let failure = job.failure.take();
                self.job = None;
                let mut script = self.config.cancel_script.clone();
                script.extend(["M104 S0".to_string(), "M140 S0".to_string()]);
                self.queue_user_lines(script);
                match failure {
                    Some(reason) => {
                        tracing::error!(%reason, last_acked_line = progress.last_acked_line, "print failed");
                        self.emit(EngineEvent::PrintFailed { reason, progress });
                    }
                    None => {
                        tracing::info!("print cancelled");
                        self.emit(EngineEvent::PrintCancelled(progress));
                    }
                }
            }
            Phase::Running if drained && job.eof && !job.has_pending => {
                let progress = job.tally.snapshot();
                self.job = None;
                tracing::info!(
                    lines = progress.lines_acked,
                    resends = progress.resends,
                    "print done"
                );
                self.emit(EngineEvent::PrintDone(progress));
            }
            _ => {}
        }
    }

    /// Reports the running print, if any, as failed because the session ended.
    fn fail_print(&mut self, end: &SessionEnd) {
        if let Some(job) = self.job.take() {
            let progress = job.tally.snapshot();
            tracing::error!(
                reason = %end.reason(),
                last_acked_line = progress.last_acked_line,
                acked_offset = progress.acked_offset,
                "print failed"
            );
            self.emit(EngineEvent::PrintFailed {
                reason: end.reason(),
                progress,
            });
        }
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

fn is_emergency_stop(command: &str) -> bool {
    command
        .split_ascii_whitespace()
        .next()
        .is_some_and(|code| code.eq_ignore_ascii_case("M112"))
}
