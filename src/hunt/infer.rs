//! What can only be inferred across events: a verdict per host, web shells, suspect clients,
//! incident windows, and the proxies in front of the servers.
//!
//! Every inference is a handful of index queries over the stored rule hits (`rule:<id>`), so a
//! report on millions of events takes a fraction of a second; events are loaded only to show
//! them or to join an HttpProxy row to its IIS line by request GUID.
//!
//! A hit's *outcome* is its rule's (see [`Outcome`]), with two corrections:
//! * a rule with `success_when` counts the hits that do not match it as attempts;
//! * an attempt or success on an event that a noise rule also hit (a localhost vulnerability
//!   check, a scanner's agent) counts as a probe: scanners are never "compromised"; but a
//!   success that only a scanner's *agent* speaks for (the client writes it) is an attempt.
//!
//! A host is `compromised` when it has compromise or success evidence (rule hits, or a web shell
//! that answered), `attempted` when its gravest evidence is an attempt, `probed` when only
//! probes, `clean` otherwise. Its incident window runs from its first evidence of compromise, or
//! the first hit of an address that later succeeded, to that address's last event.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::net::IpAddr;

use serde::Serialize;

use super::{Detections, RuleInfo};
use crate::attribution::is_public;
use crate::case::Case;
use crate::error::Result;
use crate::formats::time::format_ms;
use crate::query::{NO_HOST, Vocabulary, host_query, quote_value};
use crate::rules::{Category, Outcome, Severity};
use crate::selection::Order;
use crate::store::{Selected, Store};
use crate::view::EventView;

/// Where an event is, for the evidence record.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct EventRef {
    pub file: String,
    pub line: u64,
    pub ts: String,
    /// The host the event is of (also the summary's first word).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    pub summary: String,
    /// What this event means, where it is a finding's example (a `success_when` rule's
    /// refused request is an attempt, a scanner's a probe).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outcome: Option<Outcome>,
}

/// One rule's hits, summarised.
#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    pub rule: String,
    pub title: String,
    pub severity: Severity,
    pub category: Category,
    /// What a hit of this rule means.
    pub outcome: Outcome,
    pub count: u64,
    /// The requests those events are: IIS's front end, HttpProxy and the back end each log one
    /// request under its GUID, so 12 events may be 4 requests. Counted up to
    /// 20,000 events; each event without a GUID is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub requests: Option<u64>,
    /// Hits by what they turned out to mean (a `success_when` rule's refused requests are
    /// attempts; scanners' hits are probes).
    pub outcomes: BTreeMap<Outcome, u64>,
    pub first_seen: String,
    pub last_seen: String,
    pub hosts: Vec<String>,
    /// The clients of the hits (see `attribution`), not the balancers they came through.
    pub clients: Vec<String>,
    pub uas: Vec<String>,
    pub examples: Vec<EventRef>,
    pub description: String,
    pub references: Vec<String>,
    pub attack: Vec<String>,
}

impl Finding {
    /// Its events as a count for a table cell: `56`, or `56 (42 requests)` where logs repeat
    /// requests.
    pub fn count_cell(&self) -> String {
        match self.fewer_requests() {
            Some(n) => format!("{} ({n} requests)", self.count),
            None => self.count.to_string(),
        }
    }

    /// The requests its events are, when fewer than its events (logs repeating requests).
    pub fn fewer_requests(&self) -> Option<u64> {
        self.requests.filter(|&n| n < self.count)
    }

    /// Its hits by what they mean, gravest first: `12 success, 2 probe`.
    pub fn outcomes_text(&self) -> String {
        let parts: Vec<String> = self
            .outcomes
            .iter()
            .rev()
            .map(|(o, n)| format!("{n} {o}"))
            .collect();
        parts.join(", ")
    }
}

/// A client of a web shell.
#[derive(Debug, Clone, Serialize)]
pub struct ShellClient {
    pub client: String,
    /// Requests answered 2xx, each counted once across IIS and HttpProxy.
    pub requests: u64,
    pub first: String,
    pub last: String,
}

/// A web shell: a script planted where IIS serves it.
#[derive(Debug, Clone, Serialize)]
pub struct WebShell {
    pub path: String,
    pub host: String,
    /// First request answered 2xx (empty when it was written and never requested).
    pub first_seen: String,
    /// Requests, each counted once across IIS and HttpProxy (joined by request GUID).
    pub requests: u64,
    pub posts: u64,
    pub clients: Vec<ShellClient>,
    /// The event that wrote this very file.
    pub written_by: Option<EventRef>,
    /// Why `written_by` is absent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub written_by_note: Option<String>,
    /// A write that does not name its file (a virtual directory reset) and most likely wrote it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub likely_write: Option<EventRef>,
    pub why: String,
    /// Whether the case holds web requests of its host: without them, a shell never seen
    /// answering may well have been used.
    pub host_web_logged: bool,
    /// Process starts by IIS's or Unified Messaging's worker on its host from its write (or
    /// first use) on, the first few: what a web shell runs shows up here.
    pub worker_processes: Vec<EventRef>,
    pub worker_process_events: u64,
}

impl WebShell {
    /// Its requests answered 2xx, as a query.
    fn answered_query(&self) -> String {
        format!(
            "path:{} AND {} AND status:[200 TO 299]",
            quote_value(&self.path),
            host_query(&self.host)
        )
    }

    /// How it was used, in one line: its requests, or why none are known, then what the worker
    /// processes started after it.
    pub fn use_summary(&self) -> String {
        let mut s = if !self.first_seen.is_empty() {
            let clients: Vec<&str> = self.clients.iter().map(|c| c.client.as_str()).collect();
            format!(
                "first answered {}, {} request(s) ({} POST) from {}",
                self.first_seen,
                self.requests,
                self.posts,
                if clients.is_empty() {
                    "no logged client".to_string()
                } else {
                    clients.join(", ")
                }
            )
        } else if self.host_web_logged {
            format!("never answered in the web logs of {}", self.host)
        } else {
            format!(
                "the case holds no web logs of {}: whether it answered is unknown",
                self.host
            )
        };
        if let Some(first) = self.worker_processes.first() {
            s.push_str(&format!(
                "; the web server's worker then started processes: {} event(s) from {}",
                self.worker_process_events, first.ts
            ));
        }
        s
    }
}

/// A client address and why it is suspect.
#[derive(Debug, Clone, Serialize)]
pub struct Suspect {
    pub client: String,
    /// `compromise` (succeeded or used a web shell), `attempt`, or `associated` (shares a rare
    /// user agent with one that did).
    pub role: String,
    pub events: u64,
    pub first: String,
    pub last: String,
    pub reasons: Vec<String>,
}

/// First and last malicious event of a compromised host.
#[derive(Debug, Clone, Serialize)]
pub struct Window {
    pub host: String,
    pub first: String,
    pub last: String,
    pub first_event: EventRef,
    pub last_event: EventRef,
}

/// How far an attack on a host got.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    Clean,
    Probed,
    Attempted,
    Compromised,
}

impl std::fmt::Display for Verdict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Verdict::Clean => "clean",
            Verdict::Probed => "probed",
            Verdict::Attempted => "attempted",
            Verdict::Compromised => "compromised",
        })
    }
}

/// An event that decides a verdict.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Cited {
    pub file: String,
    pub line: u64,
    pub ts: String,
    /// The rule (or `webshell`) that makes it evidence.
    pub rule: String,
    pub outcome: Outcome,
}

/// A host's verdict with what decides it.
#[derive(Debug, Clone, Serialize)]
pub struct HostVerdict {
    pub host: String,
    pub verdict: Verdict,
    /// The incident window for a compromised host; the span of the deciding evidence otherwise.
    pub first: Option<String>,
    pub last: Option<String>,
    pub reasons: Vec<String>,
    pub evidence: Vec<Cited>,
}

/// An address in front of the servers.
#[derive(Debug, Clone, Serialize)]
pub struct Proxy {
    pub address: String,
    /// `proxy` (its X-Forwarded-For is believed), `untrusted forwarder` (a public address
    /// sending X-Forwarded-For, not believed), `doubtful forwarder` (a private address that
    /// sent it without acting as a balancer: believed, and a suspect itself), `health monitor`
    /// (a balancer checking the servers, clients connect directly) or `declared` (declared,
    /// not seen).
    pub role: String,
    pub declared: bool,
    pub events: u64,
    /// Events carrying X-Forwarded-For.
    pub forwarded: u64,
    /// Distinct clients named behind it.
    pub clients: u64,
    pub health_checks: u64,
    pub why: String,
}

/// Everything `trawl hunt` reports.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub case: String,
    pub events: u64,
    pub first_event: Option<String>,
    pub last_event: Option<String>,
    pub verdicts: Vec<HostVerdict>,
    pub proxies: Vec<Proxy>,
    pub findings: Vec<Finding>,
    pub noise: Vec<Finding>,
    pub webshells: Vec<WebShell>,
    pub suspects: Vec<Suspect>,
    pub windows: Vec<Window>,
    /// Evidence whose times are known to be off (local time written as UTC): every time read
    /// from it, windows included, is off by as much.
    pub time_warnings: Vec<TimeWarning>,
}

/// A file whose recorded times disagree with the UTC time its events carry.
#[derive(Debug, Clone, Serialize)]
pub struct TimeWarning {
    pub file: String,
    pub warning: String,
}

/// Builds the report from stored detections and the index.
pub fn report(case: &Case, d: &Detections) -> Result<Report> {
    report_in(&crate::store::local::LocalStore::new(case)?, d)
}

/// Builds the report from detections and a case in any store.
pub fn report_in(store: &dyn Store, d: &Detections) -> Result<Report> {
    let ctx = Ctx::new(store, d)?;
    let all = ctx.select("*")?;
    let mut findings = Vec::new();
    let mut noise = Vec::new();
    for rule in &d.rules {
        if !d.hits.contains_key(&rule.id) {
            continue;
        }
        let f = ctx.finding(rule)?;
        match rule.category {
            Category::Compromise => findings.push(f),
            Category::Noise => noise.push(f),
        }
    }
    let by_severity = |a: &Finding, b: &Finding| {
        (b.outcome.max(Outcome::Attempt), b.severity)
            .cmp(&(a.outcome.max(Outcome::Attempt), a.severity))
            .then(a.first_seen.cmp(&b.first_seen))
    };
    findings.sort_by(by_severity);
    noise.sort_by(by_severity);
    let proxies = ctx.proxies()?;
    let excluded = ctx.not_attackers(&proxies)?;
    let webshells = ctx.webshells()?;
    let suspects = ctx.suspects(&webshells, &excluded)?;
    let (verdicts, windows) = ctx.verdicts(&webshells, &excluded)?;
    let time_warnings = store
        .manifest()
        .files
        .iter()
        .filter_map(|f| {
            let skew = f.clock_skew.as_ref()?;
            Some(TimeWarning {
                file: f.path.clone(),
                warning: skew.to_string(),
            })
        })
        .collect();
    Ok(Report {
        case: store.name(),
        events: all.len(),
        first_event: all.span()?.map(|s| format_ms(s.0)),
        last_event: all.span()?.map(|s| format_ms(s.1)),
        verdicts,
        proxies,
        findings,
        noise,
        webshells,
        suspects,
        windows,
        time_warnings,
    })
}

/// The proxies and balancers in front of the servers, with what shows it (for `trawl stats`).
pub fn proxies(case: &Case) -> Result<Vec<Proxy>> {
    proxies_in(&crate::store::local::LocalStore::new(case)?)
}

/// The proxies and balancers of a case in any store.
pub fn proxies_in(store: &dyn Store) -> Result<Vec<Proxy>> {
    let none = Detections::default();
    Ctx::new(store, &none)?.proxies()
}

/// Hits of one rule that mean one outcome, as a query.
#[derive(Debug, Clone)]
struct Part<'r> {
    rule: &'r RuleInfo,
    outcome: Outcome,
    query: String,
    /// Why these hits mean less than their rule says, when they do.
    note: Option<String>,
}

/// A script in a shell location that answered POSTs on a host.
struct PostedScript {
    host: String,
    path: String,
    taken: Posted,
}

/// What a script answering POSTs in a shell location is taken for.
enum Posted {
    /// A web shell, and why.
    Shell(String),
    /// A script of the site: posted to by this many clients from the first day of the host's
    /// logs (which begin at `since`).
    Site {
        clients: u64,
        since: i64,
        /// The path as logged.
        shown: String,
    },
}

/// The rule whose hits are POSTs answered by any script in a shell location: a script of the
/// site answers them too (an MFA or branding add-on under /owa/auth/).
const POST_TO_SHELL_LOCATION: &str = "webshell-post-to-script-in-shell-location";

struct Ctx<'a> {
    store: &'a dyn Store,
    d: &'a Detections,
    vocab: Vocabulary,
    /// Every rule's hits split by outcome, context excluded.
    parts: Vec<Part<'a>>,
    /// Rules with hits whose hits are context: worth a line in a verdict, never its cause.
    context: Vec<&'a RuleInfo>,
    /// Scripts in shell locations that answered POSTs.
    posted: Vec<PostedScript>,
}

/// Exchange's own scripts, which answer anyone: never a web shell, whatever a request to them
/// carries (a scanner's tunnel check to the logon page answered 200).
macro_rules! stock_scripts {
    () => {
        "path:/owa/auth/errorFE.aspx OR path:/owa/auth/ExpiredPassword.aspx OR path:/owa/auth/frowny.aspx OR path:/owa/auth/logoff.aspx OR path:/owa/auth/logon.aspx OR path:/owa/auth/OutlookCN.aspx OR path:/owa/auth/RedirSuiteServiceProxy.aspx OR path:/owa/auth/signout.aspx OR path:/ecp/auth/TimeoutLogout.aspx OR path:/owa/default.aspx OR path:/ecp/default.aspx OR path:/EWS/Exchange.asmx"
    };
}

/// See [`stock_scripts`].
const STOCK_SCRIPTS: &str = stock_scripts!();

/// Paths where HAFNIUM and others put web shells, and the files of a standard install there.
const SHELL_LOCATIONS: &str = concat!(
    "(path:/aspnet_client/* OR path:/owa/auth/* OR path:/ecp/auth/* OR path:/oab/*) AND (path:*.aspx OR path:*.ashx OR path:*.asmx OR path:*.asp) AND NOT (",
    stock_scripts!(),
    ")"
);

/// Rules whose hits are requests to a web shell, in any application: the script they ask is one.
const NAMING_SHELLS: [&str; 4] = [
    "webshell-known-name",
    "webshell-tunnel",
    "webshell-generic-name-post",
    "webshell-command-in-query",
];

/// Rules whose hits name the file they wrote (a local path in the message or the event).
const NAMING_WRITES: [&str; 4] = [
    "tpl-cve-2021-26858",
    "mgmt-mailbox-export-to-web-folder",
    "mgmt-certificate-request-web-path",
    "file-script-in-web-folder",
];

/// Rules whose hits write a file without naming it (the path travels in the request body).
const UNNAMED_WRITES: [&str; 4] = [
    "tpl-cve-2021-27065-resetvdir",
    "proxylogon-ddi-reset-backend",
    "tpl-cve-2021-27065-ecp",
    "ecp-oab-externalurl-script",
];

/// A private address relaying X-Forwarded-For for at least this many clients, or making at
/// least [`BALANCER_HEALTH_CHECKS`] health checks, acts as a balancer; one doing less may have
/// written the header itself. A balancer polls every few seconds and forwards every user: both
/// figures are small beside a real one's, and larger than a forger's few requests.
const BALANCER_CLIENTS: u64 = 10;

/// See [`BALANCER_CLIENTS`] (a balancer's monitor is recognised at the same count).
const BALANCER_HEALTH_CHECKS: u64 = 10;

/// The role of a private address that sent X-Forwarded-For without acting as a balancer.
const DOUBTFUL_FORWARDER: &str = "doubtful forwarder";

/// Health-check URLs of Exchange's virtual directories, which balancers poll.
const HEALTH_CHECKS: &str = "path:*/healthcheck.htm";

/// A script in a shell location answering POSTs from the first day of a host's logs is taken
/// for a web shell used by at most this many clients; one more posted to under /owa/auth/ or
/// /ecp/auth/ is the site's.
const DAY_ONE_SHELL_CLIENTS: u64 = 5;

/// A user agent seen on at most this many events in the whole case is rare.
const RARE_UA_EVENTS: u64 = 200;

/// At most this many requests of one web shell are loaded to count them across logs.
const SHELL_REQUESTS_LOADED: u64 = 100_000;

/// At most this many events with a request GUID are read per finding to count its requests.
const REQUESTS_COUNTED: u64 = 20_000;

/// Process starts whose parent is IIS's worker or Unified Messaging's (Sysmon 1, Security 4688).
const WORKER_CHILDREN: &str = "ParentImage:*\\\\w3wp.exe OR ParentImage:*\\\\umworkerprocess.exe OR ParentImage:*\\\\umservice.exe OR ParentProcessName:*\\\\w3wp.exe OR ParentProcessName:*\\\\umworkerprocess.exe OR ParentProcessName:*\\\\umservice.exe";

/// A web shell's worker process starts listed.
const SHELL_PROCESSES_SHOWN: u64 = 10;

/// Evidence events cited per reason of a verdict.
const CITED_PER_REASON: u64 = 3;

impl<'a> Ctx<'a> {
    fn new(store: &'a dyn Store, d: &'a Detections) -> Result<Ctx<'a>> {
        let mut vocab = store.vocabulary();
        vocab.sets = d.sets();
        vocab.unknown_fields_match_nothing = true;
        // Noise rules that know a check by its request's shape, and those that know a scanner
        // by its agent (which the client writes: it makes a success an attempt, not a probe).
        let noise_of = |by_agent: bool| {
            let ids: Vec<String> = d
                .rules
                .iter()
                .filter(|r| {
                    r.category == Category::Noise
                        && r.by_agent == by_agent
                        && d.hits.contains_key(&r.id)
                })
                .map(|r| format!("rule:{}", r.id))
                .collect();
            (!ids.is_empty()).then(|| format!("({})", ids.join(" OR ")))
        };
        let (shape, agent) = (noise_of(false), noise_of(true));
        let noise = match (&shape, &agent) {
            (Some(s), Some(a)) => Some(format!("({s} OR {a})")),
            (s, a) => s.clone().or_else(|| a.clone()),
        };
        let mut parts = Vec::new();
        let mut context = Vec::new();
        for rule in d.rules.iter().filter(|r| d.hits.contains_key(&r.id)) {
            let base = format!("rule:{}", rule.id);
            let outcome = rule.outcome;
            if rule.category == Category::Noise {
                parts.push(Part {
                    rule,
                    outcome: Outcome::Probe,
                    query: base,
                    note: None,
                });
                continue;
            }
            if outcome == Outcome::Context {
                context.push(rule);
                continue;
            }
            let downgraded = outcome.yields_to_noise();
            let main = match (&noise, downgraded) {
                (Some(n), true) if outcome == Outcome::Success => {
                    // A success a scanner's agent alone speaks for is an attempt.
                    if let Some(s) = &shape {
                        parts.push(Part {
                            rule,
                            outcome: Outcome::Probe,
                            query: format!("{base} AND {s}"),
                            note: None,
                        });
                    }
                    if let Some(a) = &agent {
                        let query = match &shape {
                            Some(s) => format!("{base} AND {a} AND NOT {s}"),
                            None => format!("{base} AND {a}"),
                        };
                        // Refused, a scanner's check is the probe its agent says it is.
                        let when = rule.success_when.as_deref();
                        split_by_success(
                            &mut parts,
                            rule,
                            query,
                            when,
                            Outcome::Attempt,
                            Outcome::Probe,
                        );
                    }
                    format!("({base} AND NOT {n})")
                }
                (Some(n), true) => {
                    parts.push(Part {
                        rule,
                        outcome: Outcome::Probe,
                        query: format!("{base} AND {n}"),
                        note: None,
                    });
                    format!("({base} AND NOT {n})")
                }
                _ => base,
            };
            let when = rule
                .success_when
                .as_deref()
                .filter(|_| outcome > Outcome::Attempt);
            split_by_success(&mut parts, rule, main, when, outcome, Outcome::Attempt);
        }
        let mut ctx = Ctx {
            store,
            d,
            vocab,
            parts,
            context,
            posted: Vec::new(),
        };
        ctx.posted = ctx.posted_scripts()?;
        ctx.site_scripts_are_context();
        Ok(ctx)
    }

    /// POSTs to a script of the site are no web shell's use: on each host, the hits of
    /// [`POST_TO_SHELL_LOCATION`] on its site scripts become context, with the reason.
    fn site_scripts_are_context(&mut self) {
        // host -> (path, path as logged, clients, logs' start)
        let mut by_host: BTreeMap<&str, Vec<(&str, &str, u64, i64)>> = BTreeMap::new();
        for p in &self.posted {
            if let Posted::Site {
                clients,
                since,
                ref shown,
            } = p.taken
            {
                by_host.entry(p.host.as_str()).or_default().push((
                    p.path.as_str(),
                    shown.as_str(),
                    clients,
                    since,
                ));
            }
        }
        if by_host.is_empty() {
            return;
        }
        let mut added = Vec::new();
        for part in self
            .parts
            .iter_mut()
            .filter(|p| p.rule.id == POST_TO_SHELL_LOCATION && p.outcome > Outcome::Context)
        {
            let mut sites = Vec::new();
            for (host, scripts) in &by_host {
                let paths: Vec<String> = scripts
                    .iter()
                    .map(|(path, ..)| format!("path:{}", quote_value(path)))
                    .collect();
                let site = format!("(host:{} AND ({}))", quote_value(host), paths.join(" OR "));
                let said: Vec<String> = scripts
                    .iter()
                    .map(|(_, shown, clients, _)| format!("{shown} by {clients} clients"))
                    .collect();
                added.push(Part {
                    rule: part.rule,
                    outcome: Outcome::Context,
                    query: format!("({}) AND {site}", part.query),
                    note: Some(format!(
                        "not a web shell's use: posted to from the first day of the host's logs ({}), {}, taken for the site's own script(s); check them on disk",
                        format_ms(scripts[0].3),
                        said.join(", ")
                    )),
                });
                sites.push(site);
            }
            part.query = format!("({}) AND NOT ({})", part.query, sites.join(" OR "));
        }
        self.parts.extend(added);
    }

    fn select(&self, q: &str) -> Result<Box<dyn Selected + 'a>> {
        Ok(self.store.select(q, &self.vocab)??)
    }

    fn evidence(&self, sel: &dyn Selected, rank: u64) -> Result<Option<EventRef>> {
        Ok(sel.events(rank, 1)?.first().map(evidence_of))
    }

    /// A field's most frequent values, as indexed (paths, agents and users lower-cased): what
    /// inference compares.
    fn values(&self, sel: &dyn Selected, field: &str, n: usize) -> Result<Vec<String>> {
        Ok(sel
            .top_values(field, n, Order::Top, false)?
            .values
            .into_iter()
            .map(|v| v.value)
            .collect())
    }

    /// The requests a rule's events are (see [`Finding::requests`]), or None past
    /// [`REQUESTS_COUNTED`] events outside the event logs: only those are read, an event log
    /// record being one each. (`request_id:*` would say which events have a GUID, but is a walk
    /// of every GUID bucket: hunt took 17 s instead of 12.6 on ten million lines.)
    fn requests_of(&self, rule: &str, events: u64) -> Result<Option<u64>> {
        let logs: Vec<String> = crate::formats::evtx::SOURCES
            .iter()
            .map(|s| format!("source:{s}"))
            .collect();
        let web = self.select(&format!("rule:{rule} AND NOT ({})", logs.join(" OR ")))?;
        if web.len() > REQUESTS_COUNTED {
            return Ok(None);
        }
        let mut ids = HashSet::new();
        let mut without = 0u64;
        web.each_event(&mut |ev| {
            match ev.request_id {
                Some(id) => {
                    ids.insert(id);
                }
                None => without += 1,
            }
            Ok(())
        })?;
        Ok(Some(events - web.len() + without + ids.len() as u64))
    }

    /// The hosts of a selection's events, "(no host)" among them when some name none.
    fn hosts(&self, sel: &dyn Selected) -> Result<Vec<String>> {
        let top = sel.top_values("host", 50, Order::Top, false)?;
        let mut out: Vec<String> = top.values.into_iter().map(|v| v.value).collect();
        if top.with_value < sel.len() {
            out.push(NO_HOST.to_string());
        }
        Ok(out)
    }

    /// [`Self::values`] as the logs wrote them: what the responder reads.
    fn written_values(&self, sel: &dyn Selected, field: &str, n: usize) -> Result<Vec<String>> {
        Ok(sel
            .top_values(field, n, Order::Top, true)?
            .values
            .into_iter()
            .map(|v| v.value)
            .collect())
    }

    fn finding(&self, rule: &RuleInfo) -> Result<Finding> {
        let sel = self.select(&format!("rule:{}", rule.id))?;
        let span = sel.span()?.unwrap_or((0, 0));
        let mut outcomes = BTreeMap::new();
        let mut parts = Vec::new();
        for part in self.parts.iter().filter(|p| p.rule.id == rule.id) {
            let part_sel = self.select(&part.query)?;
            let n = part_sel.len();
            if n > 0 {
                *outcomes.entry(part.outcome).or_insert(0) += n;
                parts.push((part.outcome, part_sel));
            }
        }
        // Each example with what it means: the part of the rule it is in.
        let mut examples = Vec::new();
        for ev in sel.events(0, 5)? {
            let order = (ev.ts_ms, ev.file_id, ev.line);
            let mut e = evidence_of(&ev);
            e.outcome = Some(rule.outcome);
            for (outcome, part_sel) in &parts {
                if part_sel.rank_of(order)?.is_some() {
                    e.outcome = Some(*outcome);
                    break;
                }
            }
            examples.push(e);
        }
        let counted: u64 = outcomes.values().sum();
        if counted < sel.len() {
            *outcomes.entry(rule.outcome).or_insert(0) += sel.len() - counted;
        }
        Ok(Finding {
            rule: rule.id.clone(),
            title: rule.title.clone(),
            severity: rule.severity,
            category: rule.category,
            outcome: rule.outcome,
            count: sel.len(),
            requests: self.requests_of(&rule.id, sel.len())?,
            outcomes,
            first_seen: format_ms(span.0),
            last_seen: format_ms(span.1),
            hosts: self.hosts(sel.as_ref())?,
            clients: self.values(&sel, "client", 50)?,
            uas: self.written_values(&sel, "ua", 20)?,
            examples,
            description: rule.description.clone(),
            references: rule.references.clone(),
            attack: rule.attack.clone(),
        })
    }

    // -----------------------------------------------------------------------------------------
    // Who is not an attacker.

    /// The proxies and balancers in front of the servers, with what shows it.
    fn proxies(&self) -> Result<Vec<Proxy>> {
        let declared = &self.store.manifest().trusted_proxies;
        let is_declared = |ip: &str| {
            ip.parse::<IpAddr>()
                .is_ok_and(|ip| declared.iter().any(|c| c.contains(ip)))
        };
        let forwarding = self.select("xff:*")?;
        let attack_queries: Vec<&str> = self
            .parts
            .iter()
            .filter(|p| p.outcome >= Outcome::Attempt)
            .map(|p| p.query.as_str())
            .collect();
        let attacks = any_of(&attack_queries);
        let mut out = Vec::new();
        let mut seen = HashSet::new();
        for v in forwarding.top_values("ip", 1000, Order::Top, false)?.values {
            let q = format!("ip:{}", quote_value(&v.value));
            // A header naming only the sender itself (a balancer that adds X-Forwarded-For
            // without translating addresses) forwards nothing.
            let behind = self.select(&format!(
                "{q} AND xff:* AND NOT xff:{}",
                quote_value(&v.value)
            ))?;
            if behind.is_empty() {
                continue;
            }
            let events = self.select(&q)?.len();
            let clients = behind
                .top_values("client", usize::MAX, Order::Top, false)?
                .distinct;
            let named = behind
                .top_values("xff", usize::MAX, Order::Top, false)?
                .distinct;
            let health = self.select(&format!("{q} AND {HEALTH_CHECKS}"))?.len();
            let declared = is_declared(&v.value);
            let public = v.value.parse::<IpAddr>().is_ok_and(is_public);
            let mut why = format!(
                "sent X-Forwarded-For naming other addresses on {} of {} requests ({} distinct address(es))",
                behind.len(),
                events,
                named
            );
            if health > 0 {
                why.push_str(&format!("; {health} health check(s)"));
            }
            let role = if declared {
                why.push_str("; declared a trusted proxy");
                "proxy"
            } else if public {
                why.push_str(
                    "; a public address, so its X-Forwarded-For is not believed (it could be forged): declare it with --trusted-proxy if it is your proxy",
                );
                "untrusted forwarder"
            } else if health >= BALANCER_HEALTH_CHECKS
                || (named >= BALANCER_CLIENTS
                    && !mostly_attacks(
                        self.select(&format!("({attacks}) AND {q} AND xff:*"))?
                            .len(),
                        behind.len(),
                    ))
            {
                why.push_str("; a private address relaying X-Forwarded-For: a balancer");
                "proxy"
            } else if named >= BALANCER_CLIENTS {
                // Many addresses named, but no health checks and mostly attacks forwarded: what
                // a machine inside the network writing the header itself looks like, not a
                // balancer in front of users.
                why.push_str(&format!(
                    "; a private address that made fewer than {BALANCER_HEALTH_CHECKS} health checks and whose forwarded requests are mostly attacks: not seen acting as a balancer, so its X-Forwarded-For may be forged (declare it with --trusted-proxy if it is your balancer)"
                ));
                DOUBTFUL_FORWARDER
            } else {
                // A machine inside the network can write the header too: one that names a
                // client or two, and never checks the servers' health, is not seen acting as a
                // balancer. Its requests stay attributed to the header, and it is a suspect
                // beside the addresses it named.
                why.push_str(&format!(
                    "; a private address that named fewer than {BALANCER_CLIENTS} clients and made fewer than {BALANCER_HEALTH_CHECKS} health checks: not seen acting as a balancer, so its X-Forwarded-For may be forged (declare it with --trusted-proxy if it is your balancer)"
                ));
                DOUBTFUL_FORWARDER
            };
            seen.insert(v.value.clone());
            out.push(Proxy {
                address: v.value,
                role: role.into(),
                declared,
                events,
                forwarded: behind.len(),
                clients,
                health_checks: health,
                why,
            });
        }
        // Balancers that only check the servers: clients connect to the servers directly.
        let checks = self.select(&format!("{HEALTH_CHECKS} AND NOT xff:*"))?;
        for v in checks.top_values("ip", 100, Order::Top, false)?.values {
            if seen.contains(&v.value) || v.count < BALANCER_HEALTH_CHECKS {
                continue;
            }
            let events = self.select(&format!("ip:{}", quote_value(&v.value)))?.len();
            let is_loopback = v.value.parse::<IpAddr>().is_ok_and(|i| i.is_loopback());
            // Nearly nothing but health checks: a balancer's monitor, not a user or a probe
            // that also does real work.
            if is_loopback || v.count * 10 < events * 9 {
                continue;
            }
            seen.insert(v.value.clone());
            out.push(Proxy {
                declared: is_declared(&v.value),
                why: format!(
                    "{} of its {} requests are health checks ({HEALTH_CHECKS}), none forwarded: a balancer's monitor",
                    v.count, events
                ),
                address: v.value,
                role: "health monitor".into(),
                events,
                forwarded: 0,
                clients: 0,
                health_checks: v.count,
            });
        }
        for c in declared {
            let text = c.to_string();
            if !out
                .iter()
                .any(|p| p.address.parse::<IpAddr>().is_ok_and(|ip| c.contains(ip)))
            {
                let events = self.select(&format!("ip:{}", quote_value(&text)))?.len();
                let why = if events == 0 {
                    "declared a trusted proxy; no request from it in the case".to_string()
                } else {
                    format!(
                        "declared a trusted proxy; {events} request(s) from it name no client in X-Forwarded-For: their client is unknown"
                    )
                };
                out.push(Proxy {
                    address: text,
                    role: "declared".into(),
                    declared: true,
                    events,
                    forwarded: 0,
                    clients: 0,
                    health_checks: 0,
                    why,
                });
            }
        }
        Ok(out)
    }

    /// The servers' own addresses (IIS `s-ip`): on back-end lines they are the client, and they
    /// are never the attacker.
    fn server_addresses(&self) -> Result<HashSet<String>> {
        let mut out = HashSet::new();
        let with_sip = self.select("s-ip:*")?;
        for host in self.values(&with_sip, "host", 1000)? {
            let sel = self.select(&format!("s-ip:* AND host:{}", quote_value(&host)))?;
            let step = (sel.len() / 20).max(1);
            for rank in (0..sel.len()).step_by(step as usize).take(20) {
                for ev in sel.events(rank, 1)? {
                    if let Some(ip) = ev.value_of("s-ip") {
                        out.insert(ip);
                    }
                }
            }
        }
        Ok(out)
    }

    /// Addresses that are never named as attackers: the servers, loopback, proxies and
    /// balancers (their requests are either their own or someone else's behind them).
    fn not_attackers(&self, proxies: &[Proxy]) -> Result<Excluded> {
        let mut addresses = self.server_addresses()?;
        for p in proxies
            .iter()
            .filter(|p| p.role != "untrusted forwarder" && p.role != DOUBTFUL_FORWARDER)
        {
            addresses.insert(p.address.clone());
        }
        Ok(Excluded {
            addresses,
            declared: self.store.manifest().trusted_proxies.clone(),
            doubtful: proxies
                .iter()
                .filter(|p| p.role == DOUBTFUL_FORWARDER)
                .map(|p| p.address.clone())
                .collect(),
        })
    }

    // -----------------------------------------------------------------------------------------
    // Web shells.

    /// First hit per host of an exploitation rule that succeeded (a refused attempt plants
    /// nothing).
    fn first_exploitation(&self) -> Result<HashMap<String, i64>> {
        let mut out: HashMap<String, i64> = HashMap::new();
        // A web shell's own use is not the exploitation that planted it.
        // A refused attempt, which every server on the internet gets, plants nothing.
        let exploitation =
            |p: &&Part<'_>| p.outcome >= Outcome::Success && !p.rule.id.starts_with("webshell-");
        for part in self.parts.iter().filter(exploitation) {
            let sel = self.select(&part.query)?;
            if sel.is_empty() {
                continue;
            }
            for host in self.values(&sel, "host", 100)? {
                let on_host =
                    self.select(&format!("({}) AND host:{}", part.query, quote_value(&host)))?;
                if let Some((first, _)) = on_host.span()? {
                    let e = out.entry(host).or_insert(first);
                    *e = (*e).min(first);
                }
            }
        }
        Ok(out)
    }

    /// Files written where IIS serves them, by events that name them: (host, URL path, event).
    fn named_writes(&self) -> Result<Vec<(String, String, i64, EventRef)>> {
        let mut out = Vec::new();
        for id in NAMING_WRITES
            .iter()
            .filter(|id| self.d.hits.contains_key(**id))
        {
            let sel = self.select(&format!("rule:{id}"))?;
            for ev in sel.events(0, sel.len().min(1000) as usize)? {
                let Some(host) = ev.host.clone() else {
                    continue;
                };
                for local in written_paths(&ev) {
                    if let Some(url) = url_of_local_path(&local) {
                        // The message may be long: say what matters, the file it wrote.
                        let mut e = evidence_of(&ev);
                        e.summary = format!("{host} {id} wrote {local}");
                        out.push((host.clone(), url, ev.ts_ms, e));
                    }
                }
            }
        }
        Ok(out)
    }

    /// Every script in a shell location that answered POSTs, per host, taken for a web shell
    /// (with why) or for a script of the site.
    fn posted_scripts(&self) -> Result<Vec<PostedScript>> {
        let first_hit = self.first_exploitation()?;
        let mut out = Vec::new();
        let answered = format!("({SHELL_LOCATIONS}) AND method:POST AND status:[200 TO 299]");
        let posted = self.select(&answered)?;
        for host in self.values(&posted, "host", 100)? {
            let q_host = format!("host:{}", quote_value(&host));
            let on_host = self.select(&format!("{answered} AND {q_host}"))?;
            // The host's web logs begin here (its event logs may reach further back).
            let host_start = self
                .select(&format!("{q_host} AND method:*"))?
                .span()?
                .map_or(0, |s| s.0);
            for path in self.values(&on_host, "path", 1000)? {
                let q_path = format!("path:{} AND {q_host}", quote_value(&path));
                // When it first answered: a 404 says the file was not there yet.
                let first_any = self
                    .select(&format!("{q_path} AND status:[200 TO 399]"))?
                    .span()?
                    .map_or(0, |s| s.0);
                let after_exploit = first_hit.get(&host).is_some_and(|t| first_any >= *t);
                // Absent from the first day of the host's logs: planted since.
                let appeared = first_any > host_start + 86_400_000;
                let taken = if after_exploit {
                    Posted::Shell(
                        "answered POSTs, first requested after the host's first exploitation hit"
                            .to_string(),
                    )
                } else if appeared {
                    Posted::Shell(
                        "absent from the first day of the host's logs, then answered POSTs"
                            .to_string(),
                    )
                } else {
                    let clients = self
                        .select(&format!("{answered} AND {q_path}"))?
                        .top_values("client", usize::MAX, Order::Top, false)?
                        .distinct;
                    if clients > DAY_ONE_SHELL_CLIENTS && add_on_folder(&path) {
                        // Posted to by many from the start of the logs: a script of the site.
                        let sel = self.select(&q_path)?;
                        Posted::Site {
                            clients,
                            since: host_start,
                            shown: self
                                .written_values(&sel, "path", 1)?
                                .pop()
                                .unwrap_or_default(),
                        }
                    } else {
                        // In use from the start of the logs by a few: planted before them (the
                        // usual case once a shell outlives the logs' retention).
                        Posted::Shell(format!(
                            "answered POSTs from the first day of the host's logs ({}): it may predate them",
                            crate::formats::time::format_ms(host_start)
                        ))
                    }
                };
                out.push(PostedScript {
                    host: host.clone(),
                    path,
                    taken,
                });
            }
        }
        Ok(out)
    }

    fn webshells(&self) -> Result<Vec<WebShell>> {
        let writes = self.named_writes()?;
        // (host, lower-cased path) -> (path as logged, why).
        let mut candidates: BTreeMap<(String, String), (String, String)> = BTreeMap::new();
        for p in &self.posted {
            if let Posted::Shell(why) = &p.taken {
                candidates.insert(
                    (p.host.clone(), p.path.clone()),
                    (p.path.clone(), why.clone()),
                );
            }
        }
        // Scripts a web shell rule names by their use (a tunnel's opening request, a public
        // shell's name answering POSTs), in any application.
        for rule in
            self.d.rules.iter().filter(|r| {
                NAMING_SHELLS.contains(&r.id.as_str()) && self.d.hits.contains_key(&r.id)
            })
        {
            let named = format!("rule:{} AND NOT ({STOCK_SCRIPTS})", rule.id);
            let hits = self.select(&named)?;
            for host in self.values(&hits, "host", 100)? {
                let q_host = format!("host:{}", quote_value(&host));
                let on_host = self.select(&format!("{named} AND {q_host}"))?;
                for path in self.values(&on_host, "path", 1000)? {
                    if is_script(&path) {
                        candidates
                            .entry((host.clone(), path.clone()))
                            .or_insert_with(|| (path, format!("{} ({})", rule.title, rule.id)));
                    }
                }
            }
        }
        for (host, url, _, e) in &writes {
            if !is_script(url) {
                continue;
            }
            candidates
                .entry((host.clone(), url.to_lowercase()))
                .or_insert_with(|| {
                    (
                        url.clone(),
                        format!("written by {} ({}:{})", e.ts, e.file, e.line),
                    )
                });
        }
        let mut out = Vec::new();
        for ((host, _), (path, why)) in candidates {
            out.push(self.shell(&host, &path, why, &writes)?);
        }
        out.sort_by(|a, b| (&a.first_seen, &a.path).cmp(&(&b.first_seen, &b.path)));
        Ok(out)
    }

    /// One web shell: its requests counted once across logs, its clients, what wrote it.
    fn shell(
        &self,
        host: &str,
        path: &str,
        why: String,
        writes: &[(String, String, i64, EventRef)],
    ) -> Result<WebShell> {
        let q = format!("path:{} AND host:{}", quote_value(path), quote_value(host));
        let all = self.select(&q)?;
        // One request is logged by IIS and by HttpProxy with the same GUID: count it once.
        let mut seen_ids = HashSet::new();
        let (mut requests, mut posts) = (0u64, 0u64);
        let mut clients: BTreeMap<String, (u64, i64, i64)> = BTreeMap::new();
        let mut first_ok: Option<i64> = None;
        let mut display_path = None;
        for ev in all.events(0, all.len().min(SHELL_REQUESTS_LOADED) as usize)? {
            if let Some(id) = &ev.request_id
                && !seen_ids.insert(id.clone())
            {
                continue;
            }
            requests += 1;
            if ev
                .method
                .as_deref()
                .is_some_and(|m| m.eq_ignore_ascii_case("POST"))
            {
                posts += 1;
            }
            if ev.status.is_some_and(|s| (200..300).contains(&s)) {
                first_ok = Some(first_ok.map_or(ev.ts_ms, |f| f.min(ev.ts_ms)));
                if display_path.is_none() {
                    display_path = ev.path.clone();
                }
                if let Some(c) = ev.client.clone() {
                    let e = clients.entry(c).or_insert((0, ev.ts_ms, ev.ts_ms));
                    e.0 += 1;
                    e.1 = e.1.min(ev.ts_ms);
                    e.2 = e.2.max(ev.ts_ms);
                }
            }
        }
        // Beyond what was loaded, requests are counted as logged.
        requests += all.len().saturating_sub(SHELL_REQUESTS_LOADED);
        let path = display_path.unwrap_or_else(|| path.to_string());
        let mut clients: Vec<ShellClient> = clients
            .into_iter()
            .map(|(client, (n, a, b))| ShellClient {
                client,
                requests: n,
                first: format_ms(a),
                last: format_ms(b),
            })
            .collect();
        clients.sort_by(|a, b| a.first.cmp(&b.first));
        let first_use = first_ok.or(all.span()?.map(|s| s.0));
        // The write that names this very file, before it was first used.
        let exact = writes
            .iter()
            .filter(|(h, url, ts, _)| {
                h == host && url.eq_ignore_ascii_case(&path) && first_use.is_none_or(|f| *ts <= f)
            })
            .map(|(_, _, _, e)| e.clone())
            .next_back();
        let (written_by_note, likely_write) = if exact.is_some() {
            (None, None)
        } else {
            let likely = self.unnamed_write(host, first_use)?;
            let note = match &likely {
                Some(e) => format!(
                    "no logged write names this file; the virtual directory reset at {} ({}:{}) wrote a file whose path travels in the request body and is logged nowhere: it most likely wrote this one",
                    e.ts, e.file, e.line
                ),
                None => "no logged write names this file (look for file-creation events or in the file system)".to_string(),
            };
            (Some(note), likely)
        };
        let since = exact
            .as_ref()
            .or(likely_write.as_ref())
            .map(|e| e.ts.clone())
            .or_else(|| first_use.map(format_ms));
        let (worker_processes, worker_process_events) = match since {
            Some(since) => self.worker_processes(host, &since)?,
            None => (Vec::new(), 0),
        };
        let host_web_logged = !self
            .select(&format!("{} AND method:*", host_query(host)))?
            .is_empty();
        Ok(WebShell {
            first_seen: first_ok.map(format_ms).unwrap_or_default(),
            path,
            host: host.to_string(),
            requests,
            posts,
            clients,
            written_by: exact,
            written_by_note,
            likely_write,
            why,
            host_web_logged,
            worker_processes,
            worker_process_events,
        })
    }

    /// Process starts by the web server's worker on `host` from `since` on: the first few and
    /// how many events there are.
    fn worker_processes(&self, host: &str, since: &str) -> Result<(Vec<EventRef>, u64)> {
        let q = format!(
            "{} AND ts:>={since} AND ({WORKER_CHILDREN})",
            host_query(host)
        );
        let sel = self.select(&q)?;
        let shown = sel.events(0, sel.len().min(SHELL_PROCESSES_SHOWN) as usize)?;
        Ok((shown.iter().map(evidence_of).collect(), sel.len()))
    }

    /// The last write on `host` before `before` that does not name its file.
    fn unnamed_write(&self, host: &str, before: Option<i64>) -> Result<Option<EventRef>> {
        let ids: Vec<String> = UNNAMED_WRITES
            .iter()
            .filter(|id| self.d.hits.contains_key(**id))
            .map(|id| format!("rule:{id}"))
            .collect();
        if ids.is_empty() {
            return Ok(None);
        }
        let mut q = format!("({}) AND host:{}", ids.join(" OR "), quote_value(host));
        if let Some(t) = before {
            q.push_str(&format!(" AND ts:<{}", format_ms(t + 1)));
        }
        let sel = self.select(&q)?;
        if sel.is_empty() {
            return Ok(None);
        }
        // Prefer the reset itself (HttpProxy or back-end line) over the URL change before it.
        let has_resets = self.d.hits.contains_key("tpl-cve-2021-27065-resetvdir")
            || self.d.hits.contains_key("proxylogon-ddi-reset-backend");
        if has_resets {
            let resets = self.select(&format!(
                "({q}) AND (rule:tpl-cve-2021-27065-resetvdir OR rule:proxylogon-ddi-reset-backend)"
            ))?;
            if !resets.is_empty() {
                return self.evidence(&resets, resets.len() - 1);
            }
        }
        self.evidence(&sel, sel.len() - 1)
    }

    // -----------------------------------------------------------------------------------------
    // Suspects.

    /// How many events of `query` the address `ip` sent (its own, or relayed for others).
    fn sent_by(&self, ip: &str, query: &str) -> Result<u64> {
        Ok(self
            .select(&format!("({query}) AND ip:{}", quote_value(ip)))?
            .len())
    }

    fn suspects(&self, shells: &[WebShell], excluded: &Excluded) -> Result<Vec<Suspect>> {
        let mut reasons: BTreeMap<String, (Outcome, BTreeSet<String>)> = BTreeMap::new();
        let mut note = |client: String, outcome: Outcome, why: String| {
            let e = reasons.entry(client).or_insert((outcome, BTreeSet::new()));
            e.0 = e.0.max(outcome);
            e.1.insert(why);
        };
        for part in self
            .parts
            .iter()
            .filter(|p| p.outcome >= Outcome::Attempt && p.rule.suspects)
            .filter(|p| p.rule.severity >= Severity::Medium)
        {
            let sel = self.select(&part.query)?;
            if sel.is_empty() {
                continue;
            }
            for v in sel.top_values("client", 1000, Order::Top, false)?.values {
                if excluded.contains(&v.value) {
                    continue;
                }
                note(
                    v.value,
                    part.outcome,
                    format!(
                        "{} {} hit(s) of {} ({})",
                        v.count, part.outcome, part.rule.id, part.rule.title
                    ),
                );
            }
            // The sender of a header that may be forged is named with the hits it sent.
            for forwarder in &excluded.doubtful {
                let sent = self.sent_by(forwarder, &part.query)?;
                if sent > 0 {
                    note(
                        forwarder.clone(),
                        part.outcome,
                        format!(
                            "sent {sent} {} hit(s) of {} ({}) with an X-Forwarded-For it may have forged",
                            part.outcome, part.rule.id, part.rule.title
                        ),
                    );
                }
            }
        }
        for shell in shells {
            for forwarder in &excluded.doubtful {
                let sent = self.sent_by(forwarder, &shell.answered_query())?;
                if sent > 0 {
                    note(
                        forwarder.clone(),
                        Outcome::Compromise,
                        format!(
                            "sent {sent} request(s) to web shell {} on {} answered 2xx, with an X-Forwarded-For it may have forged",
                            shell.path, shell.host
                        ),
                    );
                }
            }
        }
        for shell in shells {
            for c in shell
                .clients
                .iter()
                .filter(|c| !excluded.contains(&c.client))
            {
                note(
                    c.client.clone(),
                    Outcome::Compromise,
                    format!(
                        "used web shell {} on {} ({} request(s) answered 2xx)",
                        shell.path, shell.host, c.requests
                    ),
                );
            }
        }
        // Addresses sharing a rare user agent with one that succeeded, around the same time.
        let mut associated: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        let succeeded: Vec<String> = reasons
            .iter()
            .filter(|(_, (o, _))| *o >= Outcome::Success)
            .map(|(c, _)| c.clone())
            .collect();
        for client in &succeeded {
            let sel = self.select(&format!("client:{}", quote_value(client)))?;
            let Some((first, last)) = sel.span()? else {
                continue;
            };
            for ua in self.written_values(&sel, "ua", 20)? {
                let q_ua = format!("ua:{}", quote_value(&ua));
                let everywhere = self.select(&q_ua)?;
                if everywhere.len() > RARE_UA_EVENTS {
                    continue;
                }
                let window = format!(
                    "{q_ua} AND ts:[{} TO {}]",
                    format_ms(first - 86_400_000),
                    format_ms(last + 86_400_000)
                );
                for other in self.values(&self.select(&window)?, "client", 100)? {
                    if other != *client
                        && !excluded.contains(&other)
                        && !reasons.contains_key(&other)
                    {
                        associated.entry(other).or_default().insert(format!(
                            "shares the rare user agent \"{ua}\" ({} events in the case) with {client}",
                            everywhere.len()
                        ));
                    }
                }
            }
        }
        let mut out = Vec::new();
        let all = reasons
            .into_iter()
            .map(|(c, (o, why))| {
                let role = if o >= Outcome::Success {
                    "compromise"
                } else {
                    "attempt"
                };
                (c, role, why)
            })
            .chain(
                associated
                    .into_iter()
                    .map(|(c, why)| (c, "associated", why)),
            );
        for (client, role, why) in all {
            let address = quote_value(&client);
            // A doubtful forwarder's events are its own and those it sent for others.
            let sel = if excluded.doubtful.contains(&client) {
                self.select(&format!("client:{address} OR ip:{address}"))?
            } else {
                self.select(&format!("client:{address}"))?
            };
            let (a, b) = sel.span()?.unwrap_or((0, 0));
            out.push(Suspect {
                client,
                role: role.into(),
                events: sel.len(),
                first: format_ms(a),
                last: format_ms(b),
                reasons: why.into_iter().collect(),
            });
        }
        out.sort_by(|a, b| a.first.cmp(&b.first));
        Ok(out)
    }

    // -----------------------------------------------------------------------------------------
    // Verdicts and windows.

    fn verdicts(
        &self,
        shells: &[WebShell],
        excluded: &Excluded,
    ) -> Result<(Vec<HostVerdict>, Vec<Window>)> {
        let all = self.select("*")?;
        let mut hosts = self.values(&all, "host", usize::MAX)?;
        hosts.sort();
        // Events whose server is unknown get a verdict too, never "no events".
        if !self.select(&host_query(NO_HOST))?.is_empty() {
            hosts.push(NO_HOST.to_string());
        }
        let mut verdicts = Vec::new();
        let mut windows = Vec::new();
        for host in hosts {
            let q_host = host_query(&host);
            let mut verdict = Verdict::Clean;
            let mut reasons = Vec::new();
            // (outcome, time, cited) of every cited event.
            let mut cited: Vec<(Outcome, i64, Cited)> = Vec::new();
            let mut evidence_queries: Vec<(Outcome, String)> = Vec::new();
            for part in &self.parts {
                let q = format!("({}) AND {q_host}", part.query);
                let sel = self.select(&q)?;
                if sel.is_empty() {
                    continue;
                }
                verdict = verdict.max(verdict_of(part.outcome));
                reasons.push((
                    part.outcome,
                    format!(
                        "{}: {} — {} event(s) from {}{}",
                        part.outcome,
                        part.rule.title,
                        sel.len(),
                        sel.span()?.map(|s| format_ms(s.0)).unwrap_or_default(),
                        part.note
                            .as_deref()
                            .map(|n| format!(": {n}"))
                            .unwrap_or_default()
                    ),
                ));
                for ev in sel.events(0, sel.len().min(CITED_PER_REASON) as usize)? {
                    let e = evidence_of(&ev);
                    cited.push((
                        part.outcome,
                        ev.ts_ms,
                        Cited {
                            file: e.file,
                            line: e.line,
                            ts: e.ts,
                            rule: part.rule.id.clone(),
                            outcome: part.outcome,
                        },
                    ));
                }
                evidence_queries.push((part.outcome, q));
            }
            for shell in shells.iter().filter(|s| s.host == host) {
                let q = shell.answered_query();
                let sel = self.select(&q)?;
                if sel.is_empty() && shell.written_by.is_none() {
                    continue;
                }
                verdict = Verdict::Compromised;
                reasons.push((
                    Outcome::Compromise,
                    if sel.is_empty() {
                        format!(
                            "web shell {} was written; {}",
                            shell.path,
                            shell.use_summary()
                        )
                    } else {
                        format!("web shell {}: {}", shell.path, shell.use_summary())
                    },
                ));
                for ev in sel.events(0, sel.len().min(CITED_PER_REASON) as usize)? {
                    let e = evidence_of(&ev);
                    cited.push((
                        Outcome::Compromise,
                        ev.ts_ms,
                        Cited {
                            file: e.file,
                            line: e.line,
                            ts: e.ts,
                            rule: "webshell".into(),
                            outcome: Outcome::Compromise,
                        },
                    ));
                }
                if !sel.is_empty() {
                    evidence_queries.push((Outcome::Compromise, q));
                }
            }
            // The gravest reasons and evidence first, then in time order.
            reasons.sort_by_key(|r| std::cmp::Reverse(r.0));
            cited.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
            let mut first_last = None;
            if verdict == Verdict::Compromised
                && let Some(w) = self.window(&host, &evidence_queries, shells, excluded)?
            {
                // A window opening on the first day of the host's logs may open earlier: the
                // logs say since when they cover the host, not since when it was compromised.
                let opens = crate::formats::time::parse_iso(&w.first, crate::formats::utc());
                if let (Some(opens), Some((start, _))) = (opens, self.select(&q_host)?.span()?)
                    && opens.ms < start + 86_400_000
                {
                    reasons.push((
                        Outcome::Context,
                        format!(
                            "since when: the window opens on the first day of the host's logs, which begin at {}: the compromise may predate them",
                            format_ms(start)
                        ),
                    ));
                }
                first_last = Some((w.first.clone(), w.last.clone()));
                windows.push(w);
            } else if verdict > Verdict::Clean {
                let deciding: Vec<&str> = evidence_queries
                    .iter()
                    .filter(|(o, _)| verdict_of(*o) == verdict)
                    .map(|(_, q)| q.as_str())
                    .collect();
                let sel = self.select(&any_of(&deciding))?;
                first_last = sel.span()?.map(|(a, b)| (format_ms(a), format_ms(b)));
            }
            if verdict == Verdict::Clean {
                let span = self.select(&q_host)?;
                reasons.push((
                    Outcome::Context,
                    format!(
                        "no compromise, attempt or probe and no web shell in {} event(s)",
                        span.len()
                    ),
                ));
            }
            // What is worth knowing on the host (a log cleared, a service installed, routine
            // administration) is said, after what decided the verdict, never as its cause.
            for rule in &self.context {
                let sel = self.select(&format!("rule:{} AND {q_host}", rule.id))?;
                if let Some((first, _)) = sel.span()? {
                    reasons.push((
                        Outcome::Context,
                        format!(
                            "context: {} — {} event(s) from {}",
                            rule.title,
                            sel.len(),
                            format_ms(first)
                        ),
                    ));
                }
            }
            verdicts.push(HostVerdict {
                host,
                verdict,
                first: first_last.as_ref().map(|f| f.0.clone()),
                last: first_last.map(|f| f.1),
                reasons: reasons.into_iter().map(|r| r.1).collect(),
                evidence: cited.into_iter().map(|c| c.2).take(20).collect(),
            });
        }
        verdicts.sort_by(|a, b| b.verdict.cmp(&a.verdict).then(a.host.cmp(&b.host)));
        windows.sort_by(|a, b| a.first.cmp(&b.first));
        Ok((verdicts, windows))
    }

    /// A compromised host's window: from its first evidence of compromise, or the first hit of an
    /// address that later succeeded there, to that address's last event there.
    fn window(
        &self,
        host: &str,
        evidence: &[(Outcome, String)],
        shells: &[WebShell],
        excluded: &Excluded,
    ) -> Result<Option<Window>> {
        let q_host = host_query(host);
        let compromise: Vec<&str> = evidence
            .iter()
            .filter(|(o, _)| *o >= Outcome::Success)
            .map(|(_, q)| q.as_str())
            .collect();
        if compromise.is_empty() {
            return Ok(None);
        }
        let proof = self.select(&any_of(&compromise))?;
        // The addresses that succeeded on this host.
        let mut attackers: BTreeSet<String> = self
            .values(&proof, "client", 1000)?
            .into_iter()
            .filter(|c| !excluded.contains(c))
            .collect();
        for s in shells.iter().filter(|s| s.host == host) {
            attackers.extend(
                s.clients
                    .iter()
                    .filter(|c| !excluded.contains(&c.client))
                    .map(|c| c.client.clone()),
            );
        }
        // (time, event) candidates for the first and the last event.
        let mut firsts = Vec::new();
        let mut lasts = Vec::new();
        let mut ends = |sel: &dyn Selected, first: bool, last: bool| -> Result<()> {
            if let Some((a, b)) = sel.span()? {
                if first && let Some(e) = self.evidence(sel, 0)? {
                    firsts.push((a, e));
                }
                if last && let Some(e) = self.evidence(sel, sel.len() - 1)? {
                    lasts.push((b, e));
                }
            }
            Ok(())
        };
        ends(&proof, true, true)?;
        if !attackers.is_empty() {
            let by: Vec<String> = attackers
                .iter()
                .map(|a| format!("client:{}", quote_value(a)))
                .collect();
            let by = format!("({})", by.join(" OR "));
            // Every part of a rule is some of its hits, and together they are all of them: the
            // rules' ids say it in a query a store's parser takes (ClickHouse caps its AST).
            let ids: BTreeSet<&str> = self.parts.iter().map(|p| p.rule.id.as_str()).collect();
            let hits: Vec<String> = ids.iter().map(|id| format!("rule:{id}")).collect();
            let their_hits =
                self.select(&format!("{by} AND {q_host} AND ({})", hits.join(" OR ")))?;
            ends(&their_hits, true, false)?;
            ends(&self.select(&format!("{by} AND {q_host}"))?, false, true)?;
        }
        let first = firsts.into_iter().min_by_key(|(t, _)| *t);
        let last = lasts.into_iter().max_by_key(|(t, _)| *t);
        let (Some((a, first_event)), Some((b, last_event))) = (first, last) else {
            return Ok(None);
        };
        Ok(Some(Window {
            host: host.to_string(),
            first: format_ms(a),
            last: format_ms(b),
            first_event,
            last_event,
        }))
    }
}

/// Addresses never named as attackers.
struct Excluded {
    addresses: HashSet<String>,
    declared: Vec<crate::attribution::Cidr>,
    /// Private addresses that sent X-Forwarded-For without acting as balancers: suspects
    /// beside the clients they named.
    doubtful: Vec<String>,
}

impl Excluded {
    fn contains(&self, client: &str) -> bool {
        if self.addresses.contains(client) {
            return true;
        }
        client
            .parse::<IpAddr>()
            .is_ok_and(|ip| ip.is_loopback() || self.declared.iter().any(|c| c.contains(ip)))
    }
}

/// A rule's hits matched by `query` as parts: with a success condition, those it holds for mean
/// `success` and the rest `refused`; without one, all mean `success`.
fn split_by_success<'r>(
    parts: &mut Vec<Part<'r>>,
    rule: &'r RuleInfo,
    query: String,
    when: Option<&str>,
    success: Outcome,
    refused: Outcome,
) {
    let part = |outcome, query| Part {
        rule,
        outcome,
        query,
        note: None,
    };
    match when {
        Some(when) => {
            parts.push(part(success, format!("{query} AND ({when})")));
            parts.push(part(refused, format!("{query} AND NOT ({when})")));
        }
        None => parts.push(part(success, query)),
    }
}

/// Whether a script's folder is one where add-ons of the site live (an MFA or branding page
/// under /owa/auth/ or /ecp/auth/). /aspnet_client/ and /oab/ hold no script of their own.
fn add_on_folder(path: &str) -> bool {
    let path = path.to_ascii_lowercase();
    path.starts_with("/owa/auth/") || path.starts_with("/ecp/auth/")
}

fn verdict_of(outcome: Outcome) -> Verdict {
    match outcome {
        Outcome::Compromise | Outcome::Success => Verdict::Compromised,
        Outcome::Attempt => Verdict::Attempted,
        Outcome::Probe => Verdict::Probed,
        Outcome::Context => Verdict::Clean,
    }
}

/// Whether at least half of a forwarder's forwarded requests are attacks (see `proxies`).
fn mostly_attacks(attacks: u64, forwarded: u64) -> bool {
    forwarded > 0 && attacks * 2 >= forwarded
}

fn any_of(queries: &[&str]) -> String {
    if queries.is_empty() {
        return "NOT *".into();
    }
    queries
        .iter()
        .map(|q| format!("({q})"))
        .collect::<Vec<_>>()
        .join(" OR ")
}

fn is_script(path: &str) -> bool {
    let lower = path.to_ascii_lowercase();
    [".aspx", ".ashx", ".asmx", ".asp", ".php", ".jsp"]
        .iter()
        .any(|ext| lower.ends_with(ext))
}

/// Local file paths a write event names: a file creation's `TargetFilename`, an OAB download's
/// temporary file, a mailbox export's `-FilePath`, a certificate request's `-RequestFile`.
fn written_paths(ev: &EventView) -> Vec<String> {
    if let Some(target) = ev.value_of("TargetFilename") {
        return vec![target];
    }
    let text = ev.value_of("Message").unwrap_or_else(|| ev.raw.clone());
    written_paths_in(&text)
}

fn written_paths_in(raw: &str) -> Vec<String> {
    let mut out = Vec::new();
    let lower = raw.to_ascii_lowercase();
    if let Some(i) = lower.find("temporary file ") {
        let rest = &raw[i + "temporary file ".len()..];
        if let Some(end) = rest.to_ascii_lowercase().find(" needs to be removed") {
            out.push(rest[..end].trim_matches(['\'', '"', ' ']).to_string());
        }
    }
    for parameter in ["-filepath", "-requestfile"] {
        let mut from = 0;
        while let Some(i) = lower[from..].find(parameter) {
            let start = from + i + parameter.len();
            let rest = raw[start..].trim_start_matches([' ', '"', '\'']);
            let end = rest.find(['"', '\'']).unwrap_or(rest.len());
            let path = rest[..end].trim();
            if !path.is_empty() {
                out.push(path.to_string());
            }
            from = start;
        }
    }
    out
}

/// The URL path IIS serves a local file under, for the folders Exchange and IIS publish:
/// `…\inetpub\wwwroot\aspnet_client\x.aspx` is `/aspnet_client/x.aspx`,
/// `…\FrontEnd\HttpProxy\owa\auth\x.aspx` is `/owa/auth/x.aspx` (also through admin shares).
pub fn url_of_local_path(local: &str) -> Option<String> {
    let norm = resolve_dots(&local.replace('/', "\\"));
    let lower = norm.to_ascii_lowercase();
    for root in ["\\inetpub\\wwwroot\\", "\\frontend\\httpproxy\\"] {
        if let Some(i) = lower.find(root) {
            let rest = &norm[i + root.len()..];
            if rest.is_empty() {
                return None;
            }
            return Some(format!("/{}", rest.replace('\\', "/")));
        }
    }
    None
}

/// A Windows path with its `.` and `..` segments resolved: a write that climbs out of the OAB
/// folder (`…\ClientAccess\OAB\..\..\FrontEnd\HttpProxy\owa\auth\x.aspx`) lands where it lands.
fn resolve_dots(path: &str) -> String {
    let mut out: Vec<&str> = Vec::new();
    for (i, segment) in path.split('\\').enumerate() {
        match segment {
            "." => {}
            // Never above the root (a drive, or a share's first segments).
            ".." if out.len() > 1 && out.last().is_some_and(|s| !s.is_empty()) => {
                out.pop();
            }
            ".." => {}
            s if s.is_empty() && i > 0 && out.last().is_some_and(|l| !l.is_empty()) => {}
            s => out.push(s),
        }
    }
    out.join("\\")
}

/// A one-line description of an event with its place in the evidence.
pub fn evidence_of(ev: &EventView) -> EventRef {
    let what = match (&ev.method, &ev.path) {
        (Some(m), Some(p)) => format!(
            "{} {m} {p} {} {}",
            ev.client.as_deref().or(ev.ip.as_deref()).unwrap_or("-"),
            ev.status.map_or("-".into(), |s| s.to_string()),
            ev.ua.as_deref().unwrap_or("-")
        ),
        _ => ev
            .summary()
            .unwrap_or_else(|| ev.raw.clone())
            .chars()
            .take(160)
            .collect(),
    };
    EventRef {
        file: ev.file.clone(),
        line: ev.line,
        ts: ev.ts.clone(),
        host: ev.host.clone(),
        summary: format!("{} {what}", ev.host.as_deref().unwrap_or("-")),
        outcome: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_paths_map_to_urls() {
        assert_eq!(
            url_of_local_path(r"\\127.0.0.1\c$\inetpub\wwwroot\aspnet_client\shell.aspx")
                .as_deref(),
            Some("/aspnet_client/shell.aspx")
        );
        assert_eq!(
            url_of_local_path(
                r"C:\Program Files\Microsoft\Exchange Server\V15\FrontEnd\HttpProxy\owa\auth\x.aspx"
            )
            .as_deref(),
            Some("/owa/auth/x.aspx")
        );
        assert_eq!(url_of_local_path(r"\\files01\exports\ceo.pst"), None);
        // Climbing out of a folder lands where it lands.
        assert_eq!(
            url_of_local_path(
                r"C:\Program Files\Microsoft\Exchange Server\V15\ClientAccess\OAB\..\..\FrontEnd\HttpProxy\owa\auth\zz.aspx"
            )
            .as_deref(),
            Some("/owa/auth/zz.aspx")
        );
        assert_eq!(
            url_of_local_path(
                r"C:\Program Files\Microsoft\Exchange Server\V15\FrontEnd\HttpProxy\owa\..\..\..\..\..\..\inetpub\wwwroot\aspnet_client\.\x.aspx"
            )
            .as_deref(),
            Some("/aspnet_client/x.aspx")
        );
        assert_eq!(
            url_of_local_path(r"\\127.0.0.1\c$\inetpub\\wwwroot\aspnet_client\s.aspx").as_deref(),
            Some("/aspnet_client/s.aspx")
        );
    }

    #[test]
    fn writes_name_their_files() {
        let oab = r"2021-03-05T17:55:40.261Z,MBX-A,Warning,Download failed and temporary file '\\127.0.0.1\c$\Program Files\Microsoft\Exchange Server\V15\FrontEnd\HttpProxy\owa\auth\R.aspx' needs to be removed.";
        assert_eq!(
            written_paths_in(oab),
            vec![
                r"\\127.0.0.1\c$\Program Files\Microsoft\Exchange Server\V15\FrontEnd\HttpProxy\owa\auth\R.aspx"
                    .to_string()
            ]
        );
        let export = r#""2021-03-05T20:05:11Z","1","Information","MSExchange CmdletLogs","MSExchange Management","MBX-A","Cmdlet succeeded. Cmdlet New-MailboxExportRequest, parameters -Mailbox ""ceo@corp.example.org"" -FilePath ""\\127.0.0.1\c$\inetpub\wwwroot\aspnet_client\s.aspx""."""#;
        assert_eq!(
            written_paths_in(export),
            vec![r"\\127.0.0.1\c$\inetpub\wwwroot\aspnet_client\s.aspx".to_string()]
        );
    }
}
