//! Client attribution: the address a request really came from.
//!
//! Most Exchange front ends sit behind a load balancer or reverse proxy (F5, KEMP, NetScaler,
//! HAProxy, Azure Application Gateway) that source-NATs: IIS `c-ip` and HttpProxy
//! `ClientIpAddress` are then the balancer for every request, and the client is only in the
//! `X-Forwarded-For` header, to which each proxy appends the address it received the request
//! from. The chain is read from its right end, the end the proxies wrote: the first address that
//! is not a trusted proxy is the client. Entries further left were sent by the client itself and
//! can be forged; they stay searchable in `xff` and are never the attribution.
//!
//! Which hops are trusted proxies:
//! * the connecting address (`ip`) when it is declared (`--trusted-proxy`, `trusted_proxies` in
//!   the case config), or when it is not a public address and the request carries
//!   X-Forwarded-For: a private address relaying the header is what a balancer does, and an
//!   address on the internet cannot be trusted to tell who its client was;
//! * an X-Forwarded-For entry when it is declared, or when it is not public and not the left-most
//!   entry (a second balancer behind the first, which appended its own client).
//!
//! HttpProxy and back-end (W3SVC2) rows carry no X-Forwarded-For: they inherit the client of
//! the front-end IIS request with the same request GUID ([`RequestClients`]).

use std::fmt;
use std::net::{IpAddr, Ipv6Addr};

use serde::{Deserialize, Serialize};

/// An address range (`172.16.0.0/12`, `2001:db8::/32`, or one address), in IPv6 space with
/// IPv4 as mapped addresses, as the index stores addresses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Cidr {
    lo: u128,
    hi: u128,
    text_bits: (IpAddr, u8),
}

impl Cidr {
    /// Parses `a.b.c.d/n`, `v6/n` or a bare address.
    pub fn parse(s: &str) -> Option<Cidr> {
        let s = s.trim();
        let (addr, bits) = match s.split_once('/') {
            Some((a, b)) => (a, Some(b.parse::<u8>().ok()?)),
            None => (s, None),
        };
        let ip: IpAddr = addr.parse().ok()?;
        let ip = ip.to_canonical();
        let (v6, bits6, bits) = match ip {
            IpAddr::V4(v4) => {
                let bits = bits.unwrap_or(32);
                if bits > 32 {
                    return None;
                }
                (v4.to_ipv6_mapped(), u32::from(bits) + 96, bits)
            }
            IpAddr::V6(v6) => {
                let bits = bits.unwrap_or(128);
                if bits > 128 {
                    return None;
                }
                (v6, u32::from(bits), bits)
            }
        };
        let host_bits = 128 - bits6;
        let mask = if host_bits == 128 {
            0
        } else {
            u128::MAX << host_bits
        };
        let lo = u128::from(v6) & mask;
        Some(Cidr {
            lo,
            hi: lo | !mask,
            text_bits: (ip, bits),
        })
    }

    /// The first and last address of the range, in IPv6 space.
    pub fn bounds(&self) -> (Ipv6Addr, Ipv6Addr) {
        (Ipv6Addr::from(self.lo), Ipv6Addr::from(self.hi))
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        let v = u128::from(to_v6(ip));
        self.lo <= v && v <= self.hi
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (ip, bits) = self.text_bits;
        let full = if ip.is_ipv4() { 32 } else { 128 };
        if bits == full {
            write!(f, "{ip}")
        } else {
            write!(f, "{ip}/{bits}")
        }
    }
}

impl Serialize for Cidr {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

impl<'de> Deserialize<'de> for Cidr {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Cidr::parse(&text).ok_or_else(|| {
            serde::de::Error::custom(format!("'{text}' is not an address or a CIDR range"))
        })
    }
}

fn to_v6(ip: IpAddr) -> Ipv6Addr {
    match ip {
        IpAddr::V4(v4) => v4.to_ipv6_mapped(),
        IpAddr::V6(v6) => v6,
    }
}

/// Whether an address is reachable on the internet: not private (RFC 1918), shared (CGNAT),
/// loopback, link-local, unique-local or unspecified. The documentation ranges count as public,
/// as the sample case uses them for internet addresses.
pub fn is_public(ip: IpAddr) -> bool {
    match ip.to_canonical() {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            let shared = a == 100 && (64..128).contains(&b);
            !(v4.is_private()
                || v4.is_loopback()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || shared)
        }
        IpAddr::V6(v6) => {
            let first = v6.segments()[0];
            let unique_local = first & 0xfe00 == 0xfc00;
            let link_local = first & 0xffc0 == 0xfe80;
            !(v6.is_loopback() || v6.is_unspecified() || unique_local || link_local)
        }
    }
}

/// The proxies whose X-Forwarded-For entries are believed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrustedProxies {
    /// Declared by the responder.
    pub declared: Vec<Cidr>,
}

impl TrustedProxies {
    pub fn new(declared: Vec<Cidr>) -> Self {
        TrustedProxies { declared }
    }

    pub fn is_declared(&self, ip: IpAddr) -> bool {
        self.declared.iter().any(|c| c.contains(ip))
    }

    /// Whether `ip` is declared by itself (a single address, not a range).
    fn is_declared_alone(&self, ip: IpAddr) -> bool {
        self.declared.iter().any(|c| c.lo == c.hi && c.contains(ip))
    }

    /// The client of a request that came from `ip` with the X-Forwarded-For addresses `xff`, of
    /// which the last `tail` are walkable (see [`crate::event::parse_xff`]). `None` when the
    /// chain's walk ends at an entry that is not an address.
    pub fn attribute(&self, ip: Option<IpAddr>, xff: &[IpAddr], tail: usize) -> Option<IpAddr> {
        let peer = ip?;
        // An address declared a proxy by itself is never the client: without the header, the
        // client is unknown. (A declared range may also hold clients that connect directly.)
        if xff.is_empty() && self.is_declared_alone(peer) {
            return None;
        }
        // A public peer that is not declared may have written the header itself.
        let peer_is_proxy = self.is_declared(peer) || !is_public(peer);
        if xff.is_empty() || !peer_is_proxy {
            return Some(peer);
        }
        let tail = tail.min(xff.len());
        let walkable = &xff[xff.len() - tail..];
        let whole_chain = tail == xff.len();
        for (i, &hop) in walkable.iter().enumerate().rev() {
            let left_most = whole_chain && i == 0;
            let proxy = self.is_declared(hop) || (!is_public(hop) && !left_most);
            if !proxy {
                return Some(hop);
            }
        }
        if whole_chain {
            // Every entry is a declared proxy: the left-most is the nearest to the client.
            walkable.first().copied()
        } else {
            None
        }
    }
}

/// Clients of front-end requests by request GUID, for the HttpProxy and back-end rows of the
/// same requests. Kept compact, 16 bytes a request (measured at 12 bytes: 10M front-end
/// requests added about 120 MiB while an ingest ran): a 64-bit digest of the GUID, as two
/// halves, the request's second and the index of the client in a table of distinct addresses.
#[derive(Debug, Default)]
pub struct RequestClients {
    /// (digest high half, digest low half, second, client index), sorted once finished.
    keys: Vec<[u32; 4]>,
    clients: Vec<IpAddr>,
    index: std::collections::HashMap<IpAddr, u32>,
    sorted: bool,
    /// Holds the clients of the front-end requests already in the case (read once, then kept
    /// from round to round of a followed case).
    pub has_case: bool,
}

fn digest(request_id: u128) -> [u32; 2] {
    let d = (request_id as u64) ^ ((request_id >> 64) as u64).rotate_left(17);
    [(d >> 32) as u32, d as u32]
}

/// A request's second as kept: seconds since 1970, clamped to what 32 bits hold (to 2106).
fn second(ts_ms: i64) -> u32 {
    u32::try_from(ts_ms.div_euclid(1000).max(0)).unwrap_or(u32::MAX)
}

impl RequestClients {
    pub fn insert(&mut self, request_id: u128, client: IpAddr, ts_ms: i64) {
        let next = self.clients.len() as u32;
        let id = *self.index.entry(client).or_insert(next);
        if id == next {
            self.clients.push(client);
        }
        let [hi, lo] = digest(request_id);
        self.keys.push([hi, lo, second(ts_ms), id]);
        self.sorted = false;
    }

    /// Sorts for lookups. A GUID seen with two different clients is the first one's when it
    /// came strictly first: Exchange makes a request's GUID, and a request that repeats it
    /// (a `cafeReqId` written into a query string that Exchange does not proxy, so logged as
    /// sent) can only copy it from the response to the first. Seen in the same second (or a
    /// collision of digests), it is dropped rather than guessed.
    pub fn finish(&mut self) {
        self.keys.sort_unstable();
        let mut out: Vec<[u32; 4]> = Vec::with_capacity(self.keys.len());
        for group in self.keys.chunk_by(|a, b| a[..2] == b[..2]) {
            let first = group[0];
            match group.iter().find(|g| g[3] != first[3]) {
                None => out.push(first),
                Some(other) if other[2] > first[2] => out.push(first),
                Some(_) => {}
            }
        }
        out.shrink_to_fit();
        self.keys = out;
        self.index = Default::default();
        self.sorted = true;
    }

    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Adds `other`'s requests: a followed case keeps the front ends' clients of its earlier
    /// rounds, since IIS and HttpProxy write a request's rows at different times.
    pub fn absorb(&mut self, other: &RequestClients) {
        if self.index.len() != self.clients.len() {
            // Finished (its table dropped): rebuilt to add to it.
            self.index = (0u32..).zip(&self.clients).map(|(i, c)| (*c, i)).collect();
        }
        for &[hi, lo, second, id] in &other.keys {
            let Some(&client) = other.clients.get(id as usize) else {
                continue;
            };
            let next = self.clients.len() as u32;
            let id = *self.index.entry(client).or_insert(next);
            if id == next {
                self.clients.push(client);
            }
            self.keys.push([hi, lo, second, id]);
        }
        self.sorted = false;
        self.has_case |= other.has_case;
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    pub fn get(&self, request_id: u128) -> Option<IpAddr> {
        debug_assert!(self.sorted, "RequestClients::finish before lookups");
        let k = digest(request_id);
        let i = self.keys.binary_search_by(|e| e[..2].cmp(&k[..])).ok()?;
        self.clients.get(self.keys[i][3] as usize).copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("address")
    }

    fn xff(s: &str) -> (Vec<IpAddr>, usize) {
        crate::event::parse_xff(s)
    }

    fn client(p: &TrustedProxies, peer: &str, chain: &str) -> Option<String> {
        let (x, tail) = xff(chain);
        p.attribute(Some(ip(peer)), &x, tail).map(|c| c.to_string())
    }

    #[test]
    fn cidrs() {
        let c = Cidr::parse("172.16.0.0/12").expect("cidr");
        assert!(c.contains(ip("172.31.255.255")));
        assert!(!c.contains(ip("172.32.0.0")));
        assert!(c.contains(ip("::ffff:172.16.0.1")));
        assert_eq!(c.to_string(), "172.16.0.0/12");
        assert_eq!(
            Cidr::parse("10.0.0.5").expect("one").to_string(),
            "10.0.0.5"
        );
        assert!(
            Cidr::parse("2001:db8::/32")
                .expect("v6")
                .contains(ip("2001:db8::1"))
        );
        assert!(Cidr::parse("10.0.0.0/33").is_none());
        assert!(Cidr::parse("host.example").is_none());
    }

    #[test]
    fn public_and_private() {
        for p in [
            "10.1.2.3",
            "172.16.0.10",
            "192.168.1.1",
            "127.0.0.1",
            "::1",
            "fd00::1",
        ] {
            assert!(!is_public(ip(p)), "{p}");
        }
        for p in ["198.51.100.7", "203.0.113.77", "8.8.8.8", "2001:db8::5"] {
            assert!(is_public(ip(p)), "{p}");
        }
        assert!(!is_public(ip("100.64.0.1")));
    }

    #[test]
    fn without_a_proxy_the_client_is_the_peer() {
        let p = TrustedProxies::default();
        assert_eq!(
            client(&p, "198.51.100.7", "").as_deref(),
            Some("198.51.100.7")
        );
        // A public peer's own X-Forwarded-For is not believed: it could be anything.
        assert_eq!(
            client(&p, "198.51.100.7", "10.0.0.1").as_deref(),
            Some("198.51.100.7")
        );
    }

    #[test]
    fn behind_a_balancer_the_right_most_untrusted_entry_is_the_client() {
        let p = TrustedProxies::default();
        assert_eq!(
            client(&p, "172.16.0.10", "203.0.113.77").as_deref(),
            Some("203.0.113.77")
        );
        // A forged left-most entry is ignored.
        assert_eq!(
            client(&p, "172.16.0.10", "127.0.0.1,+198.51.100.9").as_deref(),
            Some("198.51.100.9")
        );
        // Two balancers: the second appended the first's client and the first's address.
        assert_eq!(
            client(&p, "10.0.0.5", "198.51.100.9, 10.1.1.1").as_deref(),
            Some("198.51.100.9")
        );
        // An internal client through the balancer.
        assert_eq!(
            client(&p, "172.16.0.10", "172.16.30.5").as_deref(),
            Some("172.16.30.5")
        );
        // A cloud web proxy's egress is the client; what it says of its own user is not.
        assert_eq!(
            client(&p, "172.16.0.11", "10.9.8.7, 165.225.1.1").as_deref(),
            Some("165.225.1.1")
        );
        // The walk stops at an entry that is not an address.
        assert_eq!(client(&p, "172.16.0.10", "198.51.100.9, unknown"), None);
        assert_eq!(
            client(&p, "172.16.0.10", "unknown, 198.51.100.9").as_deref(),
            Some("198.51.100.9")
        );
    }

    #[test]
    fn declared_proxies_are_skipped_even_when_public() {
        let cdn = Cidr::parse("192.0.2.0/24").expect("cidr");
        let p = TrustedProxies::new(vec![cdn]);
        assert_eq!(
            client(&p, "192.0.2.10", "203.0.113.5").as_deref(),
            Some("203.0.113.5")
        );
        assert_eq!(
            client(&p, "172.16.0.10", "203.0.113.5, 192.0.2.10").as_deref(),
            Some("203.0.113.5")
        );
        // A range may hold clients that connect directly.
        assert_eq!(client(&p, "192.0.2.10", "").as_deref(), Some("192.0.2.10"));
        // An address declared by itself is never the client: without the header, unknown.
        let p = TrustedProxies::new(vec![Cidr::parse("10.0.0.5").expect("one")]);
        assert_eq!(client(&p, "10.0.0.5", ""), None);
        assert_eq!(client(&p, "10.0.0.6", "").as_deref(), Some("10.0.0.6"));
    }

    #[test]
    fn request_clients_join_by_guid() {
        let mut rc = RequestClients::default();
        rc.insert(1, ip("203.0.113.77"), 1_000);
        rc.insert(2, ip("198.51.100.9"), 1_000);
        rc.insert(3, ip("203.0.113.77"), 1_000);
        rc.insert(4, ip("192.0.2.1"), 1_000);
        rc.insert(4, ip("192.0.2.2"), 1_500);
        rc.insert(5, ip("192.0.2.3"), 1_000);
        rc.insert(5, ip("192.0.2.3"), 9_000);
        // A later request repeating a GUID (forged) does not take it over, in any order.
        rc.insert(6, ip("192.0.2.66"), 60_000);
        rc.insert(6, ip("203.0.113.50"), 2_000);
        rc.finish();
        assert_eq!(rc.get(1), Some(ip("203.0.113.77")));
        assert_eq!(rc.get(3), Some(ip("203.0.113.77")));
        assert_eq!(rc.get(2), Some(ip("198.51.100.9")));
        assert_eq!(
            rc.get(4),
            None,
            "conflicting clients in one second are not guessed"
        );
        assert_eq!(rc.get(5), Some(ip("192.0.2.3")));
        assert_eq!(rc.get(6), Some(ip("203.0.113.50")));
        assert_eq!(rc.get(9), None);
    }
}
