//! A simulated Marlin-style printer on a real pseudo-terminal, for tests, benchmarks and
//! `port = "virtual"`.
//!
//! [`VirtualPrinter::start`] creates a pty, points a symlink at its slave (`/dev/pts/N`) and
//! runs the firmware on its own thread. A host opens the link exactly as it would open
//! `/dev/ttyACM0` and streams G-code to it; the firmware checks line numbers and checksums
//! like Marlin, keeps a finite RX buffer and BUFSIZE command slots, executes commands with
//! realistic timing (scaled by [`SimConfig::speed`]), paces bytes at [`SimConfig::baud`], and
//! injects the faults of a [`FaultPlan`] or of [`VirtualPrinter::inject`]. Every executed
//! command is logged ([`VirtualPrinter::executed`]) so a test can check that nothing was lost
//! or executed twice.
//!
//! The thread sleeps in poll(2) until the pty has data, the API wakes it, or the next
//! scheduled event (a byte-paced line end, a command finishing, a report) is due; replies
//! produced at one instant go out in one write.

mod dialect;
mod faults;
mod firmware;
mod machine;
mod pty;
#[cfg(test)]
mod tests;
mod wire;

use std::collections::VecDeque;
use std::hash::{Hash, Hasher};
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

pub use faults::{Fault, FaultPlan};

use firmware::Firmware;
use pty::Pty;
use wire::WIRE_CAPACITY;

/// Which firmware the virtual printer imitates, each as its public source behaves (see
/// `dialect.rs` for what differs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Flavour {
    /// Marlin 2.1: strict line numbers and checksums, `Error:…, Last Line: n`, then
    /// `Resend: n+1` and `ok`, the RX buffer drained on an error, a repeated line dropped
    /// silently, ADVANCED_OK, `echo:busy: processing`.
    #[default]
    Marlin,
    /// Prusa-Firmware for the MK3: Marlin's messages, but the RX buffer is not drained on an
    /// error (the lines after a refused one are refused one by one) and a repeated line is
    /// refused like any other out of sequence.
    Prusa,
    /// Prusa-Firmware-Buddy (MK4, XL, MINI): a Marlin 2.0 of 2019: RX drained on an error,
    /// repeated lines refused, M105 without a space before `/`.
    PrusaBuddy,
    /// Repetier firmware: `ok <n>`, `ok` before a command's output, `Error:expected line n got
    /// m` / `Error:Wrong checksum`, an empty line and `Resend:<n>`, `skip <n>` for the lines in
    /// flight after a resend request, `busy:processing`, `wait` while idle.
    Repetier,
    /// RepRapFirmware: a line with a bad checksum is dropped silently, no error and no `ok`;
    /// line numbers are not checked at all; plain `ok`; no keep-alives.
    RepRapFirmware,
    /// Smoothieware: `rs N<n>` is the whole answer to a bad or out-of-sequence line (no error,
    /// no `ok`); no keep-alives.
    Smoothieware,
    /// Klipper: ignores line numbers and checksums, errors as `!! …`, plain `ok`.
    Klipper,
}

/// How the virtual printer behaves. The default is a Marlin printer with Marlin's buffers
/// (128-byte RX, BUFSIZE 4, ADVANCED_OK, emergency parser) on an unpaced line, executing
/// instantly, with no faults.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// The firmware imitated.
    pub flavour: Flavour,
    /// The line's baud rate, for pacing (8N1: 10 bits a byte, each direction on its own);
    /// 0 = unpaced (default): the bytes of one write arrive together, as soon as written.
    pub baud: u32,
    /// USB latency added to every reply on its way to the host. Default 0.
    pub latency: Duration,
    /// Time factor for moves, dwells, homing, probing and heating: 0 = instant (default),
    /// 1 = real time.
    pub speed: f64,
    /// RX buffer size in bytes; bytes arriving while it is full are dropped. Default 128.
    pub rx_buffer: usize,
    /// Command slots (Marlin's BUFSIZE). Default 4.
    pub command_slots: usize,
    /// `ok N<line> P<planner free> B<slots free>` (Marlin ADVANCED_OK). Default true.
    pub advanced_ok: bool,
    /// Advertise `Cap:AUTOREPORT_TEMP:1` and honour `M155 S<n>`. Default true.
    pub autoreport_temp: bool,
    /// Send `ok` after `Resend:`. Default true.
    pub ok_after_resend: bool,
    /// Repetier-style: `ok` before a command's output (M105, M114, M115). Default false;
    /// always on for [`Flavour::Repetier`].
    pub ok_before_output: bool,
    /// M112 acts the moment its line arrives, ahead of the queue. Default true.
    pub emergency_parser: bool,
    /// Faults to inject.
    pub faults: FaultPlan,
}

impl Default for SimConfig {
    fn default() -> SimConfig {
        SimConfig {
            flavour: Flavour::Marlin,
            baud: 0,
            latency: Duration::ZERO,
            speed: 0.0,
            rx_buffer: 128,
            command_slots: 4,
            advanced_ok: true,
            autoreport_temp: true,
            ok_after_resend: true,
            ok_before_output: false,
            emergency_parser: true,
            faults: FaultPlan::default(),
        }
    }
}

/// A Marlin printer with nothing paced and nothing taking time: bytes arrive when written,
/// replies leave at once, commands finish at once. The fastest thing to test an engine
/// against (the same as the default, spelled out).
pub fn instant() -> SimConfig {
    SimConfig {
        baud: 0,
        latency: Duration::ZERO,
        speed: 0.0,
        ..SimConfig::default()
    }
}

/// Counters of what the virtual printer saw.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SimStats {
    /// Bytes read from the host.
    pub bytes_received: u64,
    /// Commands executed (the length of [`VirtualPrinter::executed`]).
    pub lines_executed: u64,
    /// Errors sent: refused lines (`Error:` + `Resend:`) and kills.
    pub errors_sent: u64,
    /// Bytes dropped because the RX buffer was full: the host sent more than fits.
    pub rx_overflows: u64,
    /// The most bytes the RX buffer held.
    pub max_rx_used: usize,
    /// The most command slots in use.
    pub max_slots_used: usize,
}

/// A simulated printer on a pty, reachable at a symlink. Dropping it stops the firmware,
/// closes the pty and removes the link.
pub struct VirtualPrinter {
    link: PathBuf,
    shared: Arc<Shared>,
    wake: OwnedFd,
    thread: Option<JoinHandle<()>>,
    /// The slave the link points at, to remove the link only if it is still ours.
    target: Mutex<PathBuf>,
}

/// What the API and the firmware thread share.
#[derive(Debug, Default)]
struct Shared {
    executed: Mutex<Executed>,
    executed_changed: Condvar,
    received: Mutex<Vec<u8>>,
    stats: Mutex<SimStats>,
    control: Mutex<Control>,
    control_done: Condvar,
}

/// The commands executed so far, and how many API callers wait for more. The firmware thread
/// signals the condvar only when someone waits: a signal is a system call, and a streaming
/// printer executes thousands of commands a second.
#[derive(Debug, Default)]
struct Executed {
    lines: Vec<String>,
    waiters: usize,
}

/// Requests to the firmware thread and how far it got with them.
#[derive(Debug, Default)]
struct Control {
    requests: VecDeque<Request>,
    submitted: u64,
    done: u64,
    /// The thread has ended (stopped, or panicked).
    ended: bool,
}

#[derive(Debug)]
enum Request {
    Inject(Fault),
    Unplug,
    Replug(Pty),
    Stop,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A UUID for M115, stable for a link path.
fn uuid_for(link: &Path) -> String {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    link.hash(&mut hasher);
    let a = hasher.finish();
    "printfarm".hash(&mut hasher);
    let b = hasher.finish();
    format!(
        "{:08x}-{:04x}-4{:03x}-8{:03x}-{:012x}",
        a >> 32,
        (a >> 16) & 0xffff,
        a & 0xfff,
        b >> 52,
        b & 0xffff_ffff_ffff
    )
}

impl VirtualPrinter {
    /// Creates a pty, points the symlink `link` at its slave (creating parent directories,
    /// replacing an existing link atomically) and starts the firmware thread. The firmware
    /// says `start` at boot; it waits in the tty buffer until the host opens the port.
    pub fn start(link: &Path, config: SimConfig) -> io::Result<VirtualPrinter> {
        let pty = Pty::open()?;
        pty::point_link(link, pty.path())?;
        let target = pty.path().to_path_buf();
        let (wake_read, wake) = pty::wake_pipe()?;
        let shared = Arc::new(Shared::default());
        let firmware = Firmware::new(config, uuid_for(link), Instant::now());
        let thread_shared = Arc::clone(&shared);
        let thread = std::thread::Builder::new()
            .name("virtual-printer".to_owned())
            .spawn(move || {
                let _ended = EndGuard(&thread_shared);
                run(&thread_shared, firmware, Some(pty), &wake_read);
            })?;
        Ok(VirtualPrinter {
            link: link.to_path_buf(),
            shared,
            wake,
            thread: Some(thread),
            target: Mutex::new(target),
        })
    }

    /// The symlink the host opens.
    pub fn path(&self) -> &Path {
        &self.link
    }

    /// Every command executed so far, in order, as its text without line number or
    /// checksum — including housekeeping (M110, M105, M115, M155, …). Kept across replugs.
    pub fn executed(&self) -> Vec<String> {
        lock(&self.shared.executed).lines.clone()
    }

    /// Every line that reached the firmware, in order, as it arrived (with its line number
    /// and checksum) — including lines refused, dropped or ignored while halted or hung.
    /// Bytes lost to an RX overflow are included: this is what the host sent.
    pub fn received(&self) -> Vec<String> {
        let received = lock(&self.shared.received);
        received
            .split(|&b| b == b'\n' || b == b'\r')
            .filter(|line| !line.trim_ascii().is_empty())
            .map(|line| String::from_utf8_lossy(line.trim_ascii()).into_owned())
            .collect()
    }

    /// How many commands have been executed.
    pub fn executed_count(&self) -> usize {
        lock(&self.shared.executed).lines.len()
    }

    /// Blocks until at least `count` commands have been executed; false on timeout.
    pub fn wait_for_executed(&self, count: usize, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let mut executed = lock(&self.shared.executed);
        executed.waiters += 1;
        let reached = loop {
            if executed.lines.len() >= count {
                break true;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break false;
            }
            executed = self
                .shared
                .executed_changed
                .wait_timeout(executed, left)
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .0;
        };
        executed.waiters -= 1;
        reached
    }

    /// The counters so far.
    pub fn stats(&self) -> SimStats {
        lock(&self.shared.stats).clone()
    }

    /// Injects a fault. [`Fault::Unplug`], [`Fault::Hang`], [`Fault::Reset`],
    /// [`Fault::Fatal`] and [`Fault::Action`] act at once; the others act on the next
    /// numbered line received in sequence (the line the firmware expects next).
    pub fn inject(&self, fault: Fault) {
        self.request(Request::Inject(fault));
    }

    /// Closes the pty now, as pulling the USB cable would: the host reads EOF, its writes
    /// fail, the link dangles until [`VirtualPrinter::replug`].
    pub fn unplug(&self) {
        self.request(Request::Unplug);
    }

    /// Plugs the printer in again: a new pty behind the same link (re-pointed atomically),
    /// the firmware rebooted (it says `start`). [`VirtualPrinter::executed`] keeps its log.
    pub fn replug(&self) -> io::Result<()> {
        let pty = Pty::open()?;
        pty::point_link(&self.link, pty.path())?;
        *lock(&self.target) = pty.path().to_path_buf();
        self.request(Request::Replug(pty));
        Ok(())
    }

    /// Hands a request to the firmware thread and waits until it has been acted upon.
    fn request(&self, request: Request) {
        let mut control = lock(&self.shared.control);
        if control.ended {
            return;
        }
        control.requests.push_back(request);
        control.submitted += 1;
        let ticket = control.submitted;
        pty::wake(&self.wake);
        while control.done < ticket && !control.ended {
            control = self
                .shared
                .control_done
                .wait(control)
                .unwrap_or_else(|poisoned| poisoned.into_inner());
        }
    }
}

impl std::fmt::Debug for VirtualPrinter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VirtualPrinter")
            .field("link", &self.link)
            .field("target", &*lock(&self.target))
            .field("executed", &self.executed_count())
            .finish_non_exhaustive()
    }
}

impl Drop for VirtualPrinter {
    fn drop(&mut self) {
        self.request(Request::Stop);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        let target = lock(&self.target).clone();
        if std::fs::read_link(&self.link).is_ok_and(|points_at| points_at == target) {
            let _ = std::fs::remove_file(&self.link);
        }
    }
}

/// Marks the thread ended however it ends, so no API call waits for it forever.
struct EndGuard<'a>(&'a Shared);

impl Drop for EndGuard<'_> {
    fn drop(&mut self) {
        lock(&self.0.control).ended = true;
        self.0.control_done.notify_all();
    }
}

/// How late this thread may wake from ppoll under load (timer slack, a busy run queue) without
/// that changing what the simulated firmware does.
const WAKE_LATENESS: Duration = Duration::from_millis(1);

/// A read after this much quiet is taken as a (re)connection: TIOCEXCL is cleared then.
const QUIET: Duration = Duration::from_millis(50);

/// The firmware thread: poll, read, simulate, write.
fn run(shared: &Shared, mut firmware: Firmware, mut pty: Option<Pty>, wake: &OwnedFd) {
    let mut buffer = vec![0u8; 64 * 1024];
    let mut last_read: Option<Instant> = None;
    // After an unexpected hang-up or error on the master: do not poll it again before this.
    let mut master_quiet_until: Option<Instant> = None;
    loop {
        let now = Instant::now();
        if pty.is_some() {
            firmware.run_until(now);
            if firmware.unplug_requested() {
                pty = None;
                firmware.unplugged();
            }
        }
        if pty.is_some() {
            firmware.tx.deliver(now);
        }
        // Before the write: the API's waiters are not in a hurry, and the host's reply must be
        // the last thing this thread does before it sleeps (see `write_replies`).
        publish(shared, &mut firmware);

        let mut fds = [
            libc::pollfd {
                fd: wake.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            },
            libc::pollfd {
                fd: -1,
                events: 0,
                revents: 0,
            },
        ];
        let mut deadline = None;
        if pty.is_some() {
            let master_usable = master_quiet_until.is_none_or(|until| now >= until);
            let next_wake = firmware.next_wake();
            // While the line stays busy well past the next wake-up, what the host writes
            // meanwhile queues behind the bytes on it: reading it at that wake-up gives it the
            // same arrival times as reading it now, and saves a wake-up per line a host streams
            // ahead. "Well past": a wake-up can be late, and bytes read after the line went idle
            // would arrive late.
            let wire_busy_past_wake = firmware
                .rx_wire
                .busy_until()
                .zip(next_wake)
                .is_some_and(|(busy, wake)| busy > wake + WAKE_LATENESS);
            if master_usable && firmware.rx_wire.len() < WIRE_CAPACITY && !wire_busy_past_wake {
                fds[1].events |= libc::POLLIN;
            }
            deadline = [next_wake, master_quiet_until.filter(|until| *until > now)]
                .into_iter()
                .flatten()
                .min();
        }
        let timeout = deadline.map(|at| at.saturating_duration_since(Instant::now()));
        if let Some(pty) = &pty {
            if write_replies(pty, firmware.tx.ready()) {
                fds[1].events |= libc::POLLOUT;
            }
            if fds[1].events != 0 {
                fds[1].fd = pty.master.as_raw_fd();
            }
        }
        if pty::ppoll(&mut fds, timeout).is_err() {
            // Only EFAULT/EINVAL/ENOMEM are possible; back off rather than spin.
            std::thread::sleep(Duration::from_millis(1));
        }

        if fds[0].revents != 0 {
            pty::drain(wake);
            let now = Instant::now();
            if pty.is_some() {
                firmware.run_until(now);
            }
            let requests = std::mem::take(&mut lock(&shared.control).requests);
            let count = requests.len() as u64;
            let mut stop = false;
            for request in requests {
                match request {
                    Request::Inject(fault) => firmware.inject(fault, now),
                    Request::Unplug => {
                        pty = None;
                        firmware.unplugged();
                    }
                    Request::Replug(new) => {
                        pty = Some(new);
                        master_quiet_until = None;
                        last_read = None;
                        firmware.replugged(now);
                    }
                    Request::Stop => stop = true,
                }
                if firmware.unplug_requested() {
                    pty = None;
                    firmware.unplugged();
                }
            }
            publish(shared, &mut firmware);
            if stop {
                return;
            }
            lock(&shared.control).done += count;
            shared.control_done.notify_all();
        }

        let Some(pty_now) = &pty else {
            continue;
        };
        let revents = fds[1].revents;
        if fds[1].fd >= 0 && revents & libc::POLLIN != 0 {
            match nix::unistd::read(&pty_now.master, &mut buffer) {
                Ok(0) => master_quiet_until = Some(Instant::now() + Duration::from_millis(10)),
                Ok(n) => {
                    let now = Instant::now();
                    if last_read.is_none_or(|last| now.duration_since(last) >= QUIET) {
                        pty_now.clear_exclusive();
                    }
                    last_read = Some(now);
                    firmware.received(n);
                    firmware.rx_wire.push(now, &buffer[..n]);
                }
                Err(nix::errno::Errno::EAGAIN | nix::errno::Errno::EINTR) => {}
                Err(_) => master_quiet_until = Some(Instant::now() + Duration::from_millis(10)),
            }
        } else if fds[1].fd >= 0 && revents & (libc::POLLHUP | libc::POLLERR | libc::POLLNVAL) != 0
        {
            master_quiet_until = Some(Instant::now() + Duration::from_millis(10));
        }
    }
}

/// Writes the replies that are due; true when the pty took only part of them (the rest stays
/// in `ready`, and the caller waits for room).
///
/// This is the last thing the thread does before it sleeps, as in the engine's streaming wait:
/// on a virtual machine, work done after a write made a line's round trip several times slower
/// than the same work done before it.
fn write_replies(pty: &Pty, ready: &mut Vec<u8>) -> bool {
    while !ready.is_empty() {
        match nix::unistd::write(&pty.master, ready) {
            Ok(n) => {
                ready.drain(..n);
            }
            Err(nix::errno::Errno::EAGAIN) => return true,
            Err(nix::errno::Errno::EINTR) => {}
            Err(_) => {
                // Cannot happen while we hold the slave open; do not spin on it.
                ready.clear();
            }
        }
    }
    false
}

/// Makes newly executed commands and the counters visible to the API.
fn publish(shared: &Shared, firmware: &mut Firmware) {
    firmware.collect_arrived(&mut lock(&shared.received));
    if firmware.has_executed() {
        let mut executed = lock(&shared.executed);
        firmware.collect_executed(&mut executed.lines);
        let waiting = executed.waiters > 0;
        drop(executed);
        if waiting {
            shared.executed_changed.notify_all();
        }
    }
    let stats = firmware.stats();
    let mut shared_stats = lock(&shared.stats);
    if *shared_stats != *stats {
        *shared_stats = stats.clone();
    }
}
