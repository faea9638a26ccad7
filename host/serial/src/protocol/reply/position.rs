//! The M114 position report.

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

/// M114: `X:62.417 Y:64.781 Z:0.2 E:2.72328 Count: A:6241 B:6478 C:20`. Only the logical
/// position before `Count` matters; after it come stepper counts in axis-like letters.
pub(super) fn parse_position(line: &str) -> Option<Position> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::reply::{parse, Reply};

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
}
