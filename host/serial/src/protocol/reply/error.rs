//! Firmware errors (`Error:…`, Klipper's `!!`, `fatal:`, halts announced without `Error:`) and
//! their classes: what the host must do about each, decided by the words the message uses. A
//! transmission error also names, in its words, the line the firmware wants next.

use super::text::{contains_any_ci, leading_u64};

/// A firmware error with its class.
#[derive(Debug, Clone, PartialEq)]
pub struct FirmwareError {
    /// What the host must do about it.
    pub kind: ErrorKind,
    /// The message as the firmware sent it, without the `Error:`/`!!` prefix.
    pub message: String,
}

impl FirmwareError {
    /// The line the firmware wants next, when the message says: `Last Line: 12` (Marlin,
    /// Prusa: it has 12, so 13) or `Expected Line 13 got 14` (Repetier, OctoPrint's
    /// simulator). Lets the engine resynchronise from a transmission error that no `Resend:`
    /// follows.
    pub fn expected_line(&self) -> Option<u64> {
        let lower = self.message.to_ascii_lowercase();
        // The last mention: Marlin's `Line Number is not Last Line Number+1, Last Line: 7`.
        if let Some(at) = lower.rfind("last line") {
            let rest = lower[at + "last line".len()..].trim_start_matches([':', ' ']);
            return leading_u64(rest).and_then(|last| last.checked_add(1));
        }
        let at = lower.find("expected line")?;
        let rest = lower[at + "expected line".len()..].trim_start_matches([':', ' ']);
        let rest = rest.strip_prefix('n').unwrap_or(rest);
        leading_u64(rest)
    }

    /// The line the firmware says it refused, when the message says: `expected line 97 got
    /// 98` (OctoPrint's simulator), `Expected Line 1 got 2` (Repetier).
    pub fn refused_line(&self) -> Option<u64> {
        let lower = self.message.to_ascii_lowercase();
        lower.find("expected line")?;
        let at = lower.rfind("got")?;
        let rest = lower[at + "got".len()..].trim_start_matches([':', ' ']);
        leading_u64(rest.strip_prefix('n').unwrap_or(rest))
    }
}

/// How serious a firmware error is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// A transmission error: the message speaks of a line number, a checksum, a format error
    /// or an expected line (Marlin `checksum mismatch`, `Line Number is not Last Line
    /// Number+1`, `No Checksum with line number`; Repetier `Expected Line`, `Wrong checksum`;
    /// OctoPrint's simulator `Missing checksum`, `expected line 97 got 98`). Part of a resend,
    /// never a reason to stop a print; most firmware sends `Resend:` after it, some do not.
    Resend,
    /// The command failed but the printer is fine (`Unknown command:`, SD card errors,
    /// Klipper command errors such as `Must home axis first`).
    Harmless,
    /// The firmware halted or is about to (`kill() called`, `Printer halted`, `fatal:`,
    /// thermal runaway, MINTEMP/MAXTEMP, Klipper shutdown).
    Fatal,
    /// An `Error:` none of the above knows. Hosts treat it as fatal by default.
    Unknown,
}

/// Messages that mean the firmware halted or will: checked first so a fault is never
/// downgraded by a milder phrase on the same line.
const FATAL: &[&str] = &[
    "kill() called",
    "printer halted",
    "thermal runaway",
    "maxtemp",
    "mintemp",
    "heating failed",
    "system stopped",
    "stopped due to errors",
];

/// Lines without an `Error:` prefix that mean the firmware halted.
pub(super) const HALT_LINES: &[&str] = &[
    "Entering Alarm/Halt state",
    "HALTED, M999 or $X to exit HALT state",
    "Emergency Stop! Reset the controller to continue.",
];

/// Transmission errors, by the words they use rather than by exact sentences: firmware
/// versions and forks word them differently (`checksum mismatch`, `Wrong checksum`, `Missing
/// checksum`, `Line Number is not Last Line Number+1`, `Expected Line 1 got 2`, `expected line
/// 97 got 98`), and a host that knows only exact sentences fails prints on routine resends.
/// OctoPrint classifies them by the same words.
const RESEND: &[&str] = &[
    "line number",
    "linenumber",
    "checksum",
    "format error",
    "expected line",
];

/// The command failed, the printer is fine: unknown commands and SD card trouble.
const HARMLESS: &[&str] = &[
    "unknown command",
    "volume.init",
    "openroot",
    "workdir",
    "open failed",
    "cannot open",
    "cannot enter",
    "error writing to file",
    // RepRapFirmware: `Error: M900: Command is not supported`, `Error: Bad command: …`.
    "command is not supported",
    "bad command",
    "sd init fail",
    "no sd card",
];

/// Klipper phrases that mean the MCU shut down or the host lost it.
const KLIPPER_FATAL: &[&str] = &[
    "shutdown",
    "lost communication with mcu",
    "firmware restart",
    "firmware_restart",
    "not heating at expected rate",
];

pub(super) fn classify_error(message: &str) -> FirmwareError {
    let kind = if contains_any_ci(message, FATAL) {
        ErrorKind::Fatal
    } else if contains_any_ci(message, RESEND) {
        ErrorKind::Resend
    } else if contains_any_ci(message, HARMLESS) {
        ErrorKind::Harmless
    } else {
        ErrorKind::Unknown
    };
    FirmwareError {
        kind,
        message: message.to_owned(),
    }
}

/// Klipper reports every failed command with `!!`; only a shutdown or a lost MCU is fatal.
pub(super) fn classify_klipper_error(message: &str) -> FirmwareError {
    let kind = if contains_any_ci(message, KLIPPER_FATAL) || contains_any_ci(message, FATAL) {
        ErrorKind::Fatal
    } else {
        ErrorKind::Harmless
    };
    FirmwareError {
        kind,
        message: message.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::reply::{parse, Reply};

    fn error(kind: ErrorKind, message: &str) -> Reply {
        Reply::Error(FirmwareError {
            kind,
            message: message.to_owned(),
        })
    }

    #[test]
    fn transmission_errors_ask_for_resend() {
        for (line, message) in [
            (
                "Error:Line Number is not Last Line Number+1, Last Line: 5",
                "Line Number is not Last Line Number+1, Last Line: 5",
            ),
            (
                "Error:checksum mismatch, Last Line: 7",
                "checksum mismatch, Last Line: 7",
            ),
            (
                "Error:No Checksum with line number, Last Line: 9",
                "No Checksum with line number, Last Line: 9",
            ),
            (
                "Error:No Line Number with checksum, Last Line: 3",
                "No Line Number with checksum, Last Line: 3",
            ),
            ("Error: Expected Line 1 got 2", "Expected Line 1 got 2"),
            ("Error: Wrong checksum", "Wrong checksum"),
            ("error:Format error", "Format error"),
        ] {
            assert_eq!(parse(line), error(ErrorKind::Resend, message), "{line:?}");
        }
    }

    #[test]
    fn transmission_errors_are_known_by_their_words() {
        for line in [
            "Error: Missing checksum",
            "Error: Checksum mismatch",
            "Error: expected line 97 got 98",
            "Error: No Line Number with checksum, Last Line: 109",
            "Error:Missing linenumber",
            "Error:Line Number is not Last Line Number+1, Last Line: 41",
        ] {
            let Reply::Error(error) = parse(line) else {
                panic!("{line:?} is no error");
            };
            assert_eq!(error.kind, ErrorKind::Resend, "{line:?}");
        }
    }

    #[test]
    fn the_line_a_transmission_error_asks_for() {
        for (line, expected) in [
            ("Error:checksum mismatch, Last Line: 41", Some(42)),
            (
                "Error: No Line Number with checksum, Last Line: 109",
                Some(110),
            ),
            (
                "Error:Line Number is not Last Line Number+1, Last Line:7",
                Some(8),
            ),
            ("Error: Expected Line 1 got 2", Some(1)),
            ("Error: expected line 97 got 98", Some(97)),
            ("Error: Missing checksum", None),
            ("Error:Last Line: x", None),
        ] {
            let Reply::Error(error) = parse(line) else {
                panic!("{line:?} is no error");
            };
            assert_eq!(error.expected_line(), expected, "{line:?}");
            let refused = line
                .contains("got")
                .then(|| line.rsplit(' ').next().unwrap().parse::<u64>().unwrap());
            assert_eq!(error.refused_line(), refused, "{line:?}");
        }
    }

    #[test]
    fn harmless_errors() {
        for (line, message) in [
            (
                "Error:Unknown command: \"M9999\"",
                "Unknown command: \"M9999\"",
            ),
            (
                "echo:Unknown command: \"M9999\"",
                "Unknown command: \"M9999\"",
            ),
            ("Error:volume.init failed", "volume.init failed"),
            (
                "Error:open failed, File: test.gco.",
                "open failed, File: test.gco.",
            ),
            ("Error: SD init fail", "SD init fail"),
            ("error:No SD card", "No SD card"),
        ] {
            assert_eq!(parse(line), error(ErrorKind::Harmless, message), "{line:?}");
        }
    }

    #[test]
    fn fatal_errors() {
        for (line, message) in [
            (
                "Error:Printer halted. kill() called!",
                "Printer halted. kill() called!",
            ),
            ("Error:kill() called!", "kill() called!"),
            (
                "Error:Thermal Runaway, system stopped! Heater_ID: 0",
                "Thermal Runaway, system stopped! Heater_ID: 0",
            ),
            ("Error: E0 THERMAL RUNAWAY", "E0 THERMAL RUNAWAY"),
            (
                "Error:MAXTEMP triggered, system stopped! Heater_ID: 0",
                "MAXTEMP triggered, system stopped! Heater_ID: 0",
            ),
            (
                "Error:MINTEMP triggered, system stopped! Heater_ID: bed",
                "MINTEMP triggered, system stopped! Heater_ID: bed",
            ),
            (
                "Error:Heating failed, system stopped! Heater_ID: 0",
                "Heating failed, system stopped! Heater_ID: 0",
            ),
            ("fatal: watchdog reset", "watchdog reset"),
        ] {
            assert_eq!(parse(line), error(ErrorKind::Fatal, message), "{line:?}");
        }
    }

    #[test]
    fn unknown_error() {
        assert_eq!(
            parse("Error:Something odd happened "),
            error(ErrorKind::Unknown, "Something odd happened")
        );
        assert_eq!(parse("Error:"), error(ErrorKind::Unknown, ""));
    }

    #[test]
    fn klipper_errors() {
        for (line, kind, message) in [
            (
                "!! Must home axis first: 0.000 0.000 0.000 [0.000]",
                ErrorKind::Harmless,
                "Must home axis first: 0.000 0.000 0.000 [0.000]",
            ),
            (
                "!! Move out of range: 0.000 0.000 300.000 [0.000]",
                ErrorKind::Harmless,
                "Move out of range: 0.000 0.000 300.000 [0.000]",
            ),
            (
                "!! Unknown command:\"M9999\"",
                ErrorKind::Harmless,
                "Unknown command:\"M9999\"",
            ),
            (
                "!! Shutdown due to webhooks request",
                ErrorKind::Fatal,
                "Shutdown due to webhooks request",
            ),
            (
                "!! MCU 'mcu' shutdown: Timer too close",
                ErrorKind::Fatal,
                "MCU 'mcu' shutdown: Timer too close",
            ),
            (
                "!! Lost communication with MCU 'mcu'",
                ErrorKind::Fatal,
                "Lost communication with MCU 'mcu'",
            ),
            (
                "!! Use the firmware restart command to reset",
                ErrorKind::Fatal,
                "Use the firmware restart command to reset",
            ),
        ] {
            assert_eq!(parse(line), error(kind, message), "{line:?}");
        }
    }
}
