//! Timestamp parsing for the formats logs use, by hand on the hot path.
//!
//! Every parser returns milliseconds since the Unix epoch in UTC. A time written without a zone
//! is converted with the ingest's explicit zone (`--tz`, UTC by default) and flagged as naive so
//! the summary can say how many times were interpreted.

use chrono::{FixedOffset, NaiveDate, Offset, TimeZone};

/// A parsed instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Instant {
    pub ms: i64,
    /// The source wrote no zone; `ms` was computed with the ingest's zone.
    pub naive: bool,
}

fn digits(bytes: &[u8]) -> Option<u32> {
    if bytes.is_empty() {
        return None;
    }
    let mut v: u32 = 0;
    for &b in bytes {
        if !b.is_ascii_digit() {
            return None;
        }
        v = v.checked_mul(10)?.checked_add(u32::from(b - b'0'))?;
    }
    Some(v)
}

/// Days since the Unix epoch for a civil date (Howard Hinnant's algorithm), or None if the date
/// does not exist.
pub fn days_from_civil(year: i32, month: u32, day: u32) -> Option<i64> {
    NaiveDate::from_ymd_opt(year, month, day)?;
    let y = i64::from(year) - i64::from(month <= 2);
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    Some(era * 146_097 + doe - 719_468)
}

/// Parses `YYYY-MM-DD` into days since the epoch.
pub fn parse_date(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let year = i32::try_from(digits(&b[0..4])?).ok()?;
    days_from_civil(year, digits(&b[5..7])?, digits(&b[8..10])?)
}

/// Parses `HH:MM:SS[.fff…]` into milliseconds since midnight.
pub fn parse_time_of_day(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() < 8 || b[2] != b':' || b[5] != b':' {
        return None;
    }
    let (h, m, sec) = (digits(&b[0..2])?, digits(&b[3..5])?, digits(&b[6..8])?);
    // 60 is a leap second; keep it rather than reject the line.
    if h > 23 || m > 59 || sec > 60 {
        return None;
    }
    let mut ms = i64::from(h * 3_600_000 + m * 60_000 + sec * 1000);
    if b.len() > 8 {
        if b[8] != b'.' && b[8] != b',' {
            return None;
        }
        ms += fraction_ms(&b[9..])?;
    }
    Some(ms)
}

fn fraction_ms(frac: &[u8]) -> Option<i64> {
    if frac.is_empty() || !frac.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let mut ms = 0i64;
    for i in 0..3 {
        ms = ms * 10 + frac.get(i).map_or(0, |d| i64::from(d - b'0'));
    }
    Some(ms)
}

/// Parses an ISO 8601 / RFC 3339 timestamp: `2021-03-05T17:42:19.506Z`,
/// `2021-03-05 17:42:19`, `2021-03-05T17:42:27.0930000Z`, `…+01:00`, `…-0500`.
pub fn parse_iso(s: &str, tz: Zone) -> Option<Instant> {
    let s = s.trim();
    if s.len() < 19 {
        return None;
    }
    let days = parse_date(s.get(0..10)?)?;
    let sep = s.as_bytes()[10];
    if sep != b'T' && sep != b' ' && sep != b't' {
        return None;
    }
    let rest = &s[11..];
    // Split the time of day from the zone designator.
    let zone_at = rest
        .char_indices()
        .skip(8)
        .find(|(_, c)| matches!(c, 'Z' | 'z' | '+' | '-'))
        .map(|(i, _)| i);
    let (tod, zone) = match zone_at {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, ""),
    };
    let local_ms = days * 86_400_000 + parse_time_of_day(tod.trim_end())?;
    if zone.is_empty() {
        return Some(Instant {
            ms: tz.utc_ms(local_ms),
            naive: true,
        });
    }
    let offset_s = parse_offset(zone)?;
    Some(Instant {
        ms: local_ms - i64::from(offset_s) * 1000,
        naive: false,
    })
}

/// The order of day and month in a date written as a culture writes it (`3/5/2021`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DateOrder {
    /// Month first with AM/PM in capitals (the United States' `M/d/yyyy h:mm:ss tt`), day
    /// first otherwise (`dd/MM/yyyy HH:mm:ss` in Britain, France, Spain…; `dd.MM.yyyy` in
    /// Germany, Russia…).
    #[default]
    Auto,
    DayFirst,
    MonthFirst,
}

/// The order a file's culture dates are written in, when the file shows it: a date whose first
/// number is past 12 is day first (`13/03/2021`), one whose second is, month first
/// (`3/13/2021`). `None` when no date decides, or dates decide both ways. Read from the
/// file's first bytes, so that every record of one file is read in one order (decided date by
/// date, `13/03/2021 9:00:00 AM` and `5/03/2021 6:42:27 PM` in one file were read in two).
pub fn date_order_of(text: &str) -> Option<DateOrder> {
    let bytes = text.as_bytes();
    let (mut day_first, mut month_first) = (false, false);
    let mut i = 0;
    while i < bytes.len() {
        if !bytes[i].is_ascii_digit() || (i > 0 && bytes[i - 1].is_ascii_digit()) {
            i += 1;
            continue;
        }
        // `a/b/yyyy ` (or `.`, `-`) with a and b of one or two digits.
        let run = |from: usize| {
            bytes[from..]
                .iter()
                .take_while(|b| b.is_ascii_digit())
                .count()
        };
        let a_len = run(i);
        let sep = i + a_len;
        if (1..=2).contains(&a_len)
            && let Some(&s) = bytes.get(sep)
            && matches!(s, b'/' | b'.' | b'-')
        {
            let b_len = run(sep + 1);
            let sep2 = sep + 1 + b_len;
            if (1..=2).contains(&b_len)
                && bytes.get(sep2) == Some(&s)
                && run(sep2 + 1) == 4
                && bytes.get(sep2 + 5) == Some(&b' ')
            {
                let a = digits(&bytes[i..sep]).unwrap_or(0);
                let b = digits(&bytes[sep + 1..sep2]).unwrap_or(0);
                day_first |= a > 12 && (1..=12).contains(&b);
                month_first |= b > 12 && (1..=12).contains(&a);
            }
        }
        i += a_len.max(1);
    }
    match (day_first, month_first) {
        (true, false) => Some(DateOrder::DayFirst),
        (false, true) => Some(DateOrder::MonthFirst),
        _ => None,
    }
}

/// Why a culture's date could not be read in the order asked (a malformed record's reason).
pub const NO_SUCH_DATE: &str =
    "a date that does not exist read day and month in this order (give --date-order dmy or mdy)";

/// Parses a local date and time as Windows writes them in a culture's short format, which
/// PowerShell's `Export-Csv` uses for `TimeCreated`: `3/5/2021 6:42:27 PM` (en-US),
/// `05/03/2021 18:42:27` (en-GB, fr-FR), `05.03.2021 18:42:27` (de-DE), `2021/03/05 18:42:27`
/// (ja-JP). None when the text is not such a date; `Err` when it is one the order makes
/// impossible (a 13th month), so that the record says why instead of taking another date.
pub fn parse_culture(s: &str, tz: Zone, order: DateOrder) -> Option<Result<Instant, &'static str>> {
    let s = s.trim();
    let (date, rest) = s.split_once(' ')?;
    let mut parts = date.split(['/', '.', '-']);
    let (a, b, c) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() || [a, b, c].iter().any(|p| p.is_empty() || p.len() > 4) {
        return None;
    }
    let (a_n, b_n, c_n) = (
        digits(a.as_bytes())?,
        digits(b.as_bytes())?,
        digits(c.as_bytes())?,
    );
    let rest = rest.trim();
    let (clock, designator) = match rest.rsplit_once(' ') {
        Some((clock, d)) => (clock.trim(), Some(d)),
        None => (rest, None),
    };
    let pm = match designator.map(|d| d.replace('.', "")) {
        None => None,
        Some(d) if d.eq_ignore_ascii_case("am") => Some(false),
        Some(d) if d.eq_ignore_ascii_case("pm") => Some(true),
        Some(_) => return None,
    };
    let mut tod = parse_time_of_day(clock).or_else(|| {
        // `6:42:27`: a one-digit hour.
        parse_time_of_day(&format!("0{clock}"))
    })?;
    if let Some(pm) = pm {
        let hour = tod / 3_600_000;
        if !(1..=12).contains(&hour) {
            return None;
        }
        tod = tod % (12 * 3_600_000) + if pm { 12 * 3_600_000 } else { 0 };
    }
    let year_first = a.len() == 4;
    let (year, month, day) = if year_first {
        (a_n, b_n, c_n)
    } else {
        if c.len() != 4 {
            return None;
        }
        let month_first = match order {
            DateOrder::MonthFirst => true,
            DateOrder::DayFirst => false,
            DateOrder::Auto => {
                date.contains('/') && designator.is_some_and(|d| d.starts_with(['A', 'P']))
            }
        };
        if month_first {
            (c_n, a_n, b_n)
        } else {
            (c_n, b_n, a_n)
        }
    };
    let year = i32::try_from(year).ok()?;
    let Some(days) = days_from_civil(year, month, day) else {
        // Year first, the order is not in doubt: no such date at all.
        return (!year_first).then_some(Err(NO_SUCH_DATE));
    };
    let local_ms = days * 86_400_000 + tod;
    Some(Ok(Instant {
        ms: tz.utc_ms(local_ms),
        naive: true,
    }))
}

/// Parses `Z`, `+01:00`, `-0500`, `+01` into seconds east of UTC.
pub fn parse_offset(zone: &str) -> Option<i32> {
    if zone.eq_ignore_ascii_case("z") {
        return Some(0);
    }
    let b = zone.as_bytes();
    let sign = match b.first()? {
        b'+' => 1,
        b'-' => -1,
        _ => return None,
    };
    let body: Vec<u8> = b[1..].iter().copied().filter(|c| *c != b':').collect();
    let (h, m) = match body.len() {
        2 => (digits(&body)?, 0),
        4 => (digits(&body[0..2])?, digits(&body[2..4])?),
        _ => return None,
    };
    if h > 23 || m > 59 {
        return None;
    }
    Some(sign * i32::try_from(h * 3600 + m * 60).ok()?)
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// Parses the Apache/nginx `%t` form `20/Jul/2009:22:59:26 +0000`.
pub fn parse_clf(s: &str) -> Option<Instant> {
    let b = s.as_bytes();
    if b.len() < 26 || b[2] != b'/' || b[6] != b'/' || b[11] != b':' || b[20] != b' ' {
        return None;
    }
    let day = digits(&b[0..2])?;
    let month = MONTHS.iter().position(|m| m.as_bytes() == &b[3..6])? as u32 + 1;
    let year = i32::try_from(digits(&b[7..11])?).ok()?;
    let days = days_from_civil(year, month, day)?;
    let tod = parse_time_of_day(s.get(12..20)?)?;
    let offset = parse_offset(s.get(21..)?.trim())?;
    Some(Instant {
        ms: days * 86_400_000 + tod - i64::from(offset) * 1000,
        naive: false,
    })
}

/// Parses .NET's JSON date, `/Date(1615704012987)/` or `/Date(1615704012987+0100)/`:
/// milliseconds since the epoch, UTC (the offset only says where it was written). Windows
/// PowerShell's `ConvertTo-Json` writes every `DateTime` so (`Get-WinEvent`'s `TimeCreated`).
pub fn parse_dotnet_date(s: &str) -> Option<Instant> {
    let inner = s.trim().strip_prefix("/Date(")?.strip_suffix(")/")?;
    let digits_end = inner
        .char_indices()
        .find(|&(i, c)| !(c.is_ascii_digit() || (i == 0 && c == '-')))
        .map_or(inner.len(), |(i, _)| i);
    let (ms, zone) = inner.split_at(digits_end);
    if !(zone.is_empty() || (zone.len() == 5 && parse_offset(zone).is_some())) {
        return None;
    }
    // Within the years 0001-9999, as every other time trawl reads.
    let ms: i64 = ms.parse().ok()?;
    (-62_135_596_800_000..=253_402_300_799_999)
        .contains(&ms)
        .then_some(Instant { ms, naive: false })
}

/// Parses a W3C `#Date:` value: `2021-03-05 00:00:02` or `18/Nov/2014:00:00:00 …`; returns
/// days since the epoch (the date is what time-only rows need).
pub fn parse_directive_date(s: &str) -> Option<i64> {
    let s = s.trim();
    if let Some(d) = s.get(0..10).and_then(parse_date) {
        return Some(d);
    }
    parse_clf(s).map(|i| i.ms.div_euclid(86_400_000))
}

/// The time of day of a W3C `#Date` directive (`2021-03-05 22:00:00`), in seconds.
pub fn parse_directive_time_of_day(s: &str) -> Option<u32> {
    let t = s.trim().get(11..19)?.as_bytes();
    let two = |i: usize| -> Option<u32> {
        let (a, b) = (t[i], t[i + 1]);
        (a.is_ascii_digit() && b.is_ascii_digit())
            .then(|| u32::from(a - b'0') * 10 + u32::from(b - b'0'))
    };
    if t[2] != b':' || t[5] != b':' {
        return None;
    }
    let (h, m, sec) = (two(0)?, two(3)?, two(6)?);
    (h < 24 && m < 60 && sec < 61).then_some(h * 3600 + m * 60 + sec)
}

/// Interprets a number as epoch seconds or milliseconds, by magnitude.
pub fn parse_epoch(v: f64) -> Option<Instant> {
    if !v.is_finite() || v <= 0.0 {
        return None;
    }
    // Anything past 1e11 cannot be seconds before the year 5138: take it as milliseconds.
    let ms = if v > 1e11 { v } else { v * 1000.0 };
    Some(Instant {
        ms: ms as i64,
        naive: false,
    })
}

/// The zone local times written without one are read in (`--tz`): a fixed offset, or an IANA
/// zone whose offset follows its daylight saving time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Zone {
    Fixed(FixedOffset),
    Named(chrono_tz::Tz),
}

impl Zone {
    pub const UTC: Zone = Zone::Fixed(match FixedOffset::east_opt(0) {
        Some(o) => o,
        None => unreachable!(),
    });

    /// UTC milliseconds of a local time in this zone. In the hour a zone repeats when its
    /// clocks go back, the first of the two; in the hour it skips, read with the offset before.
    pub fn utc_ms(self, local_ms: i64) -> i64 {
        let offset_s = match self {
            Zone::Fixed(o) => o.local_minus_utc(),
            Zone::Named(tz) => {
                let Some(local) = chrono::DateTime::from_timestamp_millis(local_ms) else {
                    return local_ms;
                };
                let local = local.naive_utc();
                match tz.from_local_datetime(&local) {
                    chrono::LocalResult::Single(t) | chrono::LocalResult::Ambiguous(t, _) => {
                        t.offset().fix().local_minus_utc()
                    }
                    // Skipped: the offset in force an hour before, when the clocks had not
                    // yet gone forward.
                    chrono::LocalResult::None => tz
                        .from_local_datetime(&(local - chrono::TimeDelta::hours(1)))
                        .earliest()
                        .map_or(0, |t| t.offset().fix().local_minus_utc()),
                }
            }
        };
        local_ms - i64::from(offset_s) * 1000
    }

    pub fn is_utc(self) -> bool {
        self == Zone::UTC
    }
}

impl std::fmt::Display for Zone {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Zone::Fixed(o) => write!(f, "{o}"),
            Zone::Named(tz) => f.write_str(tz.name()),
        }
    }
}

/// Parses a `--tz` argument: `UTC`, `Z`, `+01:00`, `-0500`, or an IANA zone (`Europe/Berlin`,
/// `America/New_York`).
pub fn parse_tz_arg(s: &str) -> Option<Zone> {
    if s.eq_ignore_ascii_case("utc") || s.eq_ignore_ascii_case("z") {
        return Some(Zone::UTC);
    }
    if let Some(o) = parse_offset(s).and_then(FixedOffset::east_opt) {
        return Some(Zone::Fixed(o));
    }
    let tz = s.parse::<chrono_tz::Tz>().ok()?;
    // Names of UTC itself are UTC.
    let always_utc = [
        "UTC",
        "Etc/UTC",
        "UCT",
        "Etc/UCT",
        "Universal",
        "Etc/Universal",
        "Zulu",
        "Etc/Zulu",
        "GMT",
        "Etc/GMT",
        "GMT0",
        "Etc/GMT0",
        "GMT+0",
        "Etc/GMT+0",
        "GMT-0",
        "Etc/GMT-0",
        "Greenwich",
        "Etc/Greenwich",
    ]
    .contains(&tz.name());
    Some(if always_utc {
        Zone::UTC
    } else {
        Zone::Named(tz)
    })
}

/// Formats epoch milliseconds as RFC 3339 UTC with milliseconds: `2021-03-05T17:42:19.506Z`.
pub fn format_ms(ms: i64) -> String {
    match chrono::DateTime::from_timestamp_millis(ms) {
        Some(dt) => dt.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string(),
        None => format!("@{ms}ms"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    /// `Export-Csv`'s `TimeCreated` in the cultures responders meet, local time.
    #[test]
    fn culture_dates_are_read_in_their_order() {
        let plus1 = Zone::Fixed(FixedOffset::east_opt(3600).unwrap());
        let at = |s: &str, order: DateOrder| {
            parse_culture(s, plus1, order).map(|r| r.map(|i| format_ms(i.ms)))
        };
        let want = Some(Ok("2021-03-05T17:42:27.000Z".to_string()));
        assert_eq!(at("3/5/2021 6:42:27 PM", DateOrder::Auto), want);
        assert_eq!(at("05/03/2021 18:42:27", DateOrder::Auto), want);
        assert_eq!(at("05.03.2021 18:42:27", DateOrder::Auto), want);
        assert_eq!(at("2021/03/05 18:42:27", DateOrder::Auto), want);
        assert_eq!(at("5/03/2021 6:42:27 pm", DateOrder::Auto), want);
        assert_eq!(at("05/03/2021 18:42:27", DateOrder::DayFirst), want);
        assert_eq!(at("03/05/2021 18:42:27", DateOrder::MonthFirst), want);
        // Midnight and noon in a 12-hour clock.
        assert_eq!(
            at("3/5/2021 12:00:01 AM", DateOrder::Auto),
            Some(Ok("2021-03-04T23:00:01.000Z".to_string()))
        );
        assert_eq!(
            at("3/5/2021 12:00:01 PM", DateOrder::Auto),
            Some(Ok("2021-03-05T11:00:01.000Z".to_string()))
        );
        // A date the order makes impossible says so; it is not read in the other order.
        assert_eq!(
            at("3/13/2021 6:42:27", DateOrder::Auto),
            Some(Err(NO_SUCH_DATE))
        );
        assert_eq!(
            at("13/3/2021 6:42:27 PM", DateOrder::Auto),
            Some(Err(NO_SUCH_DATE))
        );
        // Year first, the order is not in doubt.
        assert_eq!(at("2021/02/30 10:00:00", DateOrder::Auto), None);
        // Not such a date at all.
        for s in [
            "hello world",
            "3/5 6:42:27",
            "3/5/2021 13:42:27 PM",
            "3/5/2021 6:42:27 XM",
            "1/2/3/4 6:42:27",
        ] {
            assert_eq!(at(s, DateOrder::Auto), None, "{s}");
        }
    }

    fn utc() -> Zone {
        Zone::UTC
    }

    #[test]
    fn dotnet_json_dates() {
        let ms = |s: &str| parse_dotnet_date(s).map(|i| i.ms);
        assert_eq!(ms("/Date(1615704012987)/"), Some(1_615_704_012_987));
        // The offset says where it was written; the number is UTC already.
        assert_eq!(ms("/Date(1615704012987+0100)/"), Some(1_615_704_012_987));
        assert_eq!(ms("/Date(-1000)/"), Some(-1000));
        for bad in [
            "/Date()/",
            "/Date(12x)/",
            "Date(1)",
            "/Date(1+01)/",
            "/Date(99999999999999999999)/",
        ] {
            assert_eq!(ms(bad), None, "{bad}");
        }
        assert_eq!(format_ms(1_615_704_012_987), "2021-03-14T06:40:12.987Z");
    }

    #[test]
    fn civil_days_match_chrono() {
        for (y, m, d) in [(1970, 1, 1), (2021, 3, 5), (2000, 2, 29), (1969, 12, 31)] {
            let ours = days_from_civil(y, m, d).expect("valid");
            let theirs = NaiveDate::from_ymd_opt(y, m, d)
                .expect("valid")
                .signed_duration_since(NaiveDate::from_ymd_opt(1970, 1, 1).expect("epoch"))
                .num_days();
            assert_eq!(ours, theirs);
        }
        assert_eq!(days_from_civil(2021, 2, 29), None);
    }

    #[test]
    fn iso_forms() {
        let z = parse_iso("2021-03-05T17:42:19.506Z", utc()).expect("iso");
        assert_eq!(format_ms(z.ms), "2021-03-05T17:42:19.506Z");
        assert!(!z.naive);
        let seven = parse_iso("2021-03-05T17:42:27.0930000Z", utc()).expect("7 digits");
        assert_eq!(format_ms(seven.ms), "2021-03-05T17:42:27.093Z");
        let off = parse_iso("2021-03-05T18:42:19+01:00", utc()).expect("offset");
        assert_eq!(format_ms(off.ms), "2021-03-05T17:42:19.000Z");
        let naive = parse_iso("2022-05-07T12:55:53", utc()).expect("naive");
        assert!(naive.naive);
        let plus2 = Zone::Fixed(FixedOffset::east_opt(7200).expect("offset"));
        let local = parse_iso("2022-05-07 12:55:53", plus2).expect("local");
        assert_eq!(format_ms(local.ms), "2022-05-07T10:55:53.000Z");
        assert_eq!(parse_iso("2021-13-05T17:42:19Z", utc()), None);
        assert_eq!(parse_iso("not a time at all!!", utc()), None);
    }

    #[test]
    fn clf_and_directive_dates() {
        let t = parse_clf("20/Jul/2009:22:59:26 +0200").expect("clf");
        assert_eq!(format_ms(t.ms), "2009-07-20T20:59:26.000Z");
        assert_eq!(
            parse_directive_date("2021-03-05 00:00:02"),
            parse_date("2021-03-05")
        );
        assert!(parse_directive_date("18/Nov/2014:00:00:00 +0000").is_some());
        assert_eq!(parse_directive_date("yesterday"), None);
    }

    #[test]
    fn time_of_day_rejects_garbage() {
        assert_eq!(parse_time_of_day("17:42:19"), Some(63_739_000));
        assert_eq!(parse_time_of_day("17:42:19.5"), Some(63_739_500));
        assert_eq!(parse_time_of_day("25:00:00"), None);
        assert_eq!(parse_time_of_day("17:42"), None);
        assert_eq!(parse_time_of_day("17:42:1x"), None);
    }

    #[test]
    fn tz_argument() {
        let local = |zone: &str, s: &str| {
            let zone = parse_tz_arg(zone).expect("a zone");
            parse_iso(s, zone).map(|i| format_ms(i.ms))
        };
        assert_eq!(parse_tz_arg("UTC"), Some(Zone::UTC));
        assert_eq!(
            local("+05:30", "2021-03-05 18:00:00").as_deref(),
            Some("2021-03-05T12:30:00.000Z")
        );
        assert_eq!(parse_tz_arg("Europe/Nowhere"), None);
        assert_eq!(
            parse_tz_arg("Europe/Oslo")
                .map(|z| z.to_string())
                .as_deref(),
            Some("Europe/Oslo")
        );
        // A named zone follows its daylight saving time (US: from 14 March 2021).
        assert_eq!(
            local("America/New_York", "2021-03-05 18:42:27").as_deref(),
            Some("2021-03-05T23:42:27.000Z")
        );
        assert_eq!(
            local("America/New_York", "2021-03-20 18:42:27").as_deref(),
            Some("2021-03-20T22:42:27.000Z")
        );
        // The hour skipped (02:30 did not exist) is read with the offset before the change;
        // the hour repeated in November is its first pass.
        assert_eq!(
            local("America/New_York", "2021-03-14 02:30:00").as_deref(),
            Some("2021-03-14T07:30:00.000Z")
        );
        assert_eq!(
            local("America/New_York", "2021-11-07 01:30:00").as_deref(),
            Some("2021-11-07T05:30:00.000Z")
        );
        // East of Greenwich too: Sydney skipped 02:00-03:00 on 3 October 2021 (+10 before).
        assert_eq!(
            local("Australia/Sydney", "2021-10-03 02:30:00").as_deref(),
            Some("2021-10-02T16:30:00.000Z")
        );
        assert_eq!(parse_tz_arg("Etc/UTC"), Some(Zone::UTC));
    }

    #[test]
    fn a_files_dates_decide_their_order() {
        let day_first = "\"TimeCreated\",\"Id\"\n\"5/03/2021 6:42:27 PM\",\"1\"\n\"13/03/2021 9:00:00 AM\",\"1\"\n";
        assert_eq!(date_order_of(day_first), Some(DateOrder::DayFirst));
        assert_eq!(
            date_order_of("3/13/2021 6:42:27 PM,x\n3/5/2021 6:42:27 PM"),
            Some(DateOrder::MonthFirst)
        );
        assert_eq!(
            date_order_of("05.03.2021 18:42:27 and 2021-03-13 10:00:00"),
            None
        );
        assert_eq!(date_order_of("13/03/2021 9:00 and 3/13/2021 9:00"), None);
        assert_eq!(
            date_order_of("version 10.0.14393 build 123/45/6789 x"),
            None
        );
    }
}
