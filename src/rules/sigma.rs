//! Sigma rules, compiled into trawl's query language so that they run at index speed like the
//! built-in pack: the YAML is parsed by `rsigma-parser`, each detection becomes a query, the
//! condition combines them, and the log source narrows them to the events it names.
//!
//! * Log sources: `webserver` and `proxy` are the web logs (IIS, HttpProxy, access logs);
//!   `windows` with a category (`process_creation`, `file_event`, `ps_script`, …) or a service
//!   (`security`, `system`, `sysmon`, `powershell`, `msexchange-management`, …) the event logs,
//!   from EVTX, JSON lines or CSV exports alike.
//! * Fields: Sigma's web names (`cs-uri-query`, `c-uri`, `cs-user-agent`, `sc-status`, `c-ip`…)
//!   become trawl's (`path` and `query`, `ua`, `status`, `client`…); Windows names stay as the
//!   events name them (`Image` also reads Security 4688's `NewProcessName`).
//! * Matching ignores case, as Sigma's does. `fieldref` compares two fields of the event (rules
//!   check it on the candidates the rest of the query finds).
//! * What trawl cannot express (correlations, aggregations, `cased`, placeholders, comparisons
//!   of text fields…) is listed with the reason, never dropped in silence; a rule file that does
//!   not parse is an error naming its file and line.

use rsigma_parser::{
    ConditionExpr, Detection, DetectionItem, Level, Modifier, Quantifier, SelectorPattern,
    SigmaRule, SigmaString, SigmaValue, SpecialChar, StringPart, detection_name_matches,
    parse_sigma_yaml,
};
use serde::Serialize;

use super::{Category, Outcome, Rule, RuleError, RuleSpec, Severity};
use crate::query::{ANY_CHAR, ANY_RUN, Matcher};

/// A Sigma rule that was not loaded, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Skipped {
    pub file: String,
    pub rule: String,
    pub reason: String,
}

/// What loading Sigma rules gave.
#[derive(Debug, Default)]
pub struct Loaded {
    pub rules: Vec<Rule>,
    pub skipped: Vec<Skipped>,
}

/// Parses one Sigma file (one or several YAML documents).
pub fn parse(text: &str, origin: &str) -> Result<Loaded, RuleError> {
    let collection = parse_sigma_yaml(text).map_err(|e| bad(origin, &e.to_string()))?;
    let mut out = Loaded::default();
    if let Some(first) = collection.errors.first() {
        // Which document each error is in (the parser does not say): each is parsed alone.
        let mut placed = 0;
        for (start, doc) in documents(text) {
            let Some(e) = parse_sigma_yaml(doc)
                .ok()
                .and_then(|c| c.errors.into_iter().next())
            else {
                continue;
            };
            let name = doc_name(doc);
            if doc.lines().any(|l| {
                l.trim_start()
                    .strip_prefix("condition:")
                    .is_some_and(|c| c.contains('|'))
            }) {
                // Sigma 1's aggregations (`selection | count() by IpAddress > 10`).
                out.skipped.push(Skipped {
                    file: format!("{origin}:{start}"),
                    rule: name,
                    reason: "an aggregation (`| count() …`), which trawl's rules do not express"
                        .into(),
                });
                placed += 1;
                continue;
            }
            let mut err = bad(origin, &e);
            err.line += start - 1;
            if e.starts_with("Condition") {
                let at = doc
                    .lines()
                    .position(|l| l.trim_start().starts_with("condition:"));
                err.line = start + at.unwrap_or(0);
            }
            err.message = format!("rule '{name}': {}", err.message);
            return Err(err);
        }
        if placed < collection.errors.len() {
            // An error no document gives alone (one of a rule and its `action: global`
            // document): the file's, as the parser words it.
            return Err(bad(origin, first));
        }
    }
    for c in &collection.correlations {
        out.skipped.push(Skipped {
            file: origin.into(),
            rule: c.id.clone().unwrap_or_else(|| c.title.clone()),
            reason: "a correlation rule (it counts or relates events over time), which trawl's rules do not express".into(),
        });
    }
    for f in &collection.filters {
        out.skipped.push(Skipped {
            file: origin.into(),
            rule: f.id.clone().unwrap_or_else(|| f.title.clone()),
            reason: "a filter rule (it amends other rules), which trawl does not apply".into(),
        });
    }
    for rule in &collection.rules {
        let name = rule.id.clone().unwrap_or_else(|| rule.title.clone());
        match compile(rule) {
            Ok(query) => {
                let spec = spec_of(rule, query);
                // Beyond what trawl's queries express (a limit, a field trawl reads otherwise):
                // that rule is listed and the others run, as with any rule trawl cannot use.
                match Matcher::new(&spec.query) {
                    Ok(matcher) => out.rules.push(Rule {
                        spec,
                        matcher,
                        origin: origin.to_string(),
                    }),
                    Err(e) => out.skipped.push(Skipped {
                        file: origin.into(),
                        rule: name,
                        reason: format!("its query is beyond trawl's: {}", e.message),
                    }),
                }
            }
            Err(reason) => out.skipped.push(Skipped {
                file: origin.into(),
                rule: name,
                reason,
            }),
        }
    }
    Ok(out)
}

/// The YAML documents of a file, each with the line it starts on.
fn documents(text: &str) -> Vec<(usize, &str)> {
    let mut out = Vec::new();
    let (mut start, mut from) = (1, 0);
    let mut offset = 0;
    for (i, line) in text.split_inclusive('\n').enumerate() {
        // A document marker, bare or with a comment after it (`--- # second rule`).
        let marker = line.trim_end();
        if marker == "---" || marker.starts_with("--- ") || marker.starts_with("---\t") {
            out.push((start, &text[from..offset]));
            start = i + 2;
            from = offset + line.len();
        }
        offset += line.len();
    }
    out.push((start, &text[from..]));
    out.retain(|(_, doc)| !doc.trim().is_empty());
    out
}

/// A document's rule as a responder names it: its `id`, else its `title`, else "?".
fn doc_name(doc: &str) -> String {
    let field = |key: &str| {
        doc.lines()
            .find_map(|l| l.strip_prefix(key))
            .map(|v| v.trim().trim_matches(['\'', '"']).to_string())
            .filter(|v| !v.is_empty())
    };
    let name = field("id:").or_else(|| field("title:"));
    crate::sanitize::escape_controls(name.as_deref().unwrap_or("?")).into_owned()
}

/// A parse error with the line YAML names, or line 1.
fn bad(origin: &str, message: &str) -> RuleError {
    let line = message
        .split("line ")
        .nth(1)
        .and_then(|rest| {
            rest.chars()
                .take_while(char::is_ascii_digit)
                .collect::<String>()
                .parse()
                .ok()
        })
        .unwrap_or(1);
    RuleError {
        file: origin.to_string(),
        line,
        message: format!(
            "Sigma: {}",
            crate::sanitize::escape_controls(&one_line(message))
        ),
    }
}

/// A parser's message drawn over several lines (a caret under the condition) as one line:
/// `Condition parse error at 1:9: expected … (in `sel and and sel`)`.
fn one_line(message: &str) -> String {
    let mut lines = message.lines();
    let Some(first) = lines.next() else {
        return String::new();
    };
    let rest: Vec<&str> = lines.map(str::trim).collect();
    if rest.is_empty() {
        return first.to_string();
    }
    let head = first.split("-->").next().unwrap_or(first).trim_end();
    let expected = rest.iter().find_map(|l| l.strip_prefix("= "));
    let source = rest.iter().find_map(|l| {
        l.split_once(" | ")
            .filter(|(n, _)| n.parse::<u32>().is_ok())
    });
    match (expected, source) {
        (Some(e), Some((_, src))) => format!("{head} {e} (in `{src}`)"),
        (Some(e), None) => format!("{head} {e}"),
        _ => format!("{head} {}", rest.join(" ")),
    }
}

/// What a Sigma rule's hit means for a host's verdict. Sigma's level is how urgently a match is
/// to be looked at, not what happened: only `critical` ("never triggers on false positives", in
/// Sigma's own definition) stands for a compromise; a `high` hit (SigmaHQ's include a cleared
/// log, an administrator's remote shell) makes the host worth review, `attempted`, and never
/// `compromised` alone; the lower levels are context.
fn outcome_of(level: Option<Level>) -> Outcome {
    match level {
        Some(Level::Critical) => Outcome::Success,
        Some(Level::High) => Outcome::Attempt,
        _ => Outcome::Context,
    }
}

fn spec_of(rule: &SigmaRule, query: String) -> RuleSpec {
    let severity = match rule.level {
        Some(Level::Critical | Level::High) => Severity::High,
        Some(Level::Medium) => Severity::Medium,
        Some(Level::Low) => Severity::Low,
        Some(Level::Informational) | None => Severity::Info,
    };
    let id = rule
        .id
        .as_deref()
        .map(str::to_ascii_lowercase)
        .filter(|id| valid_id(id))
        .unwrap_or_else(|| {
            let slug: String = rule
                .title
                .to_ascii_lowercase()
                .chars()
                .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
                .collect();
            format!("sigma-{}", slug.trim_matches('-'))
        });
    let attack = rule
        .tags
        .iter()
        .filter_map(|t| t.strip_prefix("attack."))
        .filter(|t| t.starts_with('t') && t[1..].chars().next().is_some_and(|c| c.is_ascii_digit()))
        .map(|t| t.to_ascii_uppercase())
        .collect();
    let mut description = rule.description.clone().unwrap_or_default();
    if !rule.falsepositives.is_empty() {
        description.push_str(&format!(
            "\nFalse positives: {}.",
            rule.falsepositives.join("; ")
        ));
    }
    let web = matches!(
        rule.logsource.category.as_deref(),
        Some("webserver" | "proxy")
    );
    RuleSpec {
        id,
        title: rule.title.clone(),
        severity,
        category: Category::Compromise,
        references: rule.references.clone(),
        attack,
        description: format!("Sigma rule. {description}"),
        query,
        outcome: Some(outcome_of(rule.level)),
        success_when: None,
        suspects: web,
        by_agent: false,
    }
}

fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
}

/// The whole rule as one query: its log source and its condition.
fn compile(rule: &SigmaRule) -> Result<String, String> {
    let source = logsource(rule)?;
    let web = source.1;
    let detections = &rule.detection;
    if detections.timeframe.is_some() {
        return Err(
            "a timeframe (it aggregates over time), which trawl's rules do not express".into(),
        );
    }
    if detections.conditions.is_empty() {
        return Err("no condition".into());
    }
    let mut parts = Vec::new();
    for condition in &detections.conditions {
        parts.push(condition_query(condition, &detections.named, web)?);
    }
    let condition = or(parts);
    Ok(match source.0 {
        Some(s) => format!("({s}) AND ({condition})"),
        None => condition,
    })
}

/// The logs Sigma's services and categories name, as trawl finds them: by EVTX channel, by
/// `LogName` in `Get-WinEvent` exports, by the source trawl gave the file.
const SECURITY: &str = "Channel:Security OR LogName:Security";
const SYSMON: &str = "Channel:*sysmon* OR LogName:*sysmon* OR source:sysmon";
const POWERSHELL: &str = "Channel:*powershell* OR LogName:*powershell* OR source:powershell";
const POWERSHELL_CLASSIC: &str = "Channel:\"Windows PowerShell\" OR LogName:\"Windows PowerShell\"";

/// The channels of the Windows services Sigma's taxonomy names (SigmaHQ's rules and pySigma's
/// Windows pipeline), beyond the few `logsource` spells out. A service is not a channel's name:
/// `windefend` is `Microsoft-Windows-Windows Defender/Operational`.
fn service_channels(service: &str) -> Option<&'static [&'static str]> {
    Some(match service {
        "system" => &["System"],
        "application" => &["Application"],
        "windefend" => &["Microsoft-Windows-Windows Defender/Operational"],
        "codeintegrity-operational" => &["Microsoft-Windows-CodeIntegrity/Operational"],
        "appxdeployment-server" => &["Microsoft-Windows-AppXDeploymentServer/Operational"],
        "appxpackaging-om" => &["Microsoft-Windows-AppxPackaging/Operational"],
        "appmodel-runtime" => &["Microsoft-Windows-AppModel-Runtime/Admin"],
        "firewall-as" => &["Microsoft-Windows-Windows Firewall With Advanced Security/Firewall"],
        "bits-client" => &["Microsoft-Windows-Bits-Client/Operational"],
        "dns-client" => &["Microsoft-Windows-DNS Client Events/Operational"],
        "dns-server" => &["DNS Server"],
        "dns-server-audit" => &["Microsoft-Windows-DNS-Server/Audit"],
        "dns-server-analytic" => &["Microsoft-Windows-DNS-Server/Analytical"],
        "iis-configuration" => &["Microsoft-IIS-Configuration/Operational"],
        "taskscheduler" => &["Microsoft-Windows-TaskScheduler/Operational"],
        "ntlm" => &["Microsoft-Windows-NTLM/Operational"],
        "wmi" => &["Microsoft-Windows-WMI-Activity/Operational"],
        "security-mitigations" => &[
            "Microsoft-Windows-Security-Mitigations/Kernel Mode",
            "Microsoft-Windows-Security-Mitigations/User Mode",
        ],
        "applocker" => &[
            "Microsoft-Windows-AppLocker/EXE and DLL",
            "Microsoft-Windows-AppLocker/MSI and Script",
            "Microsoft-Windows-AppLocker/Packaged app-Deployment",
            "Microsoft-Windows-AppLocker/Packaged app-Execution",
        ],
        "terminalservices-localsessionmanager" => {
            &["Microsoft-Windows-TerminalServices-LocalSessionManager/Operational"]
        }
        "smbserver-connectivity" => &["Microsoft-Windows-SmbServer/Connectivity"],
        "smbclient-security" => &["Microsoft-Windows-SmbClient/Security"],
        "smbclient-connectivity" => &["Microsoft-Windows-SmbClient/Connectivity"],
        "shell-core" => &["Microsoft-Windows-Shell-Core/Operational"],
        "openssh" => &["OpenSSH/Operational"],
        "microsoft-servicebus-client" => &["Microsoft-ServiceBus-Client"],
        "lsa-server" => &["Microsoft-Windows-LSA/Operational"],
        "ldap" | "ldap_debug" => &["Microsoft-Windows-LDAP-Client/Debug"],
        "driver-framework" => &["Microsoft-Windows-DriverFrameworks-UserMode/Operational"],
        "diagnosis-scripted" => &["Microsoft-Windows-Diagnosis-Scripted/Operational"],
        "certificateservicesclient-lifecycle-system" => {
            &["Microsoft-Windows-CertificateServicesClient-Lifecycle-System/Operational"]
        }
        "capi2" => &["Microsoft-Windows-CAPI2/Operational"],
        "printservice-admin" => &["Microsoft-Windows-PrintService/Admin"],
        "printservice-operational" => &["Microsoft-Windows-PrintService/Operational"],
        "dhcp" => &["Microsoft-Windows-DHCP-Server/Operational"],
        "bitlocker" => &["Microsoft-Windows-BitLocker/BitLocker Management"],
        "vhdmp" => &["Microsoft-Windows-VHDMP/Operational"],
        "hyper-v-worker" => &["Microsoft-Windows-Hyper-V-Worker-Admin"],
        "kernel-shimengine" => &[
            "Microsoft-Windows-Kernel-ShimEngine/Operational",
            "Microsoft-Windows-Kernel-ShimEngine/Diagnostic",
        ],
        "sense" => &["Microsoft-Windows-SENSE/Operational"],
        _ => return None,
    })
}

/// The events a log source names, and whether they are web logs.
fn logsource(rule: &SigmaRule) -> Result<(Option<String>, bool), String> {
    let ls = &rule.logsource;
    let category = ls.category.as_deref().map(str::to_ascii_lowercase);
    let product = ls.product.as_deref().map(str::to_ascii_lowercase);
    let service = ls.service.as_deref().map(str::to_ascii_lowercase);
    if let Some(c) = category.as_deref()
        && matches!(c, "webserver" | "proxy")
    {
        return Ok((
            Some("source:iis OR source:httpproxy OR source:access OR source:w3c".into()),
            true,
        ));
    }
    match product.as_deref() {
        Some("windows") | None => {}
        Some(other) => {
            return Err(format!(
                "log source product '{other}': trawl reads web logs and Windows event logs"
            ));
        }
    }
    if product.is_none() && category.is_none() && service.is_none() {
        return Ok((None, false));
    }
    if category.is_none() && service.is_none() {
        // `product: windows` alone: every event log, and no web log (a Mimikatz keyword in a
        // scanner's query string is not Mimikatz run).
        let sources = crate::formats::evtx::SOURCES
            .iter()
            .chain([&crate::formats::csvlog::EVENTLOG])
            .map(|s| format!("source:{s}"))
            .collect::<Vec<_>>()
            .join(" OR ");
        return Ok((Some(sources), false));
    }
    // A category is an event of one log: Sysmon's event 19 is a WMI subscription, the System
    // log's event 19 an update installed (SigmaHQ's `wmi_event` rule matched 130 of those in
    // one sample before the channel was required, as Chainsaw's mapping requires the provider).
    let sysmon = |ids: &str| format!("({ids}) AND ({SYSMON})");
    let powershell = |ids: &str| format!("({ids}) AND ({POWERSHELL})");
    let by_category = match category.as_deref() {
        None => None,
        Some("process_creation") => Some(format!(
            "((EventID:1) AND ({SYSMON})) OR ((EventID:4688) AND ({SECURITY}))"
        )),
        Some("file_event" | "file_creation") => Some(sysmon("EventID:11")),
        Some("file_delete") => Some(sysmon("EventID:23 OR EventID:26")),
        Some("file_change") => Some(sysmon("EventID:2")),
        Some("network_connection") => Some(sysmon("EventID:3")),
        Some("process_termination") => Some(sysmon("EventID:5")),
        Some("driver_load") => Some(sysmon("EventID:6")),
        Some("image_load") => Some(sysmon("EventID:7")),
        Some("create_remote_thread") => Some(sysmon("EventID:8")),
        Some("raw_access_thread") => Some(sysmon("EventID:9")),
        Some("process_access") => Some(sysmon("EventID:10")),
        Some("registry_event") => Some(sysmon("EventID:12 OR EventID:13 OR EventID:14")),
        // Sysmon's event 12 is a key or value created or deleted (its `EventType` says which).
        Some("registry_add" | "registry_delete") => Some(sysmon("EventID:12")),
        Some("registry_set") => Some(sysmon("EventID:13")),
        Some("create_stream_hash") => Some(sysmon("EventID:15")),
        Some("pipe_created") => Some(sysmon("EventID:17 OR EventID:18")),
        Some("wmi_event") => Some(sysmon("EventID:19 OR EventID:20 OR EventID:21")),
        Some("dns_query") => Some(sysmon("EventID:22")),
        Some("clipboard_change") => Some(sysmon("EventID:24")),
        Some("process_tampering") => Some(sysmon("EventID:25")),
        Some("file_delete_detected") => Some(sysmon("EventID:26")),
        Some("file_block" | "file_block_executable") => Some(sysmon("EventID:27")),
        Some("file_block_shredding") => Some(sysmon("EventID:28")),
        Some("file_executable_detected") => Some(sysmon("EventID:29")),
        // Sysmon's own state: its service changed state (4), its configuration changed (16),
        // an error (255).
        Some("sysmon_status") => Some(sysmon("EventID:4 OR EventID:16")),
        Some("sysmon_error") => Some(sysmon("EventID:255")),
        Some("ps_script") => Some(powershell("EventID:4104")),
        Some("ps_module") => Some(powershell("EventID:4103")),
        Some("ps_classic_start" | "ps_classic_provider_start") => Some(format!(
            "(EventID:400 OR EventID:600) AND ({POWERSHELL_CLASSIC})"
        )),
        Some(other) => {
            return Err(format!(
                "log source category '{other}' has no mapping to event logs in trawl"
            ));
        }
    };
    let by_service = match service.as_deref() {
        None => None,
        Some("security") => Some(SECURITY.to_string()),
        Some("sysmon") => Some(SYSMON.to_string()),
        Some("powershell") => Some(POWERSHELL.to_string()),
        Some("powershell-classic") => Some(POWERSHELL_CLASSIC.to_string()),
        Some("msexchange-management") => Some(
            "Channel:\"MSExchange Management\" OR LogName:\"MSExchange Management\" OR Provider:\"MSExchange CmdletLogs\" OR ProviderName:\"MSExchange CmdletLogs\"".to_string(),
        ),
        Some(other) => match service_channels(other) {
            Some(channels) => Some(
                channels
                    .iter()
                    .map(|c| format!("Channel:{0} OR LogName:{0}", quote(c)))
                    .collect::<Vec<_>>()
                    .join(" OR "),
            ),
            None => {
                return Err(format!(
                    "log source service '{other}' has no mapping to an event log channel in trawl"
                ));
            }
        },
    };
    let parts: Vec<String> = by_category
        .into_iter()
        .chain(by_service)
        .map(|p| format!("({p})"))
        .collect();
    Ok(((!parts.is_empty()).then(|| parts.join(" AND ")), false))
}

fn condition_query(
    c: &ConditionExpr,
    named: &std::collections::HashMap<String, Detection>,
    web: bool,
) -> Result<String, String> {
    Ok(match c {
        ConditionExpr::And(parts) => and(parts
            .iter()
            .map(|p| condition_query(p, named, web))
            .collect::<Result<_, _>>()?),
        ConditionExpr::Or(parts) => or(parts
            .iter()
            .map(|p| condition_query(p, named, web))
            .collect::<Result<_, _>>()?),
        ConditionExpr::Not(inner) => format!("NOT ({})", condition_query(inner, named, web)?),
        ConditionExpr::Identifier(name) => {
            let d = named
                .get(name)
                .ok_or_else(|| format!("the condition names '{name}', which is not defined"))?;
            detection(d, web)?
        }
        ConditionExpr::Selector {
            quantifier,
            pattern,
        } => {
            let mut names: Vec<&String> = named
                .keys()
                .filter(|n| match pattern {
                    SelectorPattern::Them => !n.starts_with('_'),
                    SelectorPattern::Pattern(p) => detection_name_matches(p, n),
                })
                .collect();
            names.sort();
            if names.is_empty() {
                return Err(format!("the selector '{c}' matches no detection"));
            }
            let queries = names
                .iter()
                .map(|n| detection(&named[*n], web))
                .collect::<Result<Vec<_>, _>>()?;
            match quantifier {
                Quantifier::Any | Quantifier::Count(1) => or(queries),
                Quantifier::All => and(queries),
                Quantifier::Count(n) => {
                    return Err(format!(
                        "'{n} of …' counts matching selections, which trawl's rules do not express"
                    ));
                }
            }
        }
    })
}

fn detection(d: &Detection, web: bool) -> Result<String, String> {
    Ok(match d {
        Detection::AllOf(items) => and(items
            .iter()
            .map(|i| item(i, web))
            .collect::<Result<_, _>>()?),
        Detection::AnyOf(list) => or(list
            .iter()
            .map(|d| detection(d, web))
            .collect::<Result<_, _>>()?),
        Detection::And(list) => and(list
            .iter()
            .map(|d| detection(d, web))
            .collect::<Result<_, _>>()?),
        Detection::Keywords(values) => or(values.iter().map(keyword).collect::<Result<_, _>>()?),
        Detection::ArrayMatch { .. } => {
            return Err("array matching, which trawl's rules do not express".into());
        }
        Detection::Conditional { named, condition } => condition_query(condition, named, web)?,
    })
}

/// A value searched anywhere in the record (Sigma keywords).
fn keyword(v: &SigmaValue) -> Result<String, String> {
    let text = match v {
        SigmaValue::String(s) => contains_regex(s),
        SigmaValue::Integer(i) => regex::escape(&i.to_string()),
        SigmaValue::Float(f) => regex::escape(&format!("{f:?}")),
        SigmaValue::Bool(b) => b.to_string(),
        SigmaValue::Null => return Err("a null keyword".into()),
    };
    let re = format!("(?is).*{text}.*");
    Ok(format!(
        "(raw:{} OR Message:{})",
        regex_value(&re),
        regex_value(&re)
    ))
}

/// The names a record's unnamed items take, as far as Sigma's `Data` looks (PowerShell's classic
/// events have 3, ESENT's and MSI's up to 10).
const UNNAMED_DATA: [&str; 17] = [
    "Data", "Data1", "Data2", "Data3", "Data4", "Data5", "Data6", "Data7", "Data8", "Data9",
    "Data10", "Data11", "Data12", "Data13", "Data14", "Data15", "Data16",
];

/// trawl's fields that hold numbers.
const NUMERIC: [&str; 3] = ["status", "bytes", "duration_ms"];

/// Where a Sigma field is in trawl's events.
enum Target {
    /// One or more fields, any of which may match.
    Fields(Vec<&'static str>),
    /// A field by its own name.
    Named(String),
    /// The whole URI (Sigma's web rules treat `cs-uri-query` as stem and query): the path, or
    /// the query string checked on the raw record.
    Uri,
}

fn target(name: &str, web: bool) -> Target {
    let lower = name.to_ascii_lowercase();
    if web {
        return match lower.as_str() {
            "cs-uri-query" | "c-uri-query" | "c-uri" | "cs-uri" | "uri" | "url" | "c-uri-path" => {
                Target::Uri
            }
            "cs-uri-stem" | "c-uri-stem" => Target::Fields(vec!["path"]),
            "cs-user-agent" | "c-useragent" | "cs(user-agent)" | "useragent" | "user-agent" => {
                Target::Fields(vec!["ua"])
            }
            "cs-method" | "c-method" | "method" => Target::Fields(vec!["method"]),
            "sc-status" | "status" => Target::Fields(vec!["status"]),
            "sc-bytes" => Target::Fields(vec!["bytes"]),
            "time-taken" => Target::Fields(vec!["duration_ms"]),
            "c-ip" | "src_ip" | "clientip" | "client_ip" => Target::Fields(vec!["client"]),
            "cs-username" | "c-username" => Target::Fields(vec!["user"]),
            "cs-referrer" | "cs-referer" | "cs(referer)" => Target::Fields(vec!["referer"]),
            "dst_ip" | "s-ip" => Target::Named("s-ip".into()),
            _ => Target::Named(name.to_string()),
        };
    }
    match lower.as_str() {
        "image" => Target::Fields(vec!["Image", "NewProcessName"]),
        "parentimage" => Target::Fields(vec!["ParentImage", "ParentProcessName"]),
        "provider_name" => Target::Fields(vec!["Provider", "ProviderName"]),
        // `Get-WinEvent | Export-Csv` names these differently.
        "eventid" => Target::Fields(vec!["EventID", "Id"]),
        "channel" => Target::Fields(vec!["Channel", "LogName"]),
        // A classic event's unnamed items (`<Data>` without a name) are `Data1`, `Data2`… in
        // order; Sigma's `Data` is any of them, as Chainsaw and Hayabusa read the list.
        "data" => Target::Fields(UNNAMED_DATA.to_vec()),
        // The event's own full name (and, where a layout has no such item, the host).
        "computer" => Target::Named(crate::query::quoted_column(name)),
        // The user and the addresses a Windows event names are the canonical `user` and `ip`
        // (see `formats::evtx::canonical`): the same values, read alike in every layout.
        "user" => Target::Named(name.to_string()),
        _ if crate::query::is_canonical_name(name) && !is_address(&Target::Named(name.into())) => {
            // An event's own item whose name a web log's field has (`Status`, `Path`, `Query`,
            // `UserName`, `ServerName`): the item, never the web field.
            Target::Named(crate::query::quoted_column(name))
        }
        _ => Target::Named(name.to_string()),
    }
}

fn item(i: &DetectionItem, web: bool) -> Result<String, String> {
    let Some(name) = &i.field.name else {
        // A list of values without a field: keywords.
        return Ok(or(i
            .values
            .iter()
            .map(keyword)
            .collect::<Result<_, _>>()?));
    };
    let mods = &i.field.modifiers;
    for m in mods {
        match m {
            Modifier::Cased => {
                return Err("the 'cased' modifier: trawl matches ignoring case".into());
            }
            Modifier::Expand => return Err("the 'expand' modifier (placeholders)".into()),
            Modifier::Minute
            | Modifier::Hour
            | Modifier::Day
            | Modifier::Week
            | Modifier::Month
            | Modifier::Year => return Err(format!("the '{m:?}' modifier (parts of a time)")),
            Modifier::Utf16be | Modifier::Utf16 => {
                return Err(format!("the '{m:?}' modifier"));
            }
            _ => {}
        }
    }
    let has = |m: Modifier| mods.contains(&m);
    let target = target(name, web);
    if has(Modifier::Exists) {
        let wanted = !matches!(i.values.first(), Some(SigmaValue::Bool(false)));
        let q = field_query(&target, |f| format!("{f}:*"))?;
        return Ok(if wanted { q } else { format!("NOT ({q})") });
    }
    if has(Modifier::FieldRef) {
        let queries = i
            .values
            .iter()
            .map(|v| match v {
                SigmaValue::String(s) => {
                    let other = s.original.clone();
                    field_query(&target, |f| format!("{f}:=={other}"))
                }
                _ => Err("a fieldref that is not a field name".into()),
            })
            .collect::<Result<Vec<_>, _>>()?;
        return Ok(if has(Modifier::All) {
            and(queries)
        } else {
            or(queries)
        });
    }
    let mut queries = Vec::new();
    for v in &i.values {
        queries.push(value(&target, v, mods)?);
    }
    if queries.is_empty() {
        return Err(format!("no value for '{name}'"));
    }
    let q = if has(Modifier::All) {
        and(queries)
    } else {
        or(queries)
    };
    Ok(if has(Modifier::Neq) {
        format!("NOT ({q})")
    } else {
        q
    })
}

/// One value of one field, with its modifiers.
fn value(target: &Target, v: &SigmaValue, mods: &[Modifier]) -> Result<String, String> {
    let has = |m: Modifier| mods.contains(&m);
    if let SigmaValue::Null = v {
        return Ok(format!(
            "NOT ({})",
            field_query(target, |f| format!("{f}:*"))?
        ));
    }
    if has(Modifier::Gt) || has(Modifier::Gte) || has(Modifier::Lt) || has(Modifier::Lte) {
        let n = match v {
            SigmaValue::Integer(i) => i.to_string(),
            SigmaValue::Float(f) => f.to_string(),
            _ => return Err("a comparison with a value that is not a number".into()),
        };
        let op = if has(Modifier::Gt) {
            ">"
        } else if has(Modifier::Gte) {
            ">="
        } else if has(Modifier::Lt) {
            "<"
        } else {
            "<="
        };
        return match target {
            Target::Fields(f) if f.iter().all(|f| NUMERIC.contains(f)) => {
                field_query(target, |f| format!("{f}:{op}{n}"))
            }
            // An event's item compares its whole numbers as numbers (`EventID|gte: 4624`).
            Target::Named(_) if !n.starts_with('-') && !n.contains('.') => {
                field_query(target, |f| format!("{f}:{op}{n}"))
            }
            _ => Err("a numeric comparison of a text field".into()),
        };
    }
    if let Target::Fields(f) = target
        && f.iter().all(|f| NUMERIC.contains(f))
    {
        // Numbers are matched as numbers: `sc-status: 401`, not a pattern over text.
        let n = match v {
            SigmaValue::Integer(i) => Some(*i),
            SigmaValue::String(s) => literal(s)
                .trim()
                .parse()
                .ok()
                .filter(|_| s.parts.iter().all(|p| matches!(p, StringPart::Plain(_)))),
            _ => None,
        };
        let plain = !mods.iter().any(|m| {
            matches!(
                m,
                Modifier::Contains | Modifier::StartsWith | Modifier::EndsWith | Modifier::Re
            )
        });
        return match n {
            Some(n) if plain && n >= 0 => field_query(target, |f| format!("{f}:{n}")),
            _ => Err("a pattern on a numeric field (status, bytes, time taken)".into()),
        };
    }
    if has(Modifier::Cidr) {
        let SigmaValue::String(s) = v else {
            return Err("a cidr that is not text".into());
        };
        return match target {
            Target::Fields(_) if is_address(target) => {
                let cidr = quote(&s.original);
                field_query(target, |f| format!("{f}:{cidr}"))
            }
            // A Windows event's address is its `ip` (see `formats::evtx::canonical`), which
            // the index holds as an address; the named field must be the one it came from.
            Target::Named(name)
                if ["ipaddress", "clientaddress", "sourceaddress"]
                    .contains(&name.to_ascii_lowercase().as_str()) =>
            {
                Ok(format!("ip:{} AND {name}:*", quote(&s.original)))
            }
            // Any other field holds the address as text (Sysmon's `DestinationIp`): the query
            // language reads a CIDR on a source column as the addresses in it.
            Target::Fields(_) | Target::Named(_) => {
                let cidr = quote(&s.original);
                field_query(target, |f| format!("{f}:{cidr}"))
            }
            Target::Uri => Err("a cidr on the URI".into()),
        };
    }
    if is_address(target) {
        return address(target, v, mods);
    }
    let strings: Vec<SigmaString> = match v {
        SigmaValue::String(s) => vec![s.clone()],
        SigmaValue::Integer(i) => vec![SigmaString::new(&i.to_string())],
        // `2.0` as written, not `2` (a `FileVersion`).
        SigmaValue::Float(f) => vec![SigmaString::new(&format!("{f:?}"))],
        SigmaValue::Bool(b) => vec![SigmaString::new(&b.to_string())],
        SigmaValue::Null => unreachable!("handled above"),
    };
    let strings = if has(Modifier::WindAsh) {
        strings.iter().flat_map(windash).collect()
    } else {
        strings
    };
    // A user agent is indexed as one spelling (`+` and `,` for spaces, as IIS and HttpProxy
    // write them): a rule's value is asked in it too (`compatible;+Baiduspider` matched nothing).
    let strings: Vec<SigmaString> = match target {
        Target::Fields(f) if f.as_slice() == ["ua"] => strings.iter().map(agent_spelling).collect(),
        _ => strings,
    };
    let strings = if has(Modifier::Base64Offset) || has(Modifier::Base64) {
        let wide = has(Modifier::Wide);
        strings
            .iter()
            .flat_map(|s| {
                let plain = literal(s);
                let bytes = if wide {
                    plain.encode_utf16().flat_map(u16::to_le_bytes).collect()
                } else {
                    plain.into_bytes()
                };
                if has(Modifier::Base64Offset) {
                    // A one-byte value has an alignment with no stable character; an empty
                    // pattern would match every event.
                    base64_offsets(&bytes)
                        .into_iter()
                        .filter(|b| !b.is_empty())
                        .collect()
                } else {
                    vec![crate::sanitize::base64(&bytes)]
                }
            })
            .map(|b| SigmaString::new(&b.replace('*', "\\*").replace('?', "\\?")))
            .collect()
    } else {
        strings
    };
    let mut queries = Vec::new();
    for s in &strings {
        let (regex, inner) = if has(Modifier::Re) {
            let mut flags = String::new();
            for (m, f) in [
                (Modifier::IgnoreCase, 'i'),
                (Modifier::Multiline, 'm'),
                (Modifier::DotAll, 's'),
            ] {
                if has(m) {
                    flags.push(f);
                }
            }
            // Sigma's regexes are case-sensitive unless `i` says otherwise: the index (whose
            // terms are lower case) finds the candidates, each checked in memory.
            let case = if flags.contains('i') { "" } else { "(?-i)" };
            let flags = if flags.is_empty() {
                case.to_string()
            } else {
                format!("(?{flags}){case}")
            };
            // Sigma's regexes search; trawl's match the whole value (the run around the match
            // crosses line ends, whatever the rule's own flags say of its dots), save where the
            // regex anchors itself at the value's start or end.
            let (lead, body, trail) = anchors(&s.original, has(Modifier::Multiline));
            (
                format!("{flags}{lead}(?:{body}){trail}"),
                s.original.clone(),
            )
        } else {
            let inner = contains_regex(s);
            // `base64` alone is the value's encoding whole; `base64offset` is only ever found
            // inside a value.
            let regex = if has(Modifier::Contains) || has(Modifier::Base64Offset) {
                format!("{ANY_RUN}{inner}{ANY_RUN}")
            } else if has(Modifier::StartsWith) {
                format!("{inner}{ANY_RUN}")
            } else if has(Modifier::EndsWith) {
                format!("{ANY_RUN}{inner}")
            } else {
                inner.clone()
            };
            (regex, inner)
        };
        let exact = regex == inner
            && !has(Modifier::Re)
            && s.parts
                .iter()
                .all(|p| matches!(p, StringPart::Plain(t) if !t.contains(WINDASH)));
        queries.push(match target {
            Target::Uri => {
                let query = uri_query(&regex, s, has(Modifier::Re));
                match uri_across(s, mods).filter(|_| !has(Modifier::Re)) {
                    Some(across) => or(vec![query, across]),
                    None => query,
                }
            }
            // A host is indexed by its short name: a full name asked exactly is asked as a
            // host term, which folds it the same way (`Computer: EX1.corp.example` finds the
            // flat export's row whose `MachineName` became the host).
            // Only for an event without the item: another domain's server of the same short
            // name is not this one.
            Target::Named(name) if exact && names_the_host(name) => or(vec![
                format!("{name}:{}", regex_value(&regex)),
                format!("(NOT {name}:* AND host:{})", quote(&literal(s))),
            ]),
            _ => field_query(target, |f| format!("{f}:{}", regex_value(&regex)))?,
        });
    }
    Ok(or(queries))
}

/// A field trawl holds as an address (`c-ip`, `IpAddress`: a query names them as `client` and
/// `ip`), which matches addresses and ranges, not text.
fn is_address(target: &Target) -> bool {
    use crate::formats::columns::{Canon, canon_for};
    match target {
        Target::Fields(f) => f.iter().all(|f| ["client", "ip", "xff"].contains(f)),
        Target::Named(name) => matches!(canon_for(name), Some(Canon::Ip | Canon::Xff)),
        Target::Uri => false,
    }
}

/// A value of an address field: an address, or `-` (Windows' "no address", which trawl does
/// not hold as one). Text patterns over an address are beyond the index's address field.
fn address(target: &Target, v: &SigmaValue, mods: &[Modifier]) -> Result<String, String> {
    let SigmaValue::String(s) = v else {
        return Err("a value of an address field that is not text".into());
    };
    let text = literal(s);
    let plain = s.parts.iter().all(|p| matches!(p, StringPart::Plain(_)));
    let patterned = mods.iter().any(|m| {
        matches!(
            m,
            Modifier::StartsWith
                | Modifier::EndsWith
                | Modifier::Re
                | Modifier::WindAsh
                | Modifier::Base64
                | Modifier::Base64Offset
        )
    });
    if text.trim() == "-" && plain && !patterned {
        // Exactly `-`, or containing it: no address was logged. A Windows event keeps its `-`
        // (a logon's `IpAddress`); a web log's `-` is no value.
        return Ok(match target {
            Target::Named(name) => format!("{}:\"-\"", crate::query::quoted_column(name)),
            _ => format!("NOT ({})", field_query(target, |f| format!("{f}:*"))?),
        });
    }
    if plain
        && !patterned
        && !mods.contains(&Modifier::Contains)
        && crate::event::parse_ip(&text).is_some()
    {
        let ip = quote(text.trim());
        return field_query(target, |f| format!("{f}:{ip}"));
    }
    Err(format!(
        "a text pattern ('{}') on an address field, which trawl matches as addresses and ranges",
        s.original
    ))
}

/// A URI value: the path, or (checked on the raw record, with the query's words as the index's
/// candidates) the query string.
/// A URI value with a `?` of its own (`momyshark\?key=`): the end of the path and the start of
/// the query string, which trawl keeps apart.
fn uri_across(s: &SigmaString, mods: &[Modifier]) -> Option<String> {
    let at = s
        .parts
        .iter()
        .position(|p| matches!(p, StringPart::Plain(t) if t.contains('?')))?;
    let StringPart::Plain(text) = &s.parts[at] else {
        return None;
    };
    let (before, after) = text.split_once('?')?;
    let piece = |parts: Vec<StringPart>| SigmaString {
        parts,
        original: String::new(),
    };
    let mut path = s.parts[..at].to_vec();
    path.push(StringPart::Plain(before.to_string()));
    let mut query = vec![StringPart::Plain(after.to_string())];
    query.extend_from_slice(&s.parts[at + 1..]);
    let has = |m: Modifier| mods.contains(&m);
    let open_start = has(Modifier::Contains) || has(Modifier::EndsWith);
    let open_end = has(Modifier::Contains) || has(Modifier::StartsWith);
    let path = format!(
        "{}{}",
        if open_start { ANY_RUN } else { "" },
        contains_regex(&piece(path))
    );
    let query = format!(
        "{}{}",
        contains_regex(&piece(query)),
        if open_end { ANY_RUN } else { "" }
    );
    Some(format!(
        "(path:{} AND query_string:{})",
        regex_value(&path),
        regex_value(&query)
    ))
}

fn uri_query(regex: &str, s: &SigmaString, is_regex: bool) -> String {
    let words: Vec<String> = if is_regex {
        Vec::new()
    } else {
        let text = literal(s);
        crate::schema::words_of(&text)
            .map(|(a, b)| text[a..b].to_ascii_lowercase())
            .collect()
    };
    let mut query_side: Vec<String> = words
        .iter()
        .map(|w| format!("query:{}", quote(w)))
        .collect();
    // The query string whole, as Sigma's modifiers mean it (the words above only narrow the
    // candidates): the raw record would also match text in another column (a Referer), and
    // anchors there anchor the line.
    query_side.push(format!("query_string:{}", regex_value(regex)));
    format!(
        "(path:{} OR ({}))",
        regex_value(regex),
        query_side.join(" AND ")
    )
}

/// A name in CamelCase with its words apart (`ThreatName` is `Threat Name`), if it has two.
fn spaced(name: &str) -> Option<String> {
    let mut out = String::with_capacity(name.len() + 4);
    let mut prev_lower = false;
    for c in name.chars() {
        if prev_lower && c.is_ascii_uppercase() {
            out.push(' ');
        }
        prev_lower = c.is_ascii_lowercase();
        out.push(c);
    }
    (out.len() != name.len() && name.chars().all(|c| c.is_ascii_alphanumeric())).then_some(out)
}

fn field_query(target: &Target, one: impl Fn(&str) -> String) -> Result<String, String> {
    Ok(match target {
        Target::Fields(fields) => or(fields.iter().map(|f| one(f)).collect()),
        Target::Named(name) => {
            if name.is_empty() {
                return Err("an empty field name".into());
            }
            if let Some(own) = crate::query::source_column(name) {
                // An event's own item named like a web field. Flat exports (`Get-WinEvent |
                // Export-Csv`, flat JSON) read such a column as the canonical field and keep no
                // item: where that field is text, it is asked as well.
                if crate::query::is_canonical_text(&own)
                    && !own.contains([' ', ':', '(', ')', '"', '\\'])
                {
                    return Ok(or(vec![one(name), one(&own)]));
                }
                return Ok(one(name));
            }
            if name.contains([' ', ':', '(', ')', '"', '\\']) {
                // A name the query language cannot write bare (`Task Category`) is quoted.
                return Ok(one(&crate::query::quoted_column(name)));
            }
            match spaced(name) {
                // Sigma writes an item's name without its spaces: Defender's `Threat Name` is
                // a rule's `ThreatName`.
                Some(spaced) => or(vec![one(name), one(&crate::query::quoted_column(&spaced))]),
                None => one(name),
            }
        }
        Target::Uri => or(vec![one("path"), one("query")]),
    })
}

/// Whether a quoted item's name is one flat exports read as the host (`Computer`).
fn names_the_host(name: &str) -> bool {
    crate::query::source_column(name).is_some_and(|own| {
        crate::formats::columns::canon_for(&own) == Some(crate::formats::columns::Canon::Host)
    })
}

/// A Sigma string as a regex (its `*` and `?` as wildcards, the rest literal).
fn contains_regex(s: &SigmaString) -> String {
    let mut out = String::new();
    for part in &s.parts {
        match part {
            StringPart::Plain(p) => out.push_str(&regex::escape(p).replace(WINDASH, WINDASH_CLASS)),
            StringPart::Special(SpecialChar::WildcardMulti) => out.push_str(ANY_RUN),
            StringPart::Special(SpecialChar::WildcardSingle) => out.push_str(ANY_CHAR),
        }
    }
    out
}

/// A Sigma string's text without its wildcards (a `windash` place as the rule wrote it, `-`).
fn literal(s: &SigmaString) -> String {
    s.parts
        .iter()
        .filter_map(|p| match p {
            StringPart::Plain(p) => Some(p.replace(WINDASH, "-")),
            StringPart::Special(_) => None,
        })
        .collect()
}

/// A Sigma string over user agents in the spelling the index holds them
/// (`schema::normalize_user_agent`): runs of spaces, `+` and `,` are one space, none at the
/// value's ends.
fn agent_spelling(s: &SigmaString) -> SigmaString {
    let last = s.parts.len().saturating_sub(1);
    let parts = s
        .parts
        .iter()
        .enumerate()
        .map(|(i, p)| match p {
            StringPart::Plain(t) => {
                let mut out = String::with_capacity(t.len());
                for c in t.chars() {
                    let gap = c.is_whitespace() || c == '+' || c == ',';
                    if !gap {
                        out.push(c);
                    } else if !out.ends_with(' ') {
                        out.push(' ');
                    }
                }
                let out = if i == 0 { out.trim_start() } else { &out };
                let out = if i == last { out.trim_end() } else { out };
                StringPart::Plain(out.to_string())
            }
            other => other.clone(),
        })
        .collect();
    SigmaString {
        parts,
        original: s.original.clone(),
    }
}

/// Stands for a `windash` position in a Sigma string's text until the string becomes a regex
/// (see [`windash`]); a private-use character no rule writes.
const WINDASH: char = '\u{E000}';
/// What a `windash` position matches.
const WINDASH_CLASS: &str = "[-/\u{2013}\u{2014}\u{2015}]";

/// Sigma's `windash` as pySigma reads it: a `-` or `/` that starts a switch (not after a letter
/// or digit, and before one) may be written with either, or `–`, `—`, `―`. Each such place
/// becomes a class of the five (all its combinations, not one per string: `-a -b` also matches
/// `/a -b`); a dash inside a word (`Get-Process`) stays a dash.
fn windash(s: &SigmaString) -> Vec<SigmaString> {
    let word = |c: Option<char>| c.is_some_and(|c| c.is_alphanumeric() || c == '_');
    let parts = s
        .parts
        .iter()
        .map(|p| match p {
            StringPart::Plain(t) => {
                let chars: Vec<char> = t.chars().collect();
                let text = (0..chars.len())
                    .map(|i| {
                        let c = chars[i];
                        let before = i.checked_sub(1).map(|j| chars[j]);
                        let starts_switch = matches!(c, '-' | '/')
                            && !word(before)
                            && word(chars.get(i + 1).copied());
                        if starts_switch { WINDASH } else { c }
                    })
                    .collect();
                StringPart::Plain(text)
            }
            other => other.clone(),
        })
        .collect();
    vec![SigmaString {
        parts,
        original: s.original.clone(),
    }]
}

/// Sigma's `base64offset`: the value's base64 at each of the three alignments it can have
/// inside a longer encoded text, without the characters its neighbours change.
fn base64_offsets(bytes: &[u8]) -> Vec<String> {
    const START: [usize; 3] = [0, 2, 3];
    const END: [usize; 3] = [0, 3, 2];
    (0..3)
        .map(|i| {
            let mut padded = vec![b' '; i];
            padded.extend_from_slice(bytes);
            // Padding included, as pySigma slices it.
            let encoded = crate::sanitize::base64(&padded);
            let trim_end = END[(bytes.len() + i) % 3];
            let end = encoded.len().saturating_sub(trim_end);
            encoded
                .get(START[i]..end.max(START[i]))
                .unwrap_or("")
                .to_string()
        })
        .collect()
}

/// A regex as a query value (`~"…"`, for every field, slashes included). Its quotes, escaped
/// or not (`[\"']`), are written `\x22`: within `~"…"` a backslash is the regex's own but
/// before a quote, so no quote is left to end the value early.
/// A Sigma regex's runs around it: none at an end it anchors (`^…`, `…$`, outside multi-line
/// mode and without an alternation at its top, where `^` is one branch's), with the anchor
/// taken off; else any run.
fn anchors(re: &str, multiline: bool) -> (&'static str, &str, &'static str) {
    if multiline || top_level_alternation(re) {
        return (ANY_RUN, re, ANY_RUN);
    }
    let (lead, body) = match re.strip_prefix('^') {
        Some(rest) => ("", rest),
        None => (ANY_RUN, re),
    };
    let escapes = |s: &str| s.bytes().rev().take_while(|b| *b == b'\\').count();
    match body.strip_suffix('$') {
        Some(rest) if escapes(rest) % 2 == 0 => (lead, rest, ""),
        _ => (lead, body, ANY_RUN),
    }
}

/// Whether a regex has a `|` outside every group and class.
fn top_level_alternation(re: &str) -> bool {
    let (mut depth, mut class, mut escaped) = (0usize, false, false);
    for c in re.chars() {
        match c {
            _ if escaped => escaped = false,
            '\\' => escaped = true,
            '[' if !class => class = true,
            ']' if class => class = false,
            '(' if !class => depth += 1,
            ')' if !class => depth = depth.saturating_sub(1),
            '|' if !class && depth == 0 => return true,
            _ => {}
        }
    }
    false
}

fn regex_value(regex: &str) -> String {
    let mut out = String::with_capacity(regex.len() + 4);
    out.push_str("~\"");
    let mut chars = regex.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some('"') => out.push_str("\\x22"),
                Some(next) => {
                    out.push('\\');
                    out.push(next);
                }
                None => out.push('\\'),
            },
            '"' => out.push_str("\\x22"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn quote(value: &str) -> String {
    crate::query::quote_value(value)
}

fn and(parts: Vec<String>) -> String {
    join(parts, " AND ")
}

fn or(parts: Vec<String>) -> String {
    join(parts, " OR ")
}

fn join(parts: Vec<String>, op: &str) -> String {
    match parts.len() {
        0 => "*".into(),
        1 => parts.into_iter().next().unwrap_or_default(),
        _ => parts
            .iter()
            .map(|p| format!("({p})"))
            .collect::<Vec<_>>()
            .join(op),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(yaml: &str) -> Rule {
        let loaded = parse(yaml, "t.yml").expect("parses");
        assert!(loaded.skipped.is_empty(), "{:?}", loaded.skipped);
        loaded.rules.into_iter().next().expect("a rule")
    }

    #[test]
    fn base64_offsets_match_sigma() {
        // pySigma's base64offset of "Invoke-" (a documented example).
        let offsets = base64_offsets(b"Invoke-");
        assert_eq!(offsets, ["SW52b2tlL", "ludm9rZS", "JbnZva2Ut"]);
        // Checked against pySigma's formula in Python for every length modulo 3.
        assert_eq!(base64_offsets(b"ab"), ["YW", "Fi", "hY"]);
        assert_eq!(base64_offsets(b"abcd"), ["YWJjZ", "FiY2", "hYmNk"]);
        assert_eq!(base64_offsets(b"IEX ("), ["SUVYIC", "lFWCAo", "JRVggK"]);
        assert_eq!(crate::sanitize::base64(b"hello"), "aGVsbG8=");
    }

    fn windows_event(fields: &[(&str, &str)]) -> crate::view::EventView {
        crate::view::EventView {
            fields: fields
                .iter()
                .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
                .collect(),
            ..Default::default()
        }
    }

    /// Sigma's services are channels by the taxonomy's table, and its field names are an item's
    /// without spaces: SigmaHQ's Defender, Task Scheduler and WMI rules matched nothing.
    #[test]
    fn services_are_their_channels_and_names_lose_their_spaces() {
        let rule = one(r"
title: Defender found EICAR under a tiering engine
id: d-1
logsource: {product: windows, service: windefend}
detection:
  selection:
    EventID: 1119
    SourceName: 'Real-Time Protection'
    ThreatName|endswith: 'EICAR_Test_File'
  condition: selection
");
        let defender = [
            ("EventID", "1119"),
            ("Channel", "Microsoft-Windows-Windows Defender/Operational"),
            ("Source Name", "Real-Time Protection"),
            ("Threat Name", "Tool:Win32/EICAR_Test_File"),
        ];
        assert!(rule.matcher.matches(&windows_event(&defender)));
        let mut elsewhere = defender;
        elsewhere[1].1 = "Application";
        assert!(!rule.matcher.matches(&windows_event(&elsewhere)));
        // A service no table names is listed, not run against a channel nobody has.
        let loaded = parse(
            "title: x\nid: u-1\nlogsource: {product: windows, service: nosuchservice}\ndetection:\n  s:\n    EventID: 1\n  condition: s\n",
            "t.yml",
        )
        .expect("parses");
        assert!(loaded.rules.is_empty());
        assert!(
            loaded.skipped[0].reason.contains("nosuchservice"),
            "{:?}",
            loaded.skipped
        );
        assert_eq!(spaced("ThreatName").as_deref(), Some("Threat Name"));
        assert_eq!(spaced("Image"), None);
        assert_eq!(spaced("EventID").as_deref(), Some("Event ID"));
    }

    /// `registry_delete` is Sysmon's event 12 alone; `product: windows` alone is the event logs,
    /// never a web log; a logon's `IpAddress: '-'` is that item's `-`.
    #[test]
    fn log_sources_and_a_logged_dash() {
        let rule = one(r"
title: value deleted
id: r-1
logsource: {product: windows, category: registry_delete}
detection:
  s:
    TargetObject|endswith: '\EnableVirtualizationBasedSecurity'
  condition: s
");
        let reg = |id: &str| {
            windows_event(&[
                ("EventID", id),
                ("Channel", "Microsoft-Windows-Sysmon/Operational"),
                (
                    "TargetObject",
                    r"HKLM\System\DeviceGuard\EnableVirtualizationBasedSecurity",
                ),
            ])
        };
        assert!(rule.matcher.matches(&reg("12")));
        assert!(!rule.matcher.matches(&reg("13")));
        let rule = one(r"
title: mimikatz anywhere
id: k-1
logsource: {product: windows}
detection:
  keywords: ['sekurlsa::logonpasswords']
  condition: keywords
");
        let mut web = windows_event(&[]);
        web.source = "iis".into();
        web.raw = "GET /search q=sekurlsa::logonpasswords".into();
        assert!(!rule.matcher.matches(&web));
        let mut sysmon = windows_event(&[("CommandLine", "m.exe sekurlsa::logonpasswords")]);
        sysmon.source = "sysmon".into();
        sysmon.raw = "m.exe sekurlsa::logonpasswords".into();
        assert!(rule.matcher.matches(&sysmon));
        let rule = one(r"
title: logon without an address
id: a-1
logsource: {product: windows, service: security}
detection:
  s:
    EventID: 4624
    IpAddress: '-'
  condition: s
");
        let logon = |ip: &str| {
            windows_event(&[
                ("EventID", "4624"),
                ("Channel", "Security"),
                ("IpAddress", ip),
            ])
        };
        assert!(rule.matcher.matches(&logon("-")));
        assert!(!rule.matcher.matches(&logon("203.0.113.9")));
        assert!(!rule.matcher.matches(&windows_event(&[
            ("EventID", "4624"),
            ("Channel", "Security")
        ])));
    }

    /// Sigma 1's aggregations are listed as not used, the file's other rules run; a malformed
    /// rule in a file of several is named by its own line and id, in one line.
    #[test]
    fn aggregations_are_listed_and_errors_name_their_document() {
        let text = "title: a\nid: first\nlogsource: {product: windows, service: security}\ndetection:\n  s:\n    EventID: 4625\n  condition: s | count() by IpAddress > 10\n---\ntitle: b\nid: second\nlogsource: {product: windows, service: security}\ndetection:\n  s:\n    EventID: 4624\n  condition: s\n";
        let loaded = parse(text, "t.yml").expect("an aggregation is not an error");
        assert_eq!(loaded.rules.len(), 1);
        assert_eq!(loaded.skipped.len(), 1);
        assert_eq!(loaded.skipped[0].file, "t.yml:1");
        assert!(loaded.skipped[0].reason.contains("aggregation"));
        let text = "title: a\nid: first\nlogsource: {product: windows}\ndetection:\n  s:\n    EventID: 1\n  condition: s\n---\ntitle: b\nid: second\nlogsource: {product: windows}\ndetection:\n  s:\n    EventID: 1\n  condition: s and and s\n";
        let e = parse(text, "t.yml").expect_err("a bad condition");
        assert_eq!(e.line, 15, "{e}");
        let e = e.to_string();
        assert!(e.contains("second") && !e.contains('\n'), "{e}");
        // A marker with a comment after it separates documents too.
        let text = text.replace("\n---\n", "\n--- # the second rule\n");
        assert_eq!(parse(&text, "t.yml").expect_err("bad").line, 15);
        // An error no document gives alone (an `action: global` document and the rule it
        // completes) is the file's, never dropped.
        let text = "action: global\ntitle: g\nlogsource: {product: windows}\ndetection:\n  s:\n    CommandLine|nosuchmodifier: x\n  condition: s\n---\nid: g1\n";
        if let Ok(loaded) = parse(text, "t.yml") {
            assert!(
                loaded.rules.is_empty() && !loaded.skipped.is_empty(),
                "{loaded:?}"
            );
        }
    }

    #[test]
    fn a_process_rule_compiles_and_matches() {
        let rule = one(r#"
title: Shell from the IIS worker
id: 0a1b2c3d-0000-4000-8000-000000000001
status: test
level: high
tags: [attack.persistence, attack.t1505.003]
logsource: {product: windows, category: process_creation}
detection:
  selection_parent:
    ParentImage|endswith: '\w3wp.exe'
  selection_child:
    Image|endswith: ['\cmd.exe', '\powershell.exe']
    CommandLine|contains|all: ['whoami', '/c']
  filter:
    CommandLine|contains: 'healthcheck'
  condition: all of selection_* and not filter
"#);
        assert_eq!(rule.spec.id, "0a1b2c3d-0000-4000-8000-000000000001");
        assert_eq!(rule.spec.severity, Severity::High);
        assert_eq!(rule.spec.attack, ["T1505.003"]);
        let ev = |image: &str, cmd: &str| crate::view::EventView {
            fields: vec![
                ("EventID".into(), "1".into()),
                (
                    "Channel".into(),
                    "Microsoft-Windows-Sysmon/Operational".into(),
                ),
                (
                    "ParentImage".into(),
                    r"C:\Windows\System32\inetsrv\W3WP.EXE".into(),
                ),
                ("Image".into(), image.into()),
                ("CommandLine".into(), cmd.into()),
            ],
            ..Default::default()
        };
        assert!(
            rule.matcher
                .matches(&ev(r"C:\Windows\System32\cmd.exe", "cmd /c whoami"))
        );
        assert!(
            !rule
                .matcher
                .matches(&ev(r"C:\Windows\System32\cmd.exe", "cmd /c dir"))
        );
        assert!(
            !rule
                .matcher
                .matches(&ev(r"C:\x\notepad.exe", "cmd /c whoami"))
        );
        assert!(!rule.matcher.matches(&ev(
            r"C:\Windows\System32\cmd.exe",
            "cmd /c whoami healthcheck"
        )));
        // Event 1 of another log is not a process creation.
        let mut other = ev(r"C:\Windows\System32\cmd.exe", "cmd /c whoami");
        other.fields[1].1 = "System".into();
        assert!(!rule.matcher.matches(&other));
    }

    #[test]
    fn an_items_numbers_compare_as_numbers() {
        let rule = one(r#"
title: Network logons
id: 0a1b2c3d-0000-4000-8000-000000000009
level: low
logsource: {product: windows, service: security}
detection:
  selection: {EventID: 4624, LogonType|gte: 3}
  condition: selection
"#);
        let ev = |logon_type: &str| crate::view::EventView {
            fields: vec![
                ("EventID".into(), "4624".into()),
                ("Channel".into(), "Security".into()),
                ("LogonType".into(), logon_type.into()),
            ],
            ..Default::default()
        };
        assert!(rule.matcher.matches(&ev("3")) && rule.matcher.matches(&ev("10")));
        assert!(!rule.matcher.matches(&ev("2")) && !rule.matcher.matches(&ev("x")));
    }

    #[test]
    fn sysmon_categories_are_their_event_ids() {
        for (category, id, other) in [
            ("process_tampering", "25", "1"),
            ("file_executable_detected", "29", "11"),
            ("file_block_executable", "27", "28"),
            ("file_block_shredding", "28", "27"),
            ("clipboard_change", "24", "25"),
            ("sysmon_status", "16", "15"),
            ("sysmon_status", "4", "5"),
            ("sysmon_error", "255", "25"),
        ] {
            let rule = one(&format!(
                "title: t\nlogsource: {{product: windows, category: {category}}}\n\
                 detection:\n  selection: {{Image|endswith: '\\x.exe'}}\n  condition: selection\n"
            ));
            let ev = |id: &str, channel: &str| crate::view::EventView {
                fields: vec![
                    ("EventID".into(), id.into()),
                    ("Channel".into(), channel.into()),
                    ("Image".into(), r"C:\x.exe".into()),
                ],
                ..Default::default()
            };
            let sysmon = "Microsoft-Windows-Sysmon/Operational";
            assert!(rule.matcher.matches(&ev(id, sysmon)), "{category} {id}");
            assert!(
                !rule.matcher.matches(&ev(other, sysmon)),
                "{category} {other}"
            );
            assert!(
                !rule.matcher.matches(&ev(id, "System")),
                "{category} System"
            );
        }
    }

    #[test]
    fn web_rules_read_the_uri_and_the_real_client() {
        let rule = one(r#"
title: ProxyShell probe
logsource: {category: webserver}
detection:
  selection_auto:
    cs-uri-query|contains: '/autodiscover.json'
  selection_uri:
    cs-uri-query|contains: ['/powershell', 'X-Rps-CAT']
  condition: selection_auto and selection_uri
level: medium
"#);
        assert!(rule.spec.id.starts_with("sigma-proxyshell"));
        assert!(rule.spec.suspects);
        let ev = crate::view::EventView {
            source: "iis".into(),
            path: Some("/autodiscover/autodiscover.json".into()),
            query: Some("@x/powershell/?X-Rps-CAT=Va".into()),
            raw: "2021-08-10 10:02:40 10.0.4.11 GET /autodiscover/autodiscover.json @x/powershell/?X-Rps-CAT=Va 443".into(),
            ..Default::default()
        };
        assert!(rule.matcher.matches(&ev));
    }

    #[test]
    fn fieldref_and_what_cannot_be_expressed() {
        let rule = one(r#"
title: Explicit credentials for another user
logsource: {product: windows, service: security}
detection:
  selection: {EventID: 4648}
  filter: {SubjectUserName|fieldref: TargetUserName}
  condition: selection and not filter
level: medium
"#);
        let ev = |subject: &str| crate::view::EventView {
            fields: vec![
                ("EventID".into(), "4648".into()),
                ("Channel".into(), "Security".into()),
                ("SubjectUserName".into(), subject.into()),
                ("TargetUserName".into(), "testuser".into()),
            ],
            ..Default::default()
        };
        assert!(rule.matcher.matches(&ev("xodih")));
        assert!(!rule.matcher.matches(&ev("TestUser")));
        assert!(!rule.matcher.exact_in_index, "checked on the candidates");

        let loaded = parse(
            r#"
title: Counted
logsource: {category: webserver}
detection:
  sel: {cs-method: POST}
  condition: sel
  timeframe: 5m
---
title: Cased
logsource: {product: windows, service: security}
detection:
  sel: {TargetUserName|cased: Admin}
  condition: sel
---
title: Linux
logsource: {product: linux}
detection:
  sel: {a: b}
  condition: sel
"#,
            "several.yml",
        )
        .expect("parses");
        assert!(loaded.rules.is_empty());
        assert_eq!(loaded.skipped.len(), 3, "{:?}", loaded.skipped);
        assert!(loaded.skipped.iter().all(|s| !s.reason.is_empty()));
    }

    #[test]
    fn a_logon_address_range() {
        let rule = one(r#"
title: Logon from outside the office
logsource: {product: windows, service: security}
detection:
  selection: {EventID: 4624}
  filter: {IpAddress|cidr: '10.0.0.0/8'}
  condition: selection and not filter
"#);
        let ev = |ip: &str| crate::view::EventView {
            ip: Some(ip.into()),
            fields: vec![
                ("EventID".into(), "4624".into()),
                ("Channel".into(), "Security".into()),
                ("IpAddress".into(), ip.into()),
            ],
            ..Default::default()
        };
        assert!(rule.matcher.matches(&ev("198.51.100.7")));
        assert!(!rule.matcher.matches(&ev("10.1.2.3")));
    }

    /// SigmaHQ's logon rules: addresses (IPv6 included) and Windows' `-` for "none" on an
    /// address field; a text pattern on one is listed as not used, not a failure.
    #[test]
    fn address_fields_take_addresses_and_windows_none() {
        let rule = one(r#"
title: RDP from the host itself
logsource: {product: windows, service: security}
detection:
  selection:
    EventID: 4624
    LogonType: 10
    IpAddress: ['::1', '127.0.0.1']
  condition: selection
"#);
        let ev = |ip: Option<&str>, shown: &str| crate::view::EventView {
            ip: ip.map(Into::into),
            fields: vec![
                ("EventID".into(), "4624".into()),
                ("Channel".into(), "Security".into()),
                ("LogonType".into(), "10".into()),
                ("IpAddress".into(), shown.into()),
            ],
            ..Default::default()
        };
        assert!(rule.matcher.matches(&ev(Some("::1"), "::1")));
        assert!(rule.matcher.matches(&ev(Some("127.0.0.1"), "127.0.0.1")));
        assert!(
            !rule
                .matcher
                .matches(&ev(Some("198.51.100.7"), "198.51.100.7"))
        );

        let rule = one(r#"
title: Failed logon from somewhere
logsource: {product: windows, service: security}
detection:
  selection: {EventID: 4624}
  filter_main_empty: {IpAddress: '-'}
  filter_main_unknown: {IpAddress|contains: '-'}
  condition: selection and not 1 of filter_main_*
"#);
        assert!(
            rule.matcher
                .matches(&ev(Some("198.51.100.7"), "198.51.100.7"))
        );
        assert!(!rule.matcher.matches(&ev(None, "-")));

        let loaded = parse(
            r#"
title: Addresses as text
logsource: {product: windows, service: security}
detection:
  selection: {IpAddress|startswith: '10.'}
  condition: selection
"#,
            "text.yml",
        )
        .expect("parses");
        assert!(loaded.rules.is_empty());
        assert!(
            loaded.skipped[0].reason.contains("address field"),
            "{:?}",
            loaded.skipped
        );
    }

    /// A regex holding quotes, escaped or not (SigmaHQ's `[\"\']`), stays one query value.
    #[test]
    fn regexes_with_quotes() {
        let rule = one(r#"
title: Quoted path then a number
logsource: {product: windows, category: process_creation}
detection:
  selection: {CommandLine|re: '(?i)\.exe[\"\'']?\s+\d{2,10}'}
  condition: selection
"#);
        let ev = |cmd: &str| crate::view::EventView {
            fields: vec![
                ("EventID".into(), "1".into()),
                (
                    "Channel".into(),
                    "Microsoft-Windows-Sysmon/Operational".into(),
                ),
                ("CommandLine".into(), cmd.into()),
            ],
            ..Default::default()
        };
        assert!(rule.matcher.matches(&ev(r#""C:\w.exe" 123"#)));
        assert!(rule.matcher.matches(&ev(r#"C:\w.exe' 4567"#)));
        assert!(!rule.matcher.matches(&ev("C:\\w.exe x")));
        assert_eq!(regex_value(r#"a"b\"c\.d"#), r#"~"a\x22b\x22c\.d""#);
    }

    /// A rule whose translation trawl's queries cannot read (here `Status`, which trawl reads as
    /// the HTTP status, holding an NTSTATUS) is listed with why; the file's other rules load.
    #[test]
    fn a_query_beyond_trawl_is_listed_not_fatal() {
        // A query past the query language's bound on size.
        let values: Vec<String> = (0..20_000).map(|i| format!("'tool-{i:08}'")).collect();
        let loaded = parse(
            &format!(
                r#"
title: Twenty thousand tools
logsource: {{product: windows, category: process_creation}}
detection:
  selection: {{CommandLine|contains: [{}]}}
  condition: selection
---
title: Service installed
logsource: {{product: windows, service: system}}
detection:
  selection: {{EventID: 7045}}
  condition: selection
"#,
                values.join(", ")
            ),
            "two.yml",
        )
        .expect("one rule beyond trawl does not fail the file");
        assert_eq!(loaded.rules.len(), 1);
        assert_eq!(loaded.skipped.len(), 1);
        assert!(
            loaded.skipped[0].reason.contains("beyond trawl"),
            "{:?}",
            loaded.skipped
        );
    }

    #[test]
    fn a_deeply_nested_condition_is_refused_not_overflowed() {
        let depth = 20_000;
        let yaml = format!(
            "title: deep\nlogsource: {{product: windows}}\ndetection:\n  sel: {{EventID: 1}}\n  condition: {}sel{}\n",
            "(".repeat(depth),
            ")".repeat(depth)
        );
        let outcome = std::thread::Builder::new()
            .stack_size(2 << 20)
            .spawn(move || parse(&yaml, "deep.yml").map(|l| (l.rules.len(), l.skipped)))
            .expect("thread")
            .join();
        let loaded = outcome.expect("no stack overflow");
        match loaded {
            Ok((rules, skipped)) => assert!(rules == 0 && skipped.len() == 1, "{skipped:?}"),
            Err(e) => assert!(e.file == "deep.yml", "{e}"),
        }
    }

    #[test]
    fn a_malformed_rule_names_its_file_and_line() {
        let e = parse(
            "title: x\ndetection:\n  sel: [a\n  condition: sel\n",
            "bad.yml",
        )
        .expect_err("bad YAML");
        assert_eq!(e.file, "bad.yml");
        assert!(e.line >= 3, "{e}");
        assert!(e.to_string().starts_with("bad.yml:"), "{e}");
    }
}
