//! Motion in time, as a firmware plans and executes it: the same blocks and speeds as the
//! analysis' time model ([`crate::kinematics`]), held in a bounded planner buffer and executed
//! one after the other on a clock.
//!
//! A firmware plans a move when its command arrives, looking ahead only over the moves already
//! in its buffer (Marlin: 16 blocks), and locks a block's speeds when it starts executing it.
//! When the buffer is full, the command that brings the next move waits for the oldest block
//! to end. A printer simulated with this model takes the time the analysis estimates for the
//! same file, apart from what the shorter look-ahead and a host that feeds too slowly cost.

use std::collections::VecDeque;

use crate::kinematics::{trapezoid_secs, Block, Kinematics, Shaper};
use crate::machine::Machine;
use crate::parse::{classify, Line};

/// Marlin's `BLOCK_BUFFER_SIZE`.
pub const MARLIN_BLOCKS: usize = 16;

/// What the buffer holds: a move, or a stop of a given length (dwell, homing).
#[derive(Debug, Clone, Copy)]
enum Item {
    Move(Block),
    Pause(f64),
}

/// The item being executed.
#[derive(Debug, Clone, Copy)]
struct Running {
    ends_at: f64,
    /// A move (it holds a planner block), not a pause.
    is_move: bool,
}

/// A firmware's planner buffer on a clock (seconds, the caller's).
#[derive(Debug, Default)]
pub(crate) struct Buffer {
    shaper: Shaper,
    capacity: usize,
    queued: VecDeque<Item>,
    running: Option<Running>,
    /// The squared speed the last started block leaves at (0 after a stop).
    exit_v2: f64,
    /// The caller's clock at the command being followed.
    now: f64,
    /// When the command being followed is done.
    done_at: f64,
    /// Only positions and modes are followed: moves take no time and nothing is planned.
    untimed: bool,
}

impl Buffer {
    fn new(capacity: usize) -> Buffer {
        Buffer {
            capacity: capacity.max(2),
            ..Buffer::default()
        }
    }

    /// Executes everything that ends by `now`, starting each next block where the last ended.
    fn advance(&mut self, now: f64) {
        loop {
            match self.running {
                Some(running) if running.ends_at <= now => {
                    self.running = None;
                    if !self.start_next(running.ends_at) {
                        self.exit_v2 = 0.0;
                        return;
                    }
                }
                Some(_) => return,
                None => {
                    if !self.start_next(now) {
                        return;
                    }
                }
            }
        }
    }

    /// Starts the next queued item at `at`; false when there is none.
    fn start_next(&mut self, at: f64) -> bool {
        let Some(item) = self.queued.pop_front() else {
            return false;
        };
        let (secs, exit_v2) = timing(item, self.exit_v2, self.queued.front());
        self.exit_v2 = exit_v2;
        self.running = Some(Running {
            ends_at: at + secs,
            is_move: matches!(item, Item::Move(_)),
        });
        true
    }

    /// The backward pass: each queued move's best entry speed, given that the machine must be
    /// able to stop after the last one and at every pause.
    fn replan(&mut self) {
        let mut next_entry_v2 = 0.0;
        for item in self.queued.iter_mut().rev() {
            match item {
                Item::Move(block) => {
                    block.entry_v2 = block.max_entry_v2.min(block.reachable_v2(next_entry_v2));
                    next_entry_v2 = block.entry_v2;
                }
                Item::Pause(_) => next_entry_v2 = 0.0,
            }
        }
    }

    /// When each item now in the buffer will end, the running one first, as planned now.
    fn projected_ends(&self) -> impl Iterator<Item = f64> + '_ {
        let mut at = self.running.map_or(self.now, |r| r.ends_at);
        let mut exit_v2 = self.exit_v2;
        let running = self.running.map(|r| r.ends_at);
        running
            .into_iter()
            .chain((0..self.queued.len()).map(move |i| {
                let (secs, exit) = timing(self.queued[i], exit_v2, self.queued.get(i + 1));
                exit_v2 = exit;
                at += secs;
                at
            }))
    }

    /// When the buffer has room for one more item.
    fn room_at(&self) -> f64 {
        let held = self.queued.len() + usize::from(self.running.is_some());
        if held < self.capacity {
            return self.now;
        }
        // Items beyond capacity - 1 must end first.
        self.projected_ends()
            .nth(held - self.capacity)
            .unwrap_or(self.now)
    }

    /// When everything in the buffer has been executed.
    fn idle_at(&self) -> f64 {
        self.projected_ends()
            .last()
            .unwrap_or(self.now)
            .max(self.now)
    }

    /// Moves the clock to `now` (never back) and executes what has ended by then; returns
    /// the clock.
    fn catch_up(&mut self, now: f64) -> f64 {
        self.now = self.now.max(now);
        let now = self.now;
        self.advance(now);
        now
    }

    /// Waits, as the command bringing the next item does, until the buffer has room for it.
    fn wait_for_room(&mut self) {
        let room = self.room_at();
        self.catch_up(room);
    }

    fn push(&mut self, item: Item) {
        self.queued.push_back(item);
        self.replan();
        if self.running.is_none() {
            self.start_next(self.now);
        }
    }
}

/// How long `item` takes entered at `entry_v2`, and the squared speed it leaves at, given the
/// item after it.
fn timing(item: Item, entry_v2: f64, next: Option<&Item>) -> (f64, f64) {
    match item {
        Item::Pause(secs) => (secs, 0.0),
        Item::Move(block) => {
            let exit_limit = match next {
                Some(Item::Move(next)) => next.entry_v2,
                Some(Item::Pause(_)) | None => 0.0,
            };
            let entry_v2 = entry_v2.min(block.max_entry_v2.max(0.0));
            let exit_v2 = exit_limit.min(block.reachable_v2(entry_v2));
            let secs = trapezoid_secs(
                block.length,
                block.accel,
                block.nominal_v2,
                entry_v2,
                exit_v2,
            );
            (secs, exit_v2)
        }
    }
}

impl Kinematics for Buffer {
    fn shaper(&mut self) -> &mut Shaper {
        &mut self.shaper
    }

    fn block(&mut self, block: Block) {
        if self.untimed {
            return;
        }
        self.wait_for_room();
        self.push(Item::Move(block));
        self.done_at = self.now;
    }

    fn pause(&mut self, secs: f64) {
        if self.untimed {
            return;
        }
        let secs = if secs.is_finite() { secs.max(0.0) } else { 0.0 };
        self.wait_for_room();
        self.shaper.stop();
        self.push(Item::Pause(secs));
        self.done_at = self.idle_at();
    }
}

/// A firmware's motion system on a clock: follows G-code lines as they are executed and says
/// when each command is done, moving with the same limits, accelerations and junction speeds
/// as the analysis' print-time estimate.
///
/// The clock is the caller's, in seconds; it must not go backwards between calls.
#[derive(Debug)]
pub struct Motion {
    machine: Machine<Buffer>,
}

impl Motion {
    /// A machine at rest at the origin, with the analysis' default limits, whose planner holds
    /// `blocks` moves ([`MARLIN_BLOCKS`] for Marlin).
    pub fn new(blocks: usize) -> Motion {
        let mut machine = Machine::<Buffer>::default();
        machine.planner = Buffer::new(blocks);
        Motion { machine }
    }

    /// A machine whose commands all take no time: it follows positions and modes only (a
    /// simulated printer at infinite speed), at a fraction of the cost.
    pub fn untimed() -> Motion {
        let mut motion = Motion::new(MARLIN_BLOCKS);
        motion.machine.planner.untimed = true;
        motion
    }

    /// Follows one G-code line (without line number or checksum, or with: both are ignored)
    /// that the firmware takes up at `now`, and returns when the firmware is done with it: at
    /// once for most commands; for a move, when the planner has room for it; for `G4`, `G28`
    /// and `M400`, when the motion before has ended (and the dwell or homing with it).
    pub fn command(&mut self, line: &str, now: f64) -> f64 {
        let buffer = &mut self.machine.planner;
        buffer.done_at = buffer.catch_up(now);
        match classify(line.as_bytes()) {
            Line::Command {
                letter: b'M',
                code: 400,
                ..
            } => return self.machine.planner.idle_at(),
            Line::Command {
                letter,
                code,
                params,
            } => self.machine.command(letter, code, params),
            Line::Other(text) => self.machine.extended(text),
            Line::Blank | Line::Comment(_) => {}
        }
        self.machine.planner.done_at
    }

    /// When all the motion planned by `now` has ended.
    pub fn idle_at(&mut self, now: f64) -> f64 {
        let buffer = &mut self.machine.planner;
        buffer.catch_up(now);
        buffer.idle_at()
    }

    /// Free planner blocks at `now` (what Marlin's ADVANCED_OK reports as `P`).
    pub fn free_blocks(&mut self, now: f64) -> usize {
        let buffer = &mut self.machine.planner;
        buffer.catch_up(now);
        // A dwell or homing waits for the planner to empty; it holds no block itself.
        let moves = buffer
            .queued
            .iter()
            .filter(|item| matches!(item, Item::Move(_)))
            .count();
        let running = buffer.running.is_some_and(|r| r.is_move);
        buffer.capacity.saturating_sub(moves + usize::from(running))
    }

    /// The logical position X, Y, Z, E in mm (where the last command leaves the machine).
    pub fn position(&self) -> [f64; 4] {
        self.machine.position()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analyse;

    /// Feeds `text` as a host that sends the next line the moment the last is done, and
    /// returns when the last motion ends.
    fn print_time(text: &str) -> f64 {
        let mut motion = Motion::new(MARLIN_BLOCKS);
        let mut now = 0.0;
        for line in text.lines() {
            now = motion.command(line, now);
        }
        motion.idle_at(now)
    }

    fn estimate(text: &str) -> f64 {
        analyse(text.as_bytes()).unwrap().model_print_secs.unwrap()
    }

    #[test]
    fn one_move_takes_its_trapezoid() {
        // 100 mm at 100 mm/s, 1000 mm/s²: 1.1 s, as the analysis says.
        let t = print_time("G1 X100 F6000\n");
        assert!((t - 1.1).abs() < 1e-9, "{t}");
    }

    #[test]
    fn zig_zags_take_the_estimated_time() {
        let mut text = String::from("M204 S500\nG1 F6000\n");
        for i in 0..200 {
            text.push_str(&format!("G1 X{} Y{}\n", if i % 2 == 0 { 2 } else { 0 }, i));
        }
        let (t, e) = (print_time(&text), estimate(&text));
        assert!((t - e).abs() / e < 0.01, "printed {t} s, estimated {e} s");
    }

    #[test]
    fn a_full_buffer_makes_the_command_wait() {
        let mut motion = Motion::new(4);
        let mut done = Vec::new();
        for i in 1..=6 {
            done.push(motion.command(&format!("G1 X{}", i * 100), 0.0));
        }
        // Three moves fit with the one running; the fifth waits for the first to end.
        assert_eq!(&done[..4], &[0.0; 4]);
        assert!(done[4] > 0.0 && done[5] > done[4], "{done:?}");
        assert_eq!(motion.position(), [600.0, 0.0, 0.0, 0.0]);
    }

    #[test]
    fn untimed_motion_follows_positions_only() {
        let mut motion = Motion::untimed();
        for line in ["G91", "G1 X10 E1 F100", "G1 X10 E1", "G4 S60", "G28 Y"] {
            assert_eq!(motion.command(line, 0.0), 0.0, "{line}");
        }
        assert_eq!(motion.position(), [20.0, 0.0, 0.0, 2.0]);
        assert_eq!(motion.idle_at(0.0), 0.0);
    }

    #[test]
    fn dwell_homing_and_m400_wait_for_motion() {
        let mut motion = Motion::new(MARLIN_BLOCKS);
        assert_eq!(motion.command("G1 X100 F6000", 0.0), 0.0);
        let m400 = motion.command("M400", 0.0);
        assert!((m400 - 1.1).abs() < 1e-9, "{m400}");
        let dwell = motion.command("G4 P500", 0.0);
        assert!((dwell - 1.6).abs() < 1e-9, "{dwell}");
        let later = motion.command("M105", 5.0);
        assert_eq!(later, 5.0);
        assert_eq!(motion.free_blocks(5.0), MARLIN_BLOCKS);
    }
}
