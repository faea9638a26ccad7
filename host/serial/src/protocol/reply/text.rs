//! The text matching the reply parsers share: a leading number, and ASCII prefixes and words
//! matched case-insensitively (firmware spells `Error:`, `Resend:` and their words as it
//! likes).

/// The decimal number at the start of `text`.
pub(super) fn leading_u64(text: &str) -> Option<u64> {
    let digits = text.bytes().take_while(u8::is_ascii_digit).count();
    text[..digits].parse().ok()
}

pub(super) fn starts_with_ci(text: &str, prefix: &str) -> bool {
    text.len() >= prefix.len()
        && text.as_bytes()[..prefix.len()].eq_ignore_ascii_case(prefix.as_bytes())
}

/// `text` without an ASCII `prefix` matched case-insensitively.
pub(super) fn strip_prefix_ci<'a>(text: &'a str, prefix: &str) -> Option<&'a str> {
    // The prefix is ASCII, so a match ends on a char boundary.
    starts_with_ci(text, prefix).then(|| &text[prefix.len()..])
}

/// Whether `text` contains any of the lower-case ASCII `needles`, ignoring ASCII case.
pub(super) fn contains_any_ci(text: &str, needles: &[&str]) -> bool {
    let hay = text.as_bytes();
    needles.iter().any(|needle| {
        hay.windows(needle.len())
            .any(|w| w.eq_ignore_ascii_case(needle.as_bytes()))
    })
}
