//! The print-time model: trapezoidal velocity profiles joined by a look-ahead planner.
//!
//! Each move accelerates from its entry speed to its nominal speed (the feedrate, capped by the
//! machine limits), cruises, and decelerates to its exit speed. Junction speeds between moves
//! follow Klipper's "square corner velocity" rule (a bounded-deviation corner, also limited by
//! the centripetal speed of the short segments slicers make curves from). A planner looks ahead
//! over a bounded window of moves, so memory stays flat: moves are planned in batches, assuming
//! the machine must be able to stop at the end of the window, which only ever makes the model
//! slightly pessimistic at batch edges.
//!
//! What it does not model: firmware-specific jerk, input shaping, pressure advance, heating and
//! other waits whose length the file does not state.

use std::f64::consts::SQRT_2;

/// Acceleration in mm/s² until the file sets one (M204, M201, SET_VELOCITY_LIMIT).
pub(crate) const DEFAULT_ACCEL: f64 = 1000.0;
/// Corner speed in mm/s for a 90° corner, Klipper's default.
pub(crate) const DEFAULT_SQUARE_CORNER_VELOCITY: f64 = 5.0;

/// Moves planned per batch; twice this many are held at most.
const WINDOW: usize = 64;
/// Lengths below this (mm) are not moves: they would only add rounding noise.
const EPSILON: f64 = 1e-9;

/// Machine limits the file may set; per-axis arrays are indexed X, Y, Z, E.
#[derive(Debug, Clone)]
pub(crate) struct Limits {
    /// Acceleration for moves that extrude (M204 P, or S).
    pub print_accel: f64,
    /// Acceleration for moves that do not extrude (M204 T, or S).
    pub travel_accel: f64,
    /// Acceleration for extruder-only moves: retractions (M204 R).
    pub retract_accel: f64,
    /// Per-axis acceleration caps (M201), infinite when unset.
    pub max_accel: [f64; 4],
    /// Per-axis speed caps in mm/s (M203), infinite when unset.
    pub max_speed: [f64; 4],
    /// Overall speed cap in mm/s (Klipper's VELOCITY), infinite when unset.
    pub max_velocity: f64,
    /// Corner speed for a 90° corner in mm/s.
    pub square_corner_velocity: f64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            print_accel: DEFAULT_ACCEL,
            travel_accel: DEFAULT_ACCEL,
            retract_accel: DEFAULT_ACCEL,
            max_accel: [f64::INFINITY; 4],
            max_speed: [f64::INFINITY; 4],
            max_velocity: f64::INFINITY,
            square_corner_velocity: DEFAULT_SQUARE_CORNER_VELOCITY,
        }
    }
}

/// One planned move. Speeds are kept squared: the planner's passes are linear in v².
#[derive(Debug, Clone, Copy)]
pub(crate) struct Block {
    pub(crate) length: f64,
    pub(crate) accel: f64,
    pub(crate) nominal_v2: f64,
    pub(crate) max_entry_v2: f64,
    /// Best entry speed found by the backward pass.
    pub(crate) entry_v2: f64,
}

impl Block {
    /// The highest squared speed this block can leave at, entered at `entry_v2` (read
    /// backwards, the highest it can be entered at to leave at `entry_v2`).
    pub(crate) fn reachable_v2(&self, entry_v2: f64) -> f64 {
        entry_v2 + 2.0 * self.accel * self.length
    }
}

/// What a stream of moves is timed by: the analysis' batch [`Planner`], or a firmware's
/// bounded planner buffer executed in time ([`crate::motion`]). Both take their blocks from
/// the same [`Shaper`], so they agree on every speed.
pub(crate) trait Kinematics {
    /// The shaper, whose limits the file's commands change.
    fn shaper(&mut self) -> &mut Shaper;
    /// A move's block.
    fn block(&mut self, block: Block);
    /// A stop for `secs` seconds (dwell, homing): the machine comes to rest first.
    fn pause(&mut self, secs: f64);
}

/// Turns moves into planner [`Block`]s: length, acceleration and cruise speed under the
/// machine limits, and the highest speed the junction with the previous move allows.
#[derive(Debug, Clone, Default)]
pub(crate) struct Shaper {
    /// The limits that apply to moves from now on.
    pub(crate) limits: Limits,
    tail: Option<Tail>,
}

/// The end of the last queued move, for the junction with the next.
#[derive(Debug, Clone, Copy)]
struct Tail {
    dir: [f64; 3],
    nominal_v2: f64,
    length: f64,
    accel: f64,
}

/// Accumulates the time of a stream of moves.
#[derive(Debug)]
pub(crate) struct Planner {
    shaper: Shaper,
    queue: Vec<Block>,
    /// Entry speed of `queue[0]`, fixed by the previous batch.
    first_entry_v2: f64,
    secs: f64,
    timed: bool,
}

impl Default for Planner {
    fn default() -> Self {
        Planner {
            shaper: Shaper::default(),
            queue: Vec::with_capacity(2 * WINDOW),
            first_entry_v2: 0.0,
            secs: 0.0,
            timed: false,
        }
    }
}

impl Kinematics for Planner {
    fn shaper(&mut self) -> &mut Shaper {
        &mut self.shaper
    }

    fn block(&mut self, block: Block) {
        self.queue.push(block);
        self.timed = true;
        if self.queue.len() >= 2 * WINDOW {
            self.plan(WINDOW);
        }
    }

    fn pause(&mut self, secs: f64) {
        self.flush();
        if secs.is_finite() && secs > 0.0 {
            self.secs += secs;
            self.timed = true;
        }
    }
}

impl Shaper {
    /// The block of a straight move by `delta` (X, Y, Z, E in mm) at `feed` mm/s; `None` for
    /// no move at all.
    pub(crate) fn line(&mut self, delta: [f64; 4], feed: f64) -> Option<Block> {
        let [dx, dy, dz, de] = delta;
        let xyz = (dx * dx + dy * dy + dz * dz).sqrt();
        let (length, base_accel, dir) = if xyz > EPSILON {
            let accel = if de != 0.0 {
                self.limits.print_accel
            } else {
                self.limits.travel_accel
            };
            (xyz, accel, Some([dx / xyz, dy / xyz, dz / xyz]))
        } else if de.abs() > EPSILON {
            // Extruder-only (retraction): firmware measures these along E and stops around them.
            (de.abs(), self.limits.retract_accel, None)
        } else {
            return None;
        };
        let mut accel = base_accel;
        let mut speed = feed.min(self.limits.max_velocity);
        for (axis, d) in delta.iter().enumerate() {
            let ratio = d.abs() / length;
            if ratio > 0.0 {
                accel = accel.min(self.limits.max_accel[axis] / ratio);
                speed = speed.min(self.limits.max_speed[axis] / ratio);
            }
        }
        self.block(length, accel, speed, dir, dir)
    }

    /// The block of an arc of `length` mm in the XY plane with the given `radius`, entered along `start_dir`
    /// and left along `end_dir` (unit vectors), extruding `de`, at `feed` mm/s.
    pub(crate) fn arc(
        &mut self,
        length: f64,
        radius: f64,
        start_dir: [f64; 3],
        end_dir: [f64; 3],
        de: f64,
        feed: f64,
    ) -> Option<Block> {
        if length <= EPSILON {
            return None;
        }
        let base_accel = if de != 0.0 {
            self.limits.print_accel
        } else {
            self.limits.travel_accel
        };
        // The direction turns through the whole arc, so the stricter of X and Y applies.
        let xy_accel = self.limits.max_accel[0].min(self.limits.max_accel[1]);
        let xy_speed = self.limits.max_speed[0].min(self.limits.max_speed[1]);
        let accel = base_accel.min(xy_accel);
        // Centripetal acceleration v²/r may not exceed what the machine can do.
        let speed = feed
            .min(self.limits.max_velocity)
            .min(xy_speed)
            .min((accel * radius).sqrt());
        self.block(length, accel, speed, Some(start_dir), Some(end_dir))
    }

    /// The machine comes to rest: the next move starts from a stop.
    pub(crate) fn stop(&mut self) {
        self.tail = None;
    }

    fn block(
        &mut self,
        length: f64,
        accel: f64,
        speed: f64,
        start_dir: Option<[f64; 3]>,
        end_dir: Option<[f64; 3]>,
    ) -> Option<Block> {
        if !(accel > 0.0 && speed > 0.0 && length.is_finite()) {
            return None;
        }
        let nominal_v2 = speed * speed;
        let max_entry_v2 = match (self.tail, start_dir) {
            (Some(tail), Some(dir)) => junction_v2(
                &tail,
                dir,
                length,
                accel,
                self.limits.square_corner_velocity,
            )
            .min(nominal_v2)
            .min(tail.nominal_v2),
            // From rest, or into or out of an extruder-only move.
            _ => 0.0,
        };
        self.tail = end_dir.map(|dir| Tail {
            dir,
            nominal_v2,
            length,
            accel,
        });
        Some(Block {
            length,
            accel,
            nominal_v2,
            max_entry_v2,
            entry_v2: 0.0,
        })
    }
}

impl Planner {
    /// Total seconds of everything pushed, or `None` when nothing took time.
    pub(crate) fn finish(mut self) -> Option<f64> {
        self.flush();
        self.timed.then_some(self.secs)
    }

    /// Plans everything queued to a stop.
    fn flush(&mut self) {
        let n = self.queue.len();
        self.plan(n);
        self.shaper.stop();
        self.first_entry_v2 = 0.0;
    }

    /// Plans the queue assuming a stop after its last move, then times and drops the first
    /// `count` moves. The entry speed left for the next batch is reachable from the moves
    /// before and leaves room to stop by the end of the current queue; a longer queue can only
    /// allow more, so it stays feasible.
    fn plan(&mut self, count: usize) {
        let mut next_entry_v2 = 0.0;
        for block in self.queue.iter_mut().rev() {
            block.entry_v2 = block.max_entry_v2.min(block.reachable_v2(next_entry_v2));
            next_entry_v2 = block.entry_v2;
        }
        let mut entry_v2 = self.first_entry_v2;
        for i in 0..count {
            let block = self.queue[i];
            let exit_limit = self.queue.get(i + 1).map_or(0.0, |b| b.entry_v2);
            let exit_v2 = exit_limit.min(block.reachable_v2(entry_v2));
            self.secs += trapezoid_secs(
                block.length,
                block.accel,
                block.nominal_v2,
                entry_v2,
                exit_v2,
            );
            entry_v2 = exit_v2;
        }
        self.first_entry_v2 = entry_v2;
        self.queue.drain(..count);
    }
}

/// The highest squared speed at which a move along `dir` may follow `tail`.
fn junction_v2(tail: &Tail, dir: [f64; 3], length: f64, accel: f64, scv: f64) -> f64 {
    // cos of the angle between the reversed previous direction and the new one: 1 is a full
    // reversal, -1 is straight on.
    let cos_theta = -(tail.dir[0] * dir[0] + tail.dir[1] * dir[1] + tail.dir[2] * dir[2]);
    if cos_theta > 0.999_999 {
        return 0.0;
    }
    let cos_theta = cos_theta.max(-0.999_999);
    let sin_half = (0.5 * (1.0 - cos_theta)).sqrt();
    let cos_half = (0.5 * (1.0 + cos_theta)).sqrt();
    // Deviation-bounded corner, scaled so a 90° corner gives exactly the square corner velocity.
    let corner_v2 = scv * scv * (SQRT_2 - 1.0) * sin_half / (1.0 - sin_half);
    // Short segments around a curve: treat the pair as an arc and bound the centripetal
    // acceleration, using each move's own length and acceleration.
    let tan_half = sin_half / cos_half;
    let centripetal_v2 =
        (0.5 * length * tan_half * accel).min(0.5 * tail.length * tan_half * tail.accel);
    corner_v2.min(centripetal_v2)
}

/// Seconds for a move of `length` mm from entry to exit speed with cruise speed `nominal` and
/// acceleration `accel`, all speeds squared; a triangle profile when cruise speed is not reached.
pub(crate) fn trapezoid_secs(
    length: f64,
    accel: f64,
    nominal_v2: f64,
    entry_v2: f64,
    exit_v2: f64,
) -> f64 {
    let accel_d = (nominal_v2 - entry_v2) / (2.0 * accel);
    let decel_d = (nominal_v2 - exit_v2) / (2.0 * accel);
    let (vi, vo) = (entry_v2.sqrt(), exit_v2.sqrt());
    if accel_d + decel_d <= length {
        let vn = nominal_v2.sqrt();
        (vn - vi) / accel + (vn - vo) / accel + (length - accel_d - decel_d) / vn
    } else {
        let peak_v2 = (accel * length + 0.5 * (entry_v2 + exit_v2))
            .max(entry_v2)
            .max(exit_v2);
        let vp = peak_v2.sqrt();
        (vp - vi) / accel + (vp - vo) / accel
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    impl Planner {
        fn line(&mut self, delta: [f64; 4], feed: f64) {
            if let Some(block) = self.shaper.line(delta, feed) {
                self.block(block);
            }
        }
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-9
    }

    #[test]
    fn a_single_move_is_a_trapezoid() {
        // 100 mm at F6000 (100 mm/s), 1000 mm/s²: 5 mm and 0.1 s to accelerate, 90 mm cruise in
        // 0.9 s, 0.1 s to stop.
        let mut p = Planner::default();
        p.line([100.0, 0.0, 0.0, 0.0], 100.0);
        assert!(close(p.finish().unwrap(), 1.1));
    }

    #[test]
    fn a_short_move_is_a_triangle() {
        // 2 mm at 100 mm/s never reaches cruise speed: 1 mm up and 1 mm down at 1000 mm/s²,
        // peak sqrt(2000) mm/s, time 2 × peak / accel.
        let mut p = Planner::default();
        p.line([0.0, 2.0, 0.0, 0.0], 100.0);
        let expected = 2.0 * 2000f64.sqrt() / 1000.0;
        assert!(close(p.finish().unwrap(), expected));
    }

    #[test]
    fn straight_segments_do_not_stop_between() {
        // Ten 10 mm segments in a line take as long as one 100 mm move.
        let mut p = Planner::default();
        for _ in 0..10 {
            p.line([10.0, 0.0, 0.0, 0.01], 100.0);
        }
        assert!(close(p.finish().unwrap(), 1.1));
    }

    #[test]
    fn a_reversal_stops_and_a_corner_slows() {
        let mut reverse = Planner::default();
        reverse.line([50.0, 0.0, 0.0, 0.0], 100.0);
        reverse.line([-50.0, 0.0, 0.0, 0.0], 100.0);
        let reverse = reverse.finish().unwrap();
        assert!(close(reverse, 2.0 * 0.6));

        let mut corner = Planner::default();
        corner.line([50.0, 0.0, 0.0, 0.0], 100.0);
        corner.line([0.0, 50.0, 0.0, 0.0], 100.0);
        let corner = corner.finish().unwrap();
        // A 90° corner is taken at the square corner velocity, 5 mm/s: a little faster than
        // stopping, much slower than going straight on.
        let at_5 = 2.0 * trapezoid_secs(50.0, 1000.0, 100.0 * 100.0, 0.0, 25.0);
        assert!(close(corner, at_5), "{corner} vs {at_5}");
        assert!(corner < reverse && corner > 1.1);
    }

    #[test]
    fn long_runs_match_across_batches() {
        // A run far longer than the planning window still behaves like one long move.
        let mut p = Planner::default();
        for _ in 0..1000 {
            p.line([0.1, 0.0, 0.0, 0.0], 100.0);
        }
        assert!(close(p.finish().unwrap(), 1.1));
    }

    #[test]
    fn limits_cap_speed_and_acceleration() {
        let mut p = Planner::default();
        p.shaper.limits.max_speed[2] = 10.0;
        p.line([0.0, 0.0, 10.0, 0.0], 100.0);
        // 10 mm at 10 mm/s: 0.01 s each to accelerate and stop over 0.05 mm each.
        assert!(close(p.finish().unwrap(), 0.01 + 0.01 + 9.9 / 10.0));

        let mut p = Planner::default();
        p.shaper.limits.print_accel = 500.0;
        p.line([100.0, 0.0, 0.0, 1.0], 100.0);
        // 10 mm and 0.2 s to accelerate at 500 mm/s², the same to stop, 80 mm cruise.
        assert!(close(p.finish().unwrap(), 0.2 + 0.2 + 0.8));
    }

    #[test]
    fn pauses_add_time() {
        let mut p = Planner::default();
        p.pause(2.5);
        p.line([100.0, 0.0, 0.0, 0.0], 100.0);
        assert!(close(p.finish().unwrap(), 3.6));
        assert_eq!(Planner::default().finish(), None);
    }
}
