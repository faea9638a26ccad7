//! The G-code behind the printer operations clients ask for: temperatures, jogging, homing.

use crate::engine::ControlError;

/// A jog request.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Jog {
    /// X in mm.
    pub x: Option<f64>,
    /// Y in mm.
    pub y: Option<f64>,
    /// Z in mm.
    pub z: Option<f64>,
    /// Move to the coordinates instead of by them.
    pub absolute: bool,
    /// Feed rate in mm/min.
    pub speed: Option<f64>,
}

/// `M104 T<n> S<t>` for a tool, `M140` for the bed, `M141` for the chamber.
pub fn set_temperature(heater: &str, target: f64) -> Result<String, ControlError> {
    if !target.is_finite() || !(0.0..=500.0).contains(&target) {
        return Err(ControlError::Invalid(format!(
            "temperature {target} is out of range; use 0 to 500 °C"
        )));
    }
    if let Some(tool) = heater.strip_prefix("tool") {
        let tool: u8 = tool.parse().map_err(|_| {
            ControlError::Invalid(format!(
                "unknown heater `{heater}`; use tool0, tool1, …, bed or chamber"
            ))
        })?;
        return Ok(format!("M104 T{tool} S{target}"));
    }
    match heater {
        "bed" => Ok(format!("M140 S{target}")),
        "chamber" => Ok(format!("M141 S{target}")),
        _ => Err(ControlError::Invalid(format!(
            "unknown heater `{heater}`; use tool0, tool1, …, bed or chamber"
        ))),
    }
}

/// Relative jogs are wrapped in `G91` … `G90` so the printer stays in absolute mode.
pub fn jog(jog: &Jog) -> Vec<String> {
    let mut moves = String::from("G1");
    for (axis, value) in [("X", jog.x), ("Y", jog.y), ("Z", jog.z)] {
        if let Some(value) = value {
            moves.push_str(&format!(" {axis}{value}"));
        }
    }
    if let Some(speed) = jog.speed {
        moves.push_str(&format!(" F{speed}"));
    }
    if jog.absolute {
        vec!["G90".into(), moves]
    } else {
        vec!["G91".into(), moves, "G90".into()]
    }
}

/// `G28` with the given axes.
pub fn home(axes: &[String]) -> Result<String, ControlError> {
    let mut line = String::from("G28");
    for axis in axes {
        match axis.to_ascii_lowercase().as_str() {
            "x" | "y" | "z" => line.push_str(&format!(" {}", axis.to_ascii_uppercase())),
            _ => {
                return Err(ControlError::Invalid(format!(
                    "unknown axis `{axis}`; use x, y or z"
                )))
            }
        }
    }
    Ok(line)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_the_gcode_clients_ask_for() {
        assert_eq!(set_temperature("tool1", 210.0).unwrap(), "M104 T1 S210");
        assert_eq!(set_temperature("bed", 60.5).unwrap(), "M140 S60.5");
        assert!(set_temperature("nozzle", 200.0).is_err());
        assert!(set_temperature("bed", -5.0).is_err());
        let relative = jog(&Jog {
            x: Some(10.0),
            z: Some(-0.5),
            speed: Some(3000.0),
            ..Jog::default()
        });
        assert_eq!(relative, ["G91", "G1 X10 Z-0.5 F3000", "G90"]);
        assert_eq!(home(&["x".into(), "Y".into()]).unwrap(), "G28 X Y");
        assert_eq!(home(&[]).unwrap(), "G28");
        assert!(home(&["e".into()]).is_err());
    }
}
