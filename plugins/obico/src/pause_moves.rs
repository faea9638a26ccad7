//! The moves a pause from the server asks for, as the Obico agents make them: retract the
//! filament, lift the nozzle off the print, and turn the heaters off (`args` of the command:
//! `retract`, `lift_z`, `tools_off`, `bed_off`, from the printer's settings on the server). A
//! resume from the server undoes them in reverse order before the print goes on: heaters back to
//! their targets (waiting for them), nozzle down, filament primed.

use printfarm_sdk::{log, printers};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The largest retraction and lift taken from the server (mm): a bad setting must not grind
/// filament or crash the head into the top of the frame.
const MAX_RETRACT_MM: f64 = 20.0;
const MAX_LIFT_MM: f64 = 50.0;

/// What a pause changed.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct PauseMoves {
    /// Millimetres of filament retracted.
    pub retract_mm: f64,
    /// Millimetres the nozzle was lifted.
    pub lift_mm: f64,
    /// Heaters turned off, with the targets to restore (`tool0`, `bed`).
    pub heaters: Vec<(String, f64)>,
}

fn number(args: &Value, name: &str, max: f64) -> f64 {
    args.get(name)
        .and_then(Value::as_f64)
        .filter(|v| v.is_finite() && *v > 0.0)
        .map(|v| v.min(max))
        .unwrap_or(0.0)
}

/// The G-code that makes the moves of a pause.
pub fn pause_gcode(moves: &PauseMoves) -> Vec<String> {
    let mut gcode = Vec::new();
    if moves.retract_mm > 0.0 || moves.lift_mm > 0.0 {
        gcode.push("G91".to_string());
        if moves.retract_mm > 0.0 {
            gcode.push(format!("G1 E-{:.2} F2400", moves.retract_mm));
        }
        if moves.lift_mm > 0.0 {
            gcode.push(format!("G1 Z{:.2} F600", moves.lift_mm));
        }
        gcode.push("G90".to_string());
    }
    for (heater, _) in &moves.heaters {
        gcode.push(heater_gcode(heater, 0.0, false));
    }
    gcode
}

/// The G-code that undoes them, heaters first (waiting until they are hot again).
pub fn resume_gcode(moves: &PauseMoves) -> Vec<String> {
    let mut gcode: Vec<String> = moves
        .heaters
        .iter()
        .map(|(heater, target)| heater_gcode(heater, *target, true))
        .collect();
    if moves.retract_mm > 0.0 || moves.lift_mm > 0.0 {
        gcode.push("G91".to_string());
        if moves.lift_mm > 0.0 {
            gcode.push(format!("G1 Z-{:.2} F600", moves.lift_mm));
        }
        if moves.retract_mm > 0.0 {
            gcode.push(format!("G1 E{:.2} F2400", moves.retract_mm));
        }
        gcode.push("G90".to_string());
    }
    gcode
}

fn heater_gcode(heater: &str, target: f64, wait: bool) -> String {
    if heater == "bed" {
        format!("{} S{target:.0}", if wait { "M190" } else { "M140" })
    } else {
        let tool = heater.trim_start_matches("tool");
        format!(
            "{} T{tool} S{target:.0}",
            if wait { "M109" } else { "M104" }
        )
    }
}

/// What the pause's `args` ask for, given the printer's current heater targets.
pub fn plan(args: &Value, temperatures: &[printers::Temperature]) -> PauseMoves {
    let flag = |name: &str| args.get(name).and_then(Value::as_bool).unwrap_or(false);
    let heaters = temperatures
        .iter()
        .filter_map(|t| Some((t.sensor.clone(), t.target.filter(|v| *v > 0.0)?)))
        .filter(|(sensor, _)| {
            (flag("tools_off") && sensor.starts_with("tool"))
                || (flag("bed_off") && sensor == "bed")
        })
        .collect();
    PauseMoves {
        retract_mm: number(args, "retract", MAX_RETRACT_MM),
        lift_mm: number(args, "lift_z", MAX_LIFT_MM),
        heaters,
    }
}

/// Makes the moves of a pause that was accepted; `None` when there were none to make.
pub fn after_pause(printer: &str, args: &Value) -> Option<PauseMoves> {
    let temperatures = printers::get(printer)
        .map(|i| i.temperatures)
        .unwrap_or_default();
    let moves = plan(args, &temperatures);
    let gcode = pause_gcode(&moves);
    if gcode.is_empty() {
        return None;
    }
    match printers::send_commands(printer, &gcode) {
        Ok(()) => Some(moves),
        Err(e) => {
            log::warn(&format!(
                "printer {printer}: the pause moves the Obico server asked for failed: {e}"
            ));
            None
        }
    }
}

/// Undoes a pause's moves before resuming.
pub fn before_resume(printer: &str, moves: &PauseMoves) {
    if let Err(e) = printers::send_commands(printer, resume_gcode(moves)) {
        log::warn(&format!(
            "printer {printer}: undoing the pause moves failed: {e}"
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn temps() -> Vec<printers::Temperature> {
        vec![
            printers::Temperature {
                sensor: "tool0".into(),
                actual: 210.0,
                target: Some(215.0),
            },
            printers::Temperature {
                sensor: "bed".into(),
                actual: 60.0,
                target: Some(60.0),
            },
        ]
    }

    #[test]
    fn the_server_settings_become_moves_and_their_undoing() {
        let moves = plan(
            &json!({"retract": 6.5, "lift_z": 2.5, "tools_off": true, "bed_off": false}),
            &temps(),
        );
        assert_eq!(
            pause_gcode(&moves),
            [
                "G91",
                "G1 E-6.50 F2400",
                "G1 Z2.50 F600",
                "G90",
                "M104 T0 S0"
            ]
        );
        assert_eq!(
            resume_gcode(&moves),
            [
                "M109 T0 S215",
                "G91",
                "G1 Z-2.50 F600",
                "G1 E6.50 F2400",
                "G90"
            ]
        );
    }

    #[test]
    fn absurd_or_missing_settings_make_no_wild_moves() {
        let moves = plan(
            &json!({"retract": 500, "lift_z": -3, "bed_off": true}),
            &temps(),
        );
        assert_eq!(moves.retract_mm, MAX_RETRACT_MM);
        assert_eq!(moves.lift_mm, 0.0);
        assert_eq!(moves.heaters, vec![("bed".to_string(), 60.0)]);
        assert!(pause_gcode(&plan(&Value::Null, &temps())).is_empty());
    }
}
