//! How both commands show what they receive.

/// The most bytes of a binary message shown in hex.
const SHOWN_BYTES: usize = 32;

/// A binary message as one line: `<binary N bytes: 01 02 ...>`, the first 32 bytes in hex.
pub fn binary_summary(bytes: &[u8]) -> String {
    let shown: Vec<String> = bytes
        .iter()
        .take(SHOWN_BYTES)
        .map(|b| format!("{b:02x}"))
        .collect();
    let more = if bytes.len() > SHOWN_BYTES {
        " ..."
    } else {
        ""
    };
    match bytes.len() {
        0 => "<binary 0 bytes>".to_owned(),
        n => format!("<binary {n} bytes: {}{more}>", shown.join(" ")),
    }
}

/// Text on one line: line breaks, tabs and other control characters escaped (`\n`, `\t`,
/// `\u{1b}`), so a message cannot break the line it is printed on or drive the terminal.
pub fn one_line(text: &str) -> String {
    escaped(text, false)
}

/// Text for a terminal: line breaks and tabs kept, every other control character escaped
/// (`\u{1b}`), so that a peer cannot drive the terminal (titles, the clipboard, the screen).
pub fn printable(text: &str) -> String {
    escaped(text, true)
}

/// `text` with its control characters escaped, line breaks and tabs too unless `keep_lines`.
fn escaped(text: &str, keep_lines: bool) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\n' | '\t' if keep_lines => out.push(c),
            '\n' => out.push_str("\\n"),
            '\r' if !keep_lines => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => out.extend(c.escape_unicode()),
            c => out.push(c),
        }
    }
    out
}

/// A closure as printed: `CODE` or `CODE REASON`.
pub fn with_reason(code: u16, reason: &str) -> String {
    if reason.is_empty() {
        code.to_string()
    } else {
        format!("{code} {}", one_line(reason))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binary_is_summarised_in_hex() {
        assert_eq!(binary_summary(&[]), "<binary 0 bytes>");
        assert_eq!(binary_summary(&[0, 0xff, 7]), "<binary 3 bytes: 00 ff 07>");
        let long = binary_summary(&[0xab; 40]);
        assert!(long.starts_with("<binary 40 bytes: ab ab"), "{long}");
        assert!(long.ends_with(" ...>"), "{long}");
        assert_eq!(long.matches("ab").count(), 32);
    }

    #[test]
    fn control_characters_are_escaped() {
        assert_eq!(one_line("a\nb\tc\r"), "a\\nb\\tc\\r");
        assert_eq!(one_line("\u{1b}[2J ✓"), "\\u{1b}[2J ✓");
        assert_eq!(
            printable("two\nlines\u{1b}]0;title\u{7}"),
            "two\nlines\\u{1b}]0;title\\u{7}"
        );
        assert_eq!(with_reason(1000, ""), "1000");
        assert_eq!(with_reason(4000, "bye\nnow"), "4000 bye\\nnow");
    }
}
