//! SD card messages: file lists, the opened and selected file, printing progress, the end of
//! the print.

/// An SD card message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SdMessage {
    /// `Begin file list` (M20).
    FileListBegin,
    /// `End file list`.
    FileListEnd,
    /// `File opened: NAME Size: N` (M23).
    FileOpened {
        /// The file name.
        name: String,
        /// Its size in bytes.
        size: u64,
    },
    /// `File selected`.
    FileSelected,
    /// `SD printing byte A/B` (M27).
    Printing {
        /// Bytes printed.
        position: u64,
        /// File size.
        total: u64,
    },
    /// `Not SD printing`.
    NotPrinting,
    /// `Done printing file`.
    Done,
}

/// SD card messages (M20, M23, M27, end of print). Klipper ends some with a period.
pub(super) fn parse_sd(line: &str) -> Option<SdMessage> {
    let plain = line.trim_end_matches('.');
    match plain {
        "Begin file list" => return Some(SdMessage::FileListBegin),
        "End file list" => return Some(SdMessage::FileListEnd),
        "File selected" => return Some(SdMessage::FileSelected),
        "Not SD printing" => return Some(SdMessage::NotPrinting),
        "Done printing file" => return Some(SdMessage::Done),
        _ => {}
    }
    if let Some(rest) = line.strip_prefix("File opened:") {
        let (name, size) = rest.rsplit_once("Size:")?;
        let name = name.trim();
        if name.is_empty() {
            return None;
        }
        return Some(SdMessage::FileOpened {
            name: name.to_owned(),
            size: size.trim().parse().ok()?,
        });
    }
    if let Some(rest) = plain.strip_prefix("SD printing byte") {
        let (position, total) = rest.split_once('/')?;
        return Some(SdMessage::Printing {
            position: position.trim().parse().ok()?,
            total: total.trim().parse().ok()?,
        });
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::reply::tests::info;
    use crate::protocol::reply::{parse, Reply};

    #[test]
    fn sd_messages() {
        assert_eq!(
            parse("Begin file list"),
            Reply::Sd(SdMessage::FileListBegin)
        );
        assert_eq!(parse("End file list"), Reply::Sd(SdMessage::FileListEnd));
        assert_eq!(
            parse("File opened: X.GCO Size: 1234"),
            Reply::Sd(SdMessage::FileOpened {
                name: "X.GCO".into(),
                size: 1234
            })
        );
        assert_eq!(
            parse("File opened:benchy.gcode Size:98765"),
            Reply::Sd(SdMessage::FileOpened {
                name: "benchy.gcode".into(),
                size: 98765
            })
        );
        assert_eq!(parse("File selected"), Reply::Sd(SdMessage::FileSelected));
        assert_eq!(
            parse("SD printing byte 123/4567"),
            Reply::Sd(SdMessage::Printing {
                position: 123,
                total: 4567
            })
        );
        assert_eq!(parse("Not SD printing"), Reply::Sd(SdMessage::NotPrinting));
        assert_eq!(parse("Not SD printing."), Reply::Sd(SdMessage::NotPrinting));
        assert_eq!(parse("Done printing file"), Reply::Sd(SdMessage::Done));
        assert_eq!(parse("SD printing byte x/y"), info("SD printing byte x/y"));
    }
}
