//! The printer the firmware drives: G-code words, heaters, the motion planner, the toolhead.
//!
//! Motion is the G-code analysis' own model on a clock ([`printfarm_gcode::motion::Motion`]):
//! trapezoidal moves under the file's `M201`/`M203`/`M204`/`M205` limits, junction speeds,
//! a 16-block planner buffer, homing and dwells, so that a print takes the time the library's
//! estimate says. Every duration is nominal (what a real printer takes) times the configured
//! speed factor, in real time; a speed of 0 makes everything instant.

use std::time::{Duration, Instant};

use printfarm_gcode::motion::{Motion, MARLIN_BLOCKS};

/// Room temperature, where heaters start and cool down to.
const AMBIENT: f64 = 21.0;
/// Heating and cooling rates in °C per nominal second: a hotend heats at about 3 °C/s, a small
/// bed at about 2 °C/s (60 °C from room temperature in 20 s); both cool more slowly.
const HOTEND_RATES: Rates = Rates {
    heat: 3.0,
    cool: 1.5,
};
const BED_RATES: Rates = Rates {
    heat: 2.0,
    cool: 0.5,
};
/// How long the slow heat-up of [`Fault::SlowHeat`](super::Fault::SlowHeat) takes.
const SLOW_HEAT: Duration = Duration::from_secs(5);
/// Bed probing (G29) in nominal seconds; the analysis does not count it.
const PROBING: f64 = 10.0;

/// How fast a heater follows its target.
#[derive(Debug, Clone, Copy)]
struct Rates {
    heat: f64,
    cool: f64,
}

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

/// One heater: its temperature follows its target at a fixed rate, computed when asked.
#[derive(Debug, Clone)]
struct Heater {
    /// The temperature at `at`.
    temp: f64,
    at: Instant,
    target: f64,
    /// A linear heat-up that overrides the model until its end.
    ramp: Option<Ramp>,
    rates: Rates,
}

#[derive(Debug, Clone)]
struct Ramp {
    from: f64,
    to: f64,
    start: Instant,
    end: Instant,
}

impl Heater {
    fn new(now: Instant, rates: Rates) -> Heater {
        Heater {
            temp: AMBIENT,
            at: now,
            target: 0.0,
            ramp: None,
            rates,
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
            (temp + self.rates.heat * elapsed).min(goal)
        } else {
            (temp - self.rates.cool * elapsed).max(goal)
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
        let rate = if heating {
            self.rates.heat
        } else {
            self.rates.cool
        };
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
#[derive(Debug)]
pub(super) struct Machine {
    speed: f64,
    hotend: Heater,
    bed: Heater,
    motion: Motion,
    /// Time zero of the motion's nominal clock.
    origin: Instant,
}

impl Machine {
    pub(super) fn new(speed: f64, now: Instant) -> Machine {
        Machine {
            speed: if speed.is_finite() {
                speed.max(0.0)
            } else {
                0.0
            },
            hotend: Heater::new(now, HOTEND_RATES),
            bed: Heater::new(now, BED_RATES),
            motion: if speed > 0.0 && speed.is_finite() {
                Motion::new(MARLIN_BLOCKS)
            } else {
                Motion::untimed()
            },
            origin: now,
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

    /// `now` on the motion's nominal clock.
    fn nominal(&self, now: Instant) -> f64 {
        if self.speed <= 0.0 {
            0.0
        } else {
            now.saturating_duration_since(self.origin).as_secs_f64() / self.speed
        }
    }

    /// The instant of a nominal time, never before `now`.
    fn instant(&self, nominal: f64, now: Instant) -> Instant {
        (self.origin + self.scaled(nominal)).max(now)
    }

    /// When every planned move has been made.
    fn idle_at(&mut self, now: Instant) -> Instant {
        let idle = self.motion.idle_at(self.nominal(now));
        self.instant(idle, now)
    }

    /// Free planner slots at `now` (ADVANCED_OK `P`); Marlin keeps one block free.
    pub(super) fn planner_free(&mut self, now: Instant) -> usize {
        if self.speed <= 0.0 {
            return MARLIN_BLOCKS - 1;
        }
        let nominal = self.nominal(now);
        self.motion.free_blocks(nominal).saturating_sub(1)
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
        match (letter, number) {
            (b'G', 29) => Timing {
                done_at: self.idle_at(now) + self.scaled(PROBING),
                heating: false,
            },
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
                Timing {
                    done_at: heater.wait(now, speed, either_way, slow),
                    heating: true,
                }
            }
            // Moves, dwells, homing, M400, modes, positions and motion limits: the motion
            // model's business.
            _ => {
                let done = self.motion.command(text, self.nominal(now));
                Timing {
                    done_at: self.instant(done, now),
                    heating: false,
                }
            }
        }
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
        let [x, y, z, e] = self.motion.position();
        format!(
            "X:{x:.2} Y:{y:.2} Z:{z:.2} E:{e:.2} Count: A:{} B:{} C:{}",
            (x * 80.0).round() as i64,
            (y * 80.0).round() as i64,
            (z * 400.0).round() as i64,
        )
    }
}
