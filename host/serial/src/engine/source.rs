//! Reading a G-code file line by line for streaming, with each line's position in the file.

use std::fs::File;
use std::io::{self, BufRead, BufReader};
use std::path::Path;

use crate::protocol::line::{strip, text};

/// Read buffer: large enough that a 100 MB file costs few reads, small enough for hundreds of
/// printers printing at once.
const READ_BUFFER: usize = 64 * 1024;

/// One G-code line to send.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FileLine {
    /// The command without comments and surrounding whitespace.
    pub command: String,
    /// 1-based line number in the file.
    pub file_line: u64,
    /// Byte offset just past this line (its newline included).
    pub end_offset: u64,
}

/// A file being streamed. Reads are synchronous: a local file in the page cache answers in
/// microseconds, far below one line's time on the wire, and a blocking-thread hop per line
/// would cost more than the read.
pub struct GcodeSource {
    reader: BufReader<File>,
    buffer: Vec<u8>,
    file_line: u64,
    offset: u64,
    size: u64,
}

impl GcodeSource {
    /// Opens a file for streaming.
    pub fn open(path: &Path) -> io::Result<GcodeSource> {
        let file = File::open(path)?;
        let size = file.metadata()?.len();
        Ok(GcodeSource {
            reader: BufReader::with_capacity(READ_BUFFER, file),
            buffer: Vec::with_capacity(256),
            file_line: 0,
            offset: 0,
            size,
        })
    }

    /// The file's size in bytes.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The next line that holds G-code, skipping blank and comment-only lines; `None` at the end.
    pub fn next_line(&mut self) -> io::Result<Option<FileLine>> {
        let mut line = FileLine::default();
        Ok(self.next_line_into(&mut line)?.then_some(line))
    }

    /// [`next_line`](GcodeSource::next_line) into `line`, reusing its command's allocation
    /// (the engine reads every line of every print); false at the end of the file.
    pub fn next_line_into(&mut self, line: &mut FileLine) -> io::Result<bool> {
        loop {
            self.buffer.clear();
            let read = self.reader.read_until(b'\n', &mut self.buffer)?;
            if read == 0 {
                return Ok(false);
            }
            self.file_line += 1;
            self.offset += read as u64;
            let text = text(&self.buffer);
            if let Some(command) = strip(&text) {
                line.command.clear();
                line.command.push_str(command);
                line.file_line = self.file_line;
                line.end_offset = self.offset;
                return Ok(true);
            }
        }
    }
}

/// Every G-code line of a file as the firmware should execute it: what tests compare a
/// printer's log with.
pub fn gcode_lines(path: &Path) -> io::Result<Vec<String>> {
    let mut source = GcodeSource::open(path)?;
    let mut lines = Vec::new();
    while let Some(line) = source.next_line()? {
        lines.push(line.command);
    }
    Ok(lines)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn yields_gcode_lines_with_their_offsets() {
        let mut file = tempfile::NamedTempFile::new().unwrap();
        file.write_all(b"; header\nG28\n\nG1 X1 ; move\r\n(c)\nM104 S0")
            .unwrap();
        let mut source = GcodeSource::open(file.path()).unwrap();
        let first = source.next_line().unwrap().unwrap();
        assert_eq!(
            (first.command.as_str(), first.file_line, first.end_offset),
            ("G28", 2, 13)
        );
        let second = source.next_line().unwrap().unwrap();
        assert_eq!(
            (second.command.as_str(), second.file_line, second.end_offset),
            ("G1 X1", 4, 28)
        );
        let third = source.next_line().unwrap().unwrap();
        assert_eq!(
            (third.command.as_str(), third.file_line, third.end_offset),
            ("M104 S0", 6, 39)
        );
        assert_eq!(source.next_line().unwrap(), None);
        assert_eq!(source.size(), 39);
    }
}
