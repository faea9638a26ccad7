//! Incoming lines: every kind of reply a Marlin, Prusa, Repetier, RepRapFirmware or Klipper
//! firmware sends, parsed into [`Reply`].
//!
//! The parser is stateless: one line in, one [`Reply`] out. Whatever needs context (which
//! line an `ok` acknowledges, whether an `ok` follows a `Resend:`) is the engine's business.

use super::temperature::{self, TemperatureReport};

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

/// What an `ok` carries besides the acknowledgement itself.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Ack {
    /// The line number the firmware reports as processed: ADVANCED_OK `N`, Repetier `ok <n>`.
    pub line: Option<u64>,
    /// ADVANCED_OK `P`: free planner slots.
    pub planner_free: Option<u32>,
    /// ADVANCED_OK `B`: free command buffer slots.
    pub buffer_free: Option<u32>,
    /// Temperatures on the same line (`ok T:210.0 /210.0 B:60.0 /60.0`).
    pub temperatures: Option<TemperatureReport>,
}

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

/// A host action command the firmware sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// `//action:pause`: the firmware asks the host to pause.
    Pause,
    /// `//action:paused`: the firmware paused by itself.
    Paused,
    /// `//action:resume`: the firmware asks the host to resume.
    Resume,
    /// `//action:resumed`: the firmware resumed by itself.
    Resumed,
    /// `//action:cancel`: the firmware asks the host to cancel the print.
    Cancel,
    /// `//action:start`: the firmware asks the host to start the selected print.
    Start,
    /// `//action:kill`: the firmware was killed.
    Kill,
    /// `//action:prompt_begin …` and the other `prompt_*` actions, with their text.
    Prompt(String),
    /// `//action:notification …`, with its text.
    Notification(String),
    /// Any other action, verbatim after `action:`.
    Other(String),
}

/// The M114 position (logical coordinates, before `Count`).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Position {
    /// X in mm.
    pub x: Option<f64>,
    /// Y in mm.
    pub y: Option<f64>,
    /// Z in mm.
    pub z: Option<f64>,
    /// E in mm.
    pub e: Option<f64>,
}

/// The M115 report's first line.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FirmwareInfo {
    /// `FIRMWARE_NAME`, e.g. `Marlin 2.1.2.1 (Github)`, `Prusa-Firmware 3.13.3`, `RepRapFirmware for Duet 3 MB6HC`, `Klipper`.
    pub name: String,
    /// Every `KEY:value` pair in order (`PROTOCOL_VERSION`, `MACHINE_TYPE`, `EXTRUDER_COUNT`, `UUID`, …).
    pub fields: Vec<(String, String)>,
}

/// An SD card message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SdMessage {
    /// `Begin file list` (M20).
    FileListBegin,
    /// `End file list`.
    FileListEnd,
    /// `File opened: NAME Size: N` (M23).
    FileOpened {
        /// The file name.
        name: String,
        /// Its size in bytes.
        size: u64,
    },
    /// `File selected`.
    FileSelected,
    /// `SD printing byte A/B` (M27).
    Printing {
        /// Bytes printed.
        position: u64,
        /// File size.
        total: u64,
    },
    /// `Not SD printing`.
    NotPrinting,
    /// `Done printing file`.
    Done,
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

const FIRMWARE_NAME: &str = "FIRMWARE_NAME:";

/// `rest` is what follows `ok `: ADVANCED_OK fields, Repetier's line number, temperatures, or
/// (Klipper, RRF) the M115 report.
fn parse_ok(rest: &str) -> Reply {
    let mut ack = Ack::default();
    let has_colon = rest.contains(':');
    if has_colon && rest.contains(FIRMWARE_NAME) {
        return Reply::Firmware(parse_firmware(rest));
    }
    for (i, token) in rest.split_ascii_whitespace().enumerate() {
        if token.contains(':') {
            continue;
        }
        // Repetier acknowledges with the bare line number: `ok 12`.
        if i == 0 && token.bytes().all(|b| b.is_ascii_digit()) {
            ack.line = token.parse().ok();
            continue;
        }
        // `get` rather than `split_at`: the token may start with a multi-byte character.
        let Some(digits) = token.get(1..) else {
            continue;
        };
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        match token.as_bytes()[0] {
            b'N' => ack.line = digits.parse().ok(),
            b'P' => ack.planner_free = digits.parse().ok(),
            b'B' => ack.buffer_free = digits.parse().ok(),
            _ => {}
        }
    }
    if has_colon {
        ack.temperatures = temperature::parse(rest);
    }
    Reply::Ok(ack)
}

/// `Resend: 23`, `Resend:23`, `Resend: N23`, `Resend: N:23`, `rs 23`,
/// `rs N23 expected checksum 109`. `None` when the line is no resend request, or names no line
/// the host could act on.
fn parse_resend(line: &str) -> Option<Reply> {
    let rest = if let Some(rest) = strip_prefix_ci(line, "resend") {
        if !rest.starts_with(|c: char| c == ':' || c.is_ascii_whitespace()) {
            return None;
        }
        rest
    } else {
        let rest = strip_prefix_ci(line, "rs")?;
        if !rest.starts_with(|c: char| c.is_ascii_whitespace()) {
            return None;
        }
        rest
    };
    let rest = rest.trim_start_matches(|c: char| c == ':' || c.is_ascii_whitespace());
    let rest = rest.strip_prefix(['N', 'n']).unwrap_or(rest);
    let rest = rest.strip_prefix(':').unwrap_or(rest).trim_start();
    leading_u64(rest).map(Reply::Resend)
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
const HALT_LINES: &[&str] = &[
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

fn classify_error(message: &str) -> FirmwareError {
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
fn classify_klipper_error(message: &str) -> FirmwareError {
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

/// `//action:…` or `// action:…`; `None` for other `//` lines (Klipper info).
fn parse_action(line: &str) -> Option<Action> {
    let rest = line.strip_prefix("//")?.trim_start();
    let rest = rest.strip_prefix("action:")?.trim();
    let (word, argument) = match rest.split_once(|c: char| c.is_ascii_whitespace()) {
        Some((word, argument)) => (word, argument.trim()),
        None => (rest, ""),
    };
    Some(match word {
        "pause" => Action::Pause,
        "paused" => Action::Paused,
        "resume" => Action::Resume,
        "resumed" => Action::Resumed,
        "cancel" => Action::Cancel,
        "start" => Action::Start,
        "kill" => Action::Kill,
        // The whole rest, so the engine can tell prompt_begin from prompt_choice.
        _ if word.starts_with("prompt_") => Action::Prompt(rest.to_owned()),
        "notification" => Action::Notification(argument.to_owned()),
        _ => Action::Other(rest.to_owned()),
    })
}

/// `Cap:NAME:0|1`.
fn parse_capability(line: &str) -> Option<Reply> {
    let rest = line.strip_prefix("Cap:")?;
    let (name, value) = rest.rsplit_once(':')?;
    let enabled = match value.trim() {
        "1" => true,
        "0" => false,
        _ => return None,
    };
    let name = name.trim();
    if name.is_empty() {
        return None;
    }
    Some(Reply::Capability {
        name: name.to_owned(),
        enabled,
    })
}

/// M114: `X:62.417 Y:64.781 Z:0.2 E:2.72328 Count: A:6241 B:6478 C:20`. Only the logical
/// position before `Count` matters; after it come stepper counts in axis-like letters.
fn parse_position(line: &str) -> Option<Position> {
    let logical = line.find("Count").map_or(line, |i| &line[..i]);
    let bytes = logical.as_bytes();
    let mut position = Position::default();
    let mut found = false;
    for i in 0..bytes.len().saturating_sub(1) {
        // Digits may precede a key (`Z:0.00E:0.00`, old Marlin glues them), letters may not.
        if bytes[i + 1] != b':' || (i > 0 && bytes[i - 1].is_ascii_alphabetic()) {
            continue;
        }
        let slot = match bytes[i] {
            b'X' => &mut position.x,
            b'Y' => &mut position.y,
            b'Z' => &mut position.z,
            b'E' => &mut position.e,
            _ => continue,
        };
        let value = logical[i + 2..].trim_start();
        // No `e` in the number: firmwares never print exponents, and `Z:0.2E:1` must not glue.
        let end = value
            .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '-' || c == '+'))
            .unwrap_or(value.len());
        if let Some(v) = value[..end].parse::<f64>().ok().filter(|v| v.is_finite()) {
            *slot = Some(v);
            found = true;
        }
    }
    found.then_some(position)
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

/// M115: `KEY:value` pairs. A key is a run of `[A-Z0-9_]` starting with a letter, at the start
/// or after whitespace, directly followed by `:`; its value runs to the next key, so values may
/// hold spaces (`Marlin 2.1.2.1 (Github)`) and colons (`https://…`, `14:40:46`).
fn parse_firmware(text: &str) -> FirmwareInfo {
    let bytes = text.as_bytes();
    // (key start, colon) of every key.
    let mut keys: Vec<(usize, usize)> = Vec::new();
    for start in 0..bytes.len() {
        if !bytes[start].is_ascii_uppercase()
            || (start > 0 && !bytes[start - 1].is_ascii_whitespace())
        {
            continue;
        }
        let len = bytes[start..]
            .iter()
            .take_while(|&&b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
            .count();
        if bytes.get(start + len) == Some(&b':') {
            keys.push((start, start + len));
        }
    }
    let mut info = FirmwareInfo::default();
    for (i, &(start, colon)) in keys.iter().enumerate() {
        let end = keys.get(i + 1).map_or(text.len(), |&(next, _)| next);
        let key = &text[start..colon];
        let value = text[colon + 1..end].trim();
        if key == "FIRMWARE_NAME" && info.name.is_empty() {
            info.name = value.to_owned();
        }
        info.fields.push((key.to_owned(), value.to_owned()));
    }
    info
}

/// SD card messages (M20, M23, M27, end of print). Klipper ends some with a period.
fn parse_sd(line: &str) -> Option<SdMessage> {
    let plain = line.trim_end_matches('.');
    match plain {
        "Begin file list" => return Some(SdMessage::FileListBegin),
        "End file list" => return Some(SdMessage::FileListEnd),
        "File selected" => return Some(SdMessage::FileSelected),
        "Not SD printing" => return Some(SdMessage::NotPrinting),
        "Done printing file" => return Some(SdMessage::Done),
        _ => {}
    }
    if let Some(rest) = line.strip_prefix("File opened:") {
        let (name, size) = rest.rsplit_once("Size:")?;
        let name = name.trim();
        if name.is_empty() {
            return None;
        }
        return Some(SdMessage::FileOpened {
            name: name.to_owned(),
            size: size.trim().parse().ok()?,
        });
    }
    if let Some(rest) = plain.strip_prefix("SD printing byte") {
        let (position, total) = rest.split_once('/')?;
        return Some(SdMessage::Printing {
            position: position.trim().parse().ok()?,
            total: total.trim().parse().ok()?,
        });
    }
    None
}

/// The decimal number at the start of `text`.
fn leading_u64(text: &str) -> Option<u64> {
    let digits = text.bytes().take_while(u8::is_ascii_digit).count();
    text[..digits].parse().ok()
}

fn starts_with_ci(text: &str, prefix: &str) -> bool {
    text.len() >= prefix.len()
        && text.as_bytes()[..prefix.len()].eq_ignore_ascii_case(prefix.as_bytes())
}

/// `text` without an ASCII `prefix` matched case-insensitively.
fn strip_prefix_ci<'a>(text: &'a str, prefix: &str) -> Option<&'a str> {
    // The prefix is ASCII, so a match ends on a char boundary.
    starts_with_ci(text, prefix).then(|| &text[prefix.len()..])
}

/// Whether `text` contains any of the lower-case ASCII `needles`, ignoring ASCII case.
fn contains_any_ci(text: &str, needles: &[&str]) -> bool {
    let hay = text.as_bytes();
    needles.iter().any(|needle| {
        hay.windows(needle.len())
            .any(|w| w.eq_ignore_ascii_case(needle.as_bytes()))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::temperature::{Reading, Sensor};

    fn error(kind: ErrorKind, message: &str) -> Reply {
        Reply::Error(FirmwareError {
            kind,
            message: message.to_owned(),
        })
    }

    fn info(text: &str) -> Reply {
        Reply::Info(text.to_owned())
    }

    fn reading(actual: f64, target: Option<f64>) -> Reading {
        Reading { actual, target }
    }

    #[test]
    fn plain_ok_tolerates_line_endings_and_spaces() {
        for line in ["ok", "ok\r", "ok  ", " ok \r"] {
            assert_eq!(parse(line), Reply::Ok(Ack::default()), "{line:?}");
        }
    }

    #[test]
    fn ok_must_be_a_whole_word() {
        assert_eq!(parse("okay"), info("okay"));
        assert_eq!(parse("ok:"), info("ok:"));
    }

    #[test]
    fn ok_with_temperatures() {
        let Reply::Ok(ack) = parse("ok T:210.0 /210.0 B:60.0 /60.0 @:0 B@:0") else {
            panic!("not an ok");
        };
        assert_eq!(ack.line, None);
        let temps = ack.temperatures.expect("temperatures");
        assert_eq!(
            temps.readings,
            vec![
                (Sensor::Tool(0), reading(210.0, Some(210.0))),
                (Sensor::Bed, reading(60.0, Some(60.0))),
            ]
        );
    }

    #[test]
    fn ok_with_several_tools() {
        let Reply::Ok(ack) =
            parse("ok T:23.0/220.0 T0:23.0/220.0 T1:50.2/210.0 T2:39.4/220.0 B:60.0")
        else {
            panic!("not an ok");
        };
        let temps = ack.temperatures.expect("temperatures");
        let sensors: Vec<Sensor> = temps.readings.iter().map(|(s, _)| s.clone()).collect();
        assert_eq!(
            sensors,
            vec![
                Sensor::Tool(0),
                Sensor::Tool(1),
                Sensor::Tool(2),
                Sensor::Bed
            ]
        );
        assert_eq!(
            temps.get(&Sensor::Tool(1)),
            Some(reading(50.2, Some(210.0)))
        );
        assert_eq!(temps.get(&Sensor::Bed), Some(reading(60.0, None)));
    }

    #[test]
    fn ok_prusa_temperatures() {
        let Reply::Ok(ack) =
            parse("ok T:210.3 /210.0 B:60.3 /60.0 T0:210.3 /210.0 @:79 B@:0 P:35.9 A:40.0")
        else {
            panic!("not an ok");
        };
        let temps = ack.temperatures.expect("temperatures");
        assert_eq!(temps.readings.len(), 4);
        assert_eq!(
            temps.get(&Sensor::Tool(0)),
            Some(reading(210.3, Some(210.0)))
        );
        assert_eq!(
            temps.get(&Sensor::Other("P".into())),
            Some(reading(35.9, None))
        );
        assert_eq!(
            temps.get(&Sensor::Other("A".into())),
            Some(reading(40.0, None))
        );
    }

    #[test]
    fn klipper_ok_t0() {
        assert_eq!(
            parse("ok T:0"),
            Reply::Ok(Ack {
                temperatures: Some(TemperatureReport {
                    readings: vec![(Sensor::Tool(0), reading(0.0, None))],
                }),
                ..Ack::default()
            })
        );
    }

    #[test]
    fn advanced_ok() {
        assert_eq!(
            parse("ok N12 P15 B3\r"),
            Reply::Ok(Ack {
                line: Some(12),
                planner_free: Some(15),
                buffer_free: Some(3),
                temperatures: None,
            })
        );
        assert_eq!(
            parse("ok P0 B1"),
            Reply::Ok(Ack {
                planner_free: Some(0),
                buffer_free: Some(1),
                ..Ack::default()
            })
        );
    }

    #[test]
    fn repetier_ok_with_line() {
        assert_eq!(
            parse("ok 12"),
            Reply::Ok(Ack {
                line: Some(12),
                ..Ack::default()
            })
        );
    }

    #[test]
    fn resend_in_every_syntax() {
        for (line, n) in [
            ("Resend: 23", 23),
            ("Resend:23", 23),
            ("Resend: N23", 23),
            ("Resend: N:23", 23),
            ("Resend:N:23\r", 23),
            ("rs 23", 23),
            ("rs N23 expected checksum 109", 23),
            ("resend: 7", 7),
            ("RESEND: 8", 8),
            ("resend 9", 9),
        ] {
            assert_eq!(parse(line), Reply::Resend(n), "{line:?}");
        }
    }

    #[test]
    fn resend_lookalikes_are_info() {
        assert_eq!(parse("Resend: x"), info("Resend: x"));
        assert_eq!(parse("resending"), info("resending"));
        assert_eq!(parse("rs232 ready"), info("rs232 ready"));
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
        // RepRapFirmware (Marlin mode).
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
    fn actions_with_and_without_space() {
        for (word, action) in [
            ("pause", Action::Pause),
            ("paused", Action::Paused),
            ("resume", Action::Resume),
            ("resumed", Action::Resumed),
            ("cancel", Action::Cancel),
            ("start", Action::Start),
            ("kill", Action::Kill),
        ] {
            assert_eq!(
                parse(&format!("//action:{word}")),
                Reply::Action(action.clone())
            );
            assert_eq!(parse(&format!("// action:{word}\r")), Reply::Action(action));
        }
    }

    #[test]
    fn prompt_notification_and_other_actions() {
        assert_eq!(
            parse("//action:prompt_begin Filament runout"),
            Reply::Action(Action::Prompt("prompt_begin Filament runout".into()))
        );
        assert_eq!(
            parse("// action:prompt_choice Continue"),
            Reply::Action(Action::Prompt("prompt_choice Continue".into()))
        );
        assert_eq!(
            parse("//action:prompt_show"),
            Reply::Action(Action::Prompt("prompt_show".into()))
        );
        assert_eq!(
            parse("//action:prompt_end"),
            Reply::Action(Action::Prompt("prompt_end".into()))
        );
        assert_eq!(
            parse("//action:notification Heating done"),
            Reply::Action(Action::Notification("Heating done".into()))
        );
        assert_eq!(
            parse("//action:out_of_filament T0"),
            Reply::Action(Action::Other("out_of_filament T0".into()))
        );
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
    fn m114_position() {
        assert_eq!(
            parse("X:62.417 Y:64.781 Z:0.2 E:2.72328 Count: A:6241 B:6478 C:20"),
            Reply::Position(Position {
                x: Some(62.417),
                y: Some(64.781),
                z: Some(0.2),
                e: Some(2.72328),
            })
        );
        // The stepper counts after `Count` reuse axis letters and must not override.
        assert_eq!(
            parse("X:10.00 Y:20.00 Z:5.00 E:0.00 Count X:800 Y:1600 Z:2000"),
            Reply::Position(Position {
                x: Some(10.0),
                y: Some(20.0),
                z: Some(5.0),
                e: Some(0.0),
            })
        );
    }

    #[test]
    fn klipper_position() {
        assert_eq!(
            parse("X:0.000 Y:0.000 Z:0.000 E:0.000"),
            Reply::Position(Position {
                x: Some(0.0),
                y: Some(0.0),
                z: Some(0.0),
                e: Some(0.0),
            })
        );
    }

    #[test]
    fn marlin_m115() {
        let Reply::Firmware(fw) = parse(
            "FIRMWARE_NAME:Marlin 2.1.2.1 (Github) SOURCE_CODE_URL:github.com/MarlinFirmware/Marlin \
             PROTOCOL_VERSION:1.0 MACHINE_TYPE:Ender-3 EXTRUDER_COUNT:1 \
             UUID:cede2a2f-41a2-4748-9b12-c55c62f367ff\r",
        ) else {
            panic!("not firmware");
        };
        assert_eq!(fw.name, "Marlin 2.1.2.1 (Github)");
        let fields: Vec<(&str, &str)> = fw
            .fields
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        assert_eq!(
            fields,
            vec![
                ("FIRMWARE_NAME", "Marlin 2.1.2.1 (Github)"),
                ("SOURCE_CODE_URL", "github.com/MarlinFirmware/Marlin"),
                ("PROTOCOL_VERSION", "1.0"),
                ("MACHINE_TYPE", "Ender-3"),
                ("EXTRUDER_COUNT", "1"),
                ("UUID", "cede2a2f-41a2-4748-9b12-c55c62f367ff"),
            ]
        );
    }

    #[test]
    fn m115_url_with_scheme_is_one_value() {
        let Reply::Firmware(fw) = parse(
            "FIRMWARE_NAME:Prusa-Firmware 3.13.3 based on Marlin \
             FIRMWARE_URL:https://github.com/prusa3d/Prusa-Firmware PROTOCOL_VERSION:1.0",
        ) else {
            panic!("not firmware");
        };
        assert_eq!(fw.name, "Prusa-Firmware 3.13.3 based on Marlin");
        assert_eq!(
            fw.fields[1],
            (
                "FIRMWARE_URL".to_owned(),
                "https://github.com/prusa3d/Prusa-Firmware".to_owned()
            )
        );
        assert_eq!(fw.fields.len(), 3);
    }

    #[test]
    fn klipper_m115_with_ok() {
        assert_eq!(
            parse("ok FIRMWARE_VERSION:v0.12.0 FIRMWARE_NAME:Klipper"),
            Reply::Firmware(FirmwareInfo {
                name: "Klipper".into(),
                fields: vec![
                    ("FIRMWARE_VERSION".into(), "v0.12.0".into()),
                    ("FIRMWARE_NAME".into(), "Klipper".into()),
                ],
            })
        );
        assert_eq!(
            parse("FIRMWARE_VERSION:v0.12.0 FIRMWARE_NAME:Klipper"),
            parse("ok FIRMWARE_VERSION:v0.12.0 FIRMWARE_NAME:Klipper")
        );
    }

    #[test]
    fn rrf_m115_with_space_after_colon() {
        let Reply::Firmware(fw) = parse(
            "FIRMWARE_NAME: RepRapFirmware for Duet 3 MB6HC FIRMWARE_VERSION: 3.5.1 \
             ELECTRONICS: Duet 3 MB6HC v1.01 or later FIRMWARE_DATE: 2024-04-19 14:40:46",
        ) else {
            panic!("not firmware");
        };
        assert_eq!(fw.name, "RepRapFirmware for Duet 3 MB6HC");
        assert_eq!(
            fw.fields,
            vec![
                (
                    "FIRMWARE_NAME".into(),
                    "RepRapFirmware for Duet 3 MB6HC".into()
                ),
                ("FIRMWARE_VERSION".into(), "3.5.1".into()),
                ("ELECTRONICS".into(), "Duet 3 MB6HC v1.01 or later".into()),
                ("FIRMWARE_DATE".into(), "2024-04-19 14:40:46".into()),
            ]
        );
    }

    #[test]
    fn capabilities() {
        assert_eq!(
            parse("Cap:AUTOREPORT_TEMP:1"),
            Reply::Capability {
                name: "AUTOREPORT_TEMP".into(),
                enabled: true
            }
        );
        assert_eq!(
            parse("Cap:EMERGENCY_PARSER:0\r"),
            Reply::Capability {
                name: "EMERGENCY_PARSER".into(),
                enabled: false
            }
        );
        assert_eq!(parse("Cap:BROKEN:x"), info("Cap:BROKEN:x"));
    }

    #[test]
    fn sd_messages() {
        assert_eq!(
            parse("Begin file list"),
            Reply::Sd(SdMessage::FileListBegin)
        );
        assert_eq!(parse("End file list"), Reply::Sd(SdMessage::FileListEnd));
        assert_eq!(
            parse("File opened: X.GCO Size: 1234"),
            Reply::Sd(SdMessage::FileOpened {
                name: "X.GCO".into(),
                size: 1234
            })
        );
        assert_eq!(
            parse("File opened:benchy.gcode Size:98765"),
            Reply::Sd(SdMessage::FileOpened {
                name: "benchy.gcode".into(),
                size: 98765
            })
        );
        assert_eq!(parse("File selected"), Reply::Sd(SdMessage::FileSelected));
        assert_eq!(
            parse("SD printing byte 123/4567"),
            Reply::Sd(SdMessage::Printing {
                position: 123,
                total: 4567
            })
        );
        assert_eq!(parse("Not SD printing"), Reply::Sd(SdMessage::NotPrinting));
        assert_eq!(parse("Not SD printing."), Reply::Sd(SdMessage::NotPrinting));
        assert_eq!(parse("Done printing file"), Reply::Sd(SdMessage::Done));
        assert_eq!(parse("SD printing byte x/y"), info("SD printing byte x/y"));
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
