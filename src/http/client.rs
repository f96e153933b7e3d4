//! Who is on the other end: the client's address, for the caller rate limit and the logs.
//!
//! A request's address is its TCP peer's, unless the peer is one of `TRUSTED_PROXIES`: then it
//! is read from the forwarding header the operator named (`TRUSTED_PROXY_HEADER`), walking its
//! hops from the right (the nearest) past every trusted proxy to the first that is not. Each
//! proxy appends the address it saw, so that hop was written by a proxy we trust; everything to
//! its left came from the client and proves nothing. A header from an untrusted peer is ignored,
//! and only the one named header is read: a proxy that appends to `X-Forwarded-For` passes a
//! client's own `Forwarded` through untouched.

use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, Request};
use axum::http::HeaderMap;
use ipnet::IpNet;

/// The client's address, as [`resolve_client`] decided it (a request extension).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientAddr(pub IpAddr);

/// The header trusted proxies record the client in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum ForwardedHeader {
    /// `X-Forwarded-For: client, proxy1` (haproxy's `option forwardfor`, nginx, most ingresses).
    #[default]
    #[value(name = "x-forwarded-for")]
    XForwardedFor,
    /// RFC 7239's `Forwarded: for=client, for=proxy1`.
    #[value(name = "forwarded")]
    Forwarded,
}

/// The proxies whose forwarding headers are believed.
#[derive(Debug, Clone, Default)]
pub struct TrustedProxies {
    pub networks: Vec<IpNet>,
    pub header: ForwardedHeader,
}

impl TrustedProxies {
    fn trusts(&self, addr: IpAddr) -> bool {
        let addr = canonical(addr);
        self.networks.iter().any(|network| network.contains(&addr))
    }

    /// The client behind `peer`, given the request's `headers`.
    pub fn client(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        let peer = canonical(peer);
        if !self.trusts(peer) {
            return peer;
        }
        let hops: Vec<Option<IpAddr>> = match self.header {
            ForwardedHeader::XForwardedFor => {
                let values = headers.get_all("x-forwarded-for").iter().filter_map(|v| v.to_str().ok());
                values.flat_map(|v| v.split(',')).map(|hop| node(hop.trim())).collect()
            }
            ForwardedHeader::Forwarded => {
                let values = headers.get_all("forwarded").iter().filter_map(|v| v.to_str().ok());
                values.flat_map(elements).map(|element| forwarded_for(&element)).collect()
            }
        };
        let mut client = peer;
        for hop in hops.into_iter().rev() {
            match hop.map(canonical) {
                Some(addr) if self.trusts(addr) => client = addr,
                Some(addr) => return addr,
                // `unknown`, an obfuscated name or garbage where a proxy's record should be: the
                // nearest address we can vouch for stands in.
                None => return client,
            }
        }
        client
    }
}

/// Sets [`ClientAddr`] on a request that came in over TCP (not one driven in-process).
pub fn resolve_client(proxies: &TrustedProxies, request: &mut Request) {
    if let Some(ConnectInfo(peer)) = request.extensions().get::<ConnectInfo<SocketAddr>>() {
        let client = proxies.client(peer.ip(), request.headers());
        request.extensions_mut().insert(ClientAddr(client));
    }
}

/// An IPv4 client reaching a dual-stack listener arrives as `::ffff:a.b.c.d`.
fn canonical(addr: IpAddr) -> IpAddr {
    match addr {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(addr, IpAddr::V4),
        v4 => v4,
    }
}

/// An address as proxies write it: bare, with a port, or bracketed IPv6 with or without one.
fn node(text: &str) -> Option<IpAddr> {
    let text = text.trim();
    if let Ok(addr) = text.parse::<IpAddr>() {
        return Some(addr);
    }
    if let Ok(addr) = text.parse::<SocketAddr>() {
        return Some(addr.ip());
    }
    text.strip_prefix('[').and_then(|rest| rest.strip_suffix(']')).and_then(|inner| inner.parse().ok())
}

/// The comma-separated elements of one `Forwarded` value, commas inside quotes kept.
fn elements(value: &str) -> Vec<String> {
    let (mut elements, mut current, mut quoted) = (Vec::new(), String::new(), false);
    for c in value.chars() {
        match c {
            '"' => {
                quoted = !quoted;
                current.push(c);
            }
            ',' if !quoted => elements.push(std::mem::take(&mut current)),
            _ => current.push(c),
        }
    }
    elements.push(current);
    elements
}

/// The `for=` node of one `Forwarded` element (RFC 7239 §4, §6), if it is an address.
fn forwarded_for(element: &str) -> Option<IpAddr> {
    element.split(';').find_map(|pair| {
        let (name, value) = pair.split_once('=')?;
        if !name.trim().eq_ignore_ascii_case("for") {
            return None;
        }
        let value = value.trim();
        let value = value.strip_prefix('"').and_then(|v| v.strip_suffix('"')).unwrap_or(value);
        Some(node(value))
    })?
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn proxies(networks: &[&str], header: ForwardedHeader) -> TrustedProxies {
        TrustedProxies { networks: networks.iter().map(|n| n.parse().unwrap()).collect(), header }
    }

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for (name, value) in pairs {
            headers.append(*name, HeaderValue::from_static(value));
        }
        headers
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn an_untrusted_peer_is_the_client_whatever_it_claims() {
        let trusted = proxies(&["10.0.0.0/8"], ForwardedHeader::XForwardedFor);
        let spoofed = headers(&[("x-forwarded-for", "1.2.3.4"), ("forwarded", "for=1.2.3.4")]);
        assert_eq!(trusted.client(ip("203.0.113.9"), &spoofed), ip("203.0.113.9"));
        let nobody = TrustedProxies::default();
        assert_eq!(nobody.client(ip("10.0.0.1"), &spoofed), ip("10.0.0.1"));
    }

    #[test]
    fn the_right_most_untrusted_hop_is_the_client() {
        let trusted = proxies(&["10.0.0.0/8", "192.168.1.1/32"], ForwardedHeader::XForwardedFor);
        // The client claimed 1.2.3.4; the edge proxy saw 198.51.100.7; an inner proxy 10.1.1.1.
        let chain = headers(&[("x-forwarded-for", "1.2.3.4, 198.51.100.7"), ("x-forwarded-for", "10.1.1.1")]);
        assert_eq!(trusted.client(ip("192.168.1.1"), &chain), ip("198.51.100.7"));
        // With a port, and bracketed IPv6 (some proxies write them).
        let ported = headers(&[("x-forwarded-for", "198.51.100.7:4711, [2001:db8::1]:80")]);
        assert_eq!(trusted.client(ip("10.0.0.2"), &ported), ip("2001:db8::1"));
    }

    #[test]
    fn a_chain_of_trusted_hops_only_ends_at_its_left_most_one() {
        let trusted = proxies(&["10.0.0.0/8"], ForwardedHeader::XForwardedFor);
        assert_eq!(
            trusted.client(ip("10.0.0.2"), &headers(&[("x-forwarded-for", "10.9.9.9, 10.1.1.1")])),
            ip("10.9.9.9")
        );
        assert_eq!(trusted.client(ip("10.0.0.2"), &headers(&[])), ip("10.0.0.2"));
    }

    #[test]
    fn an_unreadable_hop_leaves_the_nearest_trusted_address() {
        let trusted = proxies(&["10.0.0.0/8"], ForwardedHeader::XForwardedFor);
        let garbage = headers(&[("x-forwarded-for", "1.2.3.4, unknown, 10.1.1.1")]);
        assert_eq!(trusted.client(ip("10.0.0.2"), &garbage), ip("10.1.1.1"));
    }

    #[test]
    fn forwarded_is_read_as_rfc_7239_writes_it_and_only_when_named() {
        let trusted = proxies(&["10.0.0.0/8"], ForwardedHeader::Forwarded);
        let value = headers(&[(
            "forwarded",
            "for=1.2.3.4, For=\"[2001:db8:cafe::17]:4711\";proto=https;by=10.0.0.2, for=10.1.1.1;host=\"a,b\"",
        )]);
        assert_eq!(trusted.client(ip("10.0.0.2"), &value), ip("2001:db8:cafe::17"));
        let obfuscated = headers(&[("forwarded", "for=1.2.3.4, for=_hidden, for=\"10.1.1.1:80\"")]);
        assert_eq!(trusted.client(ip("10.0.0.2"), &obfuscated), ip("10.1.1.1"));
        // Trusting X-Forwarded-For, a client's own `Forwarded` passes through unread.
        let xff = proxies(&["10.0.0.0/8"], ForwardedHeader::XForwardedFor);
        let both = headers(&[("forwarded", "for=1.2.3.4"), ("x-forwarded-for", "198.51.100.7")]);
        assert_eq!(xff.client(ip("10.0.0.2"), &both), ip("198.51.100.7"));
    }

    #[test]
    fn ipv4_mapped_peers_match_ipv4_networks() {
        let trusted = proxies(&["10.0.0.0/8"], ForwardedHeader::XForwardedFor);
        let chain = headers(&[("x-forwarded-for", "198.51.100.7")]);
        assert_eq!(trusted.client(ip("::ffff:10.0.0.2"), &chain), ip("198.51.100.7"));
        assert_eq!(trusted.client(ip("::ffff:203.0.113.9"), &chain), ip("203.0.113.9"));
    }
}
