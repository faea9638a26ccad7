//! Which commands may legitimately keep the firmware silent for long.

/// Commands that run for long without an `ok`: dwell, homing, probing and levelling, waiting
/// for moves, for user input, for filament change, and heat-and-wait.
const LONG_RUNNING: &[&str] = &[
    "G4", "G28", "G29", "G30", "G32", "G33", "G34", "G35", "M0", "M1", "M109", "M190", "M191",
    "M226", "M303", "M400", "M600", "M701", "M702", "M1002",
];

/// Whether a command (without line number) is one that may take minutes.
pub fn is_long_running(command: &str) -> bool {
    let code = command.split_ascii_whitespace().next().unwrap_or("");
    LONG_RUNNING
        .iter()
        .any(|long| code.eq_ignore_ascii_case(long))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn knows_the_long_running_commands() {
        for command in [
            "G28",
            "G29 T",
            "M109 S210",
            "M190 S60",
            "M400",
            "M600",
            "g4 P500",
        ] {
            assert!(is_long_running(command), "{command}");
        }
        for command in ["G1 X10", "M104 S200", "G280", "M1090", "M105", ""] {
            assert!(!is_long_running(command), "{command}");
        }
    }
}
