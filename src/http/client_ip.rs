//! The client's address, for login throttling and the audit log.
//!
//! `X-Forwarded-For` is anybody's to write, so it is believed only when the TCP peer is a
//! reverse proxy named in `trusted_proxies`, and then only back to the first hop that is not a
//! trusted proxy: `client, proxy1, proxy2` seen from proxy2 yields `client` if proxy1 is trusted
//! too, else `proxy1`. Nothing is trusted by default. `X-Forwarded-Proto` and `-Host` are never
//! read: the issuer (and with it every URL we emit) comes from the configuration.

use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::HeaderMap;
use axum::http::request::Parts;

use crate::state::AppState;

/// One trusted block: an address and a prefix length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Block {
    net: IpAddr,
    prefix: u8,
}

impl Block {
    fn contains(&self, ip: IpAddr) -> bool {
        match (self.net, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                prefix_match(&net.octets(), &ip.octets(), self.prefix)
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                prefix_match(&net.octets(), &ip.octets(), self.prefix)
            }
            _ => false,
        }
    }
}

fn prefix_match(net: &[u8], ip: &[u8], prefix: u8) -> bool {
    let full = usize::from(prefix / 8);
    let rest = prefix % 8;
    if net[..full] != ip[..full] {
        return false;
    }
    if rest == 0 {
        return true;
    }
    let mask = 0xffu8 << (8 - rest);
    (net[full] & mask) == (ip[full] & mask)
}

/// The reverse proxies whose `X-Forwarded-For` is believed.
#[derive(Debug, Clone, Default)]
pub struct TrustedProxies(Vec<Block>);

impl TrustedProxies {
    /// Parses `10.0.0.0/8, 127.0.0.1, ::1` (empty: none).
    pub fn parse(list: &str) -> anyhow::Result<Self> {
        let mut blocks = Vec::new();
        for item in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let (addr, prefix) = match item.split_once('/') {
                Some((a, p)) => (a, Some(p)),
                None => (item, None),
            };
            let net: IpAddr = addr
                .parse()
                .map_err(|_| anyhow::anyhow!("{item:?} is not an IP address or CIDR block"))?;
            let net = net.to_canonical();
            let max = if net.is_ipv4() { 32 } else { 128 };
            let prefix = match prefix {
                None => max,
                Some(p) => p
                    .parse::<u8>()
                    .ok()
                    .filter(|p| *p <= max)
                    .ok_or_else(|| anyhow::anyhow!("{item:?} has an invalid prefix length"))?,
            };
            blocks.push(Block { net, prefix });
        }
        Ok(Self(blocks))
    }

    /// Whether `ip` is a trusted proxy.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        self.0.iter().any(|b| b.contains(ip))
    }

    /// The client behind `peer`: the peer itself unless it is a trusted proxy, else the
    /// nearest untrusted hop of `X-Forwarded-For` (a malformed hop ends the walk at the last
    /// good one: a proxy we trust vouches only for what it appended).
    pub fn client(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        let mut client = peer.to_canonical();
        if !self.contains(client) {
            return client;
        }
        let hops: Vec<&str> = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .collect();
        for hop in hops.iter().rev() {
            let Some(ip) = parse_hop(hop.trim()) else {
                break;
            };
            client = ip;
            if !self.contains(ip) {
                break;
            }
        }
        client
    }
}

/// `1.2.3.4`, `1.2.3.4:80`, `2001:db8::1` or `[2001:db8::1]:80`.
fn parse_hop(hop: &str) -> Option<IpAddr> {
    hop.parse::<IpAddr>()
        .ok()
        .or_else(|| hop.parse::<SocketAddr>().ok().map(|s| s.ip()))
        .map(|ip| ip.to_canonical())
}

/// The client's address of a request, as text (None without a TCP peer, e.g. in unit tests).
pub fn of(
    app: &AppState,
    parts_ext: &axum::http::Extensions,
    headers: &HeaderMap,
) -> Option<String> {
    let peer = parts_ext.get::<ConnectInfo<SocketAddr>>()?.0.ip();
    Some(app.trusted_proxies.client(peer, headers).to_string())
}

/// Extractor of the client's address (see the module documentation).
pub struct ClientIp(pub Option<String>);

impl FromRequestParts<AppState> for ClientIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        app: &AppState,
    ) -> Result<Self, Self::Rejection> {
        Ok(ClientIp(of(app, &parts.extensions, &parts.headers)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("ip")
    }

    fn xff(values: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in values {
            h.append("x-forwarded-for", v.parse().expect("header"));
        }
        h
    }

    #[test]
    fn parses_addresses_and_blocks() {
        let t = TrustedProxies::parse(" 10.0.0.0/8, 127.0.0.1 ,::1, 2001:db8::/32").expect("ok");
        assert!(t.contains(ip("10.200.3.4")));
        assert!(t.contains(ip("127.0.0.1")));
        assert!(
            t.contains(ip("::ffff:127.0.0.1")),
            "IPv4-mapped peers count as IPv4"
        );
        assert!(!t.contains(ip("127.0.0.2")));
        assert!(t.contains(ip("::1")));
        assert!(t.contains(ip("2001:db8:ffff::1")));
        assert!(!t.contains(ip("2001:db9::1")));
        assert!(!t.contains(ip("11.0.0.1")));
        let odd = TrustedProxies::parse("192.168.1.0/23").expect("ok");
        assert!(odd.contains(ip("192.168.0.9")) && !odd.contains(ip("192.168.2.1")));
        for bad in ["10.0.0.0/33", "host.example", "10.0.0.0/x", "::/129"] {
            assert!(TrustedProxies::parse(bad).is_err(), "{bad}");
        }
        assert!(TrustedProxies::parse("").expect("empty").0.is_empty());
    }

    #[test]
    fn forwarded_for_is_ignored_unless_the_peer_is_trusted() {
        let none = TrustedProxies::default();
        let h = xff(&["203.0.113.9"]);
        assert_eq!(none.client(ip("127.0.0.1"), &h), ip("127.0.0.1"));
        let t = TrustedProxies::parse("127.0.0.1, 10.0.0.0/8").expect("ok");
        assert_eq!(
            t.client(ip("192.0.2.1"), &h),
            ip("192.0.2.1"),
            "untrusted peer"
        );
        assert_eq!(t.client(ip("127.0.0.1"), &h), ip("203.0.113.9"));
    }

    #[test]
    fn the_walk_stops_at_the_first_untrusted_hop() {
        let t = TrustedProxies::parse("127.0.0.1, 10.0.0.0/8").expect("ok");
        // A client forging a leading hop does not get to choose its address.
        let h = xff(&["1.1.1.1, 198.51.100.7, 10.1.1.1"]);
        assert_eq!(t.client(ip("127.0.0.1"), &h), ip("198.51.100.7"));
        // Several header lines are one list, in order.
        let h = xff(&["1.1.1.1", "198.51.100.7:4444", "10.1.1.1"]);
        assert_eq!(t.client(ip("127.0.0.1"), &h), ip("198.51.100.7"));
        // Garbage ends the walk at the last good hop.
        let h = xff(&["198.51.100.7, junk, 10.1.1.1"]);
        assert_eq!(t.client(ip("127.0.0.1"), &h), ip("10.1.1.1"));
        // Every hop trusted: the leftmost.
        let h = xff(&["10.9.9.9, 10.1.1.1"]);
        assert_eq!(t.client(ip("127.0.0.1"), &h), ip("10.9.9.9"));
        // No header: the proxy itself.
        assert_eq!(
            t.client(ip("127.0.0.1"), &HeaderMap::new()),
            ip("127.0.0.1")
        );
        let h = xff(&["[2001:db8::5]:80"]);
        assert_eq!(t.client(ip("::ffff:127.0.0.1"), &h), ip("2001:db8::5"));
    }
}
