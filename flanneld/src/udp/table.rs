//! The udp backend's route table and counters. `PeerTable` is an immutable snapshot built from
//! the peer leases: longest-prefix match of an inner destination over peer subnets (outbound)
//! and the peers behind a sender's `IP:port` (inbound). `Routes` publishes a new snapshot on
//! every lease change with an atomic pointer swap, so the data-path threads never wait for the
//! control plane, and keeps each peer's counters across snapshots. The per-packet decisions
//! (`outbound`, `inbound`) are pure functions of a snapshot and the packet.

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use arc_swap::ArcSwap;
use ipnet::Ipv4Net;
use serde::{Deserialize, Serialize};

use super::packet;
use crate::lease::Lease;

/// Why a packet was dropped. The names are what `flanneld routes` shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum DropReason {
    /// Inbound datagram from an address and port that is no peer's.
    UnknownSender,
    /// Inbound packet whose source lies outside the sending peer's subnet.
    InnerSource,
    /// Datagram (or TUN packet) that is not exactly one IPv4 packet.
    Malformed,
    /// A packet of another IP version the kernel routed into the TUN (IPv6 neighbour
    /// discovery and the like); the udp backend carries IPv4 only.
    NotIpv4,
    /// Outbound packet whose TTL reached zero.
    Ttl,
    /// Outbound packet to a destination no peer leases (answered with ICMP net unreachable).
    NoRoute,
    /// The UDP socket refused the datagram.
    SendError,
    /// The kernel dropped datagrams at our UDP socket: its receive queue was full
    /// (`SO_RXQ_OVFL`; a GRO run the kernel dropped whole counts once per datagram or per run,
    /// as the kernel counts it).
    SocketQueue,
    /// The TUN device refused the packet.
    TunError,
    /// The kernel dropped a packet routed into the TUN device because the device's queue was
    /// full (the sending thread fell behind): the device's `tx_dropped` since flanneld started.
    TunQueue,
}

impl DropReason {
    pub const ALL: [DropReason; 10] = [
        DropReason::UnknownSender,
        DropReason::InnerSource,
        DropReason::Malformed,
        DropReason::NotIpv4,
        DropReason::Ttl,
        DropReason::NoRoute,
        DropReason::SendError,
        DropReason::SocketQueue,
        DropReason::TunError,
        DropReason::TunQueue,
    ];

    pub fn name(self) -> &'static str {
        match self {
            DropReason::UnknownSender => "unknown-sender",
            DropReason::InnerSource => "inner-source",
            DropReason::Malformed => "malformed",
            DropReason::NotIpv4 => "not-ipv4",
            DropReason::Ttl => "ttl",
            DropReason::NoRoute => "no-route",
            DropReason::SendError => "send-error",
            DropReason::SocketQueue => "socket-queue",
            DropReason::TunError => "tun-error",
            DropReason::TunQueue => "tun-queue",
        }
    }
}

/// Packets and bytes in one direction, on its own cache line so that the sending and receiving
/// threads do not share one.
#[derive(Debug, Default)]
#[repr(align(64))]
struct Flow {
    packets: AtomicU64,
    bytes: AtomicU64,
}

impl Flow {
    fn add(&self, packets: u64, bytes: u64) {
        self.packets.fetch_add(packets, Ordering::Relaxed);
        self.bytes.fetch_add(bytes, Ordering::Relaxed);
    }
}

/// Live counters of one peer (or of the traffic no peer can be blamed for).
#[derive(Debug, Default)]
pub struct Counters {
    tx: Flow,
    rx: Flow,
    drops: [AtomicU64; DropReason::ALL.len()],
}

impl Counters {
    pub fn sent(&self, packets: u64, bytes: u64) {
        self.tx.add(packets, bytes);
    }

    pub fn received(&self, packets: u64, bytes: u64) {
        self.rx.add(packets, bytes);
    }

    pub fn dropped(&self, why: DropReason, packets: u64) {
        self.drops[why as usize].fetch_add(packets, Ordering::Relaxed);
    }

    pub fn snapshot(&self) -> Traffic {
        Traffic {
            tx_packets: self.tx.packets.load(Ordering::Relaxed),
            tx_bytes: self.tx.bytes.load(Ordering::Relaxed),
            rx_packets: self.rx.packets.load(Ordering::Relaxed),
            rx_bytes: self.rx.bytes.load(Ordering::Relaxed),
            drops: DropReason::ALL
                .iter()
                .filter_map(|d| {
                    let n = self.drops[*d as usize].load(Ordering::Relaxed);
                    (n > 0).then(|| (d.name().to_string(), n))
                })
                .collect(),
        }
    }
}

/// A counters snapshot, as `flanneld routes` reports it.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Traffic {
    pub tx_packets: u64,
    pub tx_bytes: u64,
    pub rx_packets: u64,
    pub rx_bytes: u64,
    /// Dropped packets by reason (only reasons that happened).
    #[serde(default)]
    pub drops: BTreeMap<String, u64>,
}

/// One peer in a snapshot.
#[derive(Debug, Clone)]
pub struct Peer {
    pub subnet: Ipv4Net,
    /// Where its datagrams go and come from: its PublicIP and the network's udp Port.
    pub addr: SocketAddrV4,
    pub counters: Arc<Counters>,
}

/// An immutable route table snapshot.
#[derive(Debug, Default)]
pub struct PeerTable {
    peers: Vec<Peer>,
    /// Per prefix length, longest first: (masked network, peer index) sorted by network.
    by_prefix: Vec<(u8, Vec<(u32, usize)>)>,
    /// (address key, peer index) sorted by key.
    by_addr: Vec<(u64, usize)>,
}

fn addr_key(a: SocketAddrV4) -> u64 {
    (u64::from(u32::from(*a.ip())) << 16) | u64::from(a.port())
}

fn mask(len: u8) -> u32 {
    u32::MAX.checked_shl(32 - u32::from(len)).unwrap_or(0)
}

impl PeerTable {
    pub fn new(peers: Vec<Peer>) -> PeerTable {
        let mut lens: BTreeMap<u8, Vec<(u32, usize)>> = BTreeMap::new();
        let mut by_addr = Vec::with_capacity(peers.len());
        for (i, p) in peers.iter().enumerate() {
            lens.entry(p.subnet.prefix_len())
                .or_default()
                .push((u32::from(p.subnet.network()), i));
            by_addr.push((addr_key(p.addr), i));
        }
        let mut by_prefix: Vec<(u8, Vec<(u32, usize)>)> = lens.into_iter().rev().collect();
        for (_, v) in &mut by_prefix {
            v.sort_unstable();
        }
        by_addr.sort_unstable();
        PeerTable {
            peers,
            by_prefix,
            by_addr,
        }
    }

    pub fn peers(&self) -> &[Peer] {
        &self.peers
    }

    pub fn peer(&self, i: usize) -> &Peer {
        &self.peers[i]
    }

    /// The peer whose subnet holds `dst`, longest prefix first.
    pub fn lookup(&self, dst: Ipv4Addr) -> Option<usize> {
        let d = u32::from(dst);
        self.by_prefix.iter().find_map(|(len, nets)| {
            let key = d & mask(*len);
            nets.binary_search_by_key(&key, |e| e.0)
                .ok()
                .map(|at| nets[at].1)
        })
    }

    /// The peers that send from `from` (normally one).
    pub fn senders(&self, from: SocketAddrV4) -> &[(u64, usize)] {
        let key = addr_key(from);
        let start = self.by_addr.partition_point(|e| e.0 < key);
        let end = start + self.by_addr[start..].partition_point(|e| e.0 == key);
        &self.by_addr[start..end]
    }
}

/// What to do with a packet read from the TUN.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outbound {
    /// Send to this peer (TTL already decremented).
    Send(usize),
    /// DropReason, counted on this peer.
    Drop(usize, DropReason),
    /// No peer leases the destination: answer with ICMP net unreachable when due.
    NoRoute,
    /// Not one IPv4 packet.
    Malformed(DropReason),
}

/// Route one packet read from the TUN: longest-prefix match of its destination, then the TTL
/// decrement (drop at zero).
pub fn outbound(table: &PeerTable, pkt: &mut [u8]) -> Outbound {
    let h = match packet::parse(pkt) {
        Ok(h) => h,
        Err(packet::Malformed::NotIpv4(_)) => return Outbound::Malformed(DropReason::NotIpv4),
        Err(_) => return Outbound::Malformed(DropReason::Malformed),
    };
    let Some(i) = table.lookup(h.dst) else {
        return Outbound::NoRoute;
    };
    if packet::decrement_ttl(pkt) == 0 {
        return Outbound::Drop(i, DropReason::Ttl);
    }
    Outbound::Send(i)
}

/// Check one packet of a datagram from `senders` (the peers behind its source address):
/// exactly one IPv4 packet whose source lies in the sender's subnet. Returns the peer.
pub fn inbound(
    table: &PeerTable,
    senders: &[(u64, usize)],
    pkt: &[u8],
) -> Result<usize, (Option<usize>, DropReason)> {
    let Some(&(_, first)) = senders.first() else {
        return Err((None, DropReason::UnknownSender));
    };
    if packet::parse(pkt).is_err() {
        return Err((Some(first), DropReason::Malformed));
    }
    let src = packet::src(pkt);
    senders
        .iter()
        .map(|e| e.1)
        .find(|i| table.peer(*i).subnet.contains(&src))
        .ok_or((Some(first), DropReason::InnerSource))
}

/// The live route table: the current snapshot plus the counters that outlive snapshots.
#[derive(Debug)]
pub struct Routes {
    port: u16,
    current: ArcSwap<PeerTable>,
    counters: Mutex<BTreeMap<Ipv4Net, Arc<Counters>>>,
    /// Traffic no peer can be blamed for (unknown senders, no route, malformed TUN packets).
    pub unattributed: Counters,
}

impl Routes {
    pub fn new(port: u16) -> Routes {
        Routes {
            port,
            current: ArcSwap::from_pointee(PeerTable::default()),
            counters: Mutex::new(BTreeMap::new()),
            unattributed: Counters::default(),
        }
    }

    /// The current snapshot (cheap; taken once per batch by the data path).
    pub fn load(&self) -> arc_swap::Guard<Arc<PeerTable>> {
        self.current.load()
    }

    /// Build and swap in a snapshot for these peer leases (whatever their BackendType).
    /// Counters of peers that stay are kept; those of removed peers are dropped.
    pub fn publish<'a>(&self, leases: impl IntoIterator<Item = &'a Lease>) {
        let mut counters = self.counters.lock().unwrap_or_else(|p| p.into_inner());
        let mut kept = BTreeMap::new();
        let mut peers = Vec::new();
        for l in leases {
            let c = counters.get(&l.subnet).cloned().unwrap_or_default();
            kept.insert(l.subnet, c.clone());
            peers.push(Peer {
                subnet: l.subnet,
                addr: SocketAddrV4::new(l.attrs.public_ip, self.port),
                counters: c,
            });
        }
        *counters = kept;
        self.current.store(Arc::new(PeerTable::new(peers)));
    }

    /// Counters of every peer, by subnet.
    pub fn traffic(&self) -> BTreeMap<Ipv4Net, Traffic> {
        let counters = self.counters.lock().unwrap_or_else(|p| p.into_inner());
        counters.iter().map(|(s, c)| (*s, c.snapshot())).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::udp::packet::tests::{accepted_share, mutation, packet, reseal, spec, Mutation};
    use proptest::prelude::*;

    fn lease(subnet: &str, ip: &str) -> Lease {
        Lease::for_test(subnet, ip, "")
    }

    fn routes() -> Routes {
        let r = Routes::new(8285);
        r.publish(&[
            lease("10.244.2.0/24", "198.18.0.2"),
            lease("10.244.3.0/24", "198.18.0.3"),
            lease("10.244.3.128/25", "198.18.0.4"),
            lease("10.200.0.0/16", "198.18.0.5"),
        ]);
        r
    }

    #[test]
    fn longest_prefix_wins() {
        let r = routes();
        let t = r.load();
        let subnet = |ip: &str| {
            t.lookup(ip.parse().unwrap())
                .map(|i| t.peer(i).subnet.to_string())
        };
        assert_eq!(subnet("10.244.2.9").as_deref(), Some("10.244.2.0/24"));
        assert_eq!(subnet("10.244.3.9").as_deref(), Some("10.244.3.0/24"));
        assert_eq!(subnet("10.244.3.200").as_deref(), Some("10.244.3.128/25"));
        assert_eq!(subnet("10.200.77.1").as_deref(), Some("10.200.0.0/16"));
        assert_eq!(subnet("10.244.9.1"), None);
    }

    #[test]
    fn outbound_routes_decrements_ttl_and_refuses() {
        let r = routes();
        let t = r.load();
        let mut p = packet([10, 244, 1, 2], [10, 244, 2, 9], 6, 64, b"x");
        let i = t.lookup("10.244.2.9".parse().unwrap()).unwrap();
        assert_eq!(outbound(&t, &mut p), Outbound::Send(i));
        assert_eq!(p[8], 63);
        assert!(packet::header_checksum_ok(&p, 20));
        let mut p = packet([10, 244, 1, 2], [10, 244, 2, 9], 6, 1, b"x");
        assert_eq!(outbound(&t, &mut p), Outbound::Drop(i, DropReason::Ttl));
        let mut p = packet([10, 244, 1, 2], [10, 244, 9, 9], 6, 64, b"x");
        assert_eq!(outbound(&t, &mut p), Outbound::NoRoute);
        assert_eq!(
            outbound(&t, &mut [0x60; 40]),
            Outbound::Malformed(DropReason::NotIpv4)
        );
        assert_eq!(
            outbound(&t, &mut [0x45; 40]),
            Outbound::Malformed(DropReason::Malformed)
        );
    }

    #[test]
    fn inbound_accepts_only_known_senders_with_their_own_sources() {
        let r = routes();
        let t = r.load();
        let peer2: SocketAddrV4 = "198.18.0.2:8285".parse().unwrap();
        let ok = packet([10, 244, 2, 5], [10, 244, 1, 2], 17, 63, b"x");
        let s = t.senders(peer2);
        let i = t.lookup("10.244.2.5".parse().unwrap()).unwrap();
        assert_eq!(inbound(&t, s, &ok), Ok(i));
        let spoofed = packet([10, 244, 3, 5], [10, 244, 1, 2], 17, 63, b"x");
        assert_eq!(
            inbound(&t, s, &spoofed),
            Err((Some(i), DropReason::InnerSource))
        );
        assert_eq!(
            inbound(&t, s, &ok[..20]),
            Err((Some(i), DropReason::Malformed))
        );
        for unknown in ["198.18.0.2:9999", "198.18.0.9:8285"] {
            let s = t.senders(unknown.parse().unwrap());
            assert_eq!(inbound(&t, s, &ok), Err((None, DropReason::UnknownSender)));
        }
    }

    #[test]
    fn counters_survive_republish_and_go_with_their_peer() {
        let r = routes();
        let t = r.load();
        let i = t.lookup("10.244.2.1".parse().unwrap()).unwrap();
        t.peer(i).counters.sent(3, 300);
        t.peer(i).counters.dropped(DropReason::InnerSource, 2);
        r.publish(&[lease("10.244.2.0/24", "198.18.0.2")]);
        let tr = r.traffic();
        assert_eq!(tr.len(), 1);
        let c = &tr[&"10.244.2.0/24".parse().unwrap()];
        assert_eq!((c.tx_packets, c.tx_bytes), (3, 300));
        assert_eq!(c.drops.get("inner-source"), Some(&2));
        assert_eq!(r.load().peers().len(), 1);
    }

    /// The peers of `routes()`: subnet and public IP.
    const PEERS: [(&str, [u8; 4]); 4] = [
        ("10.244.2.0/24", [198, 18, 0, 2]),
        ("10.244.3.0/24", [198, 18, 0, 3]),
        ("10.244.3.128/25", [198, 18, 0, 4]),
        ("10.200.0.0/16", [198, 18, 0, 5]),
    ];

    /// An address inside peer `i`'s subnet (any host bits).
    fn in_peer(i: usize, host: u32) -> [u8; 4] {
        let net: Ipv4Net = PEERS[i].0.parse().unwrap();
        let bits = u32::from(net.network()) | (host & !mask(net.prefix_len()));
        Ipv4Addr::from(bits).octets()
    }

    /// A change to the sender of a datagram.
    #[derive(Debug, Clone, PartialEq)]
    enum SenderChange {
        None,
        Port(u16),
        Ip(u8),
    }

    fn sender_change() -> impl Strategy<Value = SenderChange> {
        prop_oneof![
            6 => Just(SenderChange::None),
            1 => any::<u16>().prop_map(SenderChange::Port),
            1 => any::<u8>().prop_map(SenderChange::Ip),
        ]
    }

    /// A datagram from peer `peer` as GRO hands it over: `count` valid packets of one size
    /// from inside the peer's subnet to our own, laid end to end, then one packet changed.
    #[derive(Debug, Clone)]
    struct Inbound {
        peer: usize,
        packets: Vec<Vec<u8>>,
        /// Which packet is changed, and how.
        victim: usize,
        change: Mutation,
        sender: SenderChange,
    }

    impl Inbound {
        fn from(&self) -> SocketAddrV4 {
            let [a, b, c, d] = PEERS[self.peer].1;
            match self.sender {
                SenderChange::None => SocketAddrV4::new(Ipv4Addr::new(a, b, c, d), 8285),
                SenderChange::Port(p) => SocketAddrV4::new(Ipv4Addr::new(a, b, c, d), p),
                SenderChange::Ip(x) => SocketAddrV4::new(Ipv4Addr::new(a, b, c, x), 8285),
            }
        }

        /// Whether the datagram comes from elsewhere than the peer's address and port.
        fn moved(&self) -> bool {
            let [a, b, c, d] = PEERS[self.peer].1;
            self.from() != SocketAddrV4::new(Ipv4Addr::new(a, b, c, d), 8285)
        }

        /// The packets after the change (a change may make one longer or shorter).
        fn changed(&self) -> Vec<Vec<u8>> {
            let mut v = self.packets.clone();
            self.change.apply(&mut v[self.victim]);
            v
        }

        /// The datagram bytes and GRO segment size.
        fn datagram(&self) -> (Vec<u8>, usize) {
            (self.changed().concat(), self.packets[0].len())
        }
    }

    fn inbound_case() -> impl Strategy<Value = Inbound> {
        (0usize..PEERS.len(), 1usize..4, any::<u32>(), any::<u32>())
            .prop_flat_map(|(peer, count, host, dst)| {
                let s = spec(
                    Just(in_peer(peer, host)),
                    Just(Ipv4Addr::from(0x0af4_0100 | (dst & 0xff)).octets()),
                );
                (
                    Just(peer),
                    s,
                    proptest::collection::vec(any::<u32>(), count),
                    0..count,
                    mutation(),
                    sender_change(),
                )
            })
            .prop_map(|(peer, s, hosts, victim, change, sender)| {
                // Same size (GRO's shape), sources anywhere in the peer's subnet.
                let packets = hosts
                    .iter()
                    .map(|h| {
                        let mut p = s.build();
                        p[12..16].copy_from_slice(&in_peer(peer, *h));
                        reseal(&mut p);
                        p
                    })
                    .collect();
                Inbound {
                    peer,
                    packets,
                    victim,
                    change,
                    sender,
                }
            })
    }

    /// What `inbound` says about one packet.
    type Verdict = Result<usize, (Option<usize>, DropReason)>;

    /// `inbound` over one case: each packet of the datagram (as GRO cuts it) and its verdict.
    fn run_inbound(t: &PeerTable, c: &Inbound) -> Vec<(Vec<u8>, Verdict)> {
        let (data, segment) = c.datagram();
        let senders = t.senders(c.from());
        data.chunks(segment)
            .map(|p| (p.to_vec(), inbound(t, senders, p)))
            .collect()
    }

    /// An outbound packet: a valid packet from our own subnet to a peer's (or to no peer).
    fn outbound_case() -> impl Strategy<Value = (Vec<u8>, Mutation, bool)> {
        (
            prop_oneof![
                3 => (0usize..PEERS.len(), any::<u32>()).prop_map(|(i, h)| (in_peer(i, h), true)),
                1 => any::<[u8; 4]>().prop_map(|a| (a, false)),
            ],
            any::<u32>(),
        )
            .prop_flat_map(|((dst, leased), src)| {
                (
                    spec(
                        Just(Ipv4Addr::from(0x0af4_0100 | (src & 0xff)).octets()),
                        Just(dst),
                    ),
                    mutation(),
                    Just(leased),
                )
            })
            .prop_map(|(s, m, leased)| (s.build(), m, leased))
    }

    #[test]
    fn generated_cases_mostly_take_the_accepting_branch() {
        let r = routes();
        let t = r.load();
        let share = accepted_share(inbound_case(), 1000, |c| {
            run_inbound(&t, &c).iter().all(|(_, v)| v.is_ok())
        });
        assert!(
            share > 0.3,
            "only {share:.2} of inbound datagrams accepted whole"
        );
        let share = accepted_share(outbound_case(), 1000, |(mut p, m, _)| {
            m.apply(&mut p);
            matches!(outbound(&t, &mut p), Outbound::Send(_))
        });
        assert!(share > 0.3, "only {share:.2} of outbound packets sent");
    }

    proptest! {
        /// Valid datagrams from a peer, changed or not: every accepted packet is exactly one
        /// well-formed IPv4 packet, from the peer's address and port, with a source inside that
        /// peer's subnet; unchanged ones are all accepted, and each refusal has its reason.
        #[test]
        fn inbound_accepts_exactly_the_peers_own_packets(c in inbound_case()) {
            let r = routes();
            let t = r.load();
            let from = c.from();
            let changed = c.changed();
            for (i, (pkt, v)) in run_inbound(&t, &c).into_iter().enumerate() {
                match v {
                    Ok(p) => {
                        let peer = t.peer(p);
                        prop_assert_eq!(peer.addr, from);
                        prop_assert!(peer.subnet.contains(&packet::src(&pkt)));
                        let h = packet::parse(&pkt).map_err(|e| TestCaseError::fail(e.to_string()))?;
                        prop_assert_eq!(h.total_len, pkt.len());
                        prop_assert!(packet::header_checksum_ok(&pkt, h.header_len));
                    }
                    Err((None, why)) => {
                        prop_assert_eq!(why, DropReason::UnknownSender);
                        prop_assert!(c.moved());
                    }
                    Err((Some(_), why)) => {
                        prop_assert!(matches!(why, DropReason::Malformed | DropReason::InnerSource));
                        if !c.moved() {
                            // Only a changed packet, or its neighbours when its length changed
                            // (GRO then cuts the datagram elsewhere), are refused.
                            prop_assert!(c.change != Mutation::None);
                            let same_len = changed[c.victim].len() == c.packets[c.victim].len();
                            prop_assert!(!same_len || i == c.victim, "packet {} refused ({:?})", i, why);
                        }
                    }
                }
            }
            // Unchanged datagrams from the peer's own address are accepted whole, by that peer.
            if c.change == Mutation::None && !c.moved() {
                let want = t.senders(from).first().map(|e| e.1);
                prop_assert_eq!(want.map(|i| t.peer(i).subnet), Some(PEERS[c.peer].0.parse().unwrap()));
                for (_, v) in run_inbound(&t, &c) {
                    prop_assert_eq!(Some(v), want.map(Ok));
                }
            }
        }

        /// Valid packets to a peer, changed or not: what is sent goes to the peer whose subnet
        /// holds the destination (longest prefix), with the TTL one less and the header checksum
        /// right; unchanged ones are sent unless the TTL runs out or no peer leases the
        /// destination.
        #[test]
        fn outbound_sends_valid_packets_with_ttl_decremented((valid, m, leased) in outbound_case()) {
            let r = routes();
            let t = r.load();
            let mut p = valid.clone();
            m.apply(&mut p);
            let before = p.clone();
            let got = outbound(&t, &mut p);
            if let Outbound::Send(i) = got {
                let h = packet::parse(&p).map_err(|e| TestCaseError::fail(e.to_string()))?;
                prop_assert_eq!(Some(i), t.lookup(h.dst));
                prop_assert!(t.peer(i).subnet.contains(&h.dst));
                prop_assert_eq!(h.ttl, before[8] - 1);
                prop_assert!(h.ttl > 0);
                prop_assert!(packet::header_checksum_ok(&p, h.header_len));
                prop_assert_eq!(&p[12..], &before[12..]);
            } else if m == Mutation::None {
                let dst = packet::dst(&valid);
                let want = match t.lookup(dst) {
                    None => Outbound::NoRoute,
                    Some(i) if valid[8] <= 1 => Outbound::Drop(i, DropReason::Ttl),
                    Some(i) => Outbound::Send(i),
                };
                prop_assert!(!leased || t.lookup(dst).is_some());
                prop_assert_eq!(got, want);
            }
        }

        /// The inbound path over arbitrary datagrams from arbitrary senders (split as GRO would
        /// hand them over) never panics, and accepts a packet only from a known sender whose
        /// subnet holds the packet's source, as exactly one IPv4 packet.
        #[test]
        fn inbound_fuzz(
            data in proptest::collection::vec(any::<u8>(), 0..400),
            segment in 1usize..200,
            ip in 0u8..8,
            port in prop_oneof![Just(8285u16), any::<u16>()],
        ) {
            let r = routes();
            let t = r.load();
            let from = SocketAddrV4::new(Ipv4Addr::new(198, 18, 0, ip), port);
            let senders = t.senders(from);
            for pkt in data.chunks(segment) {
                if let Ok(i) = inbound(&t, senders, pkt) {
                    let peer = t.peer(i);
                    prop_assert_eq!(peer.addr, from);
                    prop_assert!(peer.subnet.contains(&packet::src(pkt)));
                    prop_assert_eq!(packet::parse(pkt).map(|h| h.total_len), Ok(pkt.len()));
                }
            }
        }

        /// The outbound path over arbitrary TUN packets never panics and only sends packets
        /// whose destination lies in the chosen peer's subnet, with a TTL left.
        #[test]
        fn outbound_fuzz(data in proptest::collection::vec(any::<u8>(), 0..200)) {
            let r = routes();
            let t = r.load();
            let mut pkt = data;
            if let Outbound::Send(i) = outbound(&t, &mut pkt) {
                prop_assert!(t.peer(i).subnet.contains(&packet::dst(&pkt)));
                prop_assert!(pkt[8] > 0);
            }
        }
    }
}
