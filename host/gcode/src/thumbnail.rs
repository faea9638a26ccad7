//! Preview images embedded as base64 comment blocks.
//!
//! PrusaSlicer, OrcaSlicer and Cura's "Create Thumbnail" script all write
//!
//! ```text
//! ; thumbnail begin 300x300 12345
//! ; iVBORw0KGgoAAAANSUhEUgAA…   (base64, wrapped, each line a comment)
//! ; thumbnail end
//! ```
//!
//! where 12345 is the length of the base64 text. JPEG and QOI images use `thumbnail_JPG` and
//! `thumbnail_QOI` in both the begin and the end line. Everything kept is bounded by
//! [`MAX_THUMBNAIL_BYTES`] and [`MAX_THUMBNAILS`], so a hostile file cannot grow memory.

use base64::alphabet;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use base64::engine::DecodePaddingMode;
use base64::Engine;

use crate::analysis::Thumbnail;
use crate::parse::{parse_number, trim};

/// Total decoded bytes of thumbnails kept per file; blocks beyond it are skipped.
pub const MAX_THUMBNAIL_BYTES: usize = 4 << 20;
/// Thumbnails kept per file; slicers write a handful of sizes at most.
pub const MAX_THUMBNAILS: usize = 16;

/// Slicers pad their base64, but a missing `=` should not cost the image.
const BASE64: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// The block names slicers use, and the format each announces.
const KINDS: [(&[u8], &str); 4] = [
    (b"thumbnail", "png"),
    (b"thumbnail_PNG", "png"),
    (b"thumbnail_JPG", "jpg"),
    (b"thumbnail_QOI", "qoi"),
];

/// A block being read.
#[derive(Debug)]
struct Open {
    kind: usize,
    width: u32,
    height: u32,
    base64: Vec<u8>,
    /// Set when the block is over budget: its lines are still consumed, nothing is kept.
    skip: bool,
}

/// Collects thumbnails from the comment lines of a file.
#[derive(Debug, Default)]
pub(crate) struct Thumbnails {
    done: Vec<Thumbnail>,
    kept_bytes: usize,
    open: Option<Open>,
}

impl Thumbnails {
    /// Offers a whole-line comment (the text after `;`); true when it belonged to a thumbnail
    /// block and needs no further reading.
    pub(crate) fn comment(&mut self, text: &[u8]) -> bool {
        let t = trim(text);
        if let Some(open) = &mut self.open {
            let name = KINDS[open.kind].0;
            if t.len() == name.len() + 4 && t.starts_with(name) && t.ends_with(b" end") {
                let open = self.open.take().expect("open block");
                self.finish(open);
                return true;
            }
            if !t.starts_with(b"thumbnail") {
                if !open.skip {
                    if open.base64.len() + t.len() > base64_budget(self.kept_bytes) {
                        open.skip = true;
                        open.base64 = Vec::new();
                    } else {
                        open.base64.extend_from_slice(t);
                    }
                }
                return true;
            }
            // Another block begins before this one ended: this one is malformed, drop it.
            self.open = None;
        }
        if !t.starts_with(b"thumbnail") {
            return false;
        }
        self.begin(t)
    }

    /// Notes a line that is not a comment. Slicers never put commands inside a block, so an
    /// open block is broken; dropping it keeps the comments after it readable as metadata.
    pub(crate) fn command_line(&mut self) {
        if self.open.is_some() {
            self.open = None;
        }
    }

    /// The thumbnails completed so far (an unterminated block at the end is dropped).
    pub(crate) fn finish_all(self) -> Vec<Thumbnail> {
        self.done
    }

    /// `thumbnail begin 300x300 12345` and its `_JPG`/`_QOI` variants.
    fn begin(&mut self, t: &[u8]) -> bool {
        let Some(space) = t.iter().position(|&b| b == b' ') else {
            return false;
        };
        let (name, rest) = t.split_at(space);
        let Some(kind) = KINDS.iter().position(|(n, _)| *n == name) else {
            return false;
        };
        let Some(rest) = trim(rest).strip_prefix(b"begin") else {
            return false;
        };
        let rest = trim(rest);
        let (width, used) = parse_number(rest);
        let (height, declared) = match rest.get(used) {
            Some(b'x' | b'X') => {
                let after = &rest[used + 1..];
                let (height, used2) = parse_number(after);
                (height, parse_number(trim(&after[used2..])).0)
            }
            _ => (None, None),
        };
        let dims = width.zip(height).and_then(|(w, h)| {
            let ok = |v: f64| v >= 1.0 && v <= f64::from(u16::MAX) && v.fract() == 0.0;
            (ok(w) && ok(h)).then_some((w as u32, h as u32))
        });
        let budget = base64_budget(self.kept_bytes);
        let (width, height) = dims.unwrap_or((0, 0));
        let skip = dims.is_none()
            || self.done.len() >= MAX_THUMBNAILS
            || declared.is_some_and(|len| len > budget as f64);
        // The declared length sizes the buffer once; it is only a hint, bounded by the budget.
        let capacity = if skip {
            0
        } else {
            declared.map_or(0, |len| len.max(0.0) as usize).min(budget)
        };
        self.open = Some(Open {
            kind,
            width,
            height,
            base64: Vec::with_capacity(capacity),
            skip,
        });
        true
    }

    fn finish(&mut self, open: Open) {
        if open.skip {
            return;
        }
        let Ok(data) = BASE64.decode(&open.base64) else {
            // Malformed base64 costs this thumbnail only.
            return;
        };
        let format = KINDS[open.kind].1;
        if !has_magic(format, &data) || self.kept_bytes + data.len() > MAX_THUMBNAIL_BYTES {
            return;
        }
        self.kept_bytes += data.len();
        self.done.push(Thumbnail {
            width: open.width,
            height: open.height,
            format: format.to_owned(),
            size: data.len() as u64,
            data,
        });
    }
}

/// Base64 text that decodes to at most what the byte budget has left.
fn base64_budget(kept_bytes: usize) -> usize {
    MAX_THUMBNAIL_BYTES.saturating_sub(kept_bytes).div_ceil(3) * 4
}

/// Whether `data` starts like an image of `format`: a block announcing PNG that holds something
/// else would be served with the wrong type.
fn has_magic(format: &str, data: &[u8]) -> bool {
    match format {
        "png" => data.starts_with(b"\x89PNG\r\n\x1a\n"),
        "jpg" => data.starts_with(&[0xFF, 0xD8, 0xFF]),
        "qoi" => data.starts_with(b"qoif"),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::engine::general_purpose::STANDARD;

    /// A block as slicers write it: base64 wrapped at 78 characters, each line a comment.
    fn block(name: &str, width: u32, height: u32, data: &[u8]) -> String {
        let encoded = STANDARD.encode(data);
        let mut s = format!("; {name} begin {width}x{height} {}\n", encoded.len());
        for chunk in encoded.as_bytes().chunks(78) {
            s.push_str("; ");
            s.push_str(std::str::from_utf8(chunk).unwrap());
            s.push('\n');
        }
        s.push_str(&format!("; {name} end\n"));
        s
    }

    fn collect(text: &str) -> Vec<Thumbnail> {
        let mut t = Thumbnails::default();
        for line in text.lines() {
            if let Some(c) = line.strip_prefix(';') {
                t.comment(c.as_bytes());
            }
        }
        t.finish_all()
    }

    fn png_like(len: usize) -> Vec<u8> {
        let mut data = b"\x89PNG\r\n\x1a\n".to_vec();
        data.extend((0..len).map(|i| (i * 7 % 251) as u8));
        data
    }

    #[test]
    fn round_trip() {
        let png = png_like(500);
        let jpg = [&[0xFF, 0xD8, 0xFF, 0xE0][..], b"jfif-ish body"].concat();
        let text = block("thumbnail", 16, 16, &png) + &block("thumbnail_JPG", 300, 200, &jpg);
        let thumbs = collect(&text);
        assert_eq!(thumbs.len(), 2);
        assert_eq!((thumbs[0].width, thumbs[0].height), (16, 16));
        assert_eq!(thumbs[0].format, "png");
        assert_eq!(thumbs[0].data, png);
        assert_eq!(thumbs[0].size, png.len() as u64);
        assert_eq!(thumbs[1].format, "jpg");
        assert_eq!((thumbs[1].width, thumbs[1].height), (300, 200));
        assert_eq!(thumbs[1].data, jpg);
    }

    #[test]
    fn malformed_blocks_are_skipped() {
        let png = png_like(100);
        // Broken base64, wrong magic, an unterminated block, a block cut by another begin.
        let broken = "; thumbnail begin 8x8 8\n; !!!!****\n; thumbnail end\n".to_owned();
        let wrong_magic = block("thumbnail", 8, 8, b"GIF89a....");
        let cut = "; thumbnail begin 8x8 100\n; iVBORw0KGgo\n".to_owned();
        let text = broken + &wrong_magic + &cut + &block("thumbnail", 32, 32, &png);
        let thumbs = collect(&(text + "; thumbnail begin 8x8 100\n; iVBORw0KGgo\n"));
        assert_eq!(thumbs.len(), 1);
        assert_eq!(thumbs[0].width, 32);
        assert_eq!(thumbs[0].data, png);
    }

    #[test]
    fn a_command_ends_an_open_block() {
        let mut t = Thumbnails::default();
        assert!(t.comment(b" thumbnail begin 8x8 100"));
        assert!(t.comment(b" iVBORw0KGgo"));
        t.command_line();
        assert!(!t.comment(b" estimated printing time (normal mode) = 1m"));
        assert!(t.finish_all().is_empty());
    }

    #[test]
    fn the_budget_is_enforced() {
        // Declared too big: skipped without buffering. Actually too big: skipped when it grows.
        let big = png_like(MAX_THUMBNAIL_BYTES);
        let lying = block("thumbnail", 64, 64, &big).replacen(
            &format!(" {}\n", STANDARD.encode(&big).len()),
            " 10\n",
            1,
        );
        let small = png_like(10);
        let text = block("thumbnail", 64, 64, &big) + &lying + &block("thumbnail", 8, 8, &small);
        let thumbs = collect(&text);
        assert_eq!(thumbs.len(), 1);
        assert_eq!(thumbs[0].data, small);
    }
}
