//! Detections: rules run over the whole case, and what can only be inferred across events: web
//! shells, suspect addresses, incident windows.
//!
//! A rule runs in two steps: its query, relaxed where the index cannot answer (`raw:`), finds
//! candidates in the index; each candidate is then parsed again and the full query checked on
//! it. Hits are stored in the case (`detections.json`) as event keys, so `rule:<id>` works in
//! every query and the timeline marks them; they are recomputed after each ingest and whenever
//! the rules change, without reading the logs again.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::case::{Case, write_atomic};
use crate::error::{Error, Result};
use crate::formats::time::format_ms;
use crate::query::{self, EventSet, Vocabulary};
use crate::rules::{self, Category, Rule, Severity};
use crate::timeline::{Order, Selection};
use crate::view::{self, EventView};

/// The key of an event: its file and line.
pub fn event_key(file_id: u64, line: u64) -> u64 {
    (file_id << 40) | (line & ((1 << 40) - 1))
}

/// A rule's description as stored with its hits.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RuleInfo {
    pub id: String,
    pub title: String,
    pub severity: Severity,
    pub category: Category,
    pub description: String,
    pub references: Vec<String>,
    pub attack: Vec<String>,
    pub suspects: bool,
    pub origin: String,
}

/// Hits of every rule, stored in the case.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Detections {
    /// Digest of the rules that produced these hits.
    pub rules_digest: String,
    /// Fingerprint of the case contents they were computed on.
    pub case_state: String,
    pub rules: Vec<RuleInfo>,
    /// Rule id → (event key, time in ms), in time order.
    pub hits: BTreeMap<String, Vec<(u64, i64)>>,
}

impl Detections {
    pub fn rule(&self, id: &str) -> Option<&RuleInfo> {
        self.rules.iter().find(|r| r.id == id)
    }

    /// Event sets for the query language: `rule:<id>` for each rule with hits.
    pub fn sets(&self) -> Vec<(String, Arc<EventSet>)> {
        self.hits
            .iter()
            .map(|(id, hits)| {
                (
                    format!("rule:{id}"),
                    Arc::new(EventSet::new(hits.iter().copied())),
                )
            })
            .collect()
    }

    /// Rule ids by event key, for marking rows.
    pub fn by_event(&self) -> HashMap<u64, Vec<String>> {
        let mut out: HashMap<u64, Vec<String>> = HashMap::new();
        for (id, hits) in &self.hits {
            for (key, _) in hits {
                out.entry(*key).or_default().push(id.clone());
            }
        }
        out
    }

    /// Hit times of compromise rules of at least `min` severity, sorted, for the histogram and
    /// next/previous hit.
    pub fn times(&self, min: Severity) -> Vec<i64> {
        let mut out: Vec<i64> = self
            .hits
            .iter()
            .filter(|(id, _)| {
                self.rule(id)
                    .is_some_and(|r| r.severity >= min && r.category == Category::Compromise)
            })
            .flat_map(|(_, hits)| hits.iter().map(|(_, ts)| *ts))
            .collect();
        out.sort_unstable();
        out.dedup();
        out
    }
}

/// What queries may name in this case: its fields, `rule:<id>` from the stored detections, and
/// `tag:`, `marked:`, `bookmarked:`, `noted:` from the responder's marks.
pub fn vocabulary(case: &Case) -> Result<Vocabulary> {
    let mut vocab = case.manifest.vocabulary();
    if let Some(d) = load_stored(case) {
        vocab.sets = d.sets();
    }
    vocab.sets.extend(crate::marks::Marks::load(case)?.sets());
    Ok(vocab)
}

fn detections_path(case: &Case) -> std::path::PathBuf {
    case.dir.join("detections.json")
}

/// A fingerprint of what the case holds.
pub fn case_state(case: &Case) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    for f in &case.manifest.files {
        h.update(f.id.to_le_bytes());
        h.update(f.lines.to_le_bytes());
        h.update(f.events.to_le_bytes());
    }
    crate::input::hex(&h.finalize())
}

/// The stored detections, if they match the case and the rules.
pub fn load_current(case: &Case, rules: &[Rule]) -> Option<Detections> {
    let text = std::fs::read_to_string(detections_path(case)).ok()?;
    let d: Detections = serde_json::from_str(&text).ok()?;
    (d.rules_digest == rules::digest(rules) && d.case_state == case_state(case)).then_some(d)
}

/// The stored detections, whatever they were computed on (the timeline shows them as they are).
pub fn load_stored(case: &Case) -> Option<Detections> {
    let text = std::fs::read_to_string(detections_path(case)).ok()?;
    serde_json::from_str(&text).ok()
}

/// Loads stored detections or computes and stores them.
pub fn ensure(case: &Case, rules: &[Rule]) -> Result<Detections> {
    if let Some(d) = load_current(case, rules) {
        return Ok(d);
    }
    let d = detect(case, rules)?;
    save(case, &d)?;
    Ok(d)
}

pub fn save(case: &Case, d: &Detections) -> Result<()> {
    let text = serde_json::to_string(d).map_err(|e| Error::Usage(e.to_string()))?;
    write_atomic(&detections_path(case), text.as_bytes())
}

/// A rule's id and the events it found: (event key, time).
type RuleHits = (String, Vec<(u64, i64)>);

/// Runs every rule over the case, on as many threads as there are cores.
pub fn detect(case: &Case, rules: &[Rule]) -> Result<Detections> {
    let reader = case.reader()?;
    let searcher = reader.searcher();
    let mut vocab = case.manifest.vocabulary();
    // A rule about a column this case has no log for simply finds nothing.
    vocab.unknown_fields_match_nothing = true;
    let next = std::sync::atomic::AtomicUsize::new(0);
    let workers = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .clamp(1, rules.len().max(1));
    let per_worker: Vec<Result<Vec<RuleHits>>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..workers)
            .map(|_| {
                scope.spawn(|| {
                    let mut out = Vec::new();
                    loop {
                        let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        let Some(rule) = rules.get(i) else {
                            return Ok(out);
                        };
                        let found = hits_of(rule, case, &searcher, &vocab)?;
                        if !found.is_empty() {
                            out.push((rule.spec.id.clone(), found));
                        }
                    }
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(Error::Usage("a rule worker panicked".into())))
            })
            .collect()
    });
    let mut hits = BTreeMap::new();
    for worker in per_worker {
        hits.extend(worker?);
    }
    Ok(Detections {
        rules_digest: rules::digest(rules),
        case_state: case_state(case),
        rules: rules.iter().map(info).collect(),
        hits,
    })
}

/// The events one rule finds: (event key, time).
fn hits_of(
    rule: &Rule,
    case: &Case,
    searcher: &tantivy::Searcher,
    vocab: &query::Vocabulary,
) -> Result<Vec<(u64, i64)>> {
    let compiled = query::compile(&rule.matcher.index_text, &case.fields, vocab).map_err(|e| {
        Error::Usage(format!(
            "rule {} ({}): {e}: {}",
            rule.spec.id, rule.origin, rule.matcher.index_text
        ))
    })?;
    let sel = Selection::select(searcher, &compiled)?;
    // Only what the index could not evaluate (`raw:`) needs checking event by event; the
    // index's answer is otherwise the query's meaning, as `trawl search` gives it.
    let verify = !rule.matcher.exact_in_index;
    let mut found = Vec::new();
    let mut loader = view::Loader::new(searcher, &case.fields, &case.manifest);
    const PAGE: usize = 4096;
    let mut start = 0;
    while start < sel.len() {
        for row in sel.rows(start, PAGE) {
            if !verify || rule.matcher.matches(&loader.load(row.addr)?) {
                found.push((row.key(), row.ts_ms));
            }
        }
        start += PAGE as u64;
    }
    Ok(found)
}

fn info(r: &Rule) -> RuleInfo {
    RuleInfo {
        id: r.spec.id.clone(),
        title: r.spec.title.clone(),
        severity: r.spec.severity,
        category: r.spec.category,
        description: r.spec.description.trim().to_string(),
        references: r.spec.references.clone(),
        attack: r.spec.attack.clone(),
        suspects: r.spec.suspects,
        origin: r.origin.clone(),
    }
}

// ---------------------------------------------------------------------------------------------
// The hunt report.

/// Where an event is, for the evidence record.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Evidence {
    pub file: String,
    pub line: u64,
    pub ts: String,
    pub summary: String,
}

/// One rule's hits, summarised.
#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    pub rule: String,
    pub title: String,
    pub severity: Severity,
    pub category: Category,
    pub count: u64,
    pub first_seen: String,
    pub last_seen: String,
    pub hosts: Vec<String>,
    pub ips: Vec<String>,
    pub uas: Vec<String>,
    pub examples: Vec<Evidence>,
    pub description: String,
    pub references: Vec<String>,
    pub attack: Vec<String>,
}

/// A client of a web shell.
#[derive(Debug, Clone, Serialize)]
pub struct ShellClient {
    pub ip: String,
    pub requests: u64,
    pub first: String,
    pub last: String,
}

/// A script that behaves like a web shell.
#[derive(Debug, Clone, Serialize)]
pub struct WebShell {
    pub path: String,
    pub host: String,
    pub first_seen: String,
    pub requests: u64,
    pub posts: u64,
    pub clients: Vec<ShellClient>,
    /// The event that most likely wrote it, if any.
    pub written_by: Option<Evidence>,
    pub why: String,
}

/// An address and why it is suspect.
#[derive(Debug, Clone, Serialize)]
pub struct Suspect {
    pub ip: String,
    pub events: u64,
    pub first: String,
    pub last: String,
    pub reasons: Vec<String>,
}

/// First and last malicious event of a host.
#[derive(Debug, Clone, Serialize)]
pub struct Window {
    pub host: String,
    pub first: String,
    pub last: String,
    pub first_event: Evidence,
    pub last_event: Evidence,
}

/// Everything `trawl hunt` reports.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub case: String,
    pub events: u64,
    pub first_event: Option<String>,
    pub last_event: Option<String>,
    pub findings: Vec<Finding>,
    pub noise: Vec<Finding>,
    pub webshells: Vec<WebShell>,
    pub suspects: Vec<Suspect>,
    pub windows: Vec<Window>,
}

/// Builds the report from stored detections and the index.
pub fn report(case: &Case, d: &Detections) -> Result<Report> {
    let ctx = Ctx::new(case, d)?;
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
        b.severity
            .cmp(&a.severity)
            .then(a.first_seen.cmp(&b.first_seen))
    };
    findings.sort_by(by_severity);
    noise.sort_by(by_severity);
    let webshells = ctx.webshells()?;
    let suspects = ctx.suspects(&webshells)?;
    let windows = ctx.windows(&suspects, &webshells)?;
    Ok(Report {
        case: case.dir.display().to_string(),
        events: all.len(),
        first_event: all.span().map(|s| format_ms(s.0)),
        last_event: all.span().map(|s| format_ms(s.1)),
        findings,
        noise,
        webshells,
        suspects,
        windows,
    })
}

struct Ctx<'a> {
    case: &'a Case,
    d: &'a Detections,
    searcher: tantivy::Searcher,
    vocab: Vocabulary,
}

/// Paths where HAFNIUM and others put web shells, and the files of a standard install there.
const SHELL_LOCATIONS: &str = "(path:/aspnet_client/* OR path:/owa/auth/* OR path:/ecp/auth/* OR path:/oab/*) AND (path:*.aspx OR path:*.ashx OR path:*.asmx OR path:*.asp) AND NOT path:/owa/auth/errorFE.aspx AND NOT path:/owa/auth/ExpiredPassword.aspx AND NOT path:/owa/auth/frowny.aspx AND NOT path:/owa/auth/logoff.aspx AND NOT path:/owa/auth/logon.aspx AND NOT path:/owa/auth/OutlookCN.aspx AND NOT path:/owa/auth/RedirSuiteServiceProxy.aspx AND NOT path:/owa/auth/signout.aspx AND NOT path:/ecp/auth/TimeoutLogout.aspx";

/// Rules whose hits can write a file.
const WRITE_RULES: [&str; 6] = [
    "tpl-cve-2021-27065-resetvdir",
    "tpl-cve-2021-26858",
    "tpl-cve-2021-27065-ecp",
    "proxylogon-ddi-reset-backend",
    "mgmt-mailbox-export-to-file",
    "ecp-oab-externalurl-script",
];

/// A user agent seen on at most this many events in the whole case is rare.
const RARE_UA_EVENTS: u64 = 200;

impl<'a> Ctx<'a> {
    fn new(case: &'a Case, d: &'a Detections) -> Result<Ctx<'a>> {
        let mut vocab = case.manifest.vocabulary();
        vocab.sets = d.sets();
        vocab.unknown_fields_match_nothing = true;
        Ok(Ctx {
            case,
            d,
            searcher: case.reader()?.searcher(),
            vocab,
        })
    }

    fn select(&self, q: &str) -> Result<Selection> {
        Selection::select(
            &self.searcher,
            &query::compile(q, &self.case.fields, &self.vocab)?,
        )
    }

    fn evidence(&self, sel: &Selection, rank: u64) -> Result<Option<Evidence>> {
        let Some(row) = sel.rows(rank, 1).into_iter().next() else {
            return Ok(None);
        };
        let ev = view::load(
            &self.searcher,
            &self.case.fields,
            &self.case.manifest,
            row.addr,
        )?;
        Ok(Some(evidence_of(&ev)))
    }

    fn values(&self, sel: &Selection, field: &str, n: usize) -> Result<Vec<String>> {
        Ok(sel
            .top_values(field, n, Order::Top)?
            .values
            .into_iter()
            .map(|v| v.value)
            .collect())
    }

    fn finding(&self, rule: &RuleInfo) -> Result<Finding> {
        let sel = self.select(&format!("rule:{}", rule.id))?;
        let span = sel.span().unwrap_or((0, 0));
        let mut examples = Vec::new();
        for rank in 0..sel.len().min(5) {
            examples.extend(self.evidence(&sel, rank)?);
        }
        Ok(Finding {
            rule: rule.id.clone(),
            title: rule.title.clone(),
            severity: rule.severity,
            category: rule.category,
            count: sel.len(),
            first_seen: format_ms(span.0),
            last_seen: format_ms(span.1),
            hosts: self.values(&sel, "host", 50)?,
            ips: self.values(&sel, "ip", 50)?,
            uas: self.values(&sel, "ua", 20)?,
            examples,
            description: rule.description.clone(),
            references: rule.references.clone(),
            attack: rule.attack.clone(),
        })
    }

    /// First high-severity compromise hit per host.
    fn first_exploitation(&self) -> Result<HashMap<String, i64>> {
        let mut out: HashMap<String, i64> = HashMap::new();
        for rule in self.d.rules.iter().filter(|r| {
            r.severity == Severity::High
                && r.category == Category::Compromise
                && self.d.hits.contains_key(&r.id)
        }) {
            let sel = self.select(&format!("rule:{}", rule.id))?;
            for host in self.values(&sel, "host", 100)? {
                let on_host = self.select(&format!(
                    "rule:{} AND host:{}",
                    rule.id,
                    query::quote_value(&host)
                ))?;
                if let Some((first, _)) = on_host.span() {
                    let e = out.entry(host).or_insert(first);
                    *e = (*e).min(first);
                }
            }
        }
        Ok(out)
    }

    fn webshells(&self) -> Result<Vec<WebShell>> {
        let first_hit = self.first_exploitation()?;
        let candidates = self.select(&format!(
            "({SHELL_LOCATIONS}) AND method:POST AND status:[200 TO 299]"
        ))?;
        let mut out = Vec::new();
        for host in self.values(&candidates, "host", 100)? {
            let q_host = format!("host:{}", query::quote_value(&host));
            let on_host = self.select(&format!(
                "({SHELL_LOCATIONS}) AND method:POST AND status:[200 TO 299] AND {q_host}"
            ))?;
            let host_start = self.select(&q_host)?.span().map_or(0, |s| s.0);
            for path in self.values(&on_host, "path", 1000)? {
                let q_path = format!("path:{} AND {q_host}", query::quote_value(&path));
                let ok = self.select(&format!("{q_path} AND status:[200 TO 299]"))?;
                let Some((first, _)) = ok.span() else {
                    continue;
                };
                let any = self.select(&q_path)?;
                let first_any = any.span().map_or(first, |s| s.0);
                let after_exploit = first_hit.get(&host).is_some_and(|t| first_any >= *t);
                // Present from the start of the host's logs: part of the site, not planted.
                let appeared = first_any > host_start + 86_400_000;
                if !after_exploit && !appeared {
                    continue;
                }
                let why = if after_exploit {
                    "first requested after the host's first exploitation hit".to_string()
                } else {
                    "absent from the first day of the host's logs, then answered POSTs".to_string()
                };
                let posts = self
                    .select(&format!("{q_path} AND method:POST AND status:[200 TO 299]"))?
                    .len();
                let mut clients = Vec::new();
                for ip in self.values(&ok, "ip", 100)? {
                    let by = self.select(&format!(
                        "{q_path} AND status:[200 TO 299] AND ip:{}",
                        query::quote_value(&ip)
                    ))?;
                    let (a, b) = by.span().unwrap_or((0, 0));
                    clients.push(ShellClient {
                        ip,
                        requests: by.len(),
                        first: format_ms(a),
                        last: format_ms(b),
                    });
                }
                clients.sort_by(|a, b| a.first.cmp(&b.first));
                let display_path = self.evidence(&ok, 0)?.map_or(path.clone(), |e| {
                    shell_path_of(&e.summary).unwrap_or(path.clone())
                });
                out.push(WebShell {
                    written_by: self.write_evidence(&host, &display_path, first)?,
                    path: display_path,
                    host: host.clone(),
                    first_seen: format_ms(first),
                    requests: any.len(),
                    posts,
                    clients,
                    why,
                });
            }
        }
        out.sort_by(|a, b| a.first_seen.cmp(&b.first_seen));
        Ok(out)
    }

    /// The write that most likely planted a shell: a write-capable hit on the same host naming
    /// the file, else the last one before it was first used.
    fn write_evidence(&self, host: &str, path: &str, first_use: i64) -> Result<Option<Evidence>> {
        let file_name = path.rsplit('/').next().unwrap_or(path).to_ascii_lowercase();
        let mut best: Option<(bool, i64, Evidence)> = None;
        for id in WRITE_RULES
            .iter()
            .filter(|id| self.d.hits.contains_key(**id))
        {
            let sel = self.select(&format!(
                "rule:{id} AND host:{} AND ts:<{}",
                query::quote_value(host),
                format_ms(first_use + 1)
            ))?;
            for row in sel.rows(0, sel.len().min(500) as usize) {
                let ev = view::load(
                    &self.searcher,
                    &self.case.fields,
                    &self.case.manifest,
                    row.addr,
                )?;
                let names_it = ev.raw.to_ascii_lowercase().contains(&file_name);
                let better = best
                    .as_ref()
                    .is_none_or(|(n, t, _)| (names_it, row.ts_ms) > (*n, *t));
                if better {
                    best = Some((names_it, row.ts_ms, evidence_of(&ev)));
                }
            }
        }
        Ok(best.map(|(_, _, e)| e))
    }

    /// The servers' own addresses (IIS `s-ip`): on back-end lines they are the client, and they
    /// are never the attacker.
    fn server_addresses(&self) -> Result<HashSet<String>> {
        let mut out = HashSet::new();
        let with_sip = self.select("s-ip:*")?;
        for host in self.values(&with_sip, "host", 1000)? {
            let sel = self.select(&format!("s-ip:* AND host:{}", query::quote_value(&host)))?;
            let step = (sel.len() / 20).max(1);
            for rank in (0..sel.len()).step_by(step as usize).take(20) {
                for row in sel.rows(rank, 1) {
                    let ev = view::load(
                        &self.searcher,
                        &self.case.fields,
                        &self.case.manifest,
                        row.addr,
                    )?;
                    if let Some(ip) = ev.value_of("s-ip") {
                        out.insert(ip);
                    }
                }
            }
        }
        Ok(out)
    }

    fn suspects(&self, shells: &[WebShell]) -> Result<Vec<Suspect>> {
        let servers = self.server_addresses()?;
        let not_attacker = |ip: &str| is_loopback(ip) || servers.contains(ip);
        let mut reasons: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for rule in self.d.rules.iter().filter(|r| {
            r.severity == Severity::High
                && r.category == Category::Compromise
                && r.suspects
                && self.d.hits.contains_key(&r.id)
        }) {
            let sel = self.select(&format!("rule:{}", rule.id))?;
            for v in sel.top_values("ip", 1000, Order::Top)?.values {
                if not_attacker(&v.value) {
                    continue;
                }
                reasons.entry(v.value).or_default().insert(format!(
                    "{} hit(s) of {} ({})",
                    v.count, rule.id, rule.title
                ));
            }
        }
        for shell in shells {
            for c in shell.clients.iter().filter(|c| !not_attacker(&c.ip)) {
                reasons.entry(c.ip.clone()).or_default().insert(format!(
                    "used web shell {} on {} ({} request(s) answered 2xx)",
                    shell.path, shell.host, c.requests
                ));
            }
        }
        // Addresses sharing a rare user agent with a suspect, around the same time.
        let known: Vec<String> = reasons.keys().cloned().collect();
        for ip in &known {
            let sel = self.select(&format!("ip:{}", query::quote_value(ip)))?;
            let Some((first, last)) = sel.span() else {
                continue;
            };
            for ua in self.values(&sel, "ua", 20)? {
                let q_ua = format!("ua:{}", query::quote_value(&ua));
                let everywhere = self.select(&q_ua)?;
                if everywhere.len() > RARE_UA_EVENTS {
                    continue;
                }
                let window = format!(
                    "{q_ua} AND ts:[{} TO {}]",
                    format_ms(first - 86_400_000),
                    format_ms(last + 86_400_000)
                );
                for other in self.values(&self.select(&window)?, "ip", 100)? {
                    if other != *ip && !not_attacker(&other) {
                        reasons.entry(other).or_default().insert(format!(
                            "shares the rare user agent \"{ua}\" ({} events in the case) with {ip}",
                            everywhere.len()
                        ));
                    }
                }
            }
        }
        let mut out = Vec::new();
        for (ip, why) in reasons {
            let sel = self.select(&format!("ip:{}", query::quote_value(&ip)))?;
            let (a, b) = sel.span().unwrap_or((0, 0));
            out.push(Suspect {
                ip,
                events: sel.len(),
                first: format_ms(a),
                last: format_ms(b),
                reasons: why.into_iter().collect(),
            });
        }
        out.sort_by(|a, b| a.first.cmp(&b.first));
        Ok(out)
    }

    fn windows(&self, suspects: &[Suspect], shells: &[WebShell]) -> Result<Vec<Window>> {
        let mut parts: Vec<String> = self
            .d
            .rules
            .iter()
            .filter(|r| {
                r.severity == Severity::High
                    && r.category == Category::Compromise
                    && self.d.hits.contains_key(&r.id)
            })
            .map(|r| format!("rule:{}", r.id))
            .collect();
        parts.extend(
            suspects
                .iter()
                .map(|s| format!("ip:{}", query::quote_value(&s.ip))),
        );
        parts.extend(shells.iter().map(|w| {
            format!(
                "(path:{} AND status:[200 TO 299])",
                query::quote_value(&w.path)
            )
        }));
        if parts.is_empty() {
            return Ok(Vec::new());
        }
        let malicious = parts.join(" OR ");
        let sel = self.select(&malicious)?;
        let mut out = Vec::new();
        for host in self.values(&sel, "host", 100)? {
            let on_host = self.select(&format!(
                "({malicious}) AND host:{}",
                query::quote_value(&host)
            ))?;
            let Some((a, b)) = on_host.span() else {
                continue;
            };
            let (Some(first_event), Some(last_event)) = (
                self.evidence(&on_host, 0)?,
                self.evidence(&on_host, on_host.len() - 1)?,
            ) else {
                continue;
            };
            out.push(Window {
                host,
                first: format_ms(a),
                last: format_ms(b),
                first_event,
                last_event,
            });
        }
        out.sort_by(|a, b| a.first.cmp(&b.first));
        Ok(out)
    }
}

fn is_loopback(ip: &str) -> bool {
    ip.parse::<std::net::IpAddr>()
        .is_ok_and(|i| i.is_loopback())
}

/// The original-case path from an evidence summary (`METHOD path status`).
fn shell_path_of(summary: &str) -> Option<String> {
    summary
        .split_whitespace()
        .find(|w| w.starts_with('/'))
        .map(|p| p.split('?').next().unwrap_or(p).to_string())
}

/// A one-line description of an event with its place in the evidence.
pub fn evidence_of(ev: &EventView) -> Evidence {
    let what = match (&ev.method, &ev.path) {
        (Some(m), Some(p)) => format!(
            "{} {m} {p} {} {}",
            ev.ip.as_deref().unwrap_or("-"),
            ev.status.map_or("-".into(), |s| s.to_string()),
            ev.ua.as_deref().unwrap_or("-")
        ),
        _ => {
            let text = ev
                .fields
                .iter()
                .find(|(k, _)| {
                    ["message", "cmd", "anchormailbox"].contains(&k.to_ascii_lowercase().as_str())
                })
                .map_or(ev.raw.as_str(), |(_, v)| v.as_str());
            text.chars().take(160).collect()
        }
    };
    Evidence {
        file: ev.file.clone(),
        line: ev.line,
        ts: ev.ts.clone(),
        summary: format!("{} {what}", ev.host.as_deref().unwrap_or("-")),
    }
}

pub mod output;
