//! What can go wrong on the wire and in the firmware, and when the simulator makes it happen.

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

use super::Flavour;

/// A fault the virtual printer injects, either on a received numbered line (through
/// [`FaultPlan`] or [`VirtualPrinter::inject`](super::VirtualPrinter::inject)) or at once.
#[derive(Debug, Clone, PartialEq)]
pub enum Fault {
    /// Refuse the line as if its line number were wrong: `Error:` + `Resend:` for it (and an
    /// `ok` if [`SimConfig::ok_after_resend`](super::SimConfig::ok_after_resend)).
    ResendRequest,
    /// Refuse the line as a checksum mismatch.
    ChecksumMismatch,
    /// Refuse the line with `Error:No Checksum with line number, Last Line: n`.
    MissingLineNumber,
    /// Like [`Fault::ResendRequest`], but no `ok` follows the `Resend:` this one time (old
    /// Marlin 2.0.x builds).
    ResendWithoutOk,
    /// Execute the line but send no `ok` for it.
    DropOk,
    /// Execute the line and send its `ok` twice (in the same write).
    DuplicateOk,
    /// RepRapFirmware-style: discard the line silently, no error, no `ok`.
    SilentDrop,
    /// Flip one bit of one byte of the received line before checking it (a real checksum or
    /// line-number error).
    CorruptByte,
    /// Execute the line, but take this long (real time, not scaled by
    /// [`SimConfig::speed`](super::SimConfig::speed)), printing `echo:busy: processing` every
    /// 2 s before the `ok`.
    Busy(Duration),
    /// Print `wait` (Marlin's idle keep-alive) before the line's `ok`.
    Wait,
    /// Reboot: drop everything received, print `start`, line numbers restart at 0, heaters
    /// off. The line is not executed.
    Reset,
    /// Print `Error:<msg>` and `Error:Printer halted. kill() called!`, then ignore everything
    /// until [`VirtualPrinter::replug`](super::VirtualPrinter::replug) or a [`Fault::Reset`].
    Fatal(String),
    /// Print `//action:<msg>` (`pause`, `resume`, `cancel`, …) after executing the line.
    Action(String),
    /// Stop answering entirely (bytes are still read, never answered) until unplug/replug.
    Hang,
    /// Close the pty master: the host sees EOF/EIO and the link dangles until
    /// [`VirtualPrinter::replug`](super::VirtualPrinter::replug).
    Unplug,
    /// Execute the line, printing this text as a line of its own before the line's `ok`
    /// (e.g. `Error:Heater switched off` for an error of no known kind).
    Say(String),
    /// The next M109/M190 heats for about 5 s of real time, printing temperatures every
    /// second (the life signs a host must accept while heating).
    SlowHeat,
}

impl Fault {
    /// Whether [`VirtualPrinter::inject`](super::VirtualPrinter::inject) acts on this fault at
    /// once instead of keeping it for the next numbered line.
    pub(super) fn acts_at_once(&self) -> bool {
        matches!(
            self,
            Fault::Unplug | Fault::Hang | Fault::Reset | Fault::Fatal(_) | Fault::Action(_)
        )
    }
}

/// Faults planned before a run: random transmission faults and faults on given lines.
/// The default plans none.
#[derive(Debug, Clone, Default)]
pub struct FaultPlan {
    /// Probability, per numbered line received in sequence for the first time, of a random
    /// transmission fault a correct host recovers from without ending the print
    /// ([`Fault::ResendRequest`], [`Fault::ChecksumMismatch`], [`Fault::ResendWithoutOk`],
    /// [`Fault::DropOk`], [`Fault::DuplicateOk`], [`Fault::CorruptByte`], a short
    /// [`Fault::Busy`], [`Fault::Wait`]). Klipper draws only from the faults that do not
    /// refuse lines, since it never asks for a resend.
    pub random_rate: f64,
    /// Seed of the random faults: a fault depends only on the seed and the line number, so
    /// runs are reproducible whatever the host's timing.
    pub seed: u64,
    /// Faults on the numbered line with this `N`, injected the first time that line is
    /// received in sequence. Several entries for one line act on successive receptions.
    pub at_line: Vec<(u64, Fault)>,
}

/// The random faults a correct host recovers from, by whether the flavour refuses lines.
const RECOVERABLE: [Fault; 8] = [
    Fault::ResendRequest,
    Fault::ChecksumMismatch,
    Fault::ResendWithoutOk,
    Fault::DropOk,
    Fault::DuplicateOk,
    Fault::CorruptByte,
    Fault::Busy(Duration::ZERO),
    Fault::Wait,
];
/// RepRapFirmware refuses a bad line by dropping it silently, so a lost `ok` looks to a host
/// exactly like a dropped line; a host that sends the line again executes it twice. Bad lines
/// are what a noisy link produces (RRF drops them), lost `ok`s are not recoverable there.
const RECOVERABLE_BY_RESENDING: [Fault; 7] = [
    Fault::ResendRequest,
    Fault::ChecksumMismatch,
    Fault::ResendWithoutOk,
    Fault::DuplicateOk,
    Fault::CorruptByte,
    Fault::Busy(Duration::ZERO),
    Fault::Wait,
];
const RECOVERABLE_WITHOUT_RESENDS: [Fault; 4] = [
    Fault::DropOk,
    Fault::DuplicateOk,
    Fault::Busy(Duration::ZERO),
    Fault::Wait,
];

/// The faults still to come: injected ones first, then the plan's per-line ones, then a
/// random draw.
#[derive(Debug)]
pub(super) struct FaultSource {
    injected: VecDeque<Fault>,
    at_line: HashMap<u64, VecDeque<Fault>>,
    random_rate: f64,
    seed: u64,
    /// Random faults are drawn only for line numbers above this one (each line once), so a
    /// resent line always gets through.
    drawn_up_to: Option<u64>,
}

impl FaultSource {
    pub(super) fn new(plan: &FaultPlan) -> FaultSource {
        let mut at_line: HashMap<u64, VecDeque<Fault>> = HashMap::new();
        for (n, fault) in &plan.at_line {
            at_line.entry(*n).or_default().push_back(fault.clone());
        }
        FaultSource {
            injected: VecDeque::new(),
            at_line,
            random_rate: plan.random_rate,
            seed: plan.seed,
            drawn_up_to: None,
        }
    }

    /// Keeps a fault for the next numbered line received in sequence.
    pub(super) fn inject(&mut self, fault: Fault) {
        self.injected.push_back(fault);
    }

    /// The fault, if any, for numbered line `n`, received in sequence.
    pub(super) fn for_line(&mut self, n: u64, flavour: Flavour) -> Option<Fault> {
        if let Some(fault) = self.injected.pop_front() {
            return Some(fault);
        }
        if let Some(planned) = self.at_line.get_mut(&n) {
            let fault = planned.pop_front();
            if planned.is_empty() {
                self.at_line.remove(&n);
            }
            if fault.is_some() {
                return fault;
            }
        }
        if self.random_rate <= 0.0 || self.drawn_up_to.is_some_and(|up_to| n <= up_to) {
            return None;
        }
        self.drawn_up_to = Some(n);
        let mut rng = self.rng(n);
        if rng.f64() >= self.random_rate {
            return None;
        }
        let pool: &[Fault] = match flavour {
            Flavour::Klipper => &RECOVERABLE_WITHOUT_RESENDS,
            Flavour::RepRapFirmware => &RECOVERABLE_BY_RESENDING,
            _ => &RECOVERABLE,
        };
        match pool[rng.usize(..pool.len())].clone() {
            Fault::Busy(_) => Some(Fault::Busy(Duration::from_millis(rng.u64(100..=500)))),
            fault => Some(fault),
        }
    }

    /// Line numbers restarted at `n` (M110): lines above it may get random faults again.
    pub(super) fn renumbered(&mut self, n: u64) {
        if self.drawn_up_to.is_some_and(|up_to| n < up_to) {
            self.drawn_up_to = Some(n);
        }
    }

    /// Which byte of a `len`-byte line [`Fault::CorruptByte`] flips (never the first, the
    /// `N`), and the bit mask, reproducibly from the seed and the line number.
    pub(super) fn corruption(&self, n: u64, len: usize) -> (usize, u8) {
        let mut rng = self.rng(n ^ 0x5bd1_e995);
        let at = if len > 1 { rng.usize(1..len) } else { 0 };
        (at, 1 << rng.u32(0..7))
    }

    fn rng(&self, n: u64) -> fastrand::Rng {
        fastrand::Rng::with_seed(self.seed ^ n.wrapping_mul(0x9e37_79b9_7f4a_7c15))
    }
}
