//! How each imitated firmware speaks, read from its public source (facts in the project's
//! `shared/reference/firmware-dialects.md`): what it does with a refused line, a repeated one,
//! a bad checksum, how it keeps the host informed while busy or idle, and how it introduces
//! itself. The firmware model asks these questions instead of matching on the flavour.

use std::time::Duration;

use super::Flavour;

/// What a firmware does with a numbered line that repeats one it already took.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Duplicates {
    /// Refuse it like any line out of sequence: error and resend request (Prusa MK3, Buddy,
    /// Smoothieware, Marlin before 2.1).
    Refuse,
    /// Drop a repeat of the last line or the one before silently: no error, no `ok` (Marlin
    /// 2.1: "a request-for-resend line was already in transit so we got two").
    DropSilently,
    /// Answer `skip <n>` and `ok` (Repetier, for lines up to 40 below the last).
    Skip,
}

/// How long Repetier (and Marlin with `NO_TIMEOUTS`) waits, idle and with nothing arriving,
/// before each `wait`.
pub(super) const WAIT_INTERVAL: Duration = Duration::from_secs(1);

/// Refused lines Repetier answers with `skip` instead of a new resend request after one
/// (its `waitingForResend`).
pub(super) const REPETIER_SKIPS_AFTER_RESEND: u32 = 14;

impl Flavour {
    /// Whether line numbers are checked at all (RepRapFirmware records them only, Klipper
    /// ignores them).
    pub(super) fn checks_sequence(self) -> bool {
        !matches!(self, Flavour::RepRapFirmware | Flavour::Klipper)
    }

    /// Whether a refused line empties the RX buffer, so that the lines sent after it are gone
    /// without an answer (Marlin 2.x, Buddy). The others read them and refuse them one by one.
    pub(super) fn drains_on_error(self) -> bool {
        matches!(self, Flavour::Marlin | Flavour::PrusaBuddy)
    }

    /// What a repeated line gets.
    pub(super) fn duplicates(self) -> Duplicates {
        match self {
            Flavour::Marlin => Duplicates::DropSilently,
            Flavour::Repetier => Duplicates::Skip,
            _ => Duplicates::Refuse,
        }
    }

    /// Whether an `ok` follows the resend request, unless the config says otherwise
    /// (Smoothieware's `rs N<n>` is its whole answer).
    pub(super) fn ok_after_resend(self) -> bool {
        !matches!(self, Flavour::Smoothieware)
    }

    /// The keep-alive printed every 2 s while a command runs long, if any.
    pub(super) fn keepalive(self) -> Option<&'static str> {
        match self {
            Flavour::Marlin | Flavour::Prusa | Flavour::PrusaBuddy => Some("echo:busy: processing"),
            Flavour::Repetier => Some("busy:processing"),
            Flavour::RepRapFirmware | Flavour::Smoothieware | Flavour::Klipper => None,
        }
    }

    /// Whether it says `wait` every [`WAIT_INTERVAL`] while idle with nothing arriving.
    pub(super) fn waits_when_idle(self) -> bool {
        matches!(self, Flavour::Repetier)
    }

    /// Whether the `ok` comes before a command's output (Repetier acknowledges on receipt).
    pub(super) fn ok_before_output(self) -> bool {
        matches!(self, Flavour::Repetier)
    }

    /// What it prints when it boots, if anything.
    pub(super) fn boot_banner(self) -> Option<&'static str> {
        match self {
            Flavour::Marlin | Flavour::Prusa | Flavour::PrusaBuddy | Flavour::Repetier => {
                Some("start")
            }
            Flavour::Smoothieware => Some("Smoothie Running @120MHz"),
            Flavour::RepRapFirmware | Flavour::Klipper => None,
        }
    }

    /// Whether M115 is followed by `Cap:` lines.
    pub(super) fn reports_capabilities(self) -> bool {
        matches!(
            self,
            Flavour::Marlin | Flavour::Prusa | Flavour::PrusaBuddy | Flavour::Repetier
        )
    }

    /// The M115 report's first line.
    pub(super) fn identification(self, uuid: &str) -> String {
        match self {
            Flavour::Marlin => format!(
                "FIRMWARE_NAME:Marlin 2.1.2 (printfarm virtual) \
                 SOURCE_CODE_URL:github.com/MarlinFirmware/Marlin PROTOCOL_VERSION:1.0 \
                 MACHINE_TYPE:Virtual EXTRUDER_COUNT:1 UUID:{uuid}"
            ),
            Flavour::Prusa => format!(
                "FIRMWARE_NAME:Prusa-Firmware 3.14.1 based on Marlin \
                 FIRMWARE_URL:https://github.com/prusa3d/Prusa-Firmware PROTOCOL_VERSION:1.0 \
                 MACHINE_TYPE:Prusa i3 MK3S EXTRUDER_COUNT:1 UUID:{uuid}"
            ),
            Flavour::PrusaBuddy => format!(
                "FIRMWARE_NAME:Prusa-Firmware-Buddy 6.2.0+8896 (Github) \
                 SOURCE_CODE_URL:https://github.com/prusa3d/Prusa-Firmware-Buddy \
                 PROTOCOL_VERSION:1.0 MACHINE_TYPE:Prusa-MK4 EXTRUDER_COUNT:1 UUID:{uuid}"
            ),
            Flavour::Repetier => "FIRMWARE_NAME:Repetier_1.0.4 \
                 FIRMWARE_URL:https://github.com/repetier/Repetier-Firmware/ \
                 PROTOCOL_VERSION:1.0 MACHINE_TYPE:Virtual EXTRUDER_COUNT:1 REPETIER_PROTOCOL:3"
                .to_owned(),
            Flavour::RepRapFirmware => "FIRMWARE_NAME: RepRapFirmware for Duet 3 \
                 FIRMWARE_VERSION: 3.5.0 ELECTRONICS: printfarm virtual \
                 FIRMWARE_DATE: 2024-01-01"
                .to_owned(),
            Flavour::Smoothieware => "FIRMWARE_NAME:Smoothieware, \
                 FIRMWARE_URL:http%3A//smoothieware.org \
                 X-SOURCE_CODE_URL:https://github.com/Smoothieware/Smoothieware \
                 X-FIRMWARE_BRANCH:edge X-FIRMWARE_VERSION:printfarm-virtual X-SYSTEM_CLOCK:120MHz"
                .to_owned(),
            Flavour::Klipper => {
                "FIRMWARE_NAME:Klipper FIRMWARE_VERSION:v0.12.0-printfarm-virtual".to_owned()
            }
        }
    }

    /// The M105 report in this firmware's format (`actual`, `target` for hotend then bed).
    pub(super) fn temperatures(self, hotend: (f64, f64), bed: (f64, f64)) -> String {
        let ((t, tt), (b, bt)) = (hotend, bed);
        match self {
            Flavour::Marlin => format!("T:{t:.2} /{tt:.2} B:{b:.2} /{bt:.2} @:0 B@:0"),
            Flavour::PrusaBuddy => format!("T:{t:.2}/{tt:.2} B:{b:.2}/{bt:.2} @:0 B@:0"),
            Flavour::Prusa => {
                format!(
                    "T:{t:.1} /{tt:.1} B:{b:.1} /{bt:.1} T0:{t:.1} /{tt:.1} @:0 B@:0 P:0.0 A:26.4"
                )
            }
            Flavour::Repetier => format!("T:{t:.2} /{tt:.0} B:{b:.2} /{bt:.0} B@:0 @:0"),
            Flavour::RepRapFirmware => {
                format!("T:{t:.1} /{tt:.1} T0:{t:.1} /{tt:.1} B:{b:.1} /{bt:.1}")
            }
            Flavour::Smoothieware => format!("T:{t:.1} /{tt:.1} @0 B:{b:.1} /{bt:.1} @0"),
            Flavour::Klipper => format!("B:{b:.1} /{bt:.1} T0:{t:.1} /{tt:.1}"),
        }
    }
}
