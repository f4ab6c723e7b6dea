//! Detection rules as data: each rule is a query in trawl's own language, with an id, a
//! severity, references and a description a responder can read. The built-in pack ships in the
//! binary; users add their own in `rules.toml` in the case or with `--rules FILE`.

use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::query::Matcher;

pub mod sigma;

/// The built-in rule pack.
pub const BUILTIN: &str = include_str!("builtin.toml");

/// How bad a hit is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Info,
    Low,
    Medium,
    High,
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Severity::Info => "info",
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
        })
    }
}

/// Whether hits suggest compromise or are known look-alikes, reported apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Category {
    #[default]
    Compromise,
    Noise,
}

/// What a hit means for the host it happened on; a host's verdict is the gravest outcome among
/// its hits (see `hunt`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// Worth knowing, says nothing alone (a published address, a weak user agent, routine
    /// administration): shown, never a verdict.
    Context,
    /// Scanning: known shell names answered 404, vulnerability checks.
    Probe,
    /// An exploit-shaped request that was refused or failed.
    Attempt,
    /// An exploit request answered with success.
    Success,
    /// Code ran or persistence was planted: a web shell answered, a script was written, a
    /// cmdlet carried a script payload.
    Compromise,
}

impl Outcome {
    /// A hit of this outcome that a noise rule also matches (a scanner's agent, a vulnerability
    /// check) is a probe: an exploit-shaped request, not an exploit. Compromise stands whatever
    /// sent it (a web shell answering a scanner's agent is still one).
    pub fn yields_to_noise(self) -> bool {
        matches!(self, Outcome::Attempt | Outcome::Success)
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Outcome::Context => "context",
            Outcome::Probe => "probe",
            Outcome::Attempt => "attempt",
            Outcome::Success => "success",
            Outcome::Compromise => "compromise",
        })
    }
}

/// One rule, as written in a rule file.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleSpec {
    pub id: String,
    pub title: String,
    pub severity: Severity,
    #[serde(default)]
    pub category: Category,
    #[serde(default)]
    pub references: Vec<String>,
    #[serde(default)]
    pub attack: Vec<String>,
    #[serde(default)]
    pub description: String,
    pub query: String,
    /// What a hit means. Default: `probe` for noise, `success` for high-severity rules,
    /// `context` for the rest.
    #[serde(default)]
    pub outcome: Option<Outcome>,
    /// When set, only hits that also match this query have the rule's outcome; the others
    /// are attempts (the same ProxyShell request answered 200 succeeded, answered 401 did not).
    #[serde(default)]
    pub success_when: Option<String>,
    /// False when a hit's client address is not the attacker's (back-end lines, system logs).
    #[serde(default = "yes")]
    pub suspects: bool,
    /// A noise rule that knows scanners by what the client says of itself (its user agent),
    /// which an attacker writes as they like: its hits make attempts probes, and successes
    /// only attempts (see `hunt`). Noise rules that know a check by its request's shape make
    /// both probes.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub by_agent: bool,
}

impl RuleSpec {
    /// The outcome of a hit (before `success_when` and scanner downgrades).
    pub fn outcome(&self) -> Outcome {
        self.outcome
            .unwrap_or(match (self.category, self.severity) {
                (Category::Noise, _) => Outcome::Probe,
                (_, Severity::High) => Outcome::Success,
                _ => Outcome::Context,
            })
    }
}

fn yes() -> bool {
    true
}

/// A rule ready to run.
#[derive(Debug, Clone)]
pub struct Rule {
    pub spec: RuleSpec,
    pub matcher: Matcher,
    /// Where it was defined: `builtin` or a file path.
    pub origin: String,
}

/// A rule file that cannot be used, with where and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}:{line}: {message}")]
pub struct RuleError {
    pub file: String,
    pub line: usize,
    pub message: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleFile {
    #[serde(default)]
    rule: Vec<toml::Spanned<RuleSpec>>,
}

fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].matches('\n').count() + 1
}

/// Parses and checks a rule file; every rule's query must parse.
pub fn parse(text: &str, origin: &str) -> Result<Vec<Rule>, RuleError> {
    let file: RuleFile = toml::from_str(text).map_err(|e| RuleError {
        file: origin.to_string(),
        line: e.span().map_or(1, |s| line_of(text, s.start)),
        message: e.message().to_string(),
    })?;
    let mut rules = Vec::with_capacity(file.rule.len());
    for spanned in file.rule {
        let line = line_of(text, spanned.span().start);
        let spec = spanned.into_inner();
        let bad = |message: String| RuleError {
            file: origin.to_string(),
            line,
            message: format!("rule '{}': {message}", spec.id),
        };
        let id_ok = !spec.id.is_empty()
            && spec
                .id
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
        if !id_ok {
            return Err(bad("ids are lower-case letters, digits, '-' and '_'".into()));
        }
        if spec.title.trim().is_empty() {
            return Err(bad("the title is empty".into()));
        }
        let matcher = Matcher::new(&spec.query)
            .map_err(|e| bad(format!("query: {} (column {})", e.message, e.column)))?;
        // A rule file is a few rules: its patterns are compiled now, so that one too large to
        // compile is an error at its line, not a rule that runs on nothing.
        matcher.ready().map_err(|e| bad(format!("query: {e}")))?;
        if let Some(when) = &spec.success_when {
            Matcher::new(when)
                .map_err(|e| bad(format!("success_when: {} (column {})", e.message, e.column)))?
                .ready()
                .map_err(|e| bad(format!("success_when: {e}")))?;
        }
        rules.push(Rule {
            spec,
            matcher,
            origin: origin.to_string(),
        });
    }
    Ok(rules)
}

/// The rules in force, and the Sigma rules that could not be used (each with why).
#[derive(Debug, Default)]
pub struct RuleSet {
    pub rules: Vec<Rule>,
    pub skipped: Vec<sigma::Skipped>,
}

/// The built-in rules, then each path's: a `.toml` rule file, a Sigma `.yml`/`.yaml` file, or a
/// folder of either (read recursively, in name order). A later rule replaces an earlier one of
/// the same id, so a case can amend a built-in rule.
pub fn load(paths: &[PathBuf]) -> Result<RuleSet, RuleError> {
    let builtin = parse(BUILTIN, "builtin")?;
    let mut set = RuleSet {
        rules: builtin,
        skipped: Vec::new(),
    };
    let mut files = Vec::new();
    for path in paths {
        collect(path, true, &mut files).map_err(|e| RuleError {
            file: path.display().to_string(),
            line: 1,
            message: e.to_string(),
        })?;
    }
    for path in files {
        let origin = path.display().to_string();
        let text = std::fs::read_to_string(&path).map_err(|e| RuleError {
            file: origin.clone(),
            line: 1,
            message: e.to_string(),
        })?;
        let rules = if is_sigma(&path) {
            let loaded = sigma::parse(&text, &origin)?;
            set.skipped.extend(loaded.skipped);
            loaded.rules
        } else {
            parse(&text, &origin)?
        };
        let mut ids = std::collections::HashSet::new();
        if let Some(twice) = rules.iter().find(|r| !ids.insert(r.spec.id.clone())) {
            return Err(RuleError {
                file: origin,
                line: 1,
                message: format!("rule id '{}' is used twice", twice.spec.id),
            });
        }
        for rule in rules {
            set.rules.retain(|r| r.spec.id != rule.spec.id);
            set.rules.push(rule);
        }
    }
    Ok(set)
}

fn is_sigma(path: &Path) -> bool {
    path.extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("yml") || e.eq_ignore_ascii_case("yaml"))
}

/// The rule files a path names: itself when named, or the rule files in a folder (symbolic
/// links to folders are not followed, so a link loop cannot trap the walk).
fn collect(path: &Path, named: bool, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    let meta = if named {
        std::fs::metadata(path)?
    } else {
        std::fs::symlink_metadata(path)?
    };
    if meta.is_dir() {
        let mut entries = std::fs::read_dir(path)?
            .map(|e| e.map(|e| e.path()))
            .collect::<std::io::Result<Vec<_>>>()?;
        entries.sort();
        for entry in entries {
            collect(&entry, false, out)?;
        }
    } else if named
        || is_sigma(path)
        || path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("toml"))
    {
        out.push(path.to_path_buf());
    }
    Ok(())
}

/// The rules that apply to a case: its own `rules.toml` and `sigma/` folder, then the given
/// paths.
pub fn files_for(case_dir: &Path, extra: &[PathBuf]) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = [case_dir.join("rules.toml"), case_dir.join("sigma")]
        .into_iter()
        .filter(|p| p.exists())
        .collect();
    files.extend(extra.iter().cloned());
    files
}

/// A digest of the rules in force, to know when stored detections are stale.
pub fn digest(rules: &[Rule]) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    for r in rules {
        h.update(r.spec.id.as_bytes());
        h.update([0]);
        h.update(r.spec.query.as_bytes());
        h.update([0]);
        h.update(r.spec.severity.to_string().as_bytes());
        h.update([u8::from(r.spec.category == Category::Noise)]);
        h.update([u8::from(r.spec.suspects)]);
        h.update(r.spec.outcome().to_string().as_bytes());
        h.update(r.spec.success_when.as_deref().unwrap_or("").as_bytes());
        h.update([0]);
        if r.spec.by_agent {
            h.update(b"by_agent");
        }
    }
    crate::input::hex(&h.finalize())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_pack_loads() {
        let rules = load(&[]).expect("builtin rules").rules;
        assert!(rules.len() >= 25, "{}", rules.len());
        assert!(rules.iter().any(|r| r.spec.id == "tpl-cve-2021-26855"));
        assert!(rules.iter().all(|r| !r.spec.description.is_empty()));
        let ids: std::collections::HashSet<_> = rules.iter().map(|r| &r.spec.id).collect();
        assert_eq!(ids.len(), rules.len(), "every built-in id is used once");
    }

    #[test]
    fn bad_rules_say_file_line_and_what() {
        let text = "[[rule]]\nid = \"ok\"\ntitle = \"t\"\nseverity = \"high\"\nquery = \"ip:1.2.3.4\"\n\n[[rule]]\nid = \"broken\"\ntitle = \"t\"\nseverity = \"high\"\nquery = \"ip:1.2.3.4 AND\"\n";
        let e = parse(text, "mine.toml").expect_err("bad query");
        assert_eq!(e.file, "mine.toml");
        assert_eq!(e.line, 7);
        assert!(
            e.message.contains("rule 'broken'") && e.message.contains("missing term"),
            "{e}"
        );

        let e = parse(
            "[[rule]]\nid = \"x\"\ntitle = \"t\"\nseverity = \"severe\"\nquery = \"*\"\n",
            "r.toml",
        )
        .expect_err("bad severity");
        assert_eq!(e.line, 4);
        assert!(e.message.contains("severe"), "{e}");

        let e = parse(
            "[[rule]]\nid = \"x\"\ntitle = \"t\"\nseverity = \"low\"\nquerry = \"*\"\n",
            "r.toml",
        )
        .expect_err("unknown key");
        assert!(e.message.contains("querry"), "{e}");

        let e = parse(
            "[[rule]]\nid = \"Bad Id\"\ntitle = \"t\"\nseverity = \"low\"\nquery = \"*\"\n",
            "r.toml",
        )
        .expect_err("bad id");
        assert!(e.to_string().starts_with("r.toml:1: rule 'Bad Id'"), "{e}");
    }
}

/// Test-ProxyLogon parity on constructed rows, edge cases included.
#[cfg(test)]
mod parity {
    use super::*;
    use crate::view::EventView;

    fn rule(id: &str) -> Rule {
        load(&[])
            .expect("rules")
            .rules
            .into_iter()
            .find(|r| r.spec.id == id)
            .expect(id)
    }

    fn proxy_row(anchor: &str, status: u64, protocol: &str) -> EventView {
        EventView {
            source: "httpproxy".into(),
            status: Some(status),
            fields: vec![
                ("AnchorMailbox".into(), anchor.into()),
                ("Protocol".into(), protocol.into()),
            ],
            ..EventView::default()
        }
    }

    #[test]
    fn cve_2021_26855_like_wildcards() {
        let r = rule("tpl-cve-2021-26855");
        let hit = |anchor: &str| r.matcher.matches(&proxy_row(anchor, 200, "Ecp"));
        assert!(hit(
            "ServerInfo~a]@MBX-A.corp.example.org:444/mapi/emsmdb/?#"
        ));
        assert!(hit(
            "ServerInfo~akak]@MBX-A.LOCAL:444/ecp/DDI/DDIService.svc/GetObject?schema=OABVirtualDirectory#"
        ));
        assert!(hit("serverinfo~x/y"), "-like ignores case");
        assert!(hit("ServerInfo~/"), "* matches nothing");
        assert!(!hit(
            "ServerInfo~a]@MBX-A:444/autodiscover/autodiscover.xml?#"
        ));
        assert!(!hit("ServerInfo~a]@MBX-A:444/Autodiscover/x"));
        assert!(!hit("ServerInfo~localhost/owa/auth/logon.aspx?"));
        assert!(
            !hit("ServerInfo~localhost.evil.example/ecp/x#"),
            "localhost* prefix"
        );
        assert!(!hit("ServerInfo~localhost~1942062522"), "no '/'");
        assert!(!hit("Sid~S-1-5-21-1004336348-1177238915-682003330-3107"));
        assert!(!hit("xServerInfo~a/b"), "anchored at the start");
        let mut not_proxy = proxy_row("ServerInfo~a/b", 200, "Ecp");
        not_proxy.source = "iis".into();
        assert!(!r.matcher.matches(&not_proxy));
    }

    #[test]
    fn cve_2021_27065_reset_vdir() {
        let r = rule("tpl-cve-2021-27065-resetvdir");
        let anchor = "ServerInfo~a]@MBX-A:444/ecp/DDI/DDIService.svc/SetObject?msExchEcpCanary=c&schema=ResetOABVirtualDirectory#";
        assert!(r.matcher.matches(&proxy_row(anchor, 200, "Ecp")));
        assert!(
            !r.matcher.matches(&proxy_row(anchor, 500, "Ecp")),
            "status 200 only"
        );
        assert!(
            !r.matcher.matches(&proxy_row(anchor, 200, "Owa")),
            "the Ecp folder only"
        );
        let not_at_end = format!("{anchor}x");
        assert!(
            !r.matcher.matches(&proxy_row(&not_at_end, 200, "Ecp")),
            "must end with virtualdirectory#"
        );
        assert!(!r.matcher.matches(&proxy_row(
            "ServerInfo~a]@MBX-A:444/ecp/DDI/DDIService.svc/SetObject?schema=OABVirtualDirectory#",
            200,
            "Ecp"
        )));
    }

    fn raw_row(source: &str, raw: &str) -> EventView {
        EventView {
            source: source.into(),
            raw: raw.into(),
            fields: vec![("Message".into(), raw.into())],
            ..EventView::default()
        }
    }

    #[test]
    fn cve_2021_27065_ecp_regex() {
        let r = rule("tpl-cve-2021-27065-ecp");
        let exploit = r#"2021-03-05T17:42:27.118Z,MBX-A,ECP.Request,"S:TIME=1544;'S:CMD=Set-OabVirtualDirectory.ExternalUrl=''http://f/<script language=""JScript"" runat=""server"">function Page_Load(){eval(Request[""zz9""],""unsafe"");}</script>''.Identity=''0d82''';S:URL=/ecp/DDI/DDIService.svc/SetObject?msExchEcpCanary=K&schema=OABVirtualDirectory;S:EX=""#;
        let admin = "2021-03-05T10:22:48.903Z,MBX-B,ECP.Request,S:TIME=412;'S:CMD=Set-OwaVirtualDirectory.ExternalUrl=''https://mail.example.org/owa''.Identity=''51ff''';S:URL=/ecp/DDI/DDIService.svc/SetObject?schema=OWAVirtualDirectory;S:TNAME=<null>";
        assert!(r.matcher.matches(&raw_row("ecp", exploit)));
        assert!(
            !r.matcher.matches(&raw_row("ecp", admin)),
            "plain URL: the 03-18 fix"
        );
        assert!(
            !r.matcher.matches(&raw_row("iis", exploit)),
            "ECP Server logs only"
        );
    }

    #[test]
    fn cve_2021_26858_leading_quote() {
        let r = rule("tpl-cve-2021-26858");
        let line = |path: &str| {
            format!(
                "2021-03-05T17:55:40.261Z,MBX-A,Warning,Download failed and temporary file {path} needs to be removed."
            )
        };
        let flagged = |path: &str| r.matcher.matches(&raw_row("oab", &line(path)));
        assert!(flagged(
            r"'\\127.0.0.1\c$\inetpub\wwwroot\aspnet_client\x.aspx'"
        ));
        assert!(!flagged(
            r"'C:\Program Files\Microsoft\Exchange Server\V15\ClientAccess\OAB\Temp\a\b.lzx'"
        ));
        assert!(
            !flagged(r"'c:\program files\microsoft\exchange server\v15\clientaccess\oab\temp\x'"),
            "case-insensitive"
        );
        // The script compares with the leading apostrophe, so an unquoted path is flagged even
        // inside ClientAccess\OAB, as here.
        assert!(flagged(
            r"C:\Program Files\Microsoft\Exchange Server\V15\ClientAccess\OAB\Temp\x"
        ));
        // Where the script lets a write through, this does not: its prefix has no trailing
        // backslash (ClientAccess\OABx passed) and a path climbing out with `..` passed.
        assert!(flagged(
            r"'C:\Program Files\Microsoft\Exchange Server\V15\ClientAccess\OABx\y'"
        ));
        assert!(flagged(
            r"'C:\Program Files\Microsoft\Exchange Server\V15\ClientAccess\OAB\..\..\FrontEnd\HttpProxy\owa\auth\zz.aspx'"
        ));
        assert!(flagged(
            r"'C:\Program Files\Microsoft\Exchange Server\V15\ClientAccess\OAB\Temp\..'"
        ));
        assert!(flagged(
            r"'C:\Program Files\Microsoft\Exchange Server\V15\ClientAccess\OAB\Temp/../../../FrontEnd\HttpProxy\owa\auth\y5.aspx'"
        ));
        // A folder IIS serves is never the OAB's, whatever it is named.
        assert!(flagged(
            r"'C:\inetpub\wwwroot\aspnet_client\V15\ClientAccess\OAB\x.aspx'"
        ));
        // An install on another drive or folder is the server's own OAB folder.
        assert!(!flagged(
            r"'D:\Exchange Server\V15\ClientAccess\OAB\Temp\4a7c\oab.lzx'"
        ));
        assert!(!flagged(
            r"'E:\Apps\Microsoft\Exchange\V15\ClientAccess\OAB\Temp\x.lzx'"
        ));
        // Doubled, as a JSON export writes them.
        assert!(!flagged(
            r"'D:\\Exchange Server\\V15\\ClientAccess\\OAB\\Temp\\x.lzx'"
        ));
        assert!(!r.matcher.matches(&raw_row(
            "oab",
            "2021-03-05T17:55:40Z,MBX-A,Info,Download completed."
        )));
    }

    #[test]
    fn benign_look_alikes_do_not_match() {
        let rules = load(&[]).expect("rules").rules;
        let compromise: Vec<&Rule> = rules
            .iter()
            .filter(|r| {
                r.spec.category == Category::Compromise && r.spec.severity >= Severity::Medium
            })
            .collect();
        let web =
            |method: &str, path: &str, query: Option<&str>, status: u64, ua: &str| EventView {
                source: "iis".into(),
                method: Some(method.into()),
                path: Some(path.into()),
                query: query.map(str::to_string),
                status: Some(status),
                ua: Some(ua.into()),
                ip: Some("192.0.2.10".into()),
                ..EventView::default()
            };
        let look_alikes = [
            web(
                "GET",
                "/autodiscover/autodiscover.json",
                Some("Email=j.smith%40corp.example.org&Protocol=ActiveSync&RedirectCount=1"),
                200,
                "Outlook-iOS/723.4027091.prod.iphone (4.2109.0)",
            ),
            web(
                "POST",
                "/EWS/Exchange.asmx",
                None,
                200,
                "MicrosoftNinja/1.0 Teams/1.0 (ExchangeServicesClient/0.0.0.0) SkypeSpaces/1.0a$*+",
            ),
            web(
                "POST",
                "/EWS/Exchange.asmx",
                None,
                200,
                "python-requests/2.25.1",
            ),
            web(
                "GET",
                "/owa/healthcheck.htm",
                None,
                200,
                "python-requests/2.25.1",
            ),
            web(
                "GET",
                "/aspnet_client/shell.aspx",
                None,
                404,
                "Mozilla/5.0 (compatible; ExampleScanner/1.0)",
            ),
            web(
                "GET",
                "/owa/auth/errorEE.aspx",
                None,
                302,
                "Mozilla/5.0 (compatible; ExampleScanner/1.0)",
            ),
            web("POST", "/owa/auth.owa", None, 302, "Mozilla/5.0"),
            web("GET", "/ecp/", None, 200, "Mozilla/5.0"),
        ];
        for ev in &look_alikes {
            for r in &compromise {
                assert!(
                    !r.matcher.matches(ev),
                    "{} matched {:?} {:?}",
                    r.spec.id,
                    ev.path,
                    ev.ua
                );
            }
        }
        let ecp_exploit_ua = web(
            "POST",
            "/ecp/y.js",
            None,
            200,
            "ExchangeServicesClient/0.0.0.0",
        );
        assert!(
            rule("ua-hafnium-ecp-exploit")
                .matcher
                .matches(&ecp_exploit_ua)
        );
        assert!(
            rule("proxylogon-post-static-js")
                .matcher
                .matches(&ecp_exploit_ua)
        );
    }

    #[test]
    fn later_chains() {
        let ev = |path: &str, query: &str, status: u64| EventView {
            source: "iis".into(),
            method: Some("GET".into()),
            path: Some(path.into()),
            query: Some(query.into()),
            status: Some(status),
            ..EventView::default()
        };
        let shell = ev(
            "/autodiscover/autodiscover.json",
            "@evil.corp/ews/exchange.asmx?&Email=autodiscover/autodiscover.json%3F@evil.corp",
            200,
        );
        let proxyshell = rule("proxyshell");
        assert!(proxyshell.matcher.matches(&shell));
        let success = Matcher::new(proxyshell.spec.success_when.as_deref().expect("when"))
            .expect("success_when parses");
        assert!(success.matches(&shell), "answered 200: success");
        let refused = ev(
            "/autodiscover/autodiscover.json",
            "@evil.corp/ews/exchange.asmx?&Email=autodiscover/autodiscover.json%3F@evil.corp",
            401,
        );
        assert!(proxyshell.matcher.matches(&refused));
        assert!(!success.matches(&refused), "answered 401: an attempt");
        let encoded = ev(
            "/autodiscover/autodiscover.json",
            "@evil.corp%2fmapi%2fnspi%2f?&Email=autodiscover/autodiscover.json%3F@evil.corp",
            200,
        );
        assert!(proxyshell.matcher.matches(&encoded));
        // Encoded, or with backslashes, the path confusion is still one.
        for query in [
            "@evil.corp/%65ws/exchange.asmx?&Email=autodiscover/autodiscover.json%3F@evil.corp",
            "@evil.corp/m%61pi/nspi/?&Email=autodiscover/autodiscover.json%3F@evil.corp",
            "@evil.corp%252Fmapi%252Fnspi%252F?&Email=autodiscover/autodiscover.json%3F@evil.corp",
            "@evil.corp\\ews\\exchange.asmx?&Email=autodiscover/autodiscover.json%3F@evil.corp",
            "?@evil.corp/%65ws/exchange.asmx?&Email=autodiscover/autodiscover.json%3F@evil.corp",
            "Email=autodiscover/autodiscover.json%3F@evil.corp&Protocol=EWS/ews",
        ] {
            let shell = ev("/autodiscover/autodiscover.json", query, 200);
            assert!(proxyshell.matcher.matches(&shell), "{query}");
        }
        // Outlook's and Teams' Autodiscover v2 name a protocol, not a path.
        for protocol in ["EWS", "ActiveSync", "Rest", "AutodiscoverV1"] {
            for query in [
                format!("Email=t.nguyen%40corp.example&Protocol={protocol}&RedirectCount=1"),
                format!(
                    "Email=t.nguyen@corp.example&Protocol={protocol}&RedirectCount=1&CorrelationID=<empty>;&cafeReqId=0b7a3c1e-6f0e-4a55-9d0a-2f1c3b4d5e6f;"
                ),
                format!("?Email=t.nguyen%40corp.example&Protocol={protocol}"),
            ] {
                let benign = ev("/autodiscover/autodiscover.json", &query, 200);
                assert!(!proxyshell.matcher.matches(&benign), "{query}");
            }
        }
        let mut owassrf = ev("/owa/mastermailbox%40outlook.com/powershell", "", 200);
        owassrf.method = Some("POST".into());
        owassrf.ua = Some("Mozilla/5.0 Chrome/105.0.5195.54".into());
        assert!(rule("owassrf").matcher.matches(&owassrf));
        owassrf.ua = Some("Microsoft WinRM Client".into());
        assert!(!rule("owassrf").matcher.matches(&owassrf));
        assert!(rule("cve-2020-0688-viewstate").matcher.matches(&ev(
            "/ecp/default.aspx",
            "__VIEWSTATEGENERATOR=B97B4E27&__VIEWSTATE=abc",
            500
        )));
    }
}
