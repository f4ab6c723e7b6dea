//! RFC 4180 splitting that borrows: fields without quotes are slices of the record, and only
//! quoted fields holding doubled quotes are copied. Exchange logs quote any value containing a
//! comma or a quote; event exports quote everything.

use std::borrow::Cow;

/// Splits one CSV record into fields. A stray quote inside an unquoted field is kept as text
/// (as Excel and PowerShell do) rather than failing the row.
pub fn split(record: &str) -> Vec<Cow<'_, str>> {
    let mut fields = Vec::with_capacity(16);
    let bytes = record.as_bytes();
    let mut pos = 0;
    loop {
        if bytes.get(pos) == Some(&b'"') {
            let (field, next) = quoted_field(record, pos + 1);
            fields.push(field);
            // Skip anything between the closing quote and the next comma.
            match memchr::memchr(b',', &bytes[next.min(bytes.len())..]) {
                Some(i) => pos = next + i + 1,
                None => break,
            }
        } else {
            match memchr::memchr(b',', &bytes[pos..]) {
                Some(i) => {
                    fields.push(Cow::Borrowed(&record[pos..pos + i]));
                    pos += i + 1;
                }
                None => {
                    fields.push(Cow::Borrowed(&record[pos..]));
                    break;
                }
            }
        }
    }
    fields
}

/// Reads a quoted field starting just after its opening quote; returns the value and the index
/// just past the closing quote.
fn quoted_field(record: &str, start: usize) -> (Cow<'_, str>, usize) {
    let bytes = record.as_bytes();
    let mut i = start;
    let mut owned: Option<String> = None;
    let mut run_start = start;
    while i < bytes.len() {
        if bytes[i] == b'"' {
            if bytes.get(i + 1) == Some(&b'"') {
                let buf = owned.get_or_insert_with(String::new);
                buf.push_str(&record[run_start..=i]);
                i += 2;
                run_start = i;
                continue;
            }
            let value = match owned {
                Some(mut buf) => {
                    buf.push_str(&record[run_start..i]);
                    Cow::Owned(buf)
                }
                None => Cow::Borrowed(&record[start..i]),
            };
            return (value, i + 1);
        }
        i += 1;
    }
    // Unterminated quote: take the rest as the value.
    let value = match owned {
        Some(mut buf) => {
            buf.push_str(&record[run_start..]);
            Cow::Owned(buf)
        }
        None => Cow::Borrowed(&record[start..]),
    };
    (value, bytes.len())
}

/// True when a record has an even number of quotes, i.e. a newline after it ends the record.
pub fn quotes_balanced(record: &[u8]) -> bool {
    memchr::memchr_iter(b'"', record).count().is_multiple_of(2)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_and_empty_fields() {
        assert_eq!(split("a,,c"), vec!["a", "", "c"]);
        assert_eq!(split(""), vec![""]);
        assert_eq!(split("a,"), vec!["a", ""]);
    }

    #[test]
    fn quoted_fields_with_commas_and_doubled_quotes() {
        let f = split(r#"1,"Mozilla/5.0 (KHTML, like Gecko)","say ""hi""",x"#);
        assert_eq!(f.len(), 4);
        assert_eq!(f[1], "Mozilla/5.0 (KHTML, like Gecko)");
        assert!(matches!(f[1], Cow::Borrowed(_)));
        assert_eq!(f[2], r#"say "hi""#);
        assert_eq!(f[3], "x");
    }

    #[test]
    fn multiline_quoted_field() {
        let f = split("\"a\r\nb\",c");
        assert_eq!(f, vec!["a\r\nb", "c"]);
    }

    #[test]
    fn stray_and_unterminated_quotes_do_not_panic() {
        assert_eq!(split(r#"ab"c,d"#), vec![r#"ab"c"#, "d"]);
        assert_eq!(split(r#""abc"#), vec!["abc"]);
        assert_eq!(split(r#""a""#).len(), 1);
        assert!(quotes_balanced(br#""a,b",c"#));
        assert!(!quotes_balanced(br#""a,b"#));
    }
}
