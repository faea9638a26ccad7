//! The printer the firmware drives: G-code words, heaters, the motion planner, the toolhead.
//!
//! Every duration is nominal (what a real printer takes) times the configured speed factor,
//! in real time; a speed of 0 makes everything instant.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// Room temperature, where heaters start and cool down to.
const AMBIENT: f64 = 21.0;
/// Heating and cooling rates in °C per nominal second.
const HEAT_RATE: f64 = 2.0;
const COOL_RATE: f64 = 1.0;
/// Marlin's BLOCK_BUFFER_SIZE 16 keeps one block free: 15 moves can be planned.
pub(super) const PLANNER_MOVES: usize = 15;
/// How long the slow heat-up of [`Fault::SlowHeat`](super::Fault::SlowHeat) takes.
const SLOW_HEAT: Duration = Duration::from_secs(5);
const HOMING: f64 = 2.0;
const PROBING: f64 = 10.0;
const DEFAULT_FEEDRATE: f64 = 3000.0;

/// The command word of a G-code line: `G1`, `M105`, …, upper-cased letter and number.
pub(super) fn code(text: &str) -> Option<(u8, u32)> {
    let word = text.trim_ascii_start().as_bytes();
    let (&letter, rest) = word.split_first()?;
    let letter = letter.to_ascii_uppercase();
    if !letter.is_ascii_alphabetic() {
        return None;
    }
    let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
    if digits == 0 || digits > 9 {
        return None;
    }
    Some((
        letter,
        rest[..digits]
            .iter()
            .fold(0, |n, d| n * 10 + u32::from(d - b'0')),
    ))
}

/// The value of parameter `letter` of a G-code line (`S` of `M104 S200`).
pub(super) fn param(text: &str, letter: u8) -> Option<f64> {
    text.split_ascii_whitespace()
        .skip(1)
        .find(|word| word.as_bytes()[0].eq_ignore_ascii_case(&letter))
        .and_then(|word| word[1..].parse().ok())
}

/// The values of several parameters at once, in `letters` order: one pass over the line for
/// what a move needs (`X`, `Y`, `Z`, `E`, `F`), instead of one pass per letter. The first
/// occurrence of a letter counts, as with [`param`].
fn params<const N: usize>(text: &str, letters: &[u8; N]) -> [Option<f64>; N] {
    let mut values = [None; N];
    let mut seen = [false; N];
    for word in text.split_ascii_whitespace().skip(1) {
        let first = word.as_bytes()[0].to_ascii_uppercase();
        if let Some(i) = letters.iter().position(|&l| l == first) {
            if !seen[i] {
                seen[i] = true;
                values[i] = word[1..].parse().ok();
            }
        }
    }
    values
}

/// One heater: its temperature follows its target at a fixed rate, computed when asked.
#[derive(Debug, Clone)]
struct Heater {
    /// The temperature at `at`.
    temp: f64,
    at: Instant,
    target: f64,
    /// A linear heat-up that overrides the model until its end.
    ramp: Option<Ramp>,
}

#[derive(Debug, Clone)]
struct Ramp {
    from: f64,
    to: f64,
    start: Instant,
    end: Instant,
}

impl Heater {
    fn new(now: Instant) -> Heater {
        Heater {
            temp: AMBIENT,
            at: now,
            target: 0.0,
            ramp: None,
        }
    }

    fn temp_at(&self, t: Instant, speed: f64) -> f64 {
        let (temp, since) = match &self.ramp {
            Some(ramp) if t < ramp.end => {
                let done = t.saturating_duration_since(ramp.start).as_secs_f64()
                    / (ramp.end - ramp.start).as_secs_f64();
                return ramp.from + (ramp.to - ramp.from) * done;
            }
            Some(ramp) => (ramp.to, ramp.end),
            None => (self.temp, self.at),
        };
        let goal = self.target.max(AMBIENT);
        if speed <= 0.0 {
            return goal;
        }
        let elapsed = t.saturating_duration_since(since).as_secs_f64() / speed;
        if temp < goal {
            (temp + HEAT_RATE * elapsed).min(goal)
        } else {
            (temp - COOL_RATE * elapsed).max(goal)
        }
    }

    fn set_target(&mut self, now: Instant, speed: f64, target: f64) {
        self.temp = self.temp_at(now, speed);
        self.at = now;
        self.ramp = None;
        self.target = target.max(0.0);
    }

    /// When M109/M190 stops waiting: the target reached (heating only unless `either_way`).
    fn wait(&mut self, now: Instant, speed: f64, either_way: bool, slow: bool) -> Instant {
        let current = self.temp_at(now, speed);
        let target = self.target;
        if slow && target > AMBIENT {
            self.temp = current;
            self.at = now;
            self.ramp = Some(Ramp {
                from: current,
                to: target,
                start: now,
                end: now + SLOW_HEAT,
            });
            return now + SLOW_HEAT;
        }
        let heating = current < target;
        let cooling = either_way && current > target.max(AMBIENT);
        if speed <= 0.0 || !(heating || cooling) {
            return now;
        }
        let rate = if heating { HEAT_RATE } else { COOL_RATE };
        now + Duration::from_secs_f64((target.max(AMBIENT) - current).abs() / rate * speed)
    }
}

/// What starting a command asks of the firmware: when it is done, and whether it is a
/// heat-and-wait (which reports temperatures while it waits).
#[derive(Debug, Clone, Copy)]
pub(super) struct Timing {
    pub(super) done_at: Instant,
    pub(super) heating: bool,
}

/// Toolhead, heaters and planner.
#[derive(Debug, Clone)]
pub(super) struct Machine {
    speed: f64,
    hotend: Heater,
    bed: Heater,
    /// When each planned move ends, in order.
    planned: VecDeque<Instant>,
    position: [f64; 4],
    absolute: bool,
    relative_e: bool,
    feedrate: f64,
}

impl Machine {
    pub(super) fn new(speed: f64, now: Instant) -> Machine {
        Machine {
            speed: if speed.is_finite() {
                speed.max(0.0)
            } else {
                0.0
            },
            hotend: Heater::new(now),
            bed: Heater::new(now),
            planned: VecDeque::new(),
            position: [0.0; 4],
            absolute: true,
            relative_e: false,
            feedrate: DEFAULT_FEEDRATE,
        }
    }

    /// Power-on state: cold, at the origin, nothing planned.
    pub(super) fn reset(&mut self, now: Instant) {
        *self = Machine::new(self.speed, now);
    }

    /// Heaters off (kill, M112).
    pub(super) fn heaters_off(&mut self, now: Instant) {
        self.hotend.set_target(now, self.speed, 0.0);
        self.bed.set_target(now, self.speed, 0.0);
    }

    fn scaled(&self, nominal_secs: f64) -> Duration {
        if self.speed <= 0.0 || !nominal_secs.is_finite() || nominal_secs <= 0.0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64(nominal_secs * self.speed)
        }
    }

    /// When every planned move has been made.
    fn idle_at(&self, now: Instant) -> Instant {
        self.planned.back().map_or(now, |end| (*end).max(now))
    }

    /// Free planner slots at `now` (ADVANCED_OK `P`).
    pub(super) fn planner_free(&mut self, now: Instant) -> usize {
        while self.planned.front().is_some_and(|end| *end <= now) {
            self.planned.pop_front();
        }
        PLANNER_MOVES.saturating_sub(self.planned.len())
    }

    /// Applies the effects of a command starting at `now` and says when it is done.
    /// `slow_heat` is taken by the next heat-and-wait.
    pub(super) fn start(&mut self, now: Instant, text: &str, slow_heat: &mut bool) -> Timing {
        let at_once = Timing {
            done_at: now,
            heating: false,
        };
        let Some((letter, number)) = code(text) else {
            return at_once;
        };
        let done_at = match (letter, number) {
            (b'G', 0..=3) => self.plan_move(now, text),
            (b'G', 4) => {
                let secs = param(text, b'P')
                    .map(|ms| ms / 1000.0)
                    .or_else(|| param(text, b'S'));
                self.idle_at(now) + self.scaled(secs.unwrap_or(0.0))
            }
            (b'G', 28) => {
                let done = self.idle_at(now) + self.scaled(HOMING);
                let axes: Vec<usize> = (0..3).filter(|&i| param_present(text, b"XYZ"[i])).collect();
                if axes.is_empty() {
                    self.position[..3].fill(0.0);
                } else {
                    axes.into_iter().for_each(|i| self.position[i] = 0.0);
                }
                done
            }
            (b'G', 29) => self.idle_at(now) + self.scaled(PROBING),
            (b'G', 90) => {
                self.absolute = true;
                self.relative_e = false;
                now
            }
            (b'G', 91) => {
                self.absolute = false;
                self.relative_e = true;
                now
            }
            (b'G', 92) => {
                let mut any = false;
                for (i, axis) in b"XYZE".iter().enumerate() {
                    if let Some(value) = param(text, *axis) {
                        self.position[i] = value;
                        any = true;
                    }
                }
                if !any {
                    self.position = [0.0; 4];
                }
                now
            }
            (b'M', 82) => {
                self.relative_e = false;
                now
            }
            (b'M', 83) => {
                self.relative_e = true;
                now
            }
            (b'M', 400) => self.idle_at(now),
            (b'M', 104) | (b'M', 140) | (b'M', 109) | (b'M', 190) => {
                let bed = number == 140 || number == 190;
                let waits = number == 109 || number == 190;
                let target = param(text, b'S').or_else(|| param(text, b'R'));
                let either_way = param(text, b'R').is_some();
                let speed = self.speed;
                let heater = if bed { &mut self.bed } else { &mut self.hotend };
                if let Some(target) = target {
                    heater.set_target(now, speed, target);
                }
                if !waits {
                    return at_once;
                }
                let slow = std::mem::take(slow_heat);
                return Timing {
                    done_at: heater.wait(now, speed, either_way, slow),
                    heating: true,
                };
            }
            _ => now,
        };
        Timing {
            done_at,
            heating: false,
        }
    }

    /// Plans a G0–G3 move; the command is done once the move has a planner slot.
    fn plan_move(&mut self, now: Instant, text: &str) -> Instant {
        let [x, y, z, e, f] = params(text, b"XYZEF");
        if let Some(f) = f {
            if f > 0.0 {
                self.feedrate = f;
            }
        }
        let mut delta = [0.0; 4];
        for (i, value) in [x, y, z, e].into_iter().enumerate() {
            if let Some(value) = value {
                let relative = if i == 3 {
                    self.relative_e
                } else {
                    !self.absolute
                };
                let target = if relative {
                    self.position[i] + value
                } else {
                    value
                };
                delta[i] = target - self.position[i];
                self.position[i] = target;
            }
        }
        let distance = (delta[0] * delta[0] + delta[1] * delta[1] + delta[2] * delta[2]).sqrt();
        let distance = if distance > 0.0 {
            distance
        } else {
            delta[3].abs()
        };
        let duration = self.scaled(distance / (self.feedrate / 60.0));
        if duration.is_zero() {
            return now;
        }
        let free = self.planner_free(now);
        // A full planner: the command waits until the oldest move ends and frees a slot.
        let planned_at = if free == 0 { self.planned[0] } else { now };
        let end = self.idle_at(planned_at) + duration;
        self.planned.push_back(end);
        planned_at
    }

    /// The hotend's and the bed's (actual, target) temperatures.
    pub(super) fn temperatures(&self, now: Instant) -> ((f64, f64), (f64, f64)) {
        (
            (self.hotend.temp_at(now, self.speed), self.hotend.target),
            (self.bed.temp_at(now, self.speed), self.bed.target),
        )
    }

    /// The M114 report.
    pub(super) fn position(&self) -> String {
        let [x, y, z, e] = self.position;
        format!(
            "X:{x:.2} Y:{y:.2} Z:{z:.2} E:{e:.2} Count: A:{} B:{} C:{}",
            (x * 80.0).round() as i64,
            (y * 80.0).round() as i64,
            (z * 400.0).round() as i64,
        )
    }
}

/// Whether a word starting with `letter` follows the command word.
fn param_present(text: &str, letter: u8) -> bool {
    text.split_ascii_whitespace()
        .skip(1)
        .any(|word| word.as_bytes()[0].eq_ignore_ascii_case(&letter))
}
