//! Resend requests: the firmware wants a line again (`Resend: 23`, Smoothieware's `rs N23`).

use super::text::{leading_u64, strip_prefix_ci};
use super::Reply;

/// `Resend: 23`, `Resend:23`, `Resend: N23`, `Resend: N:23`, `rs 23`,
/// `rs N23 expected checksum 109`. `None` when the line is no resend request, or names no line
/// the host could act on.
pub(super) fn parse_resend(line: &str) -> Option<Reply> {
    let rest = if let Some(rest) = strip_prefix_ci(line, "resend") {
        if !rest.starts_with(|c: char| c == ':' || c.is_ascii_whitespace()) {
            return None;
        }
        rest
    } else {
        let rest = strip_prefix_ci(line, "rs")?;
        if !rest.starts_with(|c: char| c.is_ascii_whitespace()) {
            return None;
        }
        rest
    };
    let rest = rest.trim_start_matches(|c: char| c == ':' || c.is_ascii_whitespace());
    let rest = rest.strip_prefix(['N', 'n']).unwrap_or(rest);
    let rest = rest.strip_prefix(':').unwrap_or(rest).trim_start();
    leading_u64(rest).map(Reply::Resend)
}

#[cfg(test)]
mod tests {
    use crate::protocol::reply::parse;
    use crate::protocol::reply::tests::info;
    use crate::protocol::reply::Reply;

    #[test]
    fn resend_in_every_syntax() {
        for (line, n) in [
            ("Resend: 23", 23),
            ("Resend:23", 23),
            ("Resend: N23", 23),
            ("Resend: N:23", 23),
            ("Resend:N:23\r", 23),
            ("rs 23", 23),
            ("rs N23 expected checksum 109", 23),
            ("resend: 7", 7),
            ("RESEND: 8", 8),
            ("resend 9", 9),
        ] {
            assert_eq!(parse(line), Reply::Resend(n), "{line:?}");
        }
    }

    #[test]
    fn resend_lookalikes_are_info() {
        assert_eq!(parse("Resend: x"), info("Resend: x"));
        assert_eq!(parse("resending"), info("resending"));
        assert_eq!(parse("rs232 ready"), info("rs232 ready"));
    }
}
