//! Free text lines that begin with an ISO 8601 timestamp (application logs, OAB generator logs
//! whose format is not published): the time, and the rest as `message`.

use std::borrow::Cow;

use super::{Malformed, ParseCtx, time};
use crate::event::Event;

/// Length of the leading timestamp, if the line starts with one.
fn timestamp_len(line: &str) -> Option<usize> {
    let b = line.as_bytes();
    // ASCII only: the cut below must fall between characters (a fuzzed line had a
    // multi-byte character across byte 19).
    if b.len() < 19 || !b[..19].is_ascii() || !(b[10] == b'T' || b[10] == b' ') {
        return None;
    }
    let mut end = 19;
    // Fraction.
    if matches!(b.get(end), Some(b'.' | b',')) {
        end += 1;
        while b.get(end).is_some_and(u8::is_ascii_digit) {
            end += 1;
        }
    }
    // Zone: Z, or ±HH:MM / ±HHMM right after the time.
    match b.get(end) {
        Some(b'Z' | b'z') => end += 1,
        Some(b'+' | b'-') => {
            let zone_len = b[end + 1..]
                .iter()
                .take(5)
                .take_while(|c| c.is_ascii_digit() || **c == b':')
                .count();
            if zone_len >= 4 {
                end += 1 + zone_len;
            }
        }
        _ => {}
    }
    Some(end)
}

/// Parses one line.
pub fn parse<'a>(line: &'a str, ctx: &ParseCtx) -> Result<Event<'a>, Malformed> {
    let line = line.trim_end_matches(['\r', '\n']);
    let len = timestamp_len(line).ok_or_else(|| Malformed("no leading timestamp".into()))?;
    let stamp = line[..len].replace(',', ".");
    let instant = time::parse_iso(&stamp, ctx.tz)
        .ok_or_else(|| Malformed("unreadable leading timestamp".into()))?;
    let mut ev = Event {
        ts_ms: instant.ms,
        ts_naive: instant.naive,
        ..Event::default()
    };
    let message = line[len..].trim_start_matches([' ', '\t', ',', '|', ';']);
    if !message.is_empty() {
        ev.attrs
            .push((Cow::Borrowed("message"), Cow::Borrowed(message)));
    }
    Ok(ev)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::formats::time::format_ms;

    /// Found by `cargo fuzz run formats`: a character across byte 19 panicked the slicing.
    #[test]
    fn a_character_across_the_timestamp_end_is_malformed_not_a_panic() {
        let ctx = ParseCtx::default();
        assert!(parse("2021-03-05 17:42:2\u{fffd} message", &ctx).is_err());
        assert!(parse("2021-03-05T17:42:\u{e9}1 x", &ctx).is_err());
    }

    #[test]
    fn leading_timestamps() {
        let ctx = ParseCtx::default();
        let ev = parse(
            "2021-03-05T17:55:40.123Z Download failed and temporary file 'x' needs to be removed.",
            &ctx,
        )
        .expect("parses");
        assert_eq!(format_ms(ev.ts_ms), "2021-03-05T17:55:40.123Z");
        assert!(
            ev.attr("message")
                .is_some_and(|m| m.starts_with("Download failed"))
        );
        let ev = parse("2021-03-05 17:55:40,5 - INFO x", &ctx).expect("comma fraction");
        assert_eq!(format_ms(ev.ts_ms), "2021-03-05T17:55:40.500Z");
        assert!(ev.ts_naive);
        let ev = parse("2021-03-05T17:55:40-05:00|x", &ctx).expect("offset");
        assert_eq!(format_ms(ev.ts_ms), "2021-03-05T22:55:40.000Z");
        assert!(parse("Download failed", &ctx).is_err());
    }
}
