//! A quick look at the start of an upload to refuse what is plainly not G-code (images, archives,
//! binary G-code, models, arbitrary text) before it is stored and analysed.
//!
//! It is a plausibility check, not validation: it reads only a prefix, accepts anything that
//! starts like G-code (including headers that are all comments), and explains a refusal in a
//! sentence meant for the person who uploaded the file.

use thiserror::Error;

/// How many bytes from the start of a file [`sniff`] wants; it copes with fewer or more.
pub const SNIFF_LEN: usize = 8192;

/// Non-comment lines checked: enough to see past a start macro, few enough to stay quick.
const LINES_CHECKED: usize = 16;
/// Longest excerpt of a bad line quoted back to the user.
const QUOTE_LEN: usize = 40;

/// Why a file is not accepted as G-code. Its `Display` is a sentence for the uploader.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum NotGcode {
    /// The file has no bytes, or only blanks.
    #[error("the file is empty")]
    Empty,
    /// The file starts with the signature of a known non-G-code format.
    #[error("the file is not G-code: it is {0}")]
    KnownFormat(&'static str),
    /// A NUL or control byte that text never contains.
    #[error(
        "the file is not G-code: it contains binary data ({} at offset {offset})",
        describe_byte(*.byte)
    )]
    Binary {
        /// Offset of the byte from the start of the file.
        offset: usize,
        /// The byte found.
        byte: u8,
    },
    /// Too many bytes that are not valid UTF-8 for this to be a text file.
    #[error(
        "the file is not G-code: it is not text ({invalid} of its first {checked} bytes are not valid UTF-8)"
    )]
    NotText {
        /// Invalid bytes found.
        invalid: usize,
        /// Bytes checked.
        checked: usize,
    },
    /// A line that should be a command is not one.
    #[error("the file is not G-code: line {line} (\"{text}\") is not a G-code command")]
    NotCommand {
        /// 1-based line number.
        line: usize,
        /// The start of the line.
        text: String,
    },
}

fn describe_byte(byte: u8) -> String {
    if byte == 0 {
        "a NUL byte".to_owned()
    } else {
        format!("a control byte 0x{byte:02X}")
    }
}

/// Signatures of formats people upload by mistake, and how to name them.
const SIGNATURES: [(&[u8], &str); 8] = [
    (
        b"GCDE",
        "binary G-code (.bgcode); export plain-text G-code from the slicer instead",
    ),
    (
        b"PK\x03\x04",
        "a ZIP archive (a 3MF project?); export G-code from the slicer instead",
    ),
    (b"\x89PNG", "a PNG image"),
    (b"\xFF\xD8\xFF", "a JPEG image"),
    (b"GIF8", "a GIF image"),
    (b"%PDF-", "a PDF document"),
    (b"\x1F\x8B", "a gzip-compressed file; decompress it first"),
    (b"solid", "an STL model; slice it into G-code first"),
];

/// Decides from the first few KiB of a file (ideally [`SNIFF_LEN`] bytes) whether it is
/// plausibly G-code text.
///
/// Refuses empty files, known binary formats, NUL and control bytes, text that is mostly not
/// UTF-8 (a few stray Latin-1 bytes in comments are tolerated), and text whose first
/// non-comment lines are not `G`/`M`/`T` commands or firmware macros (`PRINT_START`, …).
pub fn sniff(prefix: &[u8]) -> Result<(), NotGcode> {
    let text = prefix.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(prefix);
    if text.iter().all(u8::is_ascii_whitespace) {
        return Err(NotGcode::Empty);
    }
    if let Some((_, what)) = SIGNATURES.iter().find(|(sig, _)| text.starts_with(sig)) {
        return Err(NotGcode::KnownFormat(what));
    }
    let skipped = prefix.len() - text.len();
    if let Some(i) = text
        .iter()
        .position(|&b| b < 0x20 && !matches!(b, b'\t' | b'\n' | b'\r' | 0x0B | 0x0C | 0x1A))
    {
        return Err(NotGcode::Binary {
            offset: skipped + i,
            byte: text[i],
        });
    }
    let invalid = invalid_utf8(text);
    // Tolerate stray bytes (old files with Latin-1 degree signs in comments), not a binary blob.
    if invalid > (text.len() / 100).max(8) {
        return Err(NotGcode::NotText {
            invalid,
            checked: prefix.len(),
        });
    }
    let mut lines: Vec<&[u8]> = text.split(|&b| b == b'\n').collect();
    // The prefix probably cuts the last line short: judge only whole lines, unless there is
    // only one.
    if lines.len() > 1 && !text.ends_with(b"\n") {
        lines.pop();
    }
    let mut checked = 0;
    for (index, line) in lines.into_iter().enumerate() {
        let line = crate::parse::trim(line);
        if line.is_empty() || matches!(line[0], b';' | b'(' | b'%') {
            continue;
        }
        if !plausible_command(line) {
            return Err(NotGcode::NotCommand {
                line: index + 1,
                text: quote(line),
            });
        }
        checked += 1;
        if checked == LINES_CHECKED {
            break;
        }
    }
    Ok(())
}

/// Invalid UTF-8 bytes in `text`; a sequence cut off by the end of the prefix is not counted.
fn invalid_utf8(mut text: &[u8]) -> usize {
    let mut invalid = 0;
    loop {
        match std::str::from_utf8(text) {
            Ok(_) => return invalid,
            Err(e) => match e.error_len() {
                Some(len) => {
                    invalid += len;
                    text = &text[e.valid_up_to() + len..];
                }
                None => return invalid,
            },
        }
    }
}

/// A `G`/`M`/`T` command (optionally line-numbered), a firmware macro in upper case
/// (`PRINT_START EXTRUDER=210`, `EXCLUDE_OBJECT_DEFINE …`), or a RepRapFirmware meta command.
fn plausible_command(line: &[u8]) -> bool {
    let mut s = line;
    if s.len() > 1 && matches!(s[0], b'N' | b'n') && s[1].is_ascii_digit() {
        let digits = s[1..].iter().take_while(|b| b.is_ascii_digit()).count();
        s = crate::parse::trim(&s[1 + digits..]);
        if s.is_empty() || s[0] == b';' || s[0] == b'*' {
            return true;
        }
    }
    if s.len() > 1
        && matches!(s[0].to_ascii_uppercase(), b'G' | b'M' | b'T')
        && s[1].is_ascii_digit()
    {
        return true;
    }
    let word_len = s
        .iter()
        .take_while(|b| !b.is_ascii_whitespace() && **b != b';')
        .count();
    let word = &s[..word_len];
    const META: [&[u8]; 11] = [
        b"if",
        b"elif",
        b"else",
        b"while",
        b"break",
        b"continue",
        b"var",
        b"global",
        b"set",
        b"echo",
        b"abort",
    ];
    if META.contains(&word) {
        return true;
    }
    word.len() >= 2
        && word[0].is_ascii_uppercase()
        && word
            .iter()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || *b == b'_')
}

fn quote(line: &[u8]) -> String {
    let text = String::from_utf8_lossy(line);
    match text.char_indices().nth(QUOTE_LEN) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.into_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gcode_is_accepted() {
        let ok: [&[u8]; 8] = [
            b"G28\nG1 X10 Y10 F3000\n",
            b"; generated by PrusaSlicer 2.7.1 on 2024-05-01\n;\n; thumbnail begin 16x16 4\n; iVBO\n",
            b";FLAVOR:Marlin\r\n;TIME:100\r\nM140 S60\r\nM105\r\nM190 S60\r\n",
            b"\xEF\xBB\xBFG90\nM83\n",
            b"N1 G28*18\nN2 M105*37\n",
            b"PRINT_START BED=60 EXTRUDER=210\nEXCLUDE_OBJECT_DEFINE NAME=a\nG1 X1\n",
            b"; comment with a Latin-1 degree sign: 210\xB0C\nG1 X1\n",
            b"T0\nG1 X1\nG1 X2 Y3 E0.5\nG1 X4 Y5 E0.6\nG1 X6 Y", // cut mid-line
        ];
        for prefix in ok {
            assert_eq!(sniff(prefix), Ok(()), "{}", String::from_utf8_lossy(prefix));
        }
        // A long header that is all comments.
        let header = "; key = value\n".repeat(1000);
        assert_eq!(sniff(&header.as_bytes()[..SNIFF_LEN]), Ok(()));
    }

    #[test]
    fn non_gcode_is_refused_with_a_reason() {
        assert_eq!(sniff(b""), Err(NotGcode::Empty));
        assert_eq!(sniff(b" \n\r\n"), Err(NotGcode::Empty));
        assert_eq!(sniff(b"").unwrap_err().to_string(), "the file is empty");

        let png = sniff(b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR").unwrap_err();
        assert_eq!(png.to_string(), "the file is not G-code: it is a PNG image");
        assert!(matches!(
            sniff(b"PK\x03\x04\x14\0"),
            Err(NotGcode::KnownFormat(_))
        ));
        assert!(sniff(b"GCDE\x01\0\0\0")
            .unwrap_err()
            .to_string()
            .contains("binary G-code"));

        let nul = sniff(b"G28\nG1 X1\n\0\0\0").unwrap_err();
        assert_eq!(
            nul.to_string(),
            "the file is not G-code: it contains binary data (a NUL byte at offset 10)"
        );
        let control = sniff(b"G28\x01\n").unwrap_err();
        assert_eq!(control, NotGcode::Binary { offset: 3, byte: 1 });

        let latin: Vec<u8> = (0..200).map(|i| 0x80 + (i % 64) as u8).collect();
        assert!(matches!(sniff(&latin), Err(NotGcode::NotText { .. })));

        let prose = sniff(b"; notes\nHello there, this is a letter.\n").unwrap_err();
        assert_eq!(
            prose.to_string(),
            "the file is not G-code: line 2 (\"Hello there, this is a letter.\") is not a G-code command"
        );
        let csv = sniff(b"name,value\nG1,2\n").unwrap_err();
        assert!(matches!(csv, NotGcode::NotCommand { line: 1, .. }));
        // The first lines are fine, a later one is not.
        assert!(matches!(
            sniff(b"G28\nG1 X1\nwhat is this\n"),
            Err(NotGcode::NotCommand { line: 3, .. })
        ));
    }
}
