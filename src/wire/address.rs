//! The address a listener tells clients to connect to, when it is bound to every
//! interface (0.0.0.0 or ::): the unspecified address is no place to connect to, and a
//! client told it connects to itself (or fails).

use std::net::{IpAddr, Ipv4Addr};

/// This machine's first non-loopback IPv4 address that is up, else its first IPv6 one
/// (not link-local), else 127.0.0.1: what a client elsewhere can reach when the listener
/// is bound to every interface.
pub fn reachable_address() -> IpAddr {
    let mut v4 = None;
    let mut v6 = None;
    let mut list: *mut libc::ifaddrs = std::ptr::null_mut();
    // SAFETY: getifaddrs fills `list` with a linked list we own until freeifaddrs.
    if unsafe { libc::getifaddrs(&mut list) } != 0 {
        return IpAddr::V4(Ipv4Addr::LOCALHOST);
    }
    let mut at = list;
    while !at.is_null() {
        // SAFETY: `at` is a node of the list getifaddrs returned, not yet freed.
        let ifa = unsafe { &*at };
        at = ifa.ifa_next;
        let up = ifa.ifa_flags & (libc::IFF_UP as u32) != 0 && ifa.ifa_flags & (libc::IFF_LOOPBACK as u32) == 0;
        if !up || ifa.ifa_addr.is_null() {
            continue;
        }
        // SAFETY: ifa_addr points at a sockaddr whose family says which kind it is.
        let family = i32::from(unsafe { (*ifa.ifa_addr).sa_family });
        if family == libc::AF_INET && v4.is_none() {
            // SAFETY: an AF_INET address is a sockaddr_in.
            let sin = unsafe { &*(ifa.ifa_addr as *const libc::sockaddr_in) };
            v4 = Some(IpAddr::V4(Ipv4Addr::from(u32::from_be(sin.sin_addr.s_addr))));
        } else if family == libc::AF_INET6 && v6.is_none() {
            // SAFETY: an AF_INET6 address is a sockaddr_in6.
            let sin6 = unsafe { &*(ifa.ifa_addr as *const libc::sockaddr_in6) };
            let ip = std::net::Ipv6Addr::from(sin6.sin6_addr.s6_addr);
            if ip.segments()[0] & 0xffc0 != 0xfe80 {
                v6 = Some(IpAddr::V6(ip));
            }
        }
    }
    // SAFETY: the list came from getifaddrs and is freed once.
    unsafe { libc::freeifaddrs(list) };
    v4.or(v6).unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST))
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_reachable_address_is_never_the_unspecified_one() {
        assert!(!super::reachable_address().is_unspecified());
    }
}
