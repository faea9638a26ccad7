//! The M115 report: the firmware's name and `KEY:value` fields, and its `Cap:NAME:0|1`
//! capability lines.

use super::Reply;

/// The M115 report's first line.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FirmwareInfo {
    /// `FIRMWARE_NAME`, e.g. `Marlin 2.1.2.1 (Github)`, `Prusa-Firmware 3.13.3`, `RepRapFirmware for Duet 3 MB6HC`, `Klipper`.
    pub name: String,
    /// Every `KEY:value` pair in order (`PROTOCOL_VERSION`, `MACHINE_TYPE`, `EXTRUDER_COUNT`, `UUID`, …).
    pub fields: Vec<(String, String)>,
}

pub(super) const FIRMWARE_NAME: &str = "FIRMWARE_NAME:";

/// `Cap:NAME:0|1`.
pub(super) fn parse_capability(line: &str) -> Option<Reply> {
    let rest = line.strip_prefix("Cap:")?;
    let (name, value) = rest.rsplit_once(':')?;
    let enabled = match value.trim() {
        "1" => true,
        "0" => false,
        _ => return None,
    };
    let name = name.trim();
    if name.is_empty() {
        return None;
    }
    Some(Reply::Capability {
        name: name.to_owned(),
        enabled,
    })
}

/// M115: `KEY:value` pairs. A key is a run of `[A-Z0-9_]` starting with a letter, at the start
/// or after whitespace, directly followed by `:`; its value runs to the next key, so values may
/// hold spaces (`Marlin 2.1.2.1 (Github)`) and colons (`https://…`, `14:40:46`).
pub(super) fn parse_firmware(text: &str) -> FirmwareInfo {
    let bytes = text.as_bytes();
    // (key start, colon) of every key.
    let mut keys: Vec<(usize, usize)> = Vec::new();
    for start in 0..bytes.len() {
        if !bytes[start].is_ascii_uppercase()
            || (start > 0 && !bytes[start - 1].is_ascii_whitespace())
        {
            continue;
        }
        let len = bytes[start..]
            .iter()
            .take_while(|&&b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
            .count();
        if bytes.get(start + len) == Some(&b':') {
            keys.push((start, start + len));
        }
    }
    let mut info = FirmwareInfo::default();
    for (i, &(start, colon)) in keys.iter().enumerate() {
        let end = keys.get(i + 1).map_or(text.len(), |&(next, _)| next);
        let key = &text[start..colon];
        let value = text[colon + 1..end].trim();
        if key == "FIRMWARE_NAME" && info.name.is_empty() {
            info.name = value.to_owned();
        }
        info.fields.push((key.to_owned(), value.to_owned()));
    }
    info
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::reply::parse;
    use crate::protocol::reply::tests::info;

    #[test]
    fn marlin_m115() {
        let Reply::Firmware(fw) = parse(
            "FIRMWARE_NAME:Marlin 2.1.2.1 (Github) SOURCE_CODE_URL:github.com/MarlinFirmware/Marlin \
             PROTOCOL_VERSION:1.0 MACHINE_TYPE:Ender-3 EXTRUDER_COUNT:1 \
             UUID:cede2a2f-41a2-4748-9b12-c55c62f367ff\r",
        ) else {
            panic!("not firmware");
        };
        assert_eq!(fw.name, "Marlin 2.1.2.1 (Github)");
        let fields: Vec<(&str, &str)> = fw
            .fields
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        assert_eq!(
            fields,
            vec![
                ("FIRMWARE_NAME", "Marlin 2.1.2.1 (Github)"),
                ("SOURCE_CODE_URL", "github.com/MarlinFirmware/Marlin"),
                ("PROTOCOL_VERSION", "1.0"),
                ("MACHINE_TYPE", "Ender-3"),
                ("EXTRUDER_COUNT", "1"),
                ("UUID", "cede2a2f-41a2-4748-9b12-c55c62f367ff"),
            ]
        );
    }

    #[test]
    fn m115_url_with_scheme_is_one_value() {
        let Reply::Firmware(fw) = parse(
            "FIRMWARE_NAME:Prusa-Firmware 3.13.3 based on Marlin \
             FIRMWARE_URL:https://github.com/prusa3d/Prusa-Firmware PROTOCOL_VERSION:1.0",
        ) else {
            panic!("not firmware");
        };
        assert_eq!(fw.name, "Prusa-Firmware 3.13.3 based on Marlin");
        assert_eq!(
            fw.fields[1],
            (
                "FIRMWARE_URL".to_owned(),
                "https://github.com/prusa3d/Prusa-Firmware".to_owned()
            )
        );
        assert_eq!(fw.fields.len(), 3);
    }

    #[test]
    fn klipper_m115_with_ok() {
        assert_eq!(
            parse("ok FIRMWARE_VERSION:v0.12.0 FIRMWARE_NAME:Klipper"),
            Reply::Firmware(FirmwareInfo {
                name: "Klipper".into(),
                fields: vec![
                    ("FIRMWARE_VERSION".into(), "v0.12.0".into()),
                    ("FIRMWARE_NAME".into(), "Klipper".into()),
                ],
            })
        );
        assert_eq!(
            parse("FIRMWARE_VERSION:v0.12.0 FIRMWARE_NAME:Klipper"),
            parse("ok FIRMWARE_VERSION:v0.12.0 FIRMWARE_NAME:Klipper")
        );
    }

    #[test]
    fn rrf_m115_with_space_after_colon() {
        let Reply::Firmware(fw) = parse(
            "FIRMWARE_NAME: RepRapFirmware for Duet 3 MB6HC FIRMWARE_VERSION: 3.5.1 \
             ELECTRONICS: Duet 3 MB6HC v1.01 or later FIRMWARE_DATE: 2024-04-19 14:40:46",
        ) else {
            panic!("not firmware");
        };
        assert_eq!(fw.name, "RepRapFirmware for Duet 3 MB6HC");
        assert_eq!(
            fw.fields,
            vec![
                (
                    "FIRMWARE_NAME".into(),
                    "RepRapFirmware for Duet 3 MB6HC".into()
                ),
                ("FIRMWARE_VERSION".into(), "3.5.1".into()),
                ("ELECTRONICS".into(), "Duet 3 MB6HC v1.01 or later".into()),
                ("FIRMWARE_DATE".into(), "2024-04-19 14:40:46".into()),
            ]
        );
    }

    #[test]
    fn capabilities() {
        assert_eq!(
            parse("Cap:AUTOREPORT_TEMP:1"),
            Reply::Capability {
                name: "AUTOREPORT_TEMP".into(),
                enabled: true
            }
        );
        assert_eq!(
            parse("Cap:EMERGENCY_PARSER:0\r"),
            Reply::Capability {
                name: "EMERGENCY_PARSER".into(),
                enabled: false
            }
        );
        assert_eq!(parse("Cap:BROKEN:x"), info("Cap:BROKEN:x"));
    }
}
