//! Incoming lines: every kind of reply a Marlin, Prusa, Repetier, RepRapFirmware or Klipper
//! firmware sends, parsed into [`Reply`].
//!
//! The parser is stateless: one line in, one [`Reply`] out. Whatever needs context (which
//! line an `ok` acknowledges, whether an `ok` follows a `Resend:`) is the engine's business.
//!
//! This file holds [`Reply`] and [`parse`], which looks at a line's first bytes and hands it to
//! the parser of its kind. Each kind lives in its own file with its tests: `ok.rs` (`ok` and
//! what it carries), `resend.rs` (resend requests), `error.rs` (firmware errors and their
//! classes), `action.rs` (host action commands), `firmware.rs` (the M115 report and its
//! capabilities), `position.rs` (M114) and `sd.rs` (SD card messages); `text.rs` holds the
//! case-insensitive matching they share.

use super::temperature::{self, TemperatureReport};

mod action;
mod error;
mod firmware;
mod ok;
mod position;
mod resend;
mod sd;
mod text;

pub use action::Action;
pub use error::{ErrorKind, FirmwareError};
pub use firmware::FirmwareInfo;
pub use ok::Ack;
pub use position::Position;
pub use sd::SdMessage;

use action::parse_action;
use error::{classify_error, classify_klipper_error, HALT_LINES};
use firmware::{parse_capability, parse_firmware, FIRMWARE_NAME};
use ok::parse_ok;
use position::parse_position;
use resend::parse_resend;
use sd::parse_sd;
use text::{starts_with_ci, strip_prefix_ci};

/// One line from the firmware, classified.
#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    /// `ok`, `ok T:…` (M105), ADVANCED_OK `ok N12 P15 B3`, Repetier `ok 12`.
    Ok(Ack),
    /// A resend request, in any syntax: `Resend: 23`, `Resend:23`, `Resend: N23`, `Resend: N:23`,
    /// `rs 23`, `rs N23 expected checksum 109`. The number is the line the firmware wants next.
    Resend(u64),
    /// `Error:…`, `!! …` (Klipper), `fatal:…`, a halt or a thermal fault.
    Error(FirmwareError),
    /// `echo:busy: processing` (or `paused for user`, …): the firmware is alive but busy.
    Busy(String),
    /// `wait`: Marlin NO_TIMEOUTS keep-alive while idle.
    Wait,
    /// `start`: the firmware (re)booted; its line counter is 0.
    Start,
    /// A host action command, `//action:pause` or `// action:pause`.
    Action(Action),
    /// A temperature report without `ok`: M155 autoreport, or the reports during M109/M190.
    Temperatures(TemperatureReport),
    /// The M114 position report.
    Position(Position),
    /// The first line of the M115 report (`FIRMWARE_NAME:… PROTOCOL_VERSION:…`).
    Firmware(FirmwareInfo),
    /// An M115 `Cap:NAME:0|1` line.
    Capability {
        /// The capability's name, e.g. `AUTOREPORT_TEMP`.
        name: String,
        /// Whether the firmware has it.
        enabled: bool,
    },
    /// An SD card message.
    Sd(SdMessage),
    /// Anything else (`echo:…`, Klipper `// …`, file list entries, blank noise): logged only.
    Info(String),
}

/// Parses one line from the firmware (without its line ending).
pub fn parse(line: &str) -> Reply {
    let line = line.trim();
    let bytes = line.as_bytes();
    // Hot path: a bare `ok` arrives once per streamed line, so it is decided on the first
    // bytes without allocating.
    if bytes.len() >= 2 && bytes[0] == b'o' && bytes[1] == b'k' {
        if bytes.len() == 2 {
            return Reply::Ok(Ack::default());
        }
        if bytes[2].is_ascii_whitespace() {
            return parse_ok(line[3..].trim_start());
        }
    }
    match bytes.first() {
        Some(b'R' | b'r') => {
            if let Some(reply) = parse_resend(line) {
                return reply;
            }
        }
        Some(b'E' | b'e') => {
            if let Some(message) = strip_prefix_ci(line, "error:") {
                return Reply::Error(classify_error(message.trim()));
            }
            if let Some(rest) = line.strip_prefix("echo:") {
                return parse_echo(line, rest.trim_start());
            }
        }
        Some(b'!') => {
            if let Some(message) = line.strip_prefix("!!") {
                return Reply::Error(classify_klipper_error(message.trim()));
            }
        }
        Some(b'F' | b'f') => {
            if let Some(message) = strip_prefix_ci(line, "fatal:") {
                return Reply::Error(FirmwareError {
                    kind: ErrorKind::Fatal,
                    message: message.trim().to_owned(),
                });
            }
        }
        Some(b'/') => {
            if let Some(action) = parse_action(line) {
                return Reply::Action(action);
            }
        }
        Some(b'b') => {
            if let Some(text) = line.strip_prefix("busy:") {
                return Reply::Busy(text.trim().to_owned());
            }
        }
        Some(b'C') => {
            if let Some(reply) = parse_capability(line) {
                return reply;
            }
        }
        Some(b'X') => {
            if let Some(position) = parse_position(line) {
                return Reply::Position(position);
            }
        }
        _ => {}
    }
    match line {
        "wait" => return Reply::Wait,
        "start" => return Reply::Start,
        _ => {}
    }
    // Halts announced without `Error:` (Smoothieware, RepRapFirmware's M112).
    if let Some(halt) = HALT_LINES.iter().find(|halt| starts_with_ci(line, halt)) {
        return Reply::Error(FirmwareError {
            kind: ErrorKind::Fatal,
            message: (*halt).to_owned(),
        });
    }
    if starts_with_temperature(line) {
        if let Some(report) = temperature::parse(line) {
            return Reply::Temperatures(report);
        }
    }
    if line.contains(FIRMWARE_NAME) {
        return Reply::Firmware(parse_firmware(line));
    }
    if let Some(sd) = parse_sd(line) {
        return Reply::Sd(sd);
    }
    Reply::Info(line.to_owned())
}

/// `echo:` lines: busy keep-alives and Marlin's `echo:Unknown command:`; the rest is Info.
fn parse_echo(line: &str, rest: &str) -> Reply {
    if let Some(text) = rest.strip_prefix("busy:") {
        return Reply::Busy(text.trim().to_owned());
    }
    if starts_with_ci(rest, "unknown command") {
        return Reply::Error(FirmwareError {
            kind: ErrorKind::Harmless,
            message: rest.trim().to_owned(),
        });
    }
    Reply::Info(line.to_owned())
}

/// Whether the line opens with a temperature key (`T:`, `T0:`, `B:`, `C:`), as autoreports and
/// M109/M190 progress lines do; keeps Info lines with colons away from the temperature parser.
fn starts_with_temperature(line: &str) -> bool {
    let bytes = line.as_bytes();
    match bytes.first() {
        Some(b'B' | b'C') => bytes.get(1) == Some(&b':'),
        Some(b'T') => {
            let digits = bytes[1..].iter().take_while(|b| b.is_ascii_digit()).count();
            bytes.get(1 + digits) == Some(&b':')
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::temperature::{Reading, Sensor};

    pub(super) fn info(text: &str) -> Reply {
        Reply::Info(text.to_owned())
    }

    pub(super) fn reading(actual: f64, target: Option<f64>) -> Reading {
        Reading { actual, target }
    }

    /// Each firmware's answers to a bad checksum, a skipped line, a move and M105, as their
    /// sources print them (`shared/reference/firmware-dialects.md`).
    #[test]
    fn dialect_test_vectors() {
        let resend = |line: &str, wanted: u64| {
            assert_eq!(parse(line), Reply::Resend(wanted), "{line:?}");
        };
        let transmission = |line: &str, expected: Option<u64>, refused: Option<u64>| {
            let Reply::Error(error) = parse(line) else {
                panic!("{line:?} is no error");
            };
            assert_eq!(error.kind, ErrorKind::Resend, "{line:?}");
            assert_eq!(error.expected_line(), expected, "{line:?}");
            assert_eq!(error.refused_line(), refused, "{line:?}");
        };
        let temperatures = |line: &str, tool: f64, bed: f64| {
            let Reply::Ok(ack) = parse(line) else {
                panic!("{line:?} is no ok");
            };
            let report = ack.temperatures.expect("temperatures");
            assert_eq!(
                report.get(&Sensor::Tool(0)).map(|r| r.actual),
                Some(tool),
                "{line:?}"
            );
            assert_eq!(
                report.get(&Sensor::Bed).map(|r| r.actual),
                Some(bed),
                "{line:?}"
            );
        };
        // Marlin 2.1, Prusa MK3, Buddy.
        transmission("Error:checksum mismatch, Last Line: 4", Some(5), None);
        transmission(
            "Error:Line Number is not Last Line Number+1, Last Line: 4",
            Some(5),
            None,
        );
        transmission(
            "Error:No Line Number with checksum, Last Line: 4",
            Some(5),
            None,
        );
        resend("Resend: 5", 5);
        temperatures("ok T:21.56 /0.00 B:21.88 /0.00 @:0 B@:0", 21.56, 21.88);
        temperatures(
            "ok T:21.5 /0.0 B:22.1 /0.0 T0:21.5 /0.0 @:0 B@:0 P:21.9 A:25.3",
            21.5,
            22.1,
        );
        temperatures(
            "ok T:21.50/0.00 B:22.10/0.00 X:25.00/0.00 A:30.00/0.00 @:0 B@:0 HBR@:0",
            21.5,
            22.1,
        );
        assert_eq!(
            parse("ok N5 P15 B3"),
            Reply::Ok(Ack {
                line: Some(5),
                planner_free: Some(15),
                buffer_free: Some(3),
                temperatures: None,
            })
        );
        // Repetier: an empty line before `Resend:`, `skip` for lines in flight.
        transmission("Error:expected line 5 got 6", Some(5), Some(6));
        transmission("Error:Wrong checksum", None, None);
        assert_eq!(parse(""), info(""));
        resend("Resend:5", 5);
        assert_eq!(parse("skip 6"), info("skip 6"));
        assert_eq!(
            parse("ok 5"),
            Reply::Ok(Ack {
                line: Some(5),
                ..Ack::default()
            })
        );
        assert_eq!(parse("busy:processing"), Reply::Busy("processing".into()));
        // RepRapFirmware (Marlin mode): an unsupported or bad command is harmless.
        for line in [
            "Error: M900: Command is not supported",
            "Error: Bad command: XYZ",
        ] {
            let Reply::Error(error) = parse(line) else {
                panic!("{line:?} is no error");
            };
            assert_eq!(error.kind, ErrorKind::Harmless, "{line:?}");
        }
        temperatures("ok T:21.5 /0.0 T0:21.5 /0.0 B:22.1 /0.0", 21.5, 22.1);
        // Smoothieware: the resend request alone; halts without `Error:`.
        resend("rs N5", 5);
        temperatures("ok T:21.5 /0.0 @0 B:22.1 /0.0 @0 ", 21.5, 22.1);
        for halt in [
            "Entering Alarm/Halt state",
            "HALTED, M999 or $X to exit HALT state",
            "Emergency Stop! Reset the controller to continue.",
        ] {
            let Reply::Error(error) = parse(halt) else {
                panic!("{halt:?} is no error");
            };
            assert_eq!(error.kind, ErrorKind::Fatal, "{halt:?}");
        }
        // Klipper: sorted sensors, bed first.
        temperatures("ok B:22.1 /0.0 T0:21.5 /0.0", 21.5, 22.1);
        // Klipper before it is ready: one reading of 0.
        let Reply::Ok(ack) = parse("ok T:0") else {
            panic!("not an ok");
        };
        let report = ack.temperatures.expect("temperatures");
        assert_eq!(report.get(&Sensor::Tool(0)).map(|r| r.actual), Some(0.0));
    }

    #[test]
    fn busy() {
        assert_eq!(
            parse("echo:busy: processing"),
            Reply::Busy("processing".into())
        );
        assert_eq!(
            parse("echo:busy: paused for user\r"),
            Reply::Busy("paused for user".into())
        );
        assert_eq!(parse("busy: processing"), Reply::Busy("processing".into()));
    }

    #[test]
    fn wait_and_start() {
        assert_eq!(parse("wait"), Reply::Wait);
        assert_eq!(parse("wait\r"), Reply::Wait);
        assert_eq!(parse("start"), Reply::Start);
        assert_eq!(parse(" start \r"), Reply::Start);
        assert_eq!(parse("waiting"), info("waiting"));
        assert_eq!(parse("started"), info("started"));
    }

    #[test]
    fn klipper_info_is_info() {
        assert_eq!(
            parse("// Klipper state: Ready"),
            info("// Klipper state: Ready")
        );
    }

    #[test]
    fn autoreported_temperatures() {
        let Reply::Temperatures(report) = parse("T:210.04 /210.00 B:52.00 /52.00 @:85 B@:31")
        else {
            panic!("not temperatures");
        };
        assert_eq!(
            report.readings,
            vec![
                (Sensor::Tool(0), reading(210.04, Some(210.0))),
                (Sensor::Bed, reading(52.0, Some(52.0))),
            ]
        );
    }

    #[test]
    fn m109_progress_and_chamber_lines_are_temperatures() {
        assert_eq!(
            parse("T:210.0 E:0 W:?"),
            Reply::Temperatures(TemperatureReport {
                readings: vec![(Sensor::Tool(0), reading(210.0, None))],
            })
        );
        let Reply::Temperatures(report) = parse("T:25.0 /0.0 B:24.0 /0.0 C:35.0 /40.0 @:0 B@:0")
        else {
            panic!("not temperatures");
        };
        assert_eq!(
            report.get(&Sensor::Chamber),
            Some(reading(35.0, Some(40.0)))
        );
        assert_eq!(
            parse("B:60.0"),
            Reply::Temperatures(TemperatureReport {
                readings: vec![(Sensor::Bed, reading(60.0, None))],
            })
        );
    }

    #[test]
    fn odd_input_never_panics() {
        for line in [
            "é",
            "ok é",
            "ok é:1",
            "okö",
            "X:é",
            "X:",
            "Y:1é",
            "Resend:",
            "Resend: N",
            "rs ",
            "rs N:",
            "T:",
            "T0:",
            "B:/",
            "Cap:",
            "Cap::1",
            "File opened:",
            "File opened: Size:",
            "SD printing byte /",
            "//",
            "// action:",
            "!!",
            "Error",
            "echo:",
            "echo:busy:",
            "FIRMWARE_NAME:",
            "FIRMWARE_NAME:é X:",
            "Resend: 99999999999999999999999",
            "ok N99999999999999999999999 P-1 B",
            "T99999:1",
            "\u{0}\u{ff}start",
        ] {
            let _ = parse(line);
        }
        assert_eq!(
            parse("Resend: 99999999999999999999999"),
            info("Resend: 99999999999999999999999")
        );
    }

    #[test]
    fn everything_else_is_info() {
        assert_eq!(parse("echo:SD card ok"), info("echo:SD card ok"));
        assert_eq!(
            parse("// Klipper state: Ready\r"),
            info("// Klipper state: Ready")
        );
        assert_eq!(parse("BENCHY.GCO 1234"), info("BENCHY.GCO 1234"));
        assert_eq!(parse(""), info(""));
        assert_eq!(parse("\r"), info(""));
        assert_eq!(parse("X:abc"), info("X:abc"));
        assert_eq!(parse("Temperature is fine"), info("Temperature is fine"));
    }
}
