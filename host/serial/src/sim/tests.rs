//! The simulator seen from a host: everything goes through the real pty, opened by the link
//! path with plain std I/O.

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use nix::sys::termios::{cfmakeraw, tcgetattr, tcsetattr, SetArg};

use super::*;
use crate::protocol::line::numbered;

const SHORT: Duration = Duration::from_millis(200);
const LONG: Duration = Duration::from_secs(3);

/// A host on the other end of the link.
struct Host {
    port: File,
    pending: Vec<u8>,
}

impl Host {
    fn open(path: &Path) -> Host {
        let port = OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(libc::O_NOCTTY)
            .open(path)
            .expect("open the virtual printer's port");
        let mut termios = tcgetattr(&port).unwrap();
        cfmakeraw(&mut termios);
        tcsetattr(&port, SetArg::TCSANOW, &termios).unwrap();
        Host {
            port,
            pending: Vec::new(),
        }
    }

    fn send(&mut self, n: u64, command: &str) {
        self.raw(format!("{}\n", numbered(n, command)).as_bytes());
    }

    fn raw(&mut self, bytes: &[u8]) {
        self.port.write_all(bytes).unwrap();
    }

    /// Reads whatever arrives within `timeout`: Ok(0) at EOF, Err on EIO.
    fn read_some(&mut self, timeout: Duration) -> std::io::Result<usize> {
        let mut fds = [libc::pollfd {
            fd: self.port.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        }];
        pty::ppoll(&mut fds, Some(timeout))?;
        if fds[0].revents == 0 {
            return Err(std::io::ErrorKind::TimedOut.into());
        }
        let mut buf = [0u8; 4096];
        let n = self.port.read(&mut buf)?;
        self.pending.extend_from_slice(&buf[..n]);
        Ok(n)
    }

    /// The next reply line, or `None` if none comes within `timeout`.
    fn line(&mut self, timeout: Duration) -> Option<String> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(end) = self.pending.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = self.pending.drain(..=end).collect();
                return Some(String::from_utf8_lossy(&line).trim_end().to_owned());
            }
            let left = deadline.saturating_duration_since(Instant::now());
            match self.read_some(left) {
                Ok(n) if n > 0 => {}
                _ => return None,
            }
        }
    }

    fn expect(&mut self, expected: &str) {
        assert_eq!(self.line(LONG).as_deref(), Some(expected));
    }

    /// Reply lines up to and including the next line starting with `ok`.
    fn until_ok(&mut self) -> Vec<String> {
        let mut lines = Vec::new();
        loop {
            let line = self.line(LONG).expect("a reply before the ok");
            let done = line.starts_with("ok");
            lines.push(line);
            if done {
                return lines;
            }
        }
    }

    fn silent_for(&mut self, duration: Duration) {
        assert_eq!(self.line(duration), None);
    }
}

fn link() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let link = dir.path().join("dev").join("printer");
    (dir, link)
}

fn attach(config: SimConfig) -> (tempfile::TempDir, VirtualPrinter, Host) {
    let (dir, link) = link();
    let banner = config.flavour.boot_banner();
    let printer = VirtualPrinter::start(&link, config).unwrap();
    let mut host = Host::open(printer.path());
    if let Some(banner) = banner {
        host.expect(banner);
    }
    (dir, printer, host)
}

fn plain() -> SimConfig {
    SimConfig {
        advanced_ok: false,
        ..instant()
    }
}

#[test]
fn link_points_at_a_pts_device() {
    let (_dir, printer, _host) = attach(instant());
    let target = std::fs::read_link(printer.path()).unwrap();
    assert!(target.starts_with("/dev/pts/"), "{target:?}");
}

#[test]
fn good_lines_are_acknowledged_and_wrong_ones_refused() {
    let (_dir, printer, mut host) = attach(plain());
    host.send(1, "G28");
    host.expect("ok");
    // Wrong line number: go back to 2.
    host.send(3, "G1 X1");
    host.expect("Error:Line Number is not Last Line Number+1, Last Line: 1");
    host.expect("Resend: 2");
    host.expect("ok");
    // Bad checksum.
    host.raw(bad_checksum(2, "G1 X2").as_bytes());
    host.expect("Error:checksum mismatch, Last Line: 1");
    host.expect("Resend: 2");
    host.expect("ok");
    // No checksum.
    host.raw(b"N2 G1 X2\n");
    host.expect("Error:No Checksum with line number, Last Line: 1");
    host.expect("Resend: 2");
    host.expect("ok");
    host.send(2, "G1 X2");
    host.expect("ok");
    // Unnumbered lines are taken as they are.
    host.raw(b"M105\n");
    assert!(host.line(LONG).unwrap().starts_with("ok T:"));
    assert_eq!(printer.executed(), ["G28", "G1 X2", "M105"]);
    assert_eq!(printer.stats().errors_sent, 3);
}

fn burst(lines: &[(u64, &str)]) -> Vec<u8> {
    let mut bytes = Vec::new();
    for (n, command) in lines {
        bytes.extend_from_slice(numbered(*n, command).as_bytes());
        bytes.push(b'\n');
    }
    bytes
}

/// `N<n> <command>*<wrong checksum>`.
fn bad_checksum(n: u64, command: &str) -> String {
    let line = format!("N{n} {command}");
    let wrong = crate::protocol::line::checksum(line.as_bytes()).wrapping_add(1);
    format!("{line}*{wrong}\n")
}

#[test]
fn an_error_flushes_the_lines_that_arrived_with_the_refused_one() {
    let (_dir, printer, mut host) = attach(plain());
    // Line 2 is missing; 3, 4 and 5 arrive in the same write and the first error drops
    // them all (go-back-N). As in Marlin, lines are checked when they are taken into the
    // queue, before the first one runs: the error comes before line 1's ok.
    host.raw(&burst(&[
        (1, "G1 X1"),
        (3, "G1 X3"),
        (4, "G1 X4"),
        (5, "G1 X5"),
    ]));
    host.expect("Error:Line Number is not Last Line Number+1, Last Line: 1");
    host.expect("Resend: 2");
    host.expect("ok");
    host.expect("ok");
    host.silent_for(SHORT);
    assert_eq!(printer.executed(), ["G1 X1"]);
    assert_eq!(printer.received().len(), 4);
}

#[test]
fn lines_arriving_after_an_error_are_refused_one_by_one() {
    let config = SimConfig {
        baud: 250_000,
        ..plain()
    };
    let (_dir, printer, mut host) = attach(config);
    // Line 2 is missing. Paced, each line is checked as it arrives, after the flush.
    host.raw(&burst(&[(1, "G1 X1"), (3, "G1 X3"), (4, "G1 X4")]));
    host.expect("ok");
    for _ in 3..=4 {
        host.expect("Error:Line Number is not Last Line Number+1, Last Line: 1");
        host.expect("Resend: 2");
        host.expect("ok");
    }
    host.silent_for(SHORT);
    assert_eq!(printer.executed(), ["G1 X1"]);
}

#[test]
fn an_error_flushes_what_waits_while_the_queue_is_full() {
    let config = SimConfig {
        speed: 1.0,
        ..plain()
    };
    let (_dir, printer, mut host) = attach(config);
    // A dwell holds the queue; 2–4 fill the other slots; 6–8 wait in RX. When the dwell
    // ends, 6 is refused and 7 and 8 are flushed with it: one error only (go-back-N).
    host.raw(&burst(&[
        (1, "G4 P150"),
        (2, "G1 X2"),
        (3, "G1 X3"),
        (4, "G1 X4"),
        (6, "G1 X6"),
        (7, "G1 X7"),
        (8, "G1 X8"),
    ]));
    host.expect("ok");
    host.expect("Error:Line Number is not Last Line Number+1, Last Line: 4");
    host.expect("Resend: 5");
    for _ in 0..4 {
        host.expect("ok");
    }
    host.silent_for(SHORT);
    assert_eq!(printer.executed(), ["G4 P150", "G1 X2", "G1 X3", "G1 X4"]);
    assert_eq!(printer.stats().errors_sent, 1);
}

#[test]
fn m110_sets_the_line_number_and_the_last_n_wins() {
    let (_dir, printer, mut host) = attach(plain());
    host.send(5, "M110 N0");
    host.expect("ok");
    host.send(1, "G1 X1");
    host.expect("ok");
    // Without its own N, M110 takes the line's number.
    host.send(7, "M110");
    host.expect("ok");
    host.send(8, "G1 X8");
    host.expect("ok");
    // Unnumbered M110 N<n>.
    host.raw(b"M110 N41\n");
    host.expect("ok");
    host.send(43, "G1 X43");
    host.expect("Error:Line Number is not Last Line Number+1, Last Line: 41");
    host.expect("Resend: 42");
    host.expect("ok");
    assert_eq!(
        printer.executed(),
        ["M110 N0", "G1 X1", "M110", "G1 X8", "M110 N41"]
    );
}

#[test]
fn temperature_position_and_capability_reports() {
    let (_dir, printer, mut host) = attach(instant());
    host.send(1, "M104 S210");
    host.expect("ok N1 P15 B3");
    host.send(2, "M105");
    host.expect("ok T:210.00 /210.00 B:21.00 /0.00 @:0 B@:0");
    host.send(3, "G1 X10 Y20 Z0.3");
    host.expect("ok N3 P15 B3");
    host.send(4, "M114");
    host.expect("X:10.00 Y:20.00 Z:0.30 E:0.00 Count: A:800 B:1600 C:120");
    host.expect("ok N4 P15 B3");
    host.send(5, "M115");
    let lines = host.until_ok();
    assert!(
        lines[0].starts_with("FIRMWARE_NAME:Marlin 2.1.2 (printfarm virtual) "),
        "{lines:?}"
    );
    assert!(lines[0].contains(" UUID:"));
    for cap in [
        "Cap:EMERGENCY_PARSER:1",
        "Cap:AUTOREPORT_TEMP:1",
        "Cap:PROMPT_SUPPORT:1",
        "Cap:ARCS:1",
    ] {
        assert!(lines.iter().any(|line| line == cap), "{cap} in {lines:?}");
    }
    assert_eq!(lines.last().unwrap(), "ok N5 P15 B3");
    // Unnumbered: no N in the advanced ok.
    host.raw(b"G4 P0\n");
    host.expect("ok P15 B3");
    assert_eq!(printer.executed().len(), 6);
}

#[test]
fn advanced_ok_reports_free_planner_and_command_slots() {
    let config = SimConfig {
        speed: 1.0,
        ..instant()
    };
    let (_dir, _printer, mut host) = attach(config);
    // While the dwell runs, two long moves wait in the command slots. Each move's ok comes
    // as soon as it is planned; the free slots count the command being acknowledged.
    host.raw(&burst(&[
        (1, "G4 P100"),
        (2, "G1 X100 F600"),
        (3, "G1 X200 F600"),
    ]));
    host.expect("ok N1 P15 B1");
    host.expect("ok N2 P14 B2");
    host.expect("ok N3 P13 B3");
    host.send(4, "G1 X0");
    host.expect("ok N4 P12 B3");
}

#[test]
fn ok_before_output_and_autoreport() {
    let config = SimConfig {
        ok_before_output: true,
        ..plain()
    };
    let (_dir, _printer, mut host) = attach(config);
    host.send(1, "M105");
    host.expect("ok");
    host.expect("T:21.00 /0.00 B:21.00 /0.00 @:0 B@:0");
    host.send(2, "M155 S1");
    host.expect("ok");
    let started = Instant::now();
    host.expect("T:21.00 /0.00 B:21.00 /0.00 @:0 B@:0");
    let waited = started.elapsed();
    assert!(
        waited > Duration::from_millis(800) && waited < Duration::from_millis(1500),
        "{waited:?}"
    );
}

#[test]
fn flooding_the_rx_buffer_drops_bytes() {
    let config = SimConfig {
        speed: 1.0,
        ..instant()
    };
    let (_dir, printer, mut host) = attach(config);
    // The first command keeps the queue busy while 300 bytes arrive at once.
    host.send(1, "G4 P300");
    let mut flood = String::new();
    let mut n = 2;
    while flood.len() < 300 {
        flood.push_str(&numbered(n, &format!("G1 X{n}.5 Y{n}.25")));
        flood.push('\n');
        n += 1;
    }
    host.raw(flood.as_bytes());
    let deadline = Instant::now() + LONG;
    while printer.stats().rx_overflows == 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    let stats = printer.stats();
    assert!(stats.rx_overflows > 0, "{stats:?}");
    // The ring fills to its 128 bytes behind full slots; while a slot is free, a line being
    // read sits in Marlin's line buffer too.
    assert!((128..=128 + 96).contains(&stats.max_rx_used), "{stats:?}");
    assert_eq!(stats.max_slots_used, 4);
}

#[test]
fn unplug_gives_eof_and_replug_reopens_the_same_path() {
    let (_dir, printer, mut host) = attach(instant());
    host.send(1, "G28");
    host.expect("ok N1 P15 B3");
    printer.unplug();
    match host.read_some(LONG) {
        Ok(0) => {}
        Err(error) => assert_eq!(error.raw_os_error(), Some(libc::EIO), "{error}"),
        Ok(n) => panic!("read {n} bytes after unplug"),
    }
    assert!(host.port.write_all(b"N2 G28*17\n").is_err());
    assert!(
        std::fs::metadata(printer.path()).is_err(),
        "the link dangles"
    );
    printer.replug().unwrap();
    let mut host = Host::open(printer.path());
    host.expect("start");
    host.send(1, "G1 X1");
    host.expect("ok N1 P15 B3");
    assert_eq!(printer.executed(), ["G28", "G1 X1"]);
}

#[test]
fn bytes_are_paced_at_the_baud_rate() {
    let config = SimConfig {
        baud: 250_000,
        advanced_ok: false,
        ..instant()
    };
    let (_dir, printer, mut host) = attach(config);
    // 100 lines of exactly 25 bytes: 2500 bytes, 100 ms at 25 000 bytes/s.
    let mut burst = Vec::new();
    for n in 1..=100u64 {
        // Pad the command until the line with its newline is exactly 25 bytes.
        let line = (0..16)
            .flat_map(|pad| ["G1 X", "G1 Y", "G0 X"].map(|g| format!("{g}{n}{}", "0".repeat(pad))))
            .map(|command| numbered(n, &command))
            .find(|line| line.len() + 1 == 25)
            .expect("a 25-byte line");
        burst.extend_from_slice(line.as_bytes());
        burst.push(b'\n');
    }
    assert_eq!(burst.len(), 2500);
    let started = Instant::now();
    host.raw(&burst);
    for _ in 0..100 {
        host.expect("ok");
    }
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(90) && took <= Duration::from_millis(200),
        "{took:?}"
    );
    assert_eq!(printer.stats().rx_overflows, 0);
    assert_eq!(printer.executed_count(), 100);
}

#[test]
fn latency_delays_every_reply() {
    let config = SimConfig {
        latency: Duration::from_millis(30),
        ..plain()
    };
    let (_dir, _printer, mut host) = attach(config);
    let started = Instant::now();
    host.send(1, "G28");
    host.expect("ok");
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(30) && took < Duration::from_millis(150),
        "{took:?}"
    );
}

#[test]
fn silent_drop_says_nothing() {
    let (_dir, printer, mut host) = attach(plain());
    printer.inject(Fault::SilentDrop);
    host.send(1, "G28");
    host.silent_for(SHORT);
    host.send(1, "G28");
    host.expect("ok");
    assert_eq!(printer.executed(), ["G28"]);
}

#[test]
fn planned_faults_act_on_their_line() {
    let faults = FaultPlan {
        at_line: vec![
            (2, Fault::ResendWithoutOk),
            (3, Fault::DuplicateOk),
            (4, Fault::DropOk),
            (5, Fault::Wait),
            (6, Fault::Action("pause".into())),
            (7, Fault::CorruptByte),
            (8, Fault::MissingLineNumber),
        ],
        ..FaultPlan::default()
    };
    let (_dir, printer, mut host) = attach(SimConfig { faults, ..plain() });
    host.send(1, "G1 X1");
    host.expect("ok");
    host.send(2, "G1 X2");
    host.expect("Error:Line Number is not Last Line Number+1, Last Line: 1");
    host.expect("Resend: 2");
    host.silent_for(SHORT);
    host.send(2, "G1 X2");
    host.expect("ok");
    host.send(3, "G1 X3");
    host.expect("ok");
    host.expect("ok");
    host.send(4, "G1 X4");
    host.silent_for(SHORT);
    host.send(5, "G1 X5");
    host.expect("wait");
    host.expect("ok");
    host.send(6, "G1 X6");
    host.expect("ok");
    host.expect("//action:pause");
    host.send(7, "G1 X7");
    // The flipped bit is refused, unless it turned the line's number into a repeat of the
    // last one, which Marlin 2.1 drops silently.
    if let Some(error) = host.line(SHORT) {
        assert!(
            error.starts_with("Error:") && error.ends_with("Last Line: 6"),
            "{error}"
        );
        host.expect("Resend: 7");
        host.expect("ok");
    }
    host.send(7, "G1 X7");
    host.expect("ok");
    host.send(8, "G1 X8");
    host.expect("Error:No Checksum with line number, Last Line: 7");
    host.expect("Resend: 8");
    host.expect("ok");
    host.send(8, "G1 X8");
    host.expect("ok");
    let expected: Vec<String> = (1..=8).map(|n| format!("G1 X{n}")).collect();
    assert_eq!(printer.executed(), expected);
}

#[test]
fn reset_fatal_and_emergency_stop() {
    let (_dir, printer, mut host) = attach(plain());
    host.send(1, "G28");
    host.expect("ok");
    printer.inject(Fault::Reset);
    host.expect("start");
    host.send(2, "G1 X1");
    host.expect("Error:Line Number is not Last Line Number+1, Last Line: 0");
    host.expect("Resend: 1");
    host.expect("ok");
    printer.inject(Fault::Fatal("Thermal Runaway".into()));
    host.expect("Error:Thermal Runaway");
    host.expect("Error:Printer halted. kill() called!");
    host.send(1, "G28");
    host.silent_for(SHORT);
    printer.inject(Fault::Reset);
    host.expect("start");
    host.send(1, "M112");
    host.expect("Error:Printer halted. kill() called!");
    host.raw(b"M104 S0\n");
    host.silent_for(SHORT);
    assert_eq!(printer.executed(), ["G28", "M112"]);
    assert_eq!(
        printer.received().last().map(String::as_str),
        Some("M104 S0")
    );
}

#[test]
fn emergency_parser_acts_ahead_of_a_busy_queue() {
    let config = SimConfig {
        speed: 1.0,
        ..plain()
    };
    let (_dir, printer, mut host) = attach(config);
    host.raw(&burst(&[(1, "G4 S10"), (2, "M112")]));
    host.expect("Error:Printer halted. kill() called!");
    assert_eq!(printer.executed(), ["M112"]);
}

#[test]
fn busy_messages_while_a_command_takes_long() {
    let (_dir, printer, mut host) = attach(plain());
    printer.inject(Fault::Busy(Duration::from_millis(2300)));
    let started = Instant::now();
    host.send(1, "G28");
    host.expect("echo:busy: processing");
    let busy_after = started.elapsed();
    host.expect("ok");
    let ok_after = started.elapsed();
    assert!(
        busy_after >= Duration::from_millis(1950) && busy_after < Duration::from_millis(2200),
        "{busy_after:?}"
    );
    assert!(ok_after >= Duration::from_millis(2250), "{ok_after:?}");
}

#[test]
fn slow_heat_reports_temperatures_while_waiting() {
    let (_dir, printer, mut host) = attach(plain());
    printer.inject(Fault::SlowHeat);
    host.send(1, "M109 S200");
    let lines = host.until_ok();
    let reports = lines.iter().filter(|line| line.starts_with("T:")).count();
    let busy = lines
        .iter()
        .filter(|line| line.starts_with("echo:busy"))
        .count();
    assert_eq!((reports, busy), (4, 2), "{lines:?}");
    host.send(2, "M105");
    host.expect("ok T:200.00 /200.00 B:21.00 /0.00 @:0 B@:0");
}

#[test]
fn hang_answers_nothing_until_replug() {
    let (_dir, printer, mut host) = attach(plain());
    printer.inject(Fault::Hang);
    host.send(1, "G28");
    host.silent_for(SHORT);
    assert!(printer.executed().is_empty());
    assert!(printer.stats().bytes_received > 0);
    printer.replug().unwrap();
    let mut host = Host::open(printer.path());
    host.expect("start");
    host.send(1, "G28");
    host.expect("ok");
}

#[test]
fn flavours() {
    let (_dir, printer, mut host) = attach(SimConfig {
        flavour: Flavour::Repetier,
        ..instant()
    });
    host.send(1, "M105");
    host.expect("ok 1");
    host.expect("T:21.00 /0 B:21.00 /0 B@:0 @:0");
    host.send(3, "G28");
    host.expect("Error:expected line 2 got 3");
    host.expect("");
    host.expect("Resend:2");
    host.expect("ok");
    // Lines still in flight after a resend request are skipped, not refused again.
    host.send(4, "G28");
    host.expect("skip 4");
    host.expect("ok");
    host.raw(bad_checksum(2, "G28").as_bytes());
    host.expect("Error:Wrong checksum");
    host.expect("");
    host.expect("Resend:2");
    host.expect("ok");
    host.send(2, "G28");
    host.expect("ok 2");
    // A repeat of a line it has is skipped too.
    host.send(1, "M105");
    host.expect("skip 1");
    host.expect("ok");
    assert_eq!(printer.executed(), ["M105", "G28"]);

    let (_dir, printer, mut host) = attach(SimConfig {
        flavour: Flavour::RepRapFirmware,
        ..instant()
    });
    // No line numbers checked: out of sequence is executed all the same.
    host.send(2, "G28");
    host.expect("ok");
    host.raw(bad_checksum(1, "G28").as_bytes());
    host.silent_for(SHORT);
    host.send(1, "G28");
    host.expect("ok");
    assert_eq!(printer.executed(), ["G28", "G28"]);

    let (_dir, printer, mut host) = attach(SimConfig {
        flavour: Flavour::Smoothieware,
        ..instant()
    });
    host.send(2, "G28");
    host.expect("rs N1");
    host.raw(bad_checksum(1, "G28").as_bytes());
    host.expect("rs N1");
    host.send(1, "M105");
    host.expect("ok T:21.0 /0.0 @0 B:21.0 /0.0 @0");
    assert_eq!(printer.executed(), ["M105"]);

    let (_dir, printer, mut host) = attach(SimConfig {
        flavour: Flavour::PrusaBuddy,
        ..instant()
    });
    host.send(1, "M105");
    host.expect("ok T:21.00/0.00 B:21.00/0.00 @:0 B@:0");
    // No repeat tolerance, unlike Marlin 2.1.
    host.send(1, "M105");
    host.expect("Error:Line Number is not Last Line Number+1, Last Line: 1");
    host.expect("Resend: 2");
    host.expect("ok");
    assert_eq!(printer.executed(), ["M105"]);

    let (_dir, printer, mut host) = attach(SimConfig {
        flavour: Flavour::Klipper,
        ..instant()
    });
    host.send(7, "G28");
    host.expect("ok");
    host.raw(b"N3 G1 X1*0\nM115\n");
    host.expect("ok");
    host.expect("FIRMWARE_NAME:Klipper FIRMWARE_VERSION:v0.12.0-printfarm-virtual");
    host.expect("ok");
    assert_eq!(printer.executed(), ["G28", "G1 X1", "M115"]);
}

#[test]
fn random_faults_are_reproducible_and_recoverable() {
    const LINES: u64 = 30;
    /// Ping-pong with a minimal host: resend on request, go on after an ok or silence.
    fn run(seed: u64) -> (Vec<String>, Vec<String>) {
        let faults = FaultPlan {
            random_rate: 0.3,
            seed,
            at_line: Vec::new(),
        };
        let (_dir, printer, mut host) = attach(SimConfig { faults, ..plain() });
        let mut transcript = Vec::new();
        let mut n = 1;
        while n <= LINES {
            host.send(n, &format!("G1 X{n}"));
            let mut next = n + 1;
            // Silence (longer than a random Busy) means a dropped ok or a resend without ok.
            while let Some(line) = host.line(Duration::from_millis(700)) {
                if let Some(wanted) = line.strip_prefix("Resend: ") {
                    next = wanted.parse().unwrap();
                }
                let ok = line.starts_with("ok");
                transcript.push(line);
                if ok {
                    break;
                }
            }
            // A duplicated ok came in the same write.
            while let Some(line) = host.line(Duration::from_millis(2)) {
                transcript.push(line);
            }
            n = next;
        }
        (printer.executed(), transcript)
    }
    let again = std::thread::spawn(|| run(7));
    let (executed, transcript) = run(7);
    let (executed_again, transcript_again) = again.join().unwrap();
    assert_eq!(transcript, transcript_again);
    assert_eq!(executed, executed_again);
    let expected: Vec<String> = (1..=LINES).map(|n| format!("G1 X{n}")).collect();
    assert_eq!(executed, expected);
    assert!(
        transcript.iter().any(|line| line.starts_with("Error:")),
        "{transcript:?}"
    );
    assert!(transcript.len() > LINES as usize + 3, "{transcript:?}");
}
