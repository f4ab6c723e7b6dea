//! ClickHouse's HTTP interface: one statement per request, answers in `TabSeparated`.

use std::time::Duration;

use crate::error::{Error, Result};

/// One ClickHouse server.
#[derive(Clone)]
pub struct Client {
    /// `http://host:port/`.
    base: String,
    database: String,
    agent: ureq::Agent,
    user: Option<(String, String)>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Without the password.
        f.debug_struct("Client").field("base", &self.base).finish()
    }
}

impl Client {
    /// A server of a store, as its user.
    pub fn for_spec(host_port: &str, spec: &super::Spec) -> Client {
        let mut c = Client::new(host_port, &spec.database);
        c.user = spec.user.clone();
        c
    }

    pub fn new(host_port: &str, database: &str) -> Client {
        let config = ureq::Agent::config_builder()
            // ClickHouse says what went wrong in the body of a 500: read it.
            .http_status_as_error(false)
            .timeout_connect(Some(Duration::from_secs(10)))
            .build();
        Client {
            base: format!("http://{host_port}/"),
            database: database.to_string(),
            agent: ureq::Agent::new_with_config(config),
            user: None,
        }
    }

    pub fn url(&self) -> &str {
        &self.base
    }

    fn fail(&self, message: impl Into<String>) -> Error {
        Error::Store {
            url: self.base.clone(),
            message: message.into(),
        }
    }

    /// Runs a statement in the database; returns the answer's bytes.
    pub fn run(&self, sql: &str) -> Result<Vec<u8>> {
        self.send(sql.as_bytes(), &[])
    }

    /// Runs a statement whose data follows it (`INSERT … FORMAT TabSeparated`): the statement
    /// goes in the URL, the data in the body.
    pub fn insert(&self, statement: &str, data: &[u8]) -> Result<()> {
        self.send(data, &[("query", statement)]).map(|_| ())
    }

    fn send(&self, body: &[u8], params: &[(&str, &str)]) -> Result<Vec<u8>> {
        let mut request = self
            .agent
            .post(&self.base)
            .query("database", &self.database)
            // Rows reach every shard before the insert returns: a commit names only rows
            // that are stored.
            .query("insert_distributed_sync", "1")
            // Selections name the case's committed batches and files in the statement.
            .query("max_query_size", "1073741824");
        for (k, v) in params {
            request = request.query(*k, *v);
        }
        if let Some((user, password)) = &self.user {
            request = request
                .header("X-ClickHouse-User", user)
                .header("X-ClickHouse-Key", password);
        }
        let mut response = request
            .send(body)
            .map_err(|e| self.fail(format!("cannot reach the server: {e}")))?;
        let status = response.status();
        let bytes = response
            .body_mut()
            .with_config()
            .limit(u64::MAX)
            .read_to_vec()
            .map_err(|e| self.fail(format!("reading the answer: {e}")))?;
        if !status.is_success() {
            let text = String::from_utf8_lossy(&bytes);
            let first = text.lines().next().unwrap_or("").trim();
            let first: String = first.chars().take(400).collect();
            return Err(self.fail(format!("{status}: {first}")));
        }
        Ok(bytes)
    }

    /// Runs a query answered in `TabSeparated`; returns its rows, fields unescaped.
    pub fn rows(&self, sql: &str) -> Result<Vec<Vec<Vec<u8>>>> {
        let bytes = self.run(&format!("{sql} FORMAT TabSeparated"))?;
        Ok(bytes
            .split(|b| *b == b'\n')
            .filter(|l| !l.is_empty())
            .map(|line| line.split(|b| *b == b'\t').map(unescape).collect())
            .collect())
    }

    /// One number (`SELECT count() …`).
    pub fn number(&self, sql: &str) -> Result<u64> {
        first(&self.rows(sql)?, 0)
            .ok_or_else(|| self.fail(format!("expected a number from: {sql}")))
    }
}

/// Field `i` of a row, parsed (a number); `None` when absent or not one.
pub fn field<T: std::str::FromStr>(row: &[Vec<u8>], i: usize) -> Option<T> {
    std::str::from_utf8(row.get(i)?).ok()?.parse().ok()
}

/// Field `i` of the first row, parsed.
pub fn first<T: std::str::FromStr>(rows: &[Vec<Vec<u8>>], i: usize) -> Option<T> {
    field(rows.first()?, i)
}

/// A string as a SQL literal.
pub fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('\'');
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\'' => out.push_str("\\'"),
            '\0' => out.push_str("\\0"),
            c => out.push(c),
        }
    }
    out.push('\'');
    out
}

/// Appends bytes as a `TabSeparated` field (or, `quoted`, inside an array's quotes).
pub fn push_escaped(out: &mut Vec<u8>, bytes: &[u8], quoted: bool) {
    for &b in bytes {
        match b {
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\t' => out.extend_from_slice(b"\\t"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            0 => out.extend_from_slice(b"\\0"),
            b'\'' if quoted => out.extend_from_slice(b"\\'"),
            b => out.push(b),
        }
    }
}

/// A `TabSeparated` field's bytes.
pub fn unescape(field: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(field.len());
    let mut i = 0;
    while i < field.len() {
        let b = field[i];
        if b == b'\\' && i + 1 < field.len() {
            i += 1;
            out.push(match field[i] {
                b't' => b'\t',
                b'n' => b'\n',
                b'r' => b'\r',
                b'0' => 0,
                b'b' => 8,
                b'f' => 12,
                other => other,
            });
        } else {
            out.push(b);
        }
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_survive_escaping() {
        let value = b"a\tb\nc\\d'e\0f\r\xff";
        let mut out = Vec::new();
        push_escaped(&mut out, value, false);
        assert!(!out.contains(&b'\t') && !out.contains(&b'\n'));
        assert_eq!(unescape(&out), value);
        assert_eq!(quote("it's \\ x"), r"'it\'s \\ x'");
    }
}
