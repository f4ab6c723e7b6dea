//! Apache and nginx access logs: common and combined formats, optionally with a leading
//! `vhost:port` and extra trailing fields (`$http_x_forwarded_for`, response time).

use std::borrow::Cow;

use super::{Malformed, time};
use crate::event::{self, Event};

/// Parses one line.
pub fn parse(line: &str) -> Result<Event<'_>, Malformed> {
    let line = line.trim_end_matches(['\r', '\n']);
    let mut ev = Event::default();
    let open = line
        .find(" [")
        .ok_or_else(|| Malformed("no [timestamp]".into()))?;
    let close = line[open..]
        .find(']')
        .map(|i| open + i)
        .ok_or_else(|| Malformed("unterminated [timestamp]".into()))?;
    let head: Vec<&str> = line[..open].split(' ').filter(|s| !s.is_empty()).collect();
    let (vhost, client, user) = match head.as_slice() {
        [client, _ident, user] => (None, *client, *user),
        [vhost, client, _ident, user] => (Some(*vhost), *client, *user),
        _ => {
            return Err(Malformed(
                "expected host ident user before [timestamp]".into(),
            ));
        }
    };
    ev.ip = event::parse_ip(client);
    if ev.ip.is_none() {
        ev.attrs
            .push((Cow::Borrowed("client"), Cow::Borrowed(client)));
    }
    if let Some(v) = vhost {
        ev.attrs.push((Cow::Borrowed("vhost"), Cow::Borrowed(v)));
    }
    ev.user = Event::text(user);
    let instant = time::parse_clf(&line[open + 2..close])
        .ok_or_else(|| Malformed("unreadable [timestamp]".into()))?;
    ev.ts_ms = instant.ms;

    let mut rest = line[close + 1..].trim_start();
    let request = take_quoted(&mut rest).ok_or_else(|| Malformed("no \"request\"".into()))?;
    apply_request(&mut ev, request);
    let mut numbers = rest.split_whitespace();
    ev.status = numbers.next().and_then(|s| s.parse().ok());
    if ev.status.is_none() {
        return Err(Malformed("no status after the request".into()));
    }
    ev.bytes = numbers.next().and_then(|s| s.parse().ok());
    // Skip the two numbers just read, then the optional quoted referer and user agent.
    let mut after = rest.trim_start();
    for _ in 0..2 {
        after = after
            .find(char::is_whitespace)
            .map_or("", |i| after[i..].trim_start());
    }
    if let Some(referer) = take_quoted(&mut after) {
        ev.referer = Event::text(referer);
        if let Some(ua) = take_quoted(&mut after) {
            ev.ua = Event::text(ua);
        }
    }
    let extra = after.trim();
    if !extra.is_empty() {
        ev.attrs
            .push((Cow::Borrowed("extra"), Cow::Borrowed(extra)));
        if let Some(xff) = extra.strip_prefix('"').and_then(|x| x.split('"').next()) {
            (ev.xff, ev.xff_tail) = event::parse_xff(xff);
        }
    }
    Ok(ev)
}

/// Splits `GET /path?query HTTP/1.1`; anything else is kept whole as `request`.
fn apply_request<'a>(ev: &mut Event<'a>, request: &'a str) {
    let parts: Vec<&str> = request.split(' ').collect();
    match parts.as_slice() {
        [method, uri, protocol] if method.bytes().all(|b| b.is_ascii_uppercase() || b == b'_') => {
            ev.method = Some(Cow::Borrowed(method));
            super::columns::split_uri(ev, Cow::Borrowed(uri));
            ev.attrs
                .push((Cow::Borrowed("protocol"), Cow::Borrowed(protocol)));
        }
        _ => {
            if request != "-" && !request.is_empty() {
                ev.attrs
                    .push((Cow::Borrowed("request"), Cow::Borrowed(request)));
            }
        }
    }
}

/// Takes a `"…"` value (with `\"` escapes) from the front of `rest`.
fn take_quoted<'a>(rest: &mut &'a str) -> Option<&'a str> {
    let s = rest.strip_prefix('"')?;
    let bytes = s.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 2,
            b'"' => {
                let value = &s[..i];
                *rest = s[i + 1..].trim_start();
                return Some(value);
            }
            _ => i += 1,
        }
    }
    None
}

/// True when a line has the shape of an access log line.
pub fn looks_like(line: &str) -> bool {
    parse(line).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::formats::time::format_ms;

    #[test]
    fn combined_line() {
        let ev = parse(r#"192.168.202.254 - - [20/Jul/2009:22:59:26 +0000] "GET /vmw/cgi/tramp?a=1 HTTP/1.0" 200 134 "-" "gPXE/0.9.7""#)
            .expect("parses");
        assert_eq!(format_ms(ev.ts_ms), "2009-07-20T22:59:26.000Z");
        assert_eq!(ev.method.as_deref(), Some("GET"));
        assert_eq!(ev.path.as_deref(), Some("/vmw/cgi/tramp"));
        assert_eq!(ev.query.as_deref(), Some("a=1"));
        assert_eq!(ev.status, Some(200));
        assert_eq!(ev.bytes, Some(134));
        assert_eq!(ev.referer, None);
        assert_eq!(ev.ua.as_deref(), Some("gPXE/0.9.7"));
    }

    #[test]
    fn common_line_and_odd_requests() {
        let ev = parse(r#"10.0.0.1 - bob [13/Jan/2016:19:31:16 +0000] "GET /x HTTP/1.1" 200 494"#)
            .expect("common");
        assert_eq!(ev.user.as_deref(), Some("bob"));
        assert_eq!(ev.ua, None);
        let ev = parse(r#"10.0.0.1 - - [13/Jan/2016:19:31:16 +0000] "-" 400 0 "-" "-""#)
            .expect("dash request");
        assert_eq!(ev.method, None);
        let ev = parse(r#"10.0.0.1 - - [13/Jan/2016:19:31:16 +0000] "\x16\x03\x01" 400 0"#)
            .expect("binary request");
        assert_eq!(ev.attr("request"), Some(r"\x16\x03\x01"));
    }

    #[test]
    fn malformed_lines() {
        assert!(parse("10.0.0.1 - [13/Jan/2016:19:31:16 +0000] \"GET / HTTP/1.1\" 200 1").is_err());
        assert!(parse("hello world").is_err());
        assert!(parse("1.2.3.4 - - [13/Jan/2016:19:31:16 +0000] \"GET / HTTP/1.1\" abc").is_err());
    }
}
