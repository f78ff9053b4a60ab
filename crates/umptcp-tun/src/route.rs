//! Which path a connection to a destination leaves by.
//!
//! A host behind a TUN device reaches the whole routed network through it:
//! the kernel on the other side forwards what the stack writes. So every
//! destination needs a path, not only those on a path's own subnet. The
//! table holds, longest prefix first:
//!
//! - the explicit routes of [`StackConfig::routes`](crate::StackConfig),
//! - each path's own subnet (`addr/prefix`), and
//! - a default route per address family: the first path of that family,
//!   unless an explicit `0.0.0.0/0` or `::/0` names another.
//!
//! On equal prefix lengths an explicit route wins over a subnet, and
//! among subnets the first path wins. The table chooses only the path of a
//! connection's first subflow; a later subflow is bound to a local address
//! and leaves by that address's path (source-address routing, as the
//! kernel's policy routing does for MPTCP subflows).

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use crate::config::PathConfig;

/// An IP prefix: an address and how many leading bits of it count.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Prefix {
    addr: IpAddr,
    len: u8,
}

impl Prefix {
    /// The prefix `addr/len`; bits of `addr` past `len` are cleared.
    ///
    /// # Errors
    ///
    /// When `len` exceeds the family's address length (32 or 128).
    pub fn new(addr: IpAddr, len: u8) -> Result<Prefix, String> {
        let max = if addr.is_ipv4() { 32 } else { 128 };
        if len > max {
            return Err(format!("prefix length /{len} is longer than {max} bits"));
        }
        Ok(Prefix {
            addr: masked(addr, len),
            len,
        })
    }

    /// The default route of `addr`'s family (`0.0.0.0/0` or `::/0`).
    pub fn default_of(addr: IpAddr) -> Prefix {
        Prefix {
            addr: masked(addr, 0),
            len: 0,
        }
    }

    /// The network address.
    pub fn addr(&self) -> IpAddr {
        self.addr
    }

    /// The prefix length in bits.
    pub fn bits(&self) -> u8 {
        self.len
    }

    /// Whether this is a default route (length 0).
    pub fn is_default(&self) -> bool {
        self.len == 0
    }

    /// Whether `dst` lies inside the prefix (never across families).
    pub fn contains(&self, dst: IpAddr) -> bool {
        dst.is_ipv4() == self.addr.is_ipv4() && masked(dst, self.len) == self.addr
    }
}

impl fmt::Display for Prefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.len)
    }
}

impl FromStr for Prefix {
    type Err = String;

    /// `ADDR/LEN`, or a bare address (a host route: /32 or /128).
    fn from_str(s: &str) -> Result<Prefix, String> {
        let (addr, len) = match s.split_once('/') {
            Some((a, l)) => (a, Some(l)),
            None => (s, None),
        };
        let addr: IpAddr = addr
            .parse()
            .map_err(|_| format!("{addr:?} is not an IPv4 or IPv6 address"))?;
        let len = match len {
            Some(l) => l
                .parse()
                .map_err(|_| format!("{l:?} is not a prefix length"))?,
            None if addr.is_ipv4() => 32,
            None => 128,
        };
        Prefix::new(addr, len)
    }
}

fn masked(addr: IpAddr, len: u8) -> IpAddr {
    match addr {
        IpAddr::V4(a) => {
            let mask = u32::MAX
                .checked_shl(32 - u32::from(len.min(32)))
                .unwrap_or(0);
            IpAddr::V4((u32::from(a) & mask).into())
        }
        IpAddr::V6(a) => {
            let mask = u128::MAX
                .checked_shl(128 - u32::from(len.min(128)))
                .unwrap_or(0);
            IpAddr::V6((u128::from(a) & mask).into())
        }
    }
}

/// An explicit route: destinations inside `prefix` leave through the path
/// of `device`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Route {
    /// The destinations this route covers.
    pub prefix: Prefix,
    /// The TUN device (one of the paths) they leave through.
    pub device: String,
}

impl Route {
    /// A route to `prefix` through `device`.
    pub fn new(prefix: Prefix, device: impl Into<String>) -> Route {
        Route {
            prefix,
            device: device.into(),
        }
    }
}

impl fmt::Display for Route {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}={}", self.prefix, self.device)
    }
}

impl FromStr for Route {
    type Err = String;

    /// `CIDR=DEV`, e.g. `10.0.0.0/8=tun1`, `::/0=tun0`.
    fn from_str(s: &str) -> Result<Route, String> {
        let (prefix, device) = s
            .split_once('=')
            .ok_or_else(|| format!("{s:?} is not CIDR=DEV (e.g. 10.0.0.0/8=tun1)"))?;
        if device.is_empty() {
            return Err(format!("{s:?} names no device after '='"));
        }
        Ok(Route::new(prefix.parse()?, device))
    }
}

/// Where a route lookup came from, for messages and tests.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RouteKind {
    /// An explicit route of the configuration.
    Explicit,
    /// The subnet of a path's address.
    Subnet,
    /// The implicit default route of a family: its first path.
    Default,
}

#[derive(Clone, Debug)]
struct Entry {
    prefix: Prefix,
    path: usize,
    kind: RouteKind,
}

/// The stack's route table: destination to path index (see the module
/// documentation for the rules).
#[derive(Clone, Debug)]
pub struct RouteTable {
    /// Longest prefix first; on equal lengths explicit before subnet before
    /// default, then in configuration order.
    entries: Vec<Entry>,
}

impl RouteTable {
    /// The table of `paths` with the explicit `routes`.
    ///
    /// # Errors
    ///
    /// A route naming a device that is no path, or a path whose address is
    /// of the other family (it would have no source address to send from).
    pub fn new(paths: &[PathConfig], routes: &[Route]) -> Result<RouteTable, String> {
        let mut entries = Vec::new();
        for route in routes {
            let Some(path) = paths.iter().position(|p| p.device == route.device) else {
                return Err(format!(
                    "route {route}: {} is not one of the paths' devices",
                    route.device
                ));
            };
            if paths[path].addr.is_ipv4() != route.prefix.addr().is_ipv4() {
                return Err(format!(
                    "route {route}: the path of {} has the address {}, of the other family",
                    route.device, paths[path].addr
                ));
            }
            entries.push(Entry {
                prefix: route.prefix,
                path,
                kind: RouteKind::Explicit,
            });
        }
        for (path, p) in paths.iter().enumerate() {
            let prefix = Prefix::new(
                p.addr,
                p.prefix.min(if p.addr.is_ipv4() { 32 } else { 128 }),
            )?;
            entries.push(Entry {
                prefix,
                path,
                kind: RouteKind::Subnet,
            });
        }
        for v4 in [true, false] {
            let explicit_default = routes
                .iter()
                .any(|r| r.prefix.is_default() && r.prefix.addr().is_ipv4() == v4);
            let first = paths.iter().position(|p| p.addr.is_ipv4() == v4);
            if let (false, Some(path)) = (explicit_default, first) {
                entries.push(Entry {
                    prefix: Prefix::default_of(paths[path].addr),
                    path,
                    kind: RouteKind::Default,
                });
            }
        }
        // Stable: configuration order survives among equals.
        entries.sort_by_key(|e| (std::cmp::Reverse(e.prefix.bits()), e.kind as u8));
        Ok(RouteTable { entries })
    }

    /// The path that reaches `dst`, or `None` when no path has an address
    /// of its family.
    pub fn lookup(&self, dst: IpAddr) -> Option<usize> {
        self.lookup_with_kind(dst).map(|(path, _)| path)
    }

    /// [`RouteTable::lookup`], with which kind of route matched.
    pub fn lookup_with_kind(&self, dst: IpAddr) -> Option<(usize, RouteKind)> {
        self.entries
            .iter()
            .find(|e| e.prefix.contains(dst))
            .map(|e| (e.path, e.kind))
    }

    /// Why `dst` is unreachable, as one line (for when `lookup` is `None`).
    pub fn unreachable(dst: IpAddr) -> String {
        let family = if dst.is_ipv4() { "IPv4" } else { "IPv6" };
        format!("no route to {dst}: no path has an {family} address")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path(dev: &str, addr: &str, prefix: u8) -> PathConfig {
        let mut p = PathConfig::new(dev, addr.parse().unwrap());
        p.prefix = prefix;
        p
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn prefixes_parse_mask_and_contain() {
        let p: Prefix = "10.1.2.3/16".parse().unwrap();
        assert_eq!(p.to_string(), "10.1.0.0/16");
        assert!(p.contains(ip("10.1.200.7")));
        assert!(!p.contains(ip("10.2.0.1")));
        assert!(!p.contains(ip("::a01:203")), "never across families");
        let host: Prefix = "fd00::1".parse().unwrap();
        assert_eq!(host.bits(), 128);
        assert!(host.contains(ip("fd00::1")) && !host.contains(ip("fd00::2")));
        let any: Prefix = "::/0".parse().unwrap();
        assert!(any.is_default() && any.contains(ip("2001:db8::1")));
        assert!(!any.contains(ip("10.0.0.1")));
        assert!("10.0.0.0/33".parse::<Prefix>().is_err());
        assert!("fd00::/129".parse::<Prefix>().is_err());
        assert!("nonsense/8".parse::<Prefix>().is_err());
        assert!("10.0.0.0/x".parse::<Prefix>().is_err());
    }

    #[test]
    fn routes_parse() {
        let r: Route = "10.0.0.0/8=tun1".parse().unwrap();
        assert_eq!(r.device, "tun1");
        assert_eq!(r.to_string(), "10.0.0.0/8=tun1");
        assert!("10.0.0.0/8".parse::<Route>().is_err());
        assert!("10.0.0.0/8=".parse::<Route>().is_err());
    }

    #[test]
    fn any_destination_of_a_family_has_a_route() {
        let paths = [path("t0", "10.61.0.2", 24), path("t1", "10.62.0.2", 24)];
        let table = RouteTable::new(&paths, &[]).unwrap();
        assert_eq!(
            table.lookup_with_kind(ip("10.62.0.1")),
            Some((1, RouteKind::Subnet))
        );
        assert_eq!(
            table.lookup_with_kind(ip("10.61.1.2")),
            Some((0, RouteKind::Default))
        );
        assert_eq!(table.lookup(ip("8.8.8.8")), Some(0));
        assert_eq!(table.lookup(ip("2001:db8::1")), None);
        assert!(RouteTable::unreachable(ip("2001:db8::1")).contains("IPv6"));
    }

    #[test]
    fn each_family_defaults_to_its_first_path() {
        let paths = [
            path("t0", "fd00:1::2", 64),
            path("t1", "10.1.0.2", 24),
            path("t2", "10.2.0.2", 24),
        ];
        let table = RouteTable::new(&paths, &[]).unwrap();
        assert_eq!(table.lookup(ip("192.0.2.1")), Some(1));
        assert_eq!(table.lookup(ip("2001:db8::1")), Some(0));
    }

    #[test]
    fn the_longest_prefix_wins_and_explicit_routes_beat_subnets() {
        let paths = [path("t0", "10.1.0.2", 24), path("t1", "10.2.0.2", 24)];
        let routes = [
            "10.0.0.0/8=t1".parse().unwrap(),
            "10.1.0.128/25=t1".parse().unwrap(),
            "10.2.0.0/24=t0".parse().unwrap(),
        ];
        let table = RouteTable::new(&paths, &routes).unwrap();
        assert_eq!(
            table.lookup(ip("10.200.0.1")),
            Some(1),
            "/8 beats the default"
        );
        assert_eq!(
            table.lookup(ip("10.1.0.5")),
            Some(0),
            "the /24 subnet beats /8"
        );
        assert_eq!(table.lookup(ip("10.1.0.200")), Some(1), "/25 beats the /24");
        assert_eq!(
            table.lookup_with_kind(ip("10.2.0.9")),
            Some((0, RouteKind::Explicit)),
            "an explicit /24 beats the subnet /24"
        );
        assert_eq!(table.lookup(ip("192.0.2.1")), Some(0));
    }

    #[test]
    fn an_explicit_default_replaces_the_first_path() {
        let paths = [path("t0", "10.1.0.2", 24), path("t1", "10.2.0.2", 24)];
        let routes = ["0.0.0.0/0=t1".parse().unwrap()];
        let table = RouteTable::new(&paths, &routes).unwrap();
        assert_eq!(
            table.lookup_with_kind(ip("192.0.2.1")),
            Some((1, RouteKind::Explicit))
        );
        assert_eq!(table.lookup(ip("10.1.0.1")), Some(0));
    }

    #[test]
    fn bad_routes_are_refused() {
        let paths = [path("t0", "10.1.0.2", 24)];
        let unknown = RouteTable::new(&paths, &["10.0.0.0/8=t9".parse().unwrap()]).unwrap_err();
        assert!(unknown.contains("t9 is not one of the paths"), "{unknown}");
        let family = RouteTable::new(&paths, &["::/0=t0".parse().unwrap()]).unwrap_err();
        assert!(family.contains("other family"), "{family}");
    }
}
