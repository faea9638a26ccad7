//! The result of analysing one G-code file: what the library stores and shows about it.

use serde::{Deserialize, Serialize};

/// What one pass over a G-code file found out about it.
///
/// Figures the slicer wrote into the file (its own time estimate, filament totals, layer count)
/// are preferred over what this crate computes, because the slicer knows the printer profile;
/// the `*_source` fields say which one a figure is.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Analysis {
    /// Bytes read, i.e. the size of the file.
    pub bytes: u64,
    /// G-code command lines: lines with something other than a comment or blanks on them.
    pub lines: u64,
    /// Expected print duration in seconds: the slicer's estimate when the file carries one, else
    /// [`Analysis::model_print_secs`]. `None` when neither exists (a file without moves).
    pub estimated_print_secs: Option<f64>,
    /// Where [`Analysis::estimated_print_secs`] came from ([`EstimateSource::Model`] when there is
    /// no estimate at all).
    pub estimate_source: EstimateSource,
    /// This crate's own kinematic estimate in seconds, kept even when the slicer's estimate wins
    /// so the two can be compared. Excludes heating and other waits the file cannot time.
    pub model_print_secs: Option<f64>,
    /// Filament length in millimetres per tool (index = T number), net of retractions.
    /// Empty when nothing was extruded.
    pub filament_mm: Vec<f64>,
    /// Where [`Analysis::filament_mm`] came from: the slicer's comments or counting E moves.
    pub filament_source: EstimateSource,
    /// Number of layers: the slicer's total when given, else layer-change comments, else the
    /// distinct increasing Z heights of extruding moves. `None` when nothing was printed.
    pub layers: Option<u32>,
    /// The box enclosing every extruding move (travel excluded), in millimetres.
    pub bounds: Option<Bounds>,
    /// The slicer and its version as the file names it, e.g. `"PrusaSlicer 2.7.1"`.
    pub slicer: Option<String>,
    /// Preview images embedded by the slicer, in file order. Their bytes are not serialized:
    /// the JSON summary carries their size and format only.
    pub thumbnails: Vec<Thumbnail>,
}

impl Analysis {
    /// The largest embedded thumbnail by pixel count, the usual choice for a preview.
    pub fn largest_thumbnail(&self) -> Option<&Thumbnail> {
        self.thumbnails
            .iter()
            .max_by_key(|t| u64::from(t.width) * u64::from(t.height))
    }
}

/// Where a figure in an [`Analysis`] came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EstimateSource {
    /// Read from the slicer's comments in the file.
    Slicer,
    /// Computed by this crate from the G-code commands.
    Model,
}

/// An axis-aligned box in millimetres, in the file's own coordinates.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Bounds {
    /// Smallest X reached while extruding.
    pub min_x: f64,
    /// Smallest Y reached while extruding.
    pub min_y: f64,
    /// Smallest Z reached while extruding.
    pub min_z: f64,
    /// Largest X reached while extruding.
    pub max_x: f64,
    /// Largest Y reached while extruding.
    pub max_y: f64,
    /// Largest Z reached while extruding.
    pub max_z: f64,
}

/// A preview image the slicer embedded as a base64 comment block.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Thumbnail {
    /// Width in pixels, as the block header declares it.
    pub width: u32,
    /// Height in pixels, as the block header declares it.
    pub height: u32,
    /// Image format: `"png"`, `"jpg"` or `"qoi"`.
    pub format: String,
    /// Size of the decoded image in bytes (kept when `data` is not, e.g. after a JSON round trip).
    pub size: u64,
    /// The decoded image. Not serialized: summaries stay small and images are served separately.
    #[serde(skip)]
    pub data: Vec<u8>,
}

impl Thumbnail {
    /// The MIME type to serve [`Thumbnail::data`] with.
    pub fn mime_type(&self) -> &'static str {
        image_mime_type(&self.format)
    }
}

/// The MIME type of a thumbnail format (`png`, `jpg`, `qoi`), for a thumbnail whose bytes were
/// stored apart from its [`Thumbnail`] record.
pub fn image_mime_type(format: &str) -> &'static str {
    match format {
        "png" => "image/png",
        "jpg" => "image/jpeg",
        "qoi" => "image/qoi",
        _ => "application/octet-stream",
    }
}
