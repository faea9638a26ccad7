//! `[profiles.<name>]`: what a kind of printer can do (build volume, heaters, extruders, speeds),
//! shared by the printers that name it with `profile = "<name>"`. Plugins read it through the
//! printers interface (the OctoPrint surface's printer profiles, settings and heater checks).

use serde::{Deserialize, Serialize};

/// Where (0,0) is on the bed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Origin {
    /// The front-left corner (cartesian printers).
    #[default]
    FrontLeft,
    /// The bed's centre (most deltas).
    Center,
}

/// The bed's outline.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum BedShape {
    /// A rectangle of the volume's width and depth.
    #[default]
    Rectangular,
    /// A disc of the volume's width as diameter.
    Circular,
}

/// One printer profile.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct PrinterProfile {
    /// The profile's name (its table name; `generic` for printers without one).
    #[serde(skip_deserializing)]
    pub name: String,
    /// Build volume: width (X), depth (Y), height (Z) in mm.
    #[serde(default = "default_volume")]
    pub volume: [f64; 3],
    /// Where (0,0) is.
    #[serde(default)]
    pub origin: Origin,
    /// The bed's outline.
    #[serde(default)]
    pub bed_shape: BedShape,
    /// Whether the bed heats (default true).
    #[serde(default = "yes")]
    pub heated_bed: bool,
    /// Whether there is a heated chamber (default false).
    #[serde(default)]
    pub heated_chamber: bool,
    /// Number of extruders (default 1).
    #[serde(default = "one")]
    pub extruders: u32,
    /// Nozzle diameter in mm (default 0.4).
    #[serde(default = "default_nozzle")]
    pub nozzle_diameter: f64,
    /// Maximum feed rates of X, Y, Z and E in mm/min, for jogging (default 6000, 6000, 200, 300).
    #[serde(default = "default_speeds")]
    pub max_speeds: [f64; 4],
}

/// The name printers without a profile get.
pub const GENERIC: &str = "generic";

fn default_volume() -> [f64; 3] {
    [200.0, 200.0, 200.0]
}
fn yes() -> bool {
    true
}
fn one() -> u32 {
    1
}
fn default_nozzle() -> f64 {
    0.4
}
fn default_speeds() -> [f64; 4] {
    [6000.0, 6000.0, 200.0, 300.0]
}

impl Default for PrinterProfile {
    /// A generic 200 mm cartesian printer with a heated bed and one extruder.
    fn default() -> PrinterProfile {
        PrinterProfile {
            name: GENERIC.to_string(),
            volume: default_volume(),
            origin: Origin::default(),
            bed_shape: BedShape::default(),
            heated_bed: true,
            heated_chamber: false,
            extruders: 1,
            nozzle_diameter: default_nozzle(),
            max_speeds: default_speeds(),
        }
    }
}

impl PrinterProfile {
    /// Checks the values; the message names the key.
    pub fn validate(&self) -> Result<(), String> {
        if self
            .volume
            .iter()
            .any(|v| v.is_nan() || *v <= 0.0 || *v > 10_000.0)
        {
            return Err(
                "`volume` must be three sizes in mm, each above 0 and at most 10000".into(),
            );
        }
        if !(1..=16).contains(&self.extruders) {
            return Err("`extruders` must be between 1 and 16".into());
        }
        if !(0.05..=5.0).contains(&self.nozzle_diameter) {
            return Err("`nozzle-diameter` must be between 0.05 and 5 mm".into());
        }
        // `is_nan` too: a NaN speed is as wrong as a negative one.
        if self.max_speeds.iter().any(|v| v.is_nan() || *v <= 0.0) {
            return Err("`max-speeds` must be four feed rates in mm/min, each above 0".into());
        }
        Ok(())
    }
}
