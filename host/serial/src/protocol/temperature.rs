//! Temperature reports in every flavour: `T:210.04 /210.00 B:52.00 /52.00 @:85 B@:31`,
//! `T:23.0/220.0 T0:23.0/220.0 T1:50.2/210.0`, Prusa's `P:` and `A:`, chamber `C:`, Klipper's `T:0`.

/// Which sensor a reading is from.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Sensor {
    /// Extruder `n` (`T0`, `T1`, …; a lone `T` is the active tool, reported as tool 0 when no
    /// numbered tools are present).
    Tool(u8),
    /// The heated bed (`B`).
    Bed,
    /// The chamber (`C`).
    Chamber,
    /// Any other sensor with its letter(s): Prusa's `P` (PINDA), `A` (ambient).
    Other(String),
}

impl Sensor {
    /// The name the rest of printfarm uses: `tool0`, `bed`, `chamber`, or the letter lower-cased.
    pub fn name(&self) -> String {
        match self {
            Sensor::Tool(n) => format!("tool{n}"),
            Sensor::Bed => "bed".into(),
            Sensor::Chamber => "chamber".into(),
            Sensor::Other(s) => s.to_ascii_lowercase(),
        }
    }
}

/// One sensor's reading.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Reading {
    /// Measured °C.
    pub actual: f64,
    /// Target °C, when reported.
    pub target: Option<f64>,
}

/// Every reading of one report, in the order the firmware listed them, one per sensor.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct TemperatureReport {
    /// The readings.
    pub readings: Vec<(Sensor, Reading)>,
}

impl TemperatureReport {
    /// The reading of one sensor.
    pub fn get(&self, sensor: &Sensor) -> Option<Reading> {
        self.readings
            .iter()
            .find(|(s, _)| s == sensor)
            .map(|(_, r)| *r)
    }
}

/// Parses the temperature part of a line (`T:… B:…`, with or without a leading `ok `).
/// `None` when the line holds no temperature.
pub fn parse(text: &str) -> Option<TemperatureReport> {
    let mut readings: Vec<(Sensor, Reading)> = Vec::new();
    // Index of the reading a following `/target` token belongs to (`T:210.04 /210.00`).
    let mut last: Option<usize> = None;
    // Where the bare `T` went: it is dropped again once a numbered tool shows up, because then
    // it only duplicates the active tool.
    let mut bare_tool: Option<usize> = None;
    let mut numbered_tools = false;

    for token in text.split_ascii_whitespace() {
        if let Some(target) = token.strip_prefix('/') {
            if let Some(i) = last.take() {
                if readings[i].1.target.is_none() {
                    readings[i].1.target = number(target);
                }
            }
            continue;
        }
        last = None;
        let Some((key, value)) = token.split_once(':') else {
            continue;
        };
        let sensor = match key_sensor(key) {
            Key::ActiveTool if numbered_tools => continue,
            Key::ActiveTool => Sensor::Tool(0),
            Key::Sensor(sensor) => sensor,
            Key::Skip => continue,
        };
        let (actual, target) = match value.split_once('/') {
            Some((actual, target)) => (actual, number(target)),
            None => (value, None),
        };
        // Unparsable (`W:?`, `inf`, garbage): skipped rather than reported as a bogus 0.
        let Some(actual) = number(actual) else {
            continue;
        };
        let numbered = matches!(sensor, Sensor::Tool(_)) && key.len() > 1;
        if numbered && !numbered_tools {
            numbered_tools = true;
            if let Some(i) = bare_tool.take() {
                readings.remove(i);
            }
        }
        if readings.iter().any(|(s, _)| *s == sensor) {
            continue;
        }
        if !numbered && sensor == Sensor::Tool(0) {
            bare_tool = Some(readings.len());
        }
        last = Some(readings.len());
        readings.push((sensor, Reading { actual, target }));
    }

    (!readings.is_empty()).then_some(TemperatureReport { readings })
}

/// What a `KEY:` in a temperature report stands for.
enum Key {
    /// A lone `T`: the active tool.
    ActiveTool,
    /// A sensor reading.
    Sensor(Sensor),
    /// Not a temperature: heater power (`@`, `B@`, `@0`), M109's `E:`/`W:` wait fields, or
    /// anything unknown.
    Skip,
}

fn key_sensor(key: &str) -> Key {
    match key {
        "T" => Key::ActiveTool,
        "B" => Key::Sensor(Sensor::Bed),
        "C" => Key::Sensor(Sensor::Chamber),
        "P" | "A" => Key::Sensor(Sensor::Other(key.to_owned())),
        _ => match key.strip_prefix('T') {
            Some(n) if !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) => n
                .parse()
                .map_or(Key::Skip, |n| Key::Sensor(Sensor::Tool(n))),
            _ => Key::Skip,
        },
    }
}

/// A finite number; `inf`/`nan` parse as `f64` in Rust but are never a temperature.
fn number(text: &str) -> Option<f64> {
    text.trim().parse::<f64>().ok().filter(|v| v.is_finite())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reading(actual: f64, target: Option<f64>) -> Reading {
        Reading { actual, target }
    }

    #[test]
    fn marlin_autoreport_with_spaces_and_heater_power() {
        let r = parse("T:210.04 /210.00 B:52.00 /52.00 @:85 B@:31").unwrap();
        assert_eq!(
            r.readings,
            vec![
                (Sensor::Tool(0), reading(210.04, Some(210.0))),
                (Sensor::Bed, reading(52.0, Some(52.0))),
            ]
        );
    }

    #[test]
    fn several_tools_without_spaces_drop_the_bare_t() {
        let r = parse("ok T:23.0/220.0 T0:23.0/220.0 T1:50.2/210.0 T2:39.4/220.0 B:60.0").unwrap();
        assert_eq!(
            r.readings,
            vec![
                (Sensor::Tool(0), reading(23.0, Some(220.0))),
                (Sensor::Tool(1), reading(50.2, Some(210.0))),
                (Sensor::Tool(2), reading(39.4, Some(220.0))),
                (Sensor::Bed, reading(60.0, None)),
            ]
        );
    }

    #[test]
    fn bare_t_after_numbered_tools_is_ignored() {
        let r = parse("T0:20.0 /0.0 T1:30.0 /0.0 T:30.0 /0.0").unwrap();
        assert_eq!(
            r.readings,
            vec![
                (Sensor::Tool(0), reading(20.0, Some(0.0))),
                (Sensor::Tool(1), reading(30.0, Some(0.0))),
            ]
        );
    }

    #[test]
    fn prusa_with_pinda_and_ambient() {
        let r = parse("ok T:210.3 /210.0 B:60.3 /60.0 T0:210.3 /210.0 @:79 B@:0 P:35.9 A:40.0")
            .unwrap();
        assert_eq!(
            r.readings,
            vec![
                (Sensor::Bed, reading(60.3, Some(60.0))),
                (Sensor::Tool(0), reading(210.3, Some(210.0))),
                (Sensor::Other("P".into()), reading(35.9, None)),
                (Sensor::Other("A".into()), reading(40.0, None)),
            ]
        );
        assert_eq!(Sensor::Other("P".into()).name(), "p");
    }

    #[test]
    fn chamber() {
        let r = parse("T:200.0 /200.0 B:60.0 /60.0 C:35.0 /40.0 @:0 B@:0").unwrap();
        assert_eq!(r.get(&Sensor::Chamber), Some(reading(35.0, Some(40.0))));
        assert_eq!(r.readings.len(), 3);
    }

    #[test]
    fn klipper_before_ready() {
        let r = parse("ok T:0").unwrap();
        assert_eq!(r.readings, vec![(Sensor::Tool(0), reading(0.0, None))]);
    }

    #[test]
    fn bed_without_target() {
        let r = parse("B:60.0").unwrap();
        assert_eq!(r.readings, vec![(Sensor::Bed, reading(60.0, None))]);
    }

    #[test]
    fn m109_wait_line_skips_e_and_w() {
        let r = parse("T:210.0 E:0 W:?").unwrap();
        assert_eq!(r.readings, vec![(Sensor::Tool(0), reading(210.0, None))]);
        let r = parse("T:205.3 /210.0 B:60.1 /60.0 @:127 B@:0 W:3").unwrap();
        assert_eq!(r.get(&Sensor::Tool(0)), Some(reading(205.3, Some(210.0))));
        assert_eq!(r.readings.len(), 2);
    }

    #[test]
    fn negative_values_and_garbage_do_not_panic() {
        let r = parse("T:-15.00 /0.00 B:inf /nan C:nan T9999:1").unwrap();
        assert_eq!(
            r.readings,
            vec![(Sensor::Tool(0), reading(-15.0, Some(0.0)))]
        );
        assert_eq!(parse("T:abc B:/ /// : :: T:"), None);
    }

    #[test]
    fn no_temperature_is_none() {
        assert_eq!(parse(""), None);
        assert_eq!(parse("ok"), None);
        assert_eq!(parse("ok N12 P15 B3"), None);
        assert_eq!(parse("X:1.0 Y:2.0 Z:3.0 E:4.0"), None);
        assert_eq!(parse("@:85 B@:31"), None);
    }
}
