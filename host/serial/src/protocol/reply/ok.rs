//! `ok`: the acknowledgement of a line, and what it carries (ADVANCED_OK's line number and free
//! slots, Repetier's line number, the temperatures that answer M105, Klipper's and
//! RepRapFirmware's M115 report).

use super::firmware::{parse_firmware, FIRMWARE_NAME};
use super::Reply;
use crate::protocol::temperature::{self, TemperatureReport};

/// What an `ok` carries besides the acknowledgement itself.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Ack {
    /// The line number the firmware reports as processed: ADVANCED_OK `N`, Repetier `ok <n>`.
    pub line: Option<u64>,
    /// ADVANCED_OK `P`: free planner slots.
    pub planner_free: Option<u32>,
    /// ADVANCED_OK `B`: free command buffer slots.
    pub buffer_free: Option<u32>,
    /// Temperatures on the same line (`ok T:210.0 /210.0 B:60.0 /60.0`).
    pub temperatures: Option<TemperatureReport>,
}

/// `rest` is what follows `ok `: ADVANCED_OK fields, Repetier's line number, temperatures, or
/// (Klipper, RRF) the M115 report.
pub(super) fn parse_ok(rest: &str) -> Reply {
    let mut ack = Ack::default();
    let has_colon = rest.contains(':');
    if has_colon && rest.contains(FIRMWARE_NAME) {
        return Reply::Firmware(parse_firmware(rest));
    }
    for (i, token) in rest.split_ascii_whitespace().enumerate() {
        if token.contains(':') {
            continue;
        }
        // Repetier acknowledges with the bare line number: `ok 12`.
        if i == 0 && token.bytes().all(|b| b.is_ascii_digit()) {
            ack.line = token.parse().ok();
            continue;
        }
        // `get` rather than `split_at`: the token may start with a multi-byte character.
        let Some(digits) = token.get(1..) else {
            continue;
        };
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        match token.as_bytes()[0] {
            b'N' => ack.line = digits.parse().ok(),
            b'P' => ack.planner_free = digits.parse().ok(),
            b'B' => ack.buffer_free = digits.parse().ok(),
            _ => {}
        }
    }
    if has_colon {
        ack.temperatures = temperature::parse(rest);
    }
    Reply::Ok(ack)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::reply::parse;
    use crate::protocol::reply::tests::{info, reading};
    use crate::protocol::temperature::Sensor;

    #[test]
    fn plain_ok_tolerates_line_endings_and_spaces() {
        for line in ["ok", "ok\r", "ok  ", " ok \r"] {
            assert_eq!(parse(line), Reply::Ok(Ack::default()), "{line:?}");
        }
    }

    #[test]
    fn ok_must_be_a_whole_word() {
        assert_eq!(parse("okay"), info("okay"));
        assert_eq!(parse("ok:"), info("ok:"));
    }

    #[test]
    fn ok_with_temperatures() {
        let Reply::Ok(ack) = parse("ok T:210.0 /210.0 B:60.0 /60.0 @:0 B@:0") else {
            panic!("not an ok");
        };
        assert_eq!(ack.line, None);
        let temps = ack.temperatures.expect("temperatures");
        assert_eq!(
            temps.readings,
            vec![
                (Sensor::Tool(0), reading(210.0, Some(210.0))),
                (Sensor::Bed, reading(60.0, Some(60.0))),
            ]
        );
    }

    #[test]
    fn ok_with_several_tools() {
        let Reply::Ok(ack) =
            parse("ok T:23.0/220.0 T0:23.0/220.0 T1:50.2/210.0 T2:39.4/220.0 B:60.0")
        else {
            panic!("not an ok");
        };
        let temps = ack.temperatures.expect("temperatures");
        let sensors: Vec<Sensor> = temps.readings.iter().map(|(s, _)| s.clone()).collect();
        assert_eq!(
            sensors,
            vec![
                Sensor::Tool(0),
                Sensor::Tool(1),
                Sensor::Tool(2),
                Sensor::Bed
            ]
        );
        assert_eq!(
            temps.get(&Sensor::Tool(1)),
            Some(reading(50.2, Some(210.0)))
        );
        assert_eq!(temps.get(&Sensor::Bed), Some(reading(60.0, None)));
    }

    #[test]
    fn ok_prusa_temperatures() {
        let Reply::Ok(ack) =
            parse("ok T:210.3 /210.0 B:60.3 /60.0 T0:210.3 /210.0 @:79 B@:0 P:35.9 A:40.0")
        else {
            panic!("not an ok");
        };
        let temps = ack.temperatures.expect("temperatures");
        assert_eq!(temps.readings.len(), 4);
        assert_eq!(
            temps.get(&Sensor::Tool(0)),
            Some(reading(210.3, Some(210.0)))
        );
        assert_eq!(
            temps.get(&Sensor::Other("P".into())),
            Some(reading(35.9, None))
        );
        assert_eq!(
            temps.get(&Sensor::Other("A".into())),
            Some(reading(40.0, None))
        );
    }

    #[test]
    fn klipper_ok_t0() {
        assert_eq!(
            parse("ok T:0"),
            Reply::Ok(Ack {
                temperatures: Some(TemperatureReport {
                    readings: vec![(Sensor::Tool(0), reading(0.0, None))],
                }),
                ..Ack::default()
            })
        );
    }

    #[test]
    fn advanced_ok() {
        assert_eq!(
            parse("ok N12 P15 B3\r"),
            Reply::Ok(Ack {
                line: Some(12),
                planner_free: Some(15),
                buffer_free: Some(3),
                temperatures: None,
            })
        );
        assert_eq!(
            parse("ok P0 B1"),
            Reply::Ok(Ack {
                planner_free: Some(0),
                buffer_free: Some(1),
                ..Ack::default()
            })
        );
    }

    #[test]
    fn repetier_ok_with_line() {
        assert_eq!(
            parse("ok 12"),
            Reply::Ok(Ack {
                line: Some(12),
                ..Ack::default()
            })
        );
    }
}
