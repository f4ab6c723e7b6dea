//! Text shown to people. Attacker-written text made safe: logs are written by whoever sent the
//! request, so control characters, terminal escape sequences and bidirectional overrides are
//! shown as visible escapes (`\x1b`, `\u{202e}`) and never reach the terminal raw. Numbers
//! with thousands separators; bytes that are not text, as base64.

use std::borrow::Cow;

/// True for characters that must not be written to a terminal as they are: controls,
/// bidirectional overrides, line separators, and the invisible ones (format characters, blank
/// fillers) that would make two different values read the same. The joiners (U+200C, U+200D),
/// variation selectors and emoji tags are text: Persian words and emoji sequences use them.
pub fn is_unsafe(c: char) -> bool {
    c.is_control()
        || matches!(c,
            '\u{ad}' | '\u{34f}' | '\u{61c}' | '\u{115f}' | '\u{1160}' | '\u{17b4}' | '\u{17b5}'
            | '\u{180e}' | '\u{200b}' | '\u{200e}' | '\u{200f}' | '\u{2028}'..='\u{202e}'
            | '\u{2060}'..='\u{2064}' | '\u{2066}'..='\u{206f}' | '\u{3164}' | '\u{feff}'
            | '\u{ffa0}' | '\u{fff9}'..='\u{fffb}' | '\u{fffe}' | '\u{ffff}'
            | '\u{1d173}'..='\u{1d17a}' | '\u{e0001}')
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

/// JSON text (as serde_json writes it) with the unsafe characters it leaves raw (DEL, C1
/// controls, bidirectional overrides, invisible marks) written as `\uXXXX` escapes: the same
/// JSON value, but one that cannot reorder or hide text in a terminal or an editor. They can
/// only occur inside strings, where the escape means the same character.
pub fn json_escape_unsafe(json: String) -> String {
    if !json.chars().any(|c| c as u32 >= 0x7f && is_unsafe(c)) {
        return json;
    }
    let mut out = String::with_capacity(json.len() + 16);
    for c in json.chars() {
        if c as u32 >= 0x7f && is_unsafe(c) {
            // Every such character is in the Basic Multilingual Plane: one `\u` escape.
            out.push_str(&format!("\\u{:04x}", c as u32));
        } else {
            out.push(c);
        }
    }
    out
}

/// A writer to a terminal: whatever passes through has its unsafe characters escaped as
/// [`escape_controls`] does, except the line feeds and tabs that lay the output out. Bytes
/// that are not UTF-8 are written as `\xNN`. Commands write CSV and JSON through it when their
/// output is a terminal, so text from the logs cannot drive the terminal whatever the format.
#[derive(Debug)]
pub struct TerminalSafe<W: std::io::Write> {
    inner: W,
    /// The start of a character split across writes.
    pending: Vec<u8>,
}

impl<W: std::io::Write> TerminalSafe<W> {
    pub fn new(inner: W) -> Self {
        TerminalSafe {
            inner,
            pending: Vec::new(),
        }
    }

    /// Escapes and writes what `pending` holds, keeping an incomplete last character unless
    /// `all`.
    fn drain(&mut self, all: bool) -> std::io::Result<()> {
        let mut out = String::new();
        let mut rest: &[u8] = &self.pending;
        loop {
            match std::str::from_utf8(rest) {
                Ok(text) => {
                    push_escaped(&mut out, text);
                    rest = &[];
                    break;
                }
                Err(e) => {
                    let (good, bad) = rest.split_at(e.valid_up_to());
                    push_escaped(&mut out, std::str::from_utf8(good).unwrap_or_default());
                    match e.error_len() {
                        Some(n) => {
                            for b in &bad[..n] {
                                out.push_str(&format!("\\x{b:02x}"));
                            }
                            rest = &bad[n..];
                        }
                        None if all => {
                            for b in bad {
                                out.push_str(&format!("\\x{b:02x}"));
                            }
                            rest = &[];
                            break;
                        }
                        None => {
                            rest = bad;
                            break;
                        }
                    }
                }
            }
        }
        let keep = rest.to_vec();
        self.pending = keep;
        self.inner.write_all(out.as_bytes())
    }
}

fn push_escaped(out: &mut String, text: &str) {
    for line in text.split_inclusive('\n') {
        let (body, nl) = match line.strip_suffix('\n') {
            Some(b) => (b, "\n"),
            None => (line, ""),
        };
        for part in body.split_inclusive('\t') {
            let (cell, tab) = match part.strip_suffix('\t') {
                Some(c) => (c, "\t"),
                None => (part, ""),
            };
            out.push_str(&escape_controls(cell));
            out.push_str(tab);
        }
        out.push_str(nl);
    }
}

impl<W: std::io::Write> std::io::Write for TerminalSafe<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.pending.extend_from_slice(buf);
        self.drain(false)?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.drain(true)?;
        self.inner.flush()
    }
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

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Bytes as text: UTF-8 as it reads, every byte that is not as a visible `\xNN` escape.
pub fn escape_invalid_utf8(mut bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    loop {
        match std::str::from_utf8(bytes) {
            Ok(text) => {
                out.push_str(text);
                return out;
            }
            Err(e) => {
                let (valid, rest) = bytes.split_at(e.valid_up_to());
                out.push_str(std::str::from_utf8(valid).unwrap_or_default());
                let bad = e.error_len().unwrap_or(rest.len()).max(1).min(rest.len());
                for b in &rest[..bad] {
                    out.push_str(&format!("\\x{b:02x}"));
                }
                bytes = &rest[bad..];
            }
        }
    }
}

/// Bytes as standard base64 with padding: a record's bytes that are not UTF-8, in JSON; Sigma's
/// `base64` modifiers.
pub fn base64(bytes: &[u8]) -> String {
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        let chars = [18, 12, 6, 0].map(|s| B64[((n >> s) & 63) as usize] as char);
        out.extend(&chars[..chunk.len() + 1]);
        out.extend(std::iter::repeat_n('=', 3 - chunk.len()));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_that_are_not_utf8_show_as_they_are() {
        assert_eq!(
            escape_invalid_utf8(b"/owa/raw9b\x9b31m \xc3\xa9 \xc3"),
            "/owa/raw9b\\x9b31m é \\xc3"
        );
        assert_eq!(escape_invalid_utf8(b""), "");
    }

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
        // Invisible: two different agents must not read the same.
        assert_eq!(
            escape_controls("python\u{200b}-requests\u{ad}/2\u{2060}.25"),
            "python\\u{200b}-requests\\xad/2\\u{2060}.25"
        );
        // Joiners and tags are text: Persian, emoji sequences, subdivision flags.
        let text = "می\u{200c}خواهم 👨\u{200d}👩\u{200d}👧 🏴\u{e0067}\u{e0062}\u{e0073}\u{e0063}\u{e0074}\u{e007f}";
        assert_eq!(escape_controls(text), text);
        assert_eq!(escape_controls("x"), "x");
        assert_eq!(escape_controls("\u{9b}[2J"), "\\x9b[2J");
        assert!(matches!(escape_controls("plain é"), Cow::Borrowed(_)));
    }

    #[test]
    fn json_keeps_its_value_without_raw_c1_or_bidi() {
        let value = serde_json::json!({"ua": "a\u{9b}[2J\u{202e}b\u{7f}é\u{1b}"});
        let text = json_escape_unsafe(serde_json::to_string(&value).expect("json"));
        assert!(!text.chars().any(is_unsafe), "{text}");
        let back: serde_json::Value = serde_json::from_str(&text).expect("still JSON");
        assert_eq!(back, value);
    }

    #[test]
    fn a_terminal_writer_escapes_across_writes() {
        use std::io::Write;
        let mut out = TerminalSafe::new(Vec::new());
        let text = "a,\x1b]0;title\x07,b\tc\né\u{202e}\n".as_bytes();
        // Byte by byte: characters split across writes are joined again.
        for b in text {
            out.write_all(&[*b]).expect("write");
        }
        out.write_all(b"\xff\xc3").expect("write");
        out.flush().expect("flush");
        assert_eq!(
            String::from_utf8(out.inner).expect("utf-8"),
            "a,\\x1b]0;title\\x07,b\tc\né\\u{202e}\n\\xff\\xc3"
        );
    }
}
