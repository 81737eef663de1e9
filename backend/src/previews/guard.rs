//! Which addresses a link preview may connect to: public unicast addresses on ports 80 and
//! 443, nothing else (server-side request forgery defence, docs/SECURITY.md). Pure functions,
//! tested here address by address.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// Why `ip` is no place for a preview to go, if it is not: the class of address.
pub fn forbidden(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => forbidden_v4(v4),
        IpAddr::V6(v6) => forbidden_v6(v6),
    }
}

fn forbidden_v4(ip: Ipv4Addr) -> Option<&'static str> {
    let [a, b, c, _] = ip.octets();
    Some(match (a, b, c) {
        _ if ip == Ipv4Addr::new(169, 254, 169, 254) => "cloud metadata",
        (0, ..) => "unspecified (this network)",
        (127, ..) => "loopback",
        (10, ..) | (172, 16..=31, _) | (192, 168, _) => "private",
        (100, 64..=127, _) => "shared address space (CGNAT)",
        (169, 254, _) => "link-local",
        (192, 0, 0) => "IETF protocol assignments",
        (192, 0, 2) | (198, 51, 100) | (203, 0, 113) => "documentation",
        (192, 88, 99) => "6to4 relay anycast",
        (192, 31, 196) | (192, 52, 193) | (192, 175, 48) => "IETF special purpose",
        (198, 18..=19, _) => "benchmarking",
        (224..=239, ..) => "multicast",
        (240..=255, ..) => "reserved or broadcast",
        _ => return None,
    })
}

fn forbidden_v6(ip: Ipv6Addr) -> Option<&'static str> {
    let segments = ip.segments();
    // Addresses that carry an IPv4 address reach it: judged by it.
    if let Some(v4) = ip.to_ipv4_mapped() {
        return forbidden_v4(v4);
    }
    let embedded = |high: u32| Ipv4Addr::from(high);
    Some(match segments {
        _ if ip == Ipv6Addr::new(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x254) => "cloud metadata",
        _ if ip.is_unspecified() => "unspecified",
        _ if ip.is_loopback() => "loopback",
        // ::a.b.c.d, the deprecated IPv4-compatible form.
        [0, 0, 0, 0, 0, 0, ..] => "IPv4-compatible",
        // ::ffff:0:a.b.c.d, IPv4-translated (SIIT): reaches the IPv4 inside.
        [0, 0, 0, 0, 0xffff, 0, high, low] => {
            return forbidden_v4(embedded(u32::from(high) << 16 | u32::from(low)));
        }
        // NAT64 (64:ff9b::/96 and the local-use 64:ff9b:1::/48) reaches the IPv4 inside.
        [0x64, 0xff9b, 0, 0, 0, 0, high, low] => {
            return forbidden_v4(embedded(u32::from(high) << 16 | u32::from(low)));
        }
        [0x64, 0xff9b, 1, ..] => "NAT64 local use",
        [0x100, 0, 0, 0, ..] => "discard",
        // 6to4 (2002::/16) reaches the IPv4 address in its next 32 bits.
        [0x2002, high, low, ..] => {
            return forbidden_v4(embedded(u32::from(high) << 16 | u32::from(low)));
        }
        // Teredo tunnels reach addresses we cannot judge.
        [0x2001, 0, ..] => "Teredo",
        [0x2001, 0x2, 0, ..] => "benchmarking",
        [0x2001, 0x10..=0x2f, ..] => "ORCHID",
        [0x2001, 0xdb8, ..] => "documentation",
        // The rest of 2001::/23: IETF protocol assignments, none a web site.
        [0x2001, 0..=0x1ff, ..] => "IETF protocol assignments",
        [0x3fff, 0..=0x0fff, ..] => "documentation",
        [first, ..] if first & 0xfe00 == 0xfc00 => "unique local (private)",
        [first, ..] if first & 0xffc0 == 0xfe80 => "link-local",
        [first, ..] if first & 0xffc0 == 0xfec0 => "site-local",
        [first, ..] if first & 0xff00 == 0xff00 => "multicast",
        _ => return None,
    })
}

/// Whether `ip` is a loopback address (IPv4 127/8, `::1`, or IPv4-mapped loopback).
fn is_loopback(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_loopback(),
        IpAddr::V6(v6) => {
            v6.is_loopback() || v6.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
        }
    }
}

/// Whether a preview may connect to `addr`: a public address on port 80 or 443; or, with
/// the test-only `--link-previews-allow-loopback PORT`, a loopback address on exactly `PORT`.
/// The refusal says why.
pub fn check(addr: SocketAddr, allow_loopback_port: Option<u16>) -> Result<(), String> {
    let ip = addr.ip();
    if is_loopback(ip) && allow_loopback_port == Some(addr.port()) {
        return Ok(());
    }
    if let Some(class) = forbidden(ip) {
        return Err(format!("{ip} is {class}"));
    }
    if !matches!(addr.port(), 80 | 443) {
        return Err(format!("port {} (only 80 and 443)", addr.port()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(ip: &str, port: u16) -> SocketAddr {
        SocketAddr::new(ip.parse().expect("an address"), port)
    }

    #[test]
    fn only_public_unicast_addresses_are_fetched() {
        let refused = [
            "127.0.0.1",
            "127.255.0.9",
            "0.0.0.0",
            "0.1.2.3",
            "10.0.0.1",
            "172.16.0.1",
            "172.31.255.254",
            "192.168.1.1",
            "100.64.0.1",
            "100.127.255.255",
            "169.254.169.254",
            "169.254.0.1",
            "192.0.0.8",
            "192.0.2.1",
            "198.51.100.7",
            "203.0.113.9",
            "198.18.0.1",
            "224.0.0.1",
            "239.255.255.250",
            "240.0.0.1",
            "255.255.255.255",
            "::",
            "::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "::ffff:169.254.169.254",
            "::127.0.0.1",
            "64:ff9b::10.0.0.1",
            "64:ff9b::127.0.0.1",
            "64:ff9b:1::1",
            "2002:0a00:0001::1",
            "2002:7f00:0001::1",
            "2001:0::1",
            "2001:db8::1",
            "2001:1::1",
            "2001:4:112::1",
            "::ffff:0:7f00:1",
            "::ffff:0:a00:1",
            "192.31.196.1",
            "3fff::1",
            "fc00::1",
            "fd00:ec2::254",
            "fd12:3456::1",
            "fe80::1",
            "fec0::1",
            "ff02::1",
            "100::1",
        ];
        for ip in refused {
            assert!(check(at(ip, 443), None).is_err(), "{ip} must be refused");
        }
        let allowed = [
            "93.184.215.14",
            "1.1.1.1",
            "172.15.255.255",
            "172.32.0.1",
            "100.63.255.255",
            "100.128.0.1",
            "192.169.0.1",
            "2606:4700::1111",
            "::ffff:93.184.215.14",
            "64:ff9b::93.184.215.14",
            "2002:5db8:d70e::1",
            "::ffff:0:5db8:d70e",
        ];
        for ip in allowed {
            assert_eq!(check(at(ip, 443), None), Ok(()), "{ip} must be allowed");
            assert_eq!(check(at(ip, 80), None), Ok(()), "{ip} must be allowed");
        }
    }

    #[test]
    fn only_ports_80_and_443() {
        assert!(check(at("93.184.215.14", 8080), None).is_err());
        assert!(check(at("93.184.215.14", 22), None).is_err());
        assert!(check(at("93.184.215.14", 6379), None).is_err());
    }

    #[test]
    fn the_test_flag_opens_loopback_on_its_one_port_only() {
        let port = Some(40_123);
        assert_eq!(check(at("127.0.0.1", 40_123), port), Ok(()));
        assert_eq!(check(at("::1", 40_123), port), Ok(()));
        assert!(check(at("127.0.0.1", 40_124), port).is_err());
        assert!(check(at("127.0.0.1", 80), port).is_err());
        assert!(check(at("10.0.0.1", 40_123), port).is_err());
        assert!(check(at("169.254.169.254", 40_123), port).is_err());
        assert!(check(at("127.0.0.1", 40_123), None).is_err());
    }
}
