//! Which commands may legitimately keep the firmware silent for long.

/// Commands that run for long without an `ok`: dwell, homing, probing and levelling, waiting
/// for moves, for user input, for filament change, and heat-and-wait.
const LONG_RUNNING: &[(u8, u16)] = &[
    (b'G', 4),
    (b'G', 28),
    (b'G', 29),
    (b'G', 30),
    (b'G', 32),
    (b'G', 33),
    (b'G', 34),
    (b'G', 35),
    (b'M', 0),
    (b'M', 1),
    (b'M', 109),
    (b'M', 190),
    (b'M', 191),
    (b'M', 226),
    (b'M', 303),
    (b'M', 400),
    (b'M', 600),
    (b'M', 701),
    (b'M', 702),
    (b'M', 1002),
];

/// Whether a command (without line number) is one that may take minutes.
///
/// Asked for every line streamed, so it reads the command word's letter and number directly
/// instead of comparing the word with each entry as text.
pub fn is_long_running(command: &str) -> bool {
    let bytes = command.trim_ascii_start().as_bytes();
    let end = bytes
        .iter()
        .position(u8::is_ascii_whitespace)
        .unwrap_or(bytes.len());
    let word = &bytes[..end];
    let Some((&letter, digits)) = word.split_first() else {
        return false;
    };
    // At most four digits: every code in the list fits, and longer words (`M10900`) match none.
    if digits.is_empty() || digits.len() > 4 || !digits.iter().all(u8::is_ascii_digit) {
        return false;
    }
    let number = digits
        .iter()
        .fold(0u16, |n, d| n * 10 + u16::from(d - b'0'));
    let letter = letter.to_ascii_uppercase();
    LONG_RUNNING.contains(&(letter, number))
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
            "G04 P500",
            "  M0 wait",
        ] {
            assert!(is_long_running(command), "{command}");
        }
        for command in [
            "G1 X10",
            "M104 S200",
            "G280",
            "M1090",
            "M10900",
            "M105",
            "G28.1",
            "T0",
            "G",
            "",
        ] {
            assert!(!is_long_running(command), "{command}");
        }
    }
}
