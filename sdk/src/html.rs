//! Writing HTML from a plugin: for the pages a plugin serves (`pages` in `plugin.toml`), where
//! every value that came from a user, a file or a printer must be escaped.

/// `text` escaped for HTML content and quoted attribute values: `&`, `<`, `>`, `"` and `'`.
///
/// ```
/// use printfarm_sdk::html;
///
/// assert_eq!(html::escape(r#"<b class="x">Tom & 'Jerry'"#),
///            "&lt;b class=&quot;x&quot;&gt;Tom &amp; &#39;Jerry&#39;");
/// ```
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}
