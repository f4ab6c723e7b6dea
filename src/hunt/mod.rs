//! Detections: the rules run over the whole case (`detect`: hits stored beside the index), and
//! what can only be inferred across events (`infer`: a verdict per host, web shells, suspect
//! clients, incident windows, the proxies in front of the servers), written out by [`output`].

mod detect;
mod infer;
pub mod output;

pub use detect::{
    Detections, RuleInfo, case_state, detect, detect_in, ensure, ensure_in, load_current,
    load_stored, load_stored_in, manifest_state, save, save_in,
};
pub use infer::{
    Cited, EventRef, Finding, HostVerdict, Proxy, Report, ShellClient, Suspect, Verdict, WebShell,
    Window, evidence_of, proxies, proxies_in, report, report_in, url_of_local_path,
};
