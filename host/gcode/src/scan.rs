//! The streaming pass: reads a file in large blocks, splits it into lines in place, and hands
//! each line to the interpreter, the comment reader or the thumbnail collector. Memory is the
//! read buffer plus bounded metadata, whatever the file's size.

use std::io::{self, Read};

use crate::analysis::{Analysis, EstimateSource};
use crate::machine::Machine;
use crate::parse::{classify, Line};
use crate::slicer::Metadata;
use crate::thumbnail::Thumbnails;

/// Bytes read per call: large enough that syscalls and line carry-over are noise.
const BUFFER_LEN: usize = 1 << 20;
/// Longest line analysed; the rest of a longer one (never real G-code) is skipped.
const MAX_LINE: usize = 64 << 10;

/// Everything one pass accumulates.
#[derive(Debug, Default)]
struct Scanner {
    lines: u64,
    machine: Machine,
    metadata: Metadata,
    thumbnails: Thumbnails,
}

impl Scanner {
    fn line(&mut self, line: &[u8]) {
        match classify(line) {
            Line::Blank => {}
            Line::Comment(text) => {
                if !self.thumbnails.comment(text) {
                    self.metadata.comment(text);
                }
            }
            Line::Command {
                letter,
                code,
                params,
            } => {
                self.lines += 1;
                self.thumbnails.command_line();
                self.machine.command(letter, code, params);
            }
            Line::Other(text) => {
                self.lines += 1;
                self.thumbnails.command_line();
                self.machine.extended(text);
            }
        }
    }

    fn finish(self, bytes: u64) -> Analysis {
        let Scanner {
            lines,
            mut machine,
            metadata,
            thumbnails,
        } = self;
        let model_print_secs = std::mem::take(&mut machine.planner).finish();
        let (estimated_print_secs, estimate_source) = match metadata.estimate() {
            Some(secs) => (Some(secs), EstimateSource::Slicer),
            None => (model_print_secs, EstimateSource::Model),
        };
        let (filament_mm, filament_source) = match metadata.filament() {
            Some(f) => (f.to_vec(), EstimateSource::Slicer),
            None => (machine.filament_mm(), EstimateSource::Model),
        };
        let layers = metadata
            .total_layers()
            .or_else(|| Some(metadata.marker_layers()).filter(|n| *n > 0))
            .or_else(|| Some(machine.z_layers()).filter(|n| *n > 0));
        Analysis {
            bytes,
            lines,
            estimated_print_secs,
            estimate_source,
            model_print_secs,
            filament_mm,
            filament_source,
            layers,
            bounds: machine.bounds(),
            slicer: metadata.slicer().map(str::to_owned),
            thumbnails: thumbnails.finish_all(),
        }
    }
}

/// Reads `reader` to the end and analyses it; see [`crate::analyse`].
pub(crate) fn analyse<R: Read>(mut reader: R) -> io::Result<Analysis> {
    let mut scanner = Scanner::default();
    let mut buf = vec![0u8; BUFFER_LEN];
    // buf[..pending] is the unfinished line carried over from the previous read.
    let mut pending = 0;
    // Inside the remainder of an over-long line, which is dropped up to its newline.
    let mut skipping = false;
    let mut bytes: u64 = 0;
    loop {
        let n = match reader.read(&mut buf[pending..]) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if n == 0 {
            if pending > 0 && !skipping {
                scanner.line(&buf[..pending]);
            }
            break;
        }
        bytes += n as u64;
        let end = pending + n;
        let mut start = 0;
        while let Some(at) = find_newline(&buf[start..end]) {
            if skipping {
                skipping = false;
            } else {
                scanner.line(&buf[start..start + at]);
            }
            start += at + 1;
        }
        let rest = end - start;
        if rest >= MAX_LINE || (skipping && rest > 0) {
            // No newline in sight: analyse what a real line could hold, drop the rest.
            if !skipping {
                scanner.line(&buf[start..start + MAX_LINE.min(rest)]);
                skipping = true;
            }
            pending = 0;
        } else {
            buf.copy_within(start..end, 0);
            pending = rest;
        }
    }
    Ok(scanner.finish(bytes))
}

/// Position of the first `\n`, eight bytes at a time: this scan touches every byte of the file.
fn find_newline(s: &[u8]) -> Option<usize> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    const NEWLINES: u64 = ONES * b'\n' as u64;
    let mut chunks = s.chunks_exact(8);
    let mut offset = 0;
    for chunk in &mut chunks {
        let word = u64::from_le_bytes(chunk.try_into().expect("8 bytes")) ^ NEWLINES;
        // A zero byte in `word` is a newline in `chunk` (the classic has-zero-byte test; its
        // lowest set bit is exact, which is the one wanted).
        let found = word.wrapping_sub(ONES) & !word & HIGHS;
        if found != 0 {
            return Some(offset + (found.trailing_zeros() / 8) as usize);
        }
        offset += 8;
    }
    chunks
        .remainder()
        .iter()
        .position(|&b| b == b'\n')
        .map(|i| offset + i)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn newlines_are_found() {
        for (text, expected) in [
            (&b""[..], None),
            (b"abc", None),
            (b"\n", Some(0)),
            (b"0123456\n", Some(7)),
            (b"01234567\n", Some(8)),
            (b"0123456789abcdef\nx\n", Some(16)),
            (b"\x8a\x0b\x09\x0a", Some(3)),
            (b"\xff\xff\xff\xff\xff\xff\xff\xff\xff\n", Some(9)),
        ] {
            assert_eq!(find_newline(text), expected, "{text:?}");
        }
    }

    /// A reader that returns one byte per call, to exercise carry-over at every position.
    struct Trickle<'a>(&'a [u8]);

    impl Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            match self.0.split_first() {
                Some((&b, rest)) if !buf.is_empty() => {
                    buf[0] = b;
                    self.0 = rest;
                    Ok(1)
                }
                _ => Ok(0),
            }
        }
    }

    #[test]
    fn lines_split_across_reads() {
        let text = b"G1 X10 E1\r\n; comment\n\nG1 X20 E2\nM83\nG1 X30 E1";
        let whole = analyse(&text[..]).unwrap();
        let trickled = analyse(Trickle(text)).unwrap();
        assert_eq!(whole, trickled);
        assert_eq!(whole.lines, 4);
        assert_eq!(whole.filament_mm, vec![3.0]);
        assert_eq!(whole.bytes, text.len() as u64);
    }

    #[test]
    fn an_endless_line_is_bounded() {
        let mut text = b"G1 X1 E1\n".to_vec();
        text.extend(std::iter::repeat_n(b'A', 3 * BUFFER_LEN));
        text.extend(b"\nG1 X2 E2\n");
        let a = analyse(&text[..]).unwrap();
        // The first line, the long one (as a macro-like line), the last.
        assert_eq!(a.lines, 3);
        assert_eq!(a.filament_mm, vec![2.0]);
    }
}
