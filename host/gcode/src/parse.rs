//! Byte-level parsing of one G-code line: no allocation, no UTF-8 validation, because this runs
//! for every one of the millions of lines in a file.

/// What one line of a G-code file holds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Line<'a> {
    /// Nothing but whitespace.
    Blank,
    /// A whole-line comment: the text after the `;`.
    Comment(&'a [u8]),
    /// A command word such as `G1` or `M204` (letter upper-cased) and the rest of the line with
    /// any trailing comment or checksum removed.
    Command {
        letter: u8,
        code: u32,
        params: &'a [u8],
    },
    /// Something else with content, e.g. a Klipper macro `SET_VELOCITY_LIMIT ACCEL=500`: the
    /// line with any trailing comment removed.
    Other(&'a [u8]),
}

/// Classifies one line (without its line terminator).
pub(crate) fn classify(line: &[u8]) -> Line<'_> {
    let mut s = trim_start(line);
    if s.is_empty() {
        return Line::Blank;
    }
    if s[0] == b';' {
        return Line::Comment(&s[1..]);
    }
    // A line number (`N123 G1 …`) is part of the host protocol, not of the command.
    if (s[0] == b'N' || s[0] == b'n') && s.len() > 1 && s[1].is_ascii_digit() {
        let digits = s[1..].iter().take_while(|b| b.is_ascii_digit()).count();
        s = trim_start(&s[1 + digits..]);
    }
    // The code ends at a comment (`;` or `(`) or a checksum (`*`).
    let end = s
        .iter()
        .position(|&b| b == b';' || b == b'*' || b == b'(')
        .unwrap_or(s.len());
    let s = trim_end(&s[..end]);
    if s.is_empty() {
        return Line::Blank;
    }
    let letter = s[0].to_ascii_uppercase();
    if matches!(letter, b'G' | b'M' | b'T') && s.len() > 1 && s[1].is_ascii_digit() {
        let mut code: u32 = 0;
        let mut i = 1;
        while i < s.len() && s[i].is_ascii_digit() {
            code = code
                .saturating_mul(10)
                .saturating_add(u32::from(s[i] - b'0'));
            i += 1;
        }
        // A subcode (`G29.1`) is kept in params where it is harmlessly ignored; what follows a
        // command word is either a separator or directly the next word (`G1X10`).
        return Line::Command {
            letter,
            code,
            params: &s[i..],
        };
    }
    Line::Other(s)
}

/// Iterates over the `letter value` words of a command's parameters, e.g. `X10 Y-2.5 E.3`,
/// upper-casing letters. A letter without a number (`G28 X`) yields `None` as its value.
pub(crate) struct Words<'a> {
    rest: &'a [u8],
}

impl<'a> Words<'a> {
    pub(crate) fn new(params: &'a [u8]) -> Self {
        Words { rest: params }
    }
}

impl Iterator for Words<'_> {
    type Item = (u8, Option<f64>);

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let (&b, tail) = self.rest.split_first()?;
            if b.is_ascii_alphabetic() {
                let (value, used) = parse_number(tail);
                self.rest = &tail[used..];
                return Some((b.to_ascii_uppercase(), value));
            }
            // Separators and anything unexpected are skipped rather than failing the line:
            // firmware does the same.
            self.rest = tail;
        }
    }
}

/// Iterates over the `KEY=VALUE` parameters of an extended (Klipper-style) command. Keys come
/// as written (compare them case-insensitively); a value that is not a plain number is `None`.
pub(crate) fn key_values(params: &[u8]) -> impl Iterator<Item = (&[u8], Option<f64>)> {
    params
        .split(|b| b.is_ascii_whitespace())
        .filter_map(|word| {
            let eq = word.iter().position(|&b| b == b'=')?;
            let (value, used) = parse_number(&word[eq + 1..]);
            let value = if used == word.len() - eq - 1 {
                value
            } else {
                None
            };
            Some((&word[..eq], value))
        })
}

/// Largest number magnitude accepted.
const MAX_MAGNITUDE: f64 = 1e9;

const POW10: [f64; 23] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16,
    1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
];

/// Parses a G-code number (`-12.5`, `+3`, `.25`, `7.`) at the start of `s`, returning it and the
/// bytes it took. G-code has no exponents, so `1E5` is the number 1 followed by the word `E5`.
///
/// With at most 15 significant digits (all G-code in practice) the result is exactly what
/// `str::parse` would give: both the mantissa and the power of ten are exact in an `f64`, so the
/// one division rounds correctly. Longer numbers lose digits past the 19th, which is far below
/// any printer's resolution.
pub(crate) fn parse_number(s: &[u8]) -> (Option<f64>, usize) {
    let mut i = 0;
    let negative = match s.first() {
        Some(b'-') => {
            i = 1;
            true
        }
        Some(b'+') => {
            i = 1;
            false
        }
        _ => false,
    };
    let mut mantissa: u64 = 0;
    let mut significant = 0u32;
    let mut scale: i32 = 0; // the value is mantissa × 10^scale
    let mut any_digit = false;
    while let Some(&b) = s.get(i) {
        if !b.is_ascii_digit() {
            break;
        }
        any_digit = true;
        if significant < 19 {
            mantissa = mantissa * 10 + u64::from(b - b'0');
            if mantissa != 0 {
                significant += 1;
            }
        } else {
            scale += 1;
        }
        i += 1;
    }
    if s.get(i) == Some(&b'.') {
        i += 1;
        while let Some(&b) = s.get(i) {
            if !b.is_ascii_digit() {
                break;
            }
            any_digit = true;
            if significant < 19 {
                mantissa = mantissa * 10 + u64::from(b - b'0');
                if mantissa != 0 {
                    significant += 1;
                }
                scale -= 1;
            }
            i += 1;
        }
    }
    if !any_digit {
        return (None, 0);
    }
    let m = mantissa as f64;
    let value = match scale {
        0 => m,
        1..=22 => m * POW10[scale as usize],
        -22..=-1 => m / POW10[(-scale) as usize],
        _ => m * 10f64.powi(scale),
    };
    // No G-code needs a billion (1000 km in mm, 30 years in s); refusing larger numbers keeps
    // positions and sums finite however often a hostile file repeats them.
    if value > MAX_MAGNITUDE {
        return (None, i);
    }
    (Some(if negative { -value } else { value }), i)
}

/// Parses the first number found in `s`, skipping anything before it; for slicer comments such
/// as `; total layer number: 120`.
pub(crate) fn first_number(s: &[u8]) -> Option<f64> {
    let start = s
        .iter()
        .position(|b| b.is_ascii_digit() || *b == b'.' || *b == b'-')?;
    parse_number(&s[start..]).0
}

pub(crate) fn trim_start(s: &[u8]) -> &[u8] {
    let n = s.iter().take_while(|b| matches!(b, b' ' | b'\t')).count();
    &s[n..]
}

pub(crate) fn trim_end(s: &[u8]) -> &[u8] {
    let n = s
        .iter()
        .rev()
        .take_while(|b| matches!(b, b' ' | b'\t' | b'\r'))
        .count();
    &s[..s.len() - n]
}

pub(crate) fn trim(s: &[u8]) -> &[u8] {
    trim_end(trim_start(s))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_match_std_parse() {
        for text in [
            "0",
            "1",
            "-1",
            "+2",
            ".5",
            "-.5",
            "7.",
            "123.456",
            "-0.00001",
            "200.125",
            "0.1",
            "99999.99999",
            "3.14159265358979",
        ] {
            let (value, used) = parse_number(text.as_bytes());
            assert_eq!(used, text.len(), "{text}");
            let expected: f64 = text.trim_end_matches('.').parse().unwrap();
            assert_eq!(value, Some(expected), "{text}");
        }
        assert_eq!(parse_number(b"-"), (None, 0));
        assert_eq!(parse_number(b"."), (None, 0));
        assert_eq!(parse_number(b"1E5"), (Some(1.0), 1));
        assert_eq!(parse_number(b"12X"), (Some(12.0), 2));
        let huge = "9".repeat(400);
        assert_eq!(parse_number(huge.as_bytes()), (None, 400));
        assert_eq!(parse_number(b"-1000000000"), (Some(-1e9), 11));
    }

    #[test]
    fn lines_are_classified() {
        assert_eq!(classify(b""), Line::Blank);
        assert_eq!(classify(b"  \t\r"), Line::Blank);
        assert_eq!(classify(b"; hello"), Line::Comment(b" hello"));
        assert_eq!(classify(b"  ;x"), Line::Comment(b"x"));
        assert_eq!(
            classify(b"G1 X10 Y20 ; move"),
            Line::Command {
                letter: b'G',
                code: 1,
                params: b" X10 Y20"
            }
        );
        assert_eq!(
            classify(b"N12 g1X5*71"),
            Line::Command {
                letter: b'G',
                code: 1,
                params: b"X5"
            }
        );
        assert_eq!(
            classify(b"M204 S800\r"),
            Line::Command {
                letter: b'M',
                code: 204,
                params: b" S800"
            }
        );
        assert_eq!(
            classify(b"T1"),
            Line::Command {
                letter: b'T',
                code: 1,
                params: b""
            }
        );
        assert_eq!(
            classify(b"SET_VELOCITY_LIMIT ACCEL=500 ; c"),
            Line::Other(b"SET_VELOCITY_LIMIT ACCEL=500")
        );
        assert_eq!(classify(b"N5 ; only a number"), Line::Blank);
    }

    #[test]
    fn words_are_split() {
        let words: Vec<_> = Words::new(b" X10 y-2.5E.3 F").collect();
        assert_eq!(
            words,
            vec![
                (b'X', Some(10.0)),
                (b'Y', Some(-2.5)),
                (b'E', Some(0.3)),
                (b'F', None)
            ]
        );
        let kv: Vec<_> = key_values(b"ACCEL=500 ACCEL_TO_DECEL=250 BAD=x").collect();
        assert_eq!(
            kv,
            vec![
                (&b"ACCEL"[..], Some(500.0)),
                (&b"ACCEL_TO_DECEL"[..], Some(250.0)),
                (&b"BAD"[..], None)
            ]
        );
    }
}
