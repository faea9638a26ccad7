//! Outgoing lines: stripping comments, numbering and checksumming.

/// The XOR checksum Marlin, RepRapFirmware and Repetier check: every byte of the line up to,
/// not including, the `*`.
pub fn checksum(bytes: &[u8]) -> u8 {
    // Eight bytes at a time: XOR commutes, so folding the word's bytes at the end gives the
    // same result as the byte-wise XOR (computed for every line sent and received).
    let mut words = bytes.chunks_exact(8);
    let word = words.by_ref().fold(0u64, |acc, w| {
        acc ^ u64::from_ne_bytes(w.try_into().expect("8 bytes"))
    });
    let tail = words.remainder().iter().fold(0u8, |acc, b| acc ^ b);
    word.to_ne_bytes().iter().fold(tail, |acc, b| acc ^ b)
}

/// Bytes of a line as text: borrowed when they are UTF-8 (always, in practice), with
/// replacement characters otherwise. Checked with `from_utf8` first because `from_utf8_lossy`'s
/// own check is several times slower, and every line sent and received passes here.
pub fn text(bytes: &[u8]) -> std::borrow::Cow<'_, str> {
    match std::str::from_utf8(bytes) {
        Ok(text) => std::borrow::Cow::Borrowed(text),
        Err(_) => String::from_utf8_lossy(bytes),
    }
}

/// The G-code of one file line without its comments and surrounding whitespace, or `None` when
/// nothing is left to send (a blank or comment-only line).
///
/// `;` starts a comment that runs to the end of the line; `( … )` is a comment for flavours
/// that use it. A `;` or `(` inside a quoted string (`M117 "a;b"`, `M23 "x(1).gco"`) is kept,
/// because some commands take file names and messages.
pub fn strip(line: &str) -> Option<&str> {
    let bytes = line.as_bytes();
    // Fast path: most sliced G-code has no parenthesis and no quote, so the first of the three
    // special bytes decides (the engine strips every line of every print).
    let end = match memchr::memchr3(b';', b'(', b'"', bytes) {
        None => bytes.len(),
        Some(i) if bytes[i] == b';' => i,
        Some(i) if bytes[i] == b'(' => return strip_parenthesised(line),
        Some(_) => return strip_quoted(line),
    };
    let kept = line[..end].trim();
    (!kept.is_empty()).then_some(kept)
}

/// `strip` for a line with a quote: `;` and `(` inside quotes are kept.
fn strip_quoted(line: &str) -> Option<&str> {
    let bytes = line.as_bytes();
    let mut end = bytes.len();
    let mut in_quote = false;
    for (i, &b) in bytes.iter().enumerate() {
        match b {
            b'"' => in_quote = !in_quote,
            b';' if !in_quote => {
                end = i;
                break;
            }
            b'(' if !in_quote => return strip_parenthesised(line),
            _ => {}
        }
    }
    let kept = line[..end].trim();
    (!kept.is_empty()).then_some(kept)
}

/// `strip` for a line with a `( … )` comment: the command is what comes before the `(`.
/// Slicers put parenthesised comments at the end of a line or on a line of their own, never
/// inside a command, so everything after the `(` is dropped.
fn strip_parenthesised(line: &str) -> Option<&str> {
    let open = line.find('(')?;
    let kept = line[..open].trim();
    (!kept.is_empty()).then_some(kept)
}

/// Whether `command` (a stripped line) is the G-code `code` (`M105`), in any case, whatever its
/// arguments.
pub fn is_code(command: &str, code: &str) -> bool {
    command
        .split_ascii_whitespace()
        .next()
        .is_some_and(|first| first.eq_ignore_ascii_case(code))
}

/// Appends `N<number> <command>*<checksum>\n` to `out`: the exact bytes that go on the wire.
pub fn write_numbered(out: &mut Vec<u8>, number: u64, command: &str) {
    let start = out.len();
    out.push(b'N');
    out.extend_from_slice(itoa::Buffer::new().format(number).as_bytes());
    out.push(b' ');
    out.extend_from_slice(command.as_bytes());
    let sum = checksum(&out[start..]);
    out.push(b'*');
    out.extend_from_slice(itoa::Buffer::new().format(sum).as_bytes());
    out.push(b'\n');
}

/// The numbered form of a command as an owned line (without the newline), for logs and tests.
pub fn numbered(number: u64, command: &str) -> String {
    let mut out = Vec::with_capacity(command.len() + 16);
    write_numbered(&mut out, number, command);
    out.pop();
    String::from_utf8(out).expect("G-code commands are UTF-8")
}

/// Splits a received numbered line `N<n> <command>*<checksum>` into its parts, checking the
/// checksum. This is what a firmware does with our lines; the simulator and tests use it.
pub fn parse_numbered(line: &str) -> Result<(u64, &str), NumberedLineError> {
    let rest = line
        .strip_prefix('N')
        .ok_or(NumberedLineError::NoLineNumber)?;
    let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
    if digits == 0 {
        return Err(NumberedLineError::NoLineNumber);
    }
    let number: u64 = rest[..digits]
        .parse()
        .map_err(|_| NumberedLineError::NoLineNumber)?;
    let star = line
        .rfind('*')
        .ok_or(NumberedLineError::NoChecksum(number))?;
    let given: u8 = line[star + 1..]
        .trim()
        .parse()
        .map_err(|_| NumberedLineError::ChecksumMismatch(number))?;
    if checksum(&line.as_bytes()[..star]) != given {
        return Err(NumberedLineError::ChecksumMismatch(number));
    }
    let command = line[1 + digits..star].trim();
    Ok((number, command))
}

/// Why a received numbered line was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum NumberedLineError {
    /// The line does not start with `N<digits>`.
    #[error("no line number")]
    NoLineNumber,
    /// The line has a number but no `*<checksum>`.
    #[error("no checksum with line number {0}")]
    NoChecksum(u64),
    /// The checksum does not match the line's bytes.
    #[error("checksum mismatch on line {0}")]
    ChecksumMismatch(u64),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_code_is_its_first_word_in_any_case() {
        assert!(is_code("M105", "M105"));
        assert!(is_code("m112 ; stop", "M112"));
        assert!(is_code("M105 T0", "M105"));
        assert!(!is_code("M1050", "M105"));
        assert!(!is_code("G1 M105", "M105"));
    }

    #[test]
    fn word_wise_checksum_equals_the_byte_wise_xor_at_every_length() {
        let bytes: Vec<u8> = (0..64u32).map(|i| (i * 37 + 11) as u8).collect();
        for len in 0..=bytes.len() {
            for start in 0..3.min(len + 1) {
                let slice = &bytes[start..len];
                let expected = slice.iter().fold(0u8, |acc, b| acc ^ b);
                assert_eq!(checksum(slice), expected, "bytes {start}..{len}");
            }
        }
    }

    #[test]
    fn checksums_match_the_reference_vectors() {
        assert_eq!(numbered(0, "M106"), "N0 M106*36");
        assert_eq!(numbered(1, "G28"), "N1 G28*18");
        assert_eq!(numbered(2, "M107"), "N2 M107*39");
        assert_eq!(
            numbered(10, "G92 X0 Y0 Z0 A0 B0"),
            "N10 G92 X0 Y0 Z0 A0 B0*107"
        );
    }

    #[test]
    fn numbered_lines_round_trip_and_bad_ones_are_refused() {
        assert_eq!(
            parse_numbered("N10 G92 X0 Y0 Z0 A0 B0*107"),
            Ok((10, "G92 X0 Y0 Z0 A0 B0"))
        );
        assert_eq!(
            parse_numbered("N10 G92 X0 Y0 Z0 A0 B1*107"),
            Err(NumberedLineError::ChecksumMismatch(10))
        );
        assert_eq!(
            parse_numbered("N3 G28"),
            Err(NumberedLineError::NoChecksum(3))
        );
        assert_eq!(
            parse_numbered("G28*18"),
            Err(NumberedLineError::NoLineNumber)
        );
        let mut wire = Vec::new();
        write_numbered(&mut wire, 123_456_789, "G1 X10.5 Y3 E0.2");
        let text = std::str::from_utf8(&wire).unwrap();
        assert!(text.ends_with('\n'));
        assert_eq!(
            parse_numbered(text.trim_end()),
            Ok((123_456_789, "G1 X10.5 Y3 E0.2"))
        );
    }

    #[test]
    fn comments_and_blank_lines_are_stripped() {
        assert_eq!(strip("G1 X10 ; move"), Some("G1 X10"));
        assert_eq!(strip("  G28  \r"), Some("G28"));
        assert_eq!(strip("; only a comment"), None);
        assert_eq!(strip("   "), None);
        assert_eq!(strip(""), None);
        assert_eq!(strip("G1 X1 (slow move)"), Some("G1 X1"));
        assert_eq!(strip("(header comment)"), None);
        assert_eq!(strip("M117 \"a;b\" ; shown"), Some("M117 \"a;b\""));
    }
}
