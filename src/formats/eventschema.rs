//! The item names of well-known Windows events, for exports that keep an event's values without
//! their names: `Get-WinEvent | ConvertTo-Json` writes `Properties` as a list of `{"Value": …}`
//! in the order of the event's template, so a 4625's account is its sixth value, not
//! `TargetUserName`. Named here, the rules and queries written for the EVTX record (Sigma's
//! `TargetUserName`, `Image`, `ParentImage`) read the export too.
//!
//! Each list is the order of `<Data Name=…>` items in the EVTX records of the corpus
//! (`../shared/corpus`: evtx-attack-samples, the omerbenamram samples, read with the `evtx` crate
//! and checked with python-evtx), or, where marked, the provider's published template. A
//! template grows at its end between versions (Sysmon adds `User`, Windows adds
//! `ImpersonationLevel` …), so the number of values tells the version apart: a list is used only
//! when its length is the number of values, never guessed.

/// One event's possible item lists: (provider, event id, lists).
type Schema = (&'static str, u64, &'static [&'static [&'static str]]);

const SECURITY: &str = "Microsoft-Windows-Security-Auditing";
const SYSMON: &str = "Microsoft-Windows-Sysmon";

const SUBJECT: [&str; 4] = [
    "SubjectUserSid",
    "SubjectUserName",
    "SubjectDomainName",
    "SubjectLogonId",
];

/// 4624 version 2; version 1 is its first 21 items, version 0 its first 20.
const LOGON: [&str; 27] = [
    "SubjectUserSid",
    "SubjectUserName",
    "SubjectDomainName",
    "SubjectLogonId",
    "TargetUserSid",
    "TargetUserName",
    "TargetDomainName",
    "TargetLogonId",
    "LogonType",
    "LogonProcessName",
    "AuthenticationPackageName",
    "WorkstationName",
    "LogonGuid",
    "TransmittedServices",
    "LmPackageName",
    "KeyLength",
    "ProcessId",
    "ProcessName",
    "IpAddress",
    "IpPort",
    "ImpersonationLevel",
    "RestrictedAdminMode",
    "TargetOutboundUserName",
    "TargetOutboundDomainName",
    "VirtualAccount",
    "TargetLinkedLogonId",
    "ElevatedToken",
];

/// 4104; `Path` is left out when the script ran from no file.
const SCRIPT_BLOCK: [&str; 5] = [
    "MessageNumber",
    "MessageTotal",
    "ScriptBlockText",
    "ScriptBlockId",
    "Path",
];

/// 4688 version 2 (Windows 10, Server 2016 and later); version 1 is its first 9, version 0 its
/// first 8 (Microsoft's published template: the corpus holds no 4688).
const PROCESS_V2: [&str; 15] = [
    "SubjectUserSid",
    "SubjectUserName",
    "SubjectDomainName",
    "SubjectLogonId",
    "NewProcessId",
    "NewProcessName",
    "TokenElevationType",
    "ProcessId",
    "CommandLine",
    "TargetUserSid",
    "TargetUserName",
    "TargetDomainName",
    "TargetLogonId",
    "ParentProcessName",
    "MandatoryLabel",
];

/// Sysmon 1 with every item of Sysmon 13.30 and later (`OriginalFileName` came with 10,
/// `ParentUser` with 13.30; older ones lack them).
const SYSMON_PROCESS: [&str; 23] = [
    "RuleName",
    "UtcTime",
    "ProcessGuid",
    "ProcessId",
    "Image",
    "FileVersion",
    "Description",
    "Product",
    "Company",
    "OriginalFileName",
    "CommandLine",
    "CurrentDirectory",
    "User",
    "LogonGuid",
    "LogonId",
    "TerminalSessionId",
    "IntegrityLevel",
    "Hashes",
    "ParentProcessGuid",
    "ParentProcessId",
    "ParentImage",
    "ParentCommandLine",
    "ParentUser",
];

/// Sysmon 1 before `OriginalFileName`.
const SYSMON_PROCESS_OLD: [&str; 21] = [
    "RuleName",
    "UtcTime",
    "ProcessGuid",
    "ProcessId",
    "Image",
    "FileVersion",
    "Description",
    "Product",
    "Company",
    "CommandLine",
    "CurrentDirectory",
    "User",
    "LogonGuid",
    "LogonId",
    "TerminalSessionId",
    "IntegrityLevel",
    "Hashes",
    "ParentProcessGuid",
    "ParentProcessId",
    "ParentImage",
    "ParentCommandLine",
];

/// Sysmon 11; 13.30 and later add `User`.
const SYSMON_FILE: [&str; 8] = [
    "RuleName",
    "UtcTime",
    "ProcessGuid",
    "ProcessId",
    "Image",
    "TargetFilename",
    "CreationUtcTime",
    "User",
];

/// Sysmon 10; 13.30 and later add `SourceUser` and `TargetUser`.
const SYSMON_ACCESS: [&str; 13] = [
    "RuleName",
    "UtcTime",
    "SourceProcessGUID",
    "SourceProcessId",
    "SourceThreadId",
    "SourceImage",
    "TargetProcessGUID",
    "TargetProcessId",
    "TargetImage",
    "GrantedAccess",
    "CallTrace",
    "SourceUser",
    "TargetUser",
];

const SYSMON_NETWORK: [&str; 18] = [
    "RuleName",
    "UtcTime",
    "ProcessGuid",
    "ProcessId",
    "Image",
    "User",
    "Protocol",
    "Initiated",
    "SourceIsIpv6",
    "SourceIp",
    "SourceHostname",
    "SourcePort",
    "SourcePortName",
    "DestinationIsIpv6",
    "DestinationIp",
    "DestinationHostname",
    "DestinationPort",
    "DestinationPortName",
];

/// 4728, 4732, 4756: a member added to a security-enabled global, local or universal group.
const MEMBER_ADDED: [&str; 10] = [
    "MemberName",
    "MemberSid",
    "TargetUserName",
    "TargetDomainName",
    "TargetSid",
    "SubjectUserSid",
    "SubjectUserName",
    "SubjectDomainName",
    "SubjectLogonId",
    "PrivilegeList",
];

const USER_CREATED: [&str; 26] = [
    "TargetUserName",
    "TargetDomainName",
    "TargetSid",
    "SubjectUserSid",
    "SubjectUserName",
    "SubjectDomainName",
    "SubjectLogonId",
    "PrivilegeList",
    "SamAccountName",
    "DisplayName",
    "UserPrincipalName",
    "HomeDirectory",
    "HomePath",
    "ScriptPath",
    "ProfilePath",
    "UserWorkstations",
    "PasswordLastSet",
    "AccountExpires",
    "PrimaryGroupId",
    "AllowedToDelegateTo",
    "OldUacValue",
    "NewUacValue",
    "UserAccountControl",
    "UserParameters",
    "SidHistory",
    "LogonHours",
];

const SCHEMAS: &[Schema] = &[
    (
        SECURITY,
        4624,
        &[&LOGON, LOGON.split_at(21).0, LOGON.split_at(20).0],
    ),
    (
        SECURITY,
        4625,
        &[&[
            "SubjectUserSid",
            "SubjectUserName",
            "SubjectDomainName",
            "SubjectLogonId",
            "TargetUserSid",
            "TargetUserName",
            "TargetDomainName",
            "Status",
            "FailureReason",
            "SubStatus",
            "LogonType",
            "LogonProcessName",
            "AuthenticationPackageName",
            "WorkstationName",
            "TransmittedServices",
            "LmPackageName",
            "KeyLength",
            "ProcessId",
            "ProcessName",
            "IpAddress",
            "IpPort",
        ]],
    ),
    (
        SECURITY,
        4648,
        &[&[
            "SubjectUserSid",
            "SubjectUserName",
            "SubjectDomainName",
            "SubjectLogonId",
            "LogonGuid",
            "TargetUserName",
            "TargetDomainName",
            "TargetLogonGuid",
            "TargetServerName",
            "TargetInfo",
            "ProcessId",
            "ProcessName",
            "IpAddress",
            "IpPort",
        ]],
    ),
    (
        SECURITY,
        4672,
        &[&[
            SUBJECT[0],
            SUBJECT[1],
            SUBJECT[2],
            SUBJECT[3],
            "PrivilegeList",
        ]],
    ),
    (
        SECURITY,
        4688,
        &[
            &PROCESS_V2,
            PROCESS_V2.split_at(9).0,
            PROCESS_V2.split_at(8).0,
        ],
    ),
    (
        SECURITY,
        4698,
        &[&[
            SUBJECT[0],
            SUBJECT[1],
            SUBJECT[2],
            SUBJECT[3],
            "TaskName",
            "TaskContent",
        ]],
    ),
    (SECURITY, 4720, &[&USER_CREATED]),
    (
        SECURITY,
        4722,
        &[&[
            "TargetUserName",
            "TargetDomainName",
            "TargetSid",
            SUBJECT[0],
            SUBJECT[1],
            SUBJECT[2],
            SUBJECT[3],
        ]],
    ),
    (SECURITY, 4728, &[&MEMBER_ADDED]),
    (SECURITY, 4732, &[&MEMBER_ADDED]),
    (SECURITY, 4756, &[&MEMBER_ADDED]),
    (
        SECURITY,
        4776,
        &[&["PackageName", "TargetUserName", "Workstation", "Status"]],
    ),
    ("Microsoft-Windows-Eventlog", 1102, &[&SUBJECT]),
    (
        "Microsoft-Windows-Eventlog",
        104,
        &[&[
            "SubjectUserName",
            "SubjectDomainName",
            "Channel",
            "BackupPath",
        ]],
    ),
    (
        "Service Control Manager",
        7045,
        &[&[
            "ServiceName",
            "ImagePath",
            "ServiceType",
            "StartType",
            "AccountName",
        ]],
    ),
    (
        "Microsoft-Windows-PowerShell",
        4104,
        &[&SCRIPT_BLOCK, SCRIPT_BLOCK.split_at(4).0],
    ),
    (
        SYSMON,
        1,
        &[
            &SYSMON_PROCESS,
            &SYSMON_PROCESS_OLD,
            // 10 to 13.2x: `OriginalFileName`, no `ParentUser`.
            SYSMON_PROCESS.split_at(22).0,
        ],
    ),
    (SYSMON, 3, &[&SYSMON_NETWORK]),
    (SYSMON, 10, &[&SYSMON_ACCESS, SYSMON_ACCESS.split_at(11).0]),
    (SYSMON, 11, &[&SYSMON_FILE, SYSMON_FILE.split_at(7).0]),
];

/// The names of an event's `count` values, in order, when the event is known and has a
/// template of exactly that many items. Providers are compared ignoring case, as Windows does.
pub fn item_names(provider: &str, event_id: u64, count: usize) -> Option<&'static [&'static str]> {
    SCHEMAS
        .iter()
        .filter(|(p, id, _)| *id == event_id && p.eq_ignore_ascii_case(provider))
        .flat_map(|(_, _, lists)| lists.iter())
        .find(|names| names.len() == count)
        .copied()
}

/// True when the event has templates here (whatever their lengths).
pub fn knows(provider: &str, event_id: u64) -> bool {
    SCHEMAS
        .iter()
        .any(|(p, id, _)| *id == event_id && p.eq_ignore_ascii_case(provider))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_template_is_chosen_by_its_number_of_values() {
        let names = item_names("Microsoft-Windows-Security-Auditing", 4624, 27).unwrap();
        assert_eq!(
            (names[5], names[18], names[26]),
            ("TargetUserName", "IpAddress", "ElevatedToken")
        );
        let v1 = item_names("microsoft-windows-security-auditing", 4624, 21).unwrap();
        assert_eq!(v1[20], "ImpersonationLevel");
        assert_eq!(item_names(SECURITY, 4688, 9).unwrap()[8], "CommandLine");
        assert_eq!(item_names(SYSMON, 1, 22).unwrap()[9], "OriginalFileName");
        assert_eq!(item_names(SYSMON, 1, 21).unwrap()[9], "CommandLine");
        assert_eq!(item_names(SYSMON, 11, 7).unwrap()[5], "TargetFilename");
        assert_eq!(
            item_names("Microsoft-Windows-PowerShell", 4104, 4).unwrap()[2],
            "ScriptBlockText"
        );
        // Never guessed: another number of values, or another provider's event of that id.
        assert_eq!(item_names(SECURITY, 4624, 22), None);
        assert_eq!(item_names(SYSMON, 4624, 20), None);
        assert_eq!(item_names("Other", 1, 23), None);
    }

    #[test]
    fn every_list_names_each_item_once() {
        for (provider, id, lists) in SCHEMAS {
            for names in *lists {
                let mut seen = std::collections::HashSet::new();
                for name in *names {
                    assert!(
                        !name.is_empty() && seen.insert(name),
                        "{provider} {id}: {name}"
                    );
                }
            }
        }
    }
}
