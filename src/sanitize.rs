//! Text shown to people. Attacker-written text made safe: logs are written by whoever sent the
//! request, so control characters, terminal escape sequences and bidirectional overrides are
//! shown as visible escapes (`\x1b`, `\u{202e}`) and never reach the terminal raw. Numbers
//! with thousands separators.

use std::borrow::Cow;

/// True for characters that must not be written to a terminal as they are.
pub fn is_unsafe(c: char) -> bool {
    c.is_control()
        || matches!(c,
            '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}'
            | '\u{feff}' | '\u{fffe}' | '\u{ffff}')
}

/// Escapes every unsafe character; borrows when there is none.
pub fn escape_controls(s: &str) -> Cow<'_, str> {
    if !s.chars().any(is_unsafe) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c if is_unsafe(c) && (c as u32) < 0x100 => {
                out.push_str(&format!("\\x{:02x}", c as u32));
            }
            c if is_unsafe(c) => out.push_str(&format!("\\u{{{:04x}}}", c as u32)),
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// A count as people read it: `1,234,567`.
pub fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::with_capacity(s.len() + s.len() / 3);
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_terminal_sequences() {
        assert_eq!(
            escape_controls("Mozilla/5.0 \x1b[31mred\x1b[0m"),
            "Mozilla/5.0 \\x1b[31mred\\x1b[0m"
        );
        assert_eq!(escape_controls("a\r\nb\t\u{7}"), "a\\r\\nb\\t\\x07");
        assert_eq!(
            escape_controls("evil\u{202e}fdp.exe"),
            "evil\\u{202e}fdp.exe"
        );
        assert_eq!(escape_controls("\u{9b}[2J"), "\\x9b[2J");
        assert!(matches!(escape_controls("plain é"), Cow::Borrowed(_)));
    }
}
