//! The page frame and HTML escaping.

/// `text` with `& < > " '` escaped, for element content and quoted attributes.
#[allow(dead_code)] // until the pages use it (issue 6 in progress)
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
