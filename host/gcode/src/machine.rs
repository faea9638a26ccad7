//! The interpreter: follows the commands that move the machine, keeping its position and modes,
//! and derives filament use, the printed volume's bounds, Z layers, and (through the
//! [`Planner`]) the time the moves take.

use crate::analysis::Bounds;
use crate::kinematics::{Kinematics, Planner};
use crate::parse::{key_values, Words};

/// Tools above this index are ignored: a hostile `T4000000000` must not size a vector.
const MAX_TOOLS: usize = 64;
/// Feedrate in mm/s until the file sets one.
const DEFAULT_FEED: f64 = 50.0;
/// Seconds allowed for one G28: homing speed is a firmware setting the file does not carry.
pub(crate) const HOMING_SECS: f64 = 10.0;
/// Z steps smaller than this (mm) are not a new layer.
const LAYER_EPSILON: f64 = 1e-4;

const X: usize = 0;
const Y: usize = 1;
const Z: usize = 2;
const E: usize = 3;

/// Machine state and what has been learnt from the moves so far; `K` times the moves (the
/// analysis' [`Planner`] by default).
#[derive(Debug)]
pub(crate) struct Machine<K = Planner> {
    /// Logical position X, Y, Z, E in mm (after G92 offsets, as the file sees it).
    pos: [f64; 4],
    /// G91: X, Y, Z (and E) are relative.
    relative: bool,
    /// M83: E is relative even under G90.
    relative_e: bool,
    /// mm per file unit: 1, or 25.4 after G20.
    unit: f64,
    /// Feedrate in mm/s.
    feed: f64,
    tool: usize,
    /// Net extrusion per tool, in mm of filament.
    net_e: Vec<f64>,
    min: [f64; 3],
    max: [f64; 3],
    printed: bool,
    layer_z: f64,
    z_layers: u32,
    /// The time model, fed every move.
    pub(crate) planner: K,
}

impl<K: Default> Default for Machine<K> {
    fn default() -> Self {
        Machine {
            pos: [0.0; 4],
            relative: false,
            relative_e: false,
            unit: 1.0,
            feed: DEFAULT_FEED,
            tool: 0,
            net_e: Vec::new(),
            min: [f64::INFINITY; 3],
            max: [f64::NEG_INFINITY; 3],
            printed: false,
            layer_z: f64::NEG_INFINITY,
            z_layers: 0,
            planner: K::default(),
        }
    }
}

impl<K: Kinematics> Machine<K> {
    /// Follows one `G`/`M`/`T` command; commands that do not move or configure motion are
    /// ignored.
    pub(crate) fn command(&mut self, letter: u8, code: u32, params: &[u8]) {
        match (letter, code) {
            (b'G', 0 | 1) => self.linear(params),
            (b'G', 2) => self.arc(params, true),
            (b'G', 3) => self.arc(params, false),
            (b'G', 4) => self.dwell(params),
            (b'G', 20) => self.unit = 25.4,
            (b'G', 21) => self.unit = 1.0,
            (b'G', 28) => self.home(params),
            (b'G', 90) => self.relative = false,
            (b'G', 91) => self.relative = true,
            (b'G', 92) => self.set_position(params),
            (b'M', 82) => self.relative_e = false,
            (b'M', 83) => self.relative_e = true,
            (b'M', 201) => self.max_accel(params),
            (b'M', 203) => self.max_speed(params),
            (b'M', 204) => self.accel(params),
            (b'T', tool) if (tool as usize) < MAX_TOOLS => self.tool = tool as usize,
            _ => {}
        }
    }

    /// Follows an extended (Klipper) command line such as `SET_VELOCITY_LIMIT ACCEL=5000`.
    pub(crate) fn extended(&mut self, line: &[u8]) {
        let name_end = line
            .iter()
            .position(|b| b.is_ascii_whitespace())
            .unwrap_or(line.len());
        let (name, params) = line.split_at(name_end);
        if !name.eq_ignore_ascii_case(b"SET_VELOCITY_LIMIT") {
            return;
        }
        let limits = &mut self.planner.shaper().limits;
        for (key, value) in key_values(params) {
            let Some(v) = value.filter(|v| *v > 0.0) else {
                continue;
            };
            if key.eq_ignore_ascii_case(b"ACCEL") {
                limits.print_accel = v;
                limits.travel_accel = v;
                limits.retract_accel = v;
            } else if key.eq_ignore_ascii_case(b"VELOCITY") {
                limits.max_velocity = v;
            } else if key.eq_ignore_ascii_case(b"SQUARE_CORNER_VELOCITY") {
                limits.square_corner_velocity = v;
            }
        }
    }

    /// Net filament per tool, trailing tools that never extruded dropped.
    pub(crate) fn filament_mm(&self) -> Vec<f64> {
        let mut out: Vec<f64> = self.net_e.iter().map(|e| e.max(0.0)).collect();
        while out.last() == Some(&0.0) {
            out.pop();
        }
        out
    }

    /// The box around every extruding move.
    pub(crate) fn bounds(&self) -> Option<Bounds> {
        self.printed.then(|| Bounds {
            min_x: self.min[X],
            min_y: self.min[Y],
            min_z: self.min[Z],
            max_x: self.max[X],
            max_y: self.max[Y],
            max_z: self.max[Z],
        })
    }

    /// The logical position X, Y, Z, E in mm.
    pub(crate) fn position(&self) -> [f64; 4] {
        self.pos
    }

    /// A straight move by `delta` at the current feedrate.
    fn move_line(&mut self, delta: [f64; 4]) {
        let feed = self.feed;
        if let Some(block) = self.planner.shaper().line(delta, feed) {
            self.planner.block(block);
        }
    }

    /// Distinct increasing Z heights at which something was extruded.
    pub(crate) fn z_layers(&self) -> u32 {
        self.z_layers
    }

    fn linear(&mut self, params: &[u8]) {
        let mut target = self.pos;
        let mut moved = false;
        for (letter, value) in Words::new(params) {
            let Some(v) = value else { continue };
            match letter {
                b'X' => moved |= self.axis(&mut target, X, v),
                b'Y' => moved |= self.axis(&mut target, Y, v),
                b'Z' => moved |= self.axis(&mut target, Z, v),
                b'E' => moved |= self.axis(&mut target, E, v),
                b'F' => self.set_feed(v),
                _ => {}
            }
        }
        if !moved {
            return;
        }
        let delta = [
            target[X] - self.pos[X],
            target[Y] - self.pos[Y],
            target[Z] - self.pos[Z],
            target[E] - self.pos[E],
        ];
        self.extrude(delta[E]);
        // Printing is extruding while moving in XY; extruding on the spot or along Z alone is
        // priming, which shapes nothing.
        if delta[E] > 0.0 && (delta[X] != 0.0 || delta[Y] != 0.0) {
            self.include(self.pos);
            self.include(target);
            self.layer(target[Z]);
        }
        self.move_line(delta);
        self.pos = target;
    }

    /// G2 (clockwise) / G3 in the XY plane, centre given by I/J offsets or radius R.
    fn arc(&mut self, params: &[u8], clockwise: bool) {
        let mut target = self.pos;
        let (mut i, mut j, mut r) = (None, None, None);
        for (letter, value) in Words::new(params) {
            let Some(v) = value else { continue };
            match letter {
                b'X' => _ = self.axis(&mut target, X, v),
                b'Y' => _ = self.axis(&mut target, Y, v),
                b'Z' => _ = self.axis(&mut target, Z, v),
                b'E' => _ = self.axis(&mut target, E, v),
                b'I' => i = Some(v * self.unit),
                b'J' => j = Some(v * self.unit),
                b'R' => r = Some(v * self.unit),
                b'F' => self.set_feed(v),
                _ => {}
            }
        }
        let start = self.pos;
        let (sx, sy) = (start[X], start[Y]);
        let (ex, ey) = (target[X], target[Y]);
        let centre = if i.is_some() || j.is_some() {
            Some((sx + i.unwrap_or(0.0), sy + j.unwrap_or(0.0)))
        } else {
            r.and_then(|r| centre_from_radius(sx, sy, ex, ey, r, clockwise))
        };
        let de = target[E] - start[E];
        let dz = target[Z] - start[Z];
        let Some((cx, cy)) = centre else {
            // No usable centre: firmware would reject it; treat it as the straight move it ends
            // up at rather than losing the position.
            let delta = [ex - sx, ey - sy, dz, de];
            self.extrude(de);
            self.move_line(delta);
            self.pos = target;
            return;
        };
        let radius = ((sx - cx).powi(2) + (sy - cy).powi(2)).sqrt();
        let a0 = (sy - cy).atan2(sx - cx);
        let a1 = (ey - cy).atan2(ex - cx);
        // Sweep in the arc's direction; equal start and end with I/J is a full circle.
        let tau = std::f64::consts::TAU;
        let mut sweep = if clockwise { a0 - a1 } else { a1 - a0 };
        if sweep <= 1e-9 {
            sweep += tau;
        }
        let planar = radius * sweep;
        let length = (planar * planar + dz * dz).sqrt();
        let tangent = |angle: f64| {
            let (s, c) = angle.sin_cos();
            let (tx, ty) = if clockwise { (s, -c) } else { (-s, c) };
            let scale = if length > 0.0 { planar / length } else { 1.0 };
            [
                tx * scale,
                ty * scale,
                if length > 0.0 { dz / length } else { 0.0 },
            ]
        };
        self.extrude(de);
        if de > 0.0 && length > 0.0 {
            self.include(start);
            self.include(target);
            // The arc bulges past its end points where it crosses the axes through its centre.
            let extremes = [(1.0, 0.0), (0.0, 1.0), (-1.0, 0.0), (0.0, -1.0)];
            for (quarter, (ux, uy)) in extremes.into_iter().enumerate() {
                let angle = quarter as f64 * tau / 4.0;
                let from_start = if clockwise { a0 - angle } else { angle - a0 };
                if from_start.rem_euclid(tau) < sweep {
                    let mut p = target;
                    p[X] = cx + radius * ux;
                    p[Y] = cy + radius * uy;
                    self.include(p);
                }
            }
            self.layer(target[Z]);
        }
        let feed = self.feed;
        if let Some(block) =
            self.planner
                .shaper()
                .arc(length, radius, tangent(a0), tangent(a1), de, feed)
        {
            self.planner.block(block);
        }
        self.pos = target;
    }

    fn dwell(&mut self, params: &[u8]) {
        let mut secs = 0.0;
        for (letter, value) in Words::new(params) {
            match (letter, value) {
                (b'P', Some(ms)) => secs = ms / 1000.0,
                (b'S', Some(s)) => secs = s,
                _ => {}
            }
        }
        self.planner.pause(secs);
    }

    fn home(&mut self, params: &[u8]) {
        let mut axes = [false; 3];
        let mut any = false;
        for (letter, _) in Words::new(params) {
            if let Some(axis) = [b'X', b'Y', b'Z'].iter().position(|&l| l == letter) {
                axes[axis] = true;
                any = true;
            }
        }
        // Homed axes are at 0 (the usual endstop position); without axis words all are homed.
        for (axis, homed) in axes.iter().enumerate() {
            if *homed || !any {
                self.pos[axis] = 0.0;
            }
        }
        self.planner.pause(HOMING_SECS);
    }

    fn set_position(&mut self, params: &[u8]) {
        let mut any = false;
        for (letter, value) in Words::new(params) {
            let axis = match letter {
                b'X' => X,
                b'Y' => Y,
                b'Z' => Z,
                b'E' => E,
                _ => continue,
            };
            any = true;
            self.pos[axis] = value.unwrap_or(0.0) * self.unit;
        }
        if !any {
            self.pos = [0.0; 4];
        }
    }

    fn max_accel(&mut self, params: &[u8]) {
        for (axis, v) in axis_values(params) {
            self.planner.shaper().limits.max_accel[axis] = v;
        }
    }

    fn max_speed(&mut self, params: &[u8]) {
        // M203 is in units per second, unlike F.
        for (axis, v) in axis_values(params) {
            self.planner.shaper().limits.max_speed[axis] = v * self.unit;
        }
    }

    fn accel(&mut self, params: &[u8]) {
        let limits = &mut self.planner.shaper().limits;
        for (letter, value) in Words::new(params) {
            let Some(v) = value.filter(|v| *v > 0.0) else {
                continue;
            };
            match letter {
                // Legacy S sets print and travel acceleration alike (Marlin; Klipper's only form).
                b'S' => {
                    limits.print_accel = v;
                    limits.travel_accel = v;
                }
                b'P' => limits.print_accel = v,
                b'T' => limits.travel_accel = v,
                b'R' => limits.retract_accel = v,
                _ => {}
            }
        }
    }

    /// Applies one axis word to `target`; true when it names the axis (even without moving it).
    fn axis(&self, target: &mut [f64; 4], axis: usize, value: f64) -> bool {
        let v = value * self.unit;
        let relative = if axis == E {
            self.relative || self.relative_e
        } else {
            self.relative
        };
        target[axis] = if relative { self.pos[axis] + v } else { v };
        true
    }

    fn set_feed(&mut self, f: f64) {
        // F is per minute; F0 is meaningless for a move and firmware keeps the last feedrate.
        if f > 0.0 {
            self.feed = f * self.unit / 60.0;
        }
    }

    /// Accounts E motion to the active tool. Retractions are negative and cancel against the
    /// re-priming that follows, so the sum is the filament actually used, as slicers count it.
    fn extrude(&mut self, de: f64) {
        if de == 0.0 {
            return;
        }
        if self.net_e.len() <= self.tool {
            self.net_e.resize(self.tool + 1, 0.0);
        }
        self.net_e[self.tool] += de;
    }

    fn include(&mut self, p: [f64; 4]) {
        for axis in [X, Y, Z] {
            self.min[axis] = self.min[axis].min(p[axis]);
            self.max[axis] = self.max[axis].max(p[axis]);
        }
        self.printed = true;
    }

    fn layer(&mut self, z: f64) {
        if z > self.layer_z + LAYER_EPSILON {
            self.layer_z = z;
            self.z_layers += 1;
        }
    }
}

/// The X, Y, Z, E words of a limit command with positive values, as axis indices.
fn axis_values(params: &[u8]) -> impl Iterator<Item = (usize, f64)> + '_ {
    Words::new(params).filter_map(|(letter, value)| {
        let axis = match letter {
            b'X' => X,
            b'Y' => Y,
            b'Z' => Z,
            b'E' => E,
            _ => return None,
        };
        value.filter(|v| *v > 0.0).map(|v| (axis, v))
    })
}

/// The centre of an arc given by its radius (negative R: the longer of the two arcs).
fn centre_from_radius(
    sx: f64,
    sy: f64,
    ex: f64,
    ey: f64,
    r: f64,
    clockwise: bool,
) -> Option<(f64, f64)> {
    let (dx, dy) = (ex - sx, ey - sy);
    let chord = (dx * dx + dy * dy).sqrt();
    if chord == 0.0 || r.abs() < chord / 2.0 - 1e-9 {
        return None;
    }
    let h = (r * r - chord * chord / 4.0).max(0.0).sqrt();
    let (mx, my) = (sx + dx / 2.0, sy + dy / 2.0);
    // Unit normal to the chord, on the side that makes the arc turn the right way.
    let (nx, ny) = (-dy / chord, dx / chord);
    let side = if clockwise == (r > 0.0) { -1.0 } else { 1.0 };
    Some((mx + side * h * nx, my + side * h * ny))
}
