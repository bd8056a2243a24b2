//! IPv4 packets as the udp backend sees them, as pure functions over byte slices: the header
//! fields it reads, the check that a datagram holds exactly one IPv4 packet, the TTL decrement
//! with an incremental checksum update, and the ICMP net-unreachable reply for a destination no
//! peer leases. Nothing here allocates on the per-packet path except the (rare) ICMP reply.

use std::net::Ipv4Addr;

/// Smallest IPv4 header.
pub const MIN_HEADER: usize = 20;
/// ICMP protocol number.
pub const PROTO_ICMP: u8 = 1;
/// TTL of the ICMP replies we generate.
const ICMP_TTL: u8 = 64;

/// The header fields the backend uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    pub src: Ipv4Addr,
    pub dst: Ipv4Addr,
    pub protocol: u8,
    pub ttl: u8,
    pub header_len: usize,
    pub total_len: usize,
    /// Fragment offset in 8-byte units (0 for unfragmented packets and first fragments).
    pub fragment_offset: u16,
}

/// Why bytes are not exactly one IPv4 packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Malformed {
    #[error("{0} bytes is shorter than an IPv4 header")]
    TooShort(usize),
    #[error("IP version {0}, expected 4")]
    NotIpv4(u8),
    #[error("header length {0} is below 20 or beyond the packet")]
    BadHeaderLength(usize),
    #[error("IPv4 total length {header} differs from the {datagram} bytes received")]
    LengthMismatch { header: usize, datagram: usize },
    #[error("IPv4 header checksum is wrong")]
    BadChecksum,
}

/// Parse `pkt` as exactly one IPv4 packet: version 4, a header length inside the packet, a
/// total length equal to the number of bytes (nothing before or after the packet) and a right
/// header checksum (the kernel would drop the packet otherwise, uncounted).
pub fn parse(pkt: &[u8]) -> Result<Header, Malformed> {
    if pkt.len() < MIN_HEADER {
        return Err(Malformed::TooShort(pkt.len()));
    }
    let version = pkt[0] >> 4;
    if version != 4 {
        return Err(Malformed::NotIpv4(version));
    }
    let header_len = usize::from(pkt[0] & 0x0f) * 4;
    if header_len < MIN_HEADER || header_len > pkt.len() {
        return Err(Malformed::BadHeaderLength(header_len));
    }
    let total_len = usize::from(u16::from_be_bytes([pkt[2], pkt[3]]));
    if total_len != pkt.len() {
        return Err(Malformed::LengthMismatch {
            header: total_len,
            datagram: pkt.len(),
        });
    }
    if !header_checksum_ok(pkt, header_len) {
        return Err(Malformed::BadChecksum);
    }
    Ok(Header {
        src: src(pkt),
        dst: dst(pkt),
        protocol: pkt[9],
        ttl: pkt[8],
        header_len,
        total_len,
        fragment_offset: u16::from_be_bytes([pkt[6], pkt[7]]) & 0x1fff,
    })
}

/// Source address of a packet already known to be at least `MIN_HEADER` long.
pub fn src(pkt: &[u8]) -> Ipv4Addr {
    Ipv4Addr::new(pkt[12], pkt[13], pkt[14], pkt[15])
}

/// Destination address of a packet already known to be at least `MIN_HEADER` long.
pub fn dst(pkt: &[u8]) -> Ipv4Addr {
    Ipv4Addr::new(pkt[16], pkt[17], pkt[18], pkt[19])
}

/// Decrement the TTL of a parsed packet and patch the header checksum incrementally
/// (RFC 1624, as the kernel's `ip_decrease_ttl`). Returns the new TTL; a packet whose TTL
/// reaches 0 must be dropped. A TTL already at 0 stays 0.
pub fn decrement_ttl(pkt: &mut [u8]) -> u8 {
    if pkt[8] == 0 {
        return 0;
    }
    let mut check = u32::from(u16::from_be_bytes([pkt[10], pkt[11]]));
    check += 0x0100;
    check += u32::from(check >= 0xffff);
    pkt[10..12].copy_from_slice(&(check as u16).to_be_bytes());
    pkt[8] -= 1;
    pkt[8]
}

/// One's-complement sum of `data` folded to 16 bits (not yet inverted).
fn sum16(data: &[u8]) -> u32 {
    let mut sum: u32 = 0;
    let mut chunks = data.chunks_exact(2);
    for c in &mut chunks {
        sum += u32::from(u16::from_be_bytes([c[0], c[1]]));
    }
    if let [last] = chunks.remainder() {
        sum += u32::from(*last) << 8;
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    sum
}

/// The Internet checksum of `data`.
pub fn checksum(data: &[u8]) -> u16 {
    !(sum16(data) as u16)
}

/// Whether an IPv4 header's checksum is right.
pub fn header_checksum_ok(pkt: &[u8], header_len: usize) -> bool {
    sum16(&pkt[..header_len]) == 0xffff
}

/// Largest ICMP net-unreachable reply: IPv4 and ICMP headers, the offender's longest header
/// and 8 bytes of its payload.
pub const MAX_UNREACHABLE: usize = MIN_HEADER + 8 + 60 + 8;

/// Write ICMP destination unreachable (net unreachable) for `offender` into `out`, as an IPv4
/// packet to write back into the TUN; returns its length, or `None` when no reply is due: the
/// offender is not a whole IPv4 packet, is ICMP itself, or is a non-first fragment (or `out`
/// is shorter than `MAX_UNREACHABLE`). The reply comes from the unreachable destination (as
/// upstream's), so it is not a martian on the node. No allocation: `out` is the caller's.
pub fn net_unreachable(offender: &[u8], out: &mut [u8]) -> Option<usize> {
    let h = parse(offender).ok()?;
    if h.protocol == PROTO_ICMP || h.fragment_offset != 0 {
        return None;
    }
    // The offender's header and the first 8 bytes of its payload (RFC 792).
    let quoted = &offender[..(h.header_len + 8).min(offender.len())];
    let total = MIN_HEADER + 8 + quoted.len();
    let p = out.get_mut(..total)?;
    p.fill(0);
    p[0] = 0x45;
    p[2..4].copy_from_slice(&(total as u16).to_be_bytes());
    p[8] = ICMP_TTL;
    p[9] = PROTO_ICMP;
    p[12..16].copy_from_slice(&h.dst.octets());
    p[16..20].copy_from_slice(&h.src.octets());
    let c = checksum(&p[..MIN_HEADER]);
    p[10..12].copy_from_slice(&c.to_be_bytes());
    let icmp = &mut p[MIN_HEADER..];
    icmp[0] = 3; // destination unreachable
    icmp[1] = 0; // net unreachable
    icmp[8..].copy_from_slice(quoted);
    let c = checksum(icmp);
    icmp[2..4].copy_from_slice(&c.to_be_bytes());
    Some(total)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The reply for `offender`, if one is due.
    fn unreachable(offender: &[u8]) -> Option<Vec<u8>> {
        let mut out = [0u8; MAX_UNREACHABLE];
        net_unreachable(offender, &mut out).map(|n| out[..n].to_vec())
    }

    /// A valid IPv4 packet with a correct header checksum.
    pub(crate) fn packet(
        src: [u8; 4],
        dst: [u8; 4],
        proto: u8,
        ttl: u8,
        payload: &[u8],
    ) -> Vec<u8> {
        let total = MIN_HEADER + payload.len();
        let mut p = vec![0u8; total];
        p[0] = 0x45;
        p[2..4].copy_from_slice(&(total as u16).to_be_bytes());
        p[4..6].copy_from_slice(&0x1234u16.to_be_bytes());
        p[8] = ttl;
        p[9] = proto;
        p[12..16].copy_from_slice(&src);
        p[16..20].copy_from_slice(&dst);
        let c = checksum(&p[..MIN_HEADER]);
        p[10..12].copy_from_slice(&c.to_be_bytes());
        p[MIN_HEADER..].copy_from_slice(payload);
        p
    }

    #[test]
    fn parses_exactly_one_packet() {
        let p = packet([10, 244, 2, 5], [10, 244, 1, 7], 17, 64, b"12345678hello");
        let h = parse(&p).unwrap();
        assert_eq!(h.src, Ipv4Addr::new(10, 244, 2, 5));
        assert_eq!(h.dst, Ipv4Addr::new(10, 244, 1, 7));
        assert_eq!(
            (h.protocol, h.ttl, h.header_len, h.total_len),
            (17, 64, 20, p.len())
        );
        let mut longer = p.clone();
        longer.push(0);
        assert_eq!(
            parse(&longer),
            Err(Malformed::LengthMismatch {
                header: p.len(),
                datagram: p.len() + 1
            })
        );
        assert_eq!(
            parse(&p[..p.len() - 1]).unwrap_err(),
            Malformed::LengthMismatch {
                header: p.len(),
                datagram: p.len() - 1
            }
        );
        assert_eq!(parse(&p[..19]), Err(Malformed::TooShort(19)));
        let mut v6 = p.clone();
        v6[0] = 0x60;
        assert_eq!(parse(&v6), Err(Malformed::NotIpv4(6)));
        let mut ihl = p.clone();
        ihl[0] = 0x44;
        assert_eq!(parse(&ihl), Err(Malformed::BadHeaderLength(16)));
        ihl[0] = 0x4f;
        assert_eq!(parse(&ihl), Err(Malformed::BadHeaderLength(60)));
        let mut sum = p.clone();
        sum[10] ^= 1;
        assert_eq!(parse(&sum), Err(Malformed::BadChecksum));
    }

    #[test]
    fn ttl_decrement_keeps_the_checksum_valid_and_stops_at_zero() {
        let mut p = packet([10, 244, 2, 5], [10, 244, 1, 7], 6, 2, b"");
        assert_eq!(decrement_ttl(&mut p), 1);
        assert!(header_checksum_ok(&p, 20));
        assert_eq!(decrement_ttl(&mut p), 0);
        assert!(header_checksum_ok(&p, 20));
        assert_eq!(decrement_ttl(&mut p), 0);
    }

    #[test]
    fn net_unreachable_quotes_the_offender_and_is_valid() {
        let off = packet([10, 244, 1, 2], [10, 244, 99, 5], 6, 63, &[7u8; 40]);
        let r = unreachable(&off).unwrap();
        let h = parse(&r).unwrap();
        assert_eq!(h.src, Ipv4Addr::new(10, 244, 99, 5));
        assert_eq!(h.dst, Ipv4Addr::new(10, 244, 1, 2));
        assert_eq!(h.protocol, PROTO_ICMP);
        assert!(header_checksum_ok(&r, 20));
        assert_eq!(&r[20..22], &[3, 0]);
        assert_eq!(checksum(&r[20..]), 0);
        assert_eq!(&r[28..], &off[..28]);
    }

    #[test]
    fn no_unreachable_for_icmp_or_later_fragments() {
        let icmp = packet([10, 244, 1, 2], [10, 244, 99, 5], PROTO_ICMP, 63, &[0u8; 8]);
        assert!(unreachable(&icmp).is_none());
        let mut frag = packet([10, 244, 1, 2], [10, 244, 99, 5], 17, 63, &[0u8; 8]);
        frag[6..8].copy_from_slice(&185u16.to_be_bytes());
        reseal(&mut frag);
        assert!(unreachable(&frag).is_none());
        // A first fragment (more-fragments set, offset 0) does get one.
        frag[6..8].copy_from_slice(&0x2000u16.to_be_bytes());
        reseal(&mut frag);
        assert!(unreachable(&frag).is_some());
    }

    /// The parts of a valid IPv4 packet, for the property tests here and in `table`.
    #[derive(Debug, Clone)]
    pub(crate) struct Spec {
        pub src: [u8; 4],
        pub dst: [u8; 4],
        pub proto: u8,
        pub ttl: u8,
        pub id: u16,
        /// Flags and fragment offset (bytes 6..8).
        pub frag: u16,
        /// Header length in 32-bit words, 5..=15 (options filled with 1, "no operation").
        pub ihl: u8,
        pub payload: Vec<u8>,
    }

    impl Spec {
        /// The packet, header checksum right.
        pub(crate) fn build(&self) -> Vec<u8> {
            let hl = usize::from(self.ihl) * 4;
            let mut p = vec![1u8; hl + self.payload.len()];
            p[0] = 0x40 | self.ihl;
            p[1] = 0;
            let total = p.len() as u16;
            p[2..4].copy_from_slice(&total.to_be_bytes());
            p[4..6].copy_from_slice(&self.id.to_be_bytes());
            p[6..8].copy_from_slice(&self.frag.to_be_bytes());
            p[8] = self.ttl;
            p[9] = self.proto;
            p[12..16].copy_from_slice(&self.src);
            p[16..20].copy_from_slice(&self.dst);
            p[hl..].copy_from_slice(&self.payload);
            reseal(&mut p);
            p
        }
    }

    /// Recompute the header checksum of a packet whose header is inside it.
    pub(crate) fn reseal(p: &mut [u8]) {
        let hl = usize::from(p[0] & 0x0f) * 4;
        if p.len() < MIN_HEADER || hl < MIN_HEADER || hl > p.len() {
            return;
        }
        p[10..12].copy_from_slice(&[0, 0]);
        let c = checksum(&p[..hl]);
        p[10..12].copy_from_slice(&c.to_be_bytes());
    }

    /// Valid packets with these addresses: any protocol, TTL, options, fragment field, payload.
    pub(crate) fn spec(
        src: impl Strategy<Value = [u8; 4]>,
        dst: impl Strategy<Value = [u8; 4]>,
    ) -> impl Strategy<Value = Spec> {
        (
            src,
            dst,
            prop_oneof![Just(6u8), Just(17), Just(PROTO_ICMP), any::<u8>()],
            any::<u8>(),
            any::<u16>(),
            prop_oneof![Just(0u16), Just(0x4000), Just(0x2000), any::<u16>()],
            prop_oneof![3 => Just(5u8), 1 => 6u8..=15],
            proptest::collection::vec(any::<u8>(), 0..120),
        )
            .prop_map(|(src, dst, proto, ttl, id, frag, ihl, payload)| Spec {
                src,
                dst,
                proto,
                ttl,
                id,
                frag,
                ihl,
                payload,
            })
    }

    /// A change to a valid packet. The field changes (`Source`, `TotalLen`, `Ttl`, `Version`,
    /// `HeaderLen`) fix the header checksum afterwards, so that they reach the checks behind it;
    /// `Flip` does not.
    #[derive(Debug, Clone, PartialEq)]
    pub(crate) enum Mutation {
        None,
        /// XOR a (non-zero) mask into the byte at this index (modulo the length).
        Flip(usize, u8),
        /// Remove this many bytes (at least 1) from the end.
        Truncate(usize),
        /// Append these bytes.
        Extend(Vec<u8>),
        Source([u8; 4]),
        TotalLen(u16),
        Ttl(u8),
        Version(u8),
        HeaderLen(u8),
    }

    impl Mutation {
        pub(crate) fn apply(&self, p: &mut Vec<u8>) {
            match self {
                Mutation::None => {}
                Mutation::Flip(at, mask) => {
                    let at = at % p.len();
                    p[at] ^= mask;
                }
                Mutation::Truncate(n) => p.truncate(p.len().saturating_sub(*n)),
                Mutation::Extend(b) => p.extend_from_slice(b),
                Mutation::Source(a) => {
                    p[12..16].copy_from_slice(a);
                    reseal(p);
                }
                Mutation::TotalLen(n) => {
                    p[2..4].copy_from_slice(&n.to_be_bytes());
                    reseal(p);
                }
                Mutation::Ttl(t) => {
                    p[8] = *t;
                    reseal(p);
                }
                Mutation::Version(v) => {
                    p[0] = (v << 4) | (p[0] & 0x0f);
                    reseal(p);
                }
                Mutation::HeaderLen(l) => {
                    p[0] = (p[0] & 0xf0) | (l & 0x0f);
                    reseal(p);
                }
            }
        }
    }

    /// Mutations, "none" weighted so that a good share of the cases stays valid.
    pub(crate) fn mutation() -> impl Strategy<Value = Mutation> {
        prop_oneof![
            4 => Just(Mutation::None),
            1 => (any::<usize>(), 1u8..).prop_map(|(a, m)| Mutation::Flip(a, m)),
            1 => (1usize..40).prop_map(Mutation::Truncate),
            1 => proptest::collection::vec(any::<u8>(), 1..40).prop_map(Mutation::Extend),
            1 => any::<[u8; 4]>().prop_map(Mutation::Source),
            1 => any::<u16>().prop_map(Mutation::TotalLen),
            1 => any::<u8>().prop_map(Mutation::Ttl),
            1 => (0u8..16).prop_map(Mutation::Version),
            1 => (0u8..16).prop_map(Mutation::HeaderLen),
        ]
    }

    /// Share of `cases` cases drawn from `strategy` for which `accepted` holds (deterministic
    /// seed): the property tests' check that their accepting branch is exercised.
    pub(crate) fn accepted_share<S: Strategy>(
        strategy: S,
        cases: usize,
        mut accepted: impl FnMut(S::Value) -> bool,
    ) -> f64 {
        use proptest::strategy::ValueTree;
        let mut runner = proptest::test_runner::TestRunner::deterministic();
        let mut yes = 0;
        for _ in 0..cases {
            let v = strategy
                .new_tree(&mut runner)
                .expect("strategy generates")
                .current();
            yes += usize::from(accepted(v));
        }
        yes as f64 / cases as f64
    }

    fn any_addr() -> impl Strategy<Value = [u8; 4]> {
        any::<[u8; 4]>()
    }

    /// What `parse` must say about a mutated valid packet, when the mutation decides it.
    fn expect_accepted(m: &Mutation, valid: &[u8], mutated: &[u8]) -> Option<bool> {
        let hl = usize::from(valid[0] & 0x0f) * 4;
        match m {
            Mutation::None | Mutation::Source(_) | Mutation::Ttl(_) => Some(true),
            Mutation::Truncate(_) | Mutation::Extend(_) => Some(mutated.len() == valid.len()),
            // One flipped byte always changes the one's-complement sum of the header.
            Mutation::Flip(at, _) => Some(at % valid.len() >= hl),
            Mutation::TotalLen(n) => Some(usize::from(*n) == valid.len()),
            Mutation::Version(v) => Some(*v == 4),
            Mutation::HeaderLen(_) => None,
        }
    }

    #[test]
    fn valid_packet_properties_mostly_accept() {
        let share = accepted_share(
            (spec(any_addr(), any_addr()), mutation()),
            2000,
            |(s, m)| {
                let mut p = s.build();
                m.apply(&mut p);
                parse(&p).is_ok()
            },
        );
        assert!(
            share > 0.4,
            "only {share:.2} of the generated packets parse"
        );
    }

    proptest! {
        /// Valid packets, changed or not: what parses is exactly one well-formed IPv4 packet
        /// (version 4, header inside, total length = bytes, header checksum right) with the
        /// fields it was built with, and every change either keeps it valid or is refused.
        #[test]
        fn parse_accepts_exactly_the_valid_packets(s in spec(any_addr(), any_addr()), m in mutation()) {
            let valid = s.build();
            let mut p = valid.clone();
            m.apply(&mut p);
            let got = parse(&p);
            if let Some(want) = expect_accepted(&m, &valid, &p) {
                prop_assert_eq!(got.is_ok(), want, "{:?} -> {:?}", m, got);
            }
            if let Ok(h) = got {
                prop_assert_eq!(p[0] >> 4, 4);
                prop_assert_eq!(h.total_len, p.len());
                prop_assert!(h.header_len >= MIN_HEADER && h.header_len <= p.len());
                prop_assert!(header_checksum_ok(&p, h.header_len));
                prop_assert_eq!(h.src, src(&p));
                prop_assert_eq!(h.dst, dst(&p));
                if m == Mutation::None {
                    prop_assert_eq!(h.src, Ipv4Addr::from(s.src));
                    prop_assert_eq!(h.dst, Ipv4Addr::from(s.dst));
                    prop_assert_eq!((h.protocol, h.ttl), (s.proto, s.ttl));
                    prop_assert_eq!(h.header_len, usize::from(s.ihl) * 4);
                    prop_assert_eq!(h.fragment_offset, s.frag & 0x1fff);
                }
                // The TTL decrement keeps an accepted packet valid, one less, never below 0.
                let mut d = p.clone();
                let ttl = decrement_ttl(&mut d);
                prop_assert_eq!(ttl, h.ttl.saturating_sub(1));
                prop_assert_eq!(d[8], ttl);
                prop_assert!(parse(&d).is_ok());
                prop_assert_eq!(&d[12..], &p[12..]);
            }
        }

        /// The ICMP reply is due exactly for accepted packets that are neither ICMP nor a
        /// later fragment, and is itself a valid packet back to the sender quoting it.
        #[test]
        fn unreachable_replies_to_valid_packets(s in spec(any_addr(), any_addr()), m in mutation()) {
            let mut p = s.build();
            m.apply(&mut p);
            let due = parse(&p).is_ok_and(|h| h.protocol != PROTO_ICMP && h.fragment_offset == 0);
            let r = unreachable(&p);
            prop_assert_eq!(r.is_some(), due);
            if let Some(r) = r {
                let h = parse(&r).map_err(|e| TestCaseError::fail(e.to_string()))?;
                prop_assert_eq!((h.src, h.dst, h.protocol), (dst(&p), src(&p), PROTO_ICMP));
                prop_assert_eq!(checksum(&r[20..]), 0);
                let quoted = (usize::from(p[0] & 0x0f) * 4 + 8).min(p.len());
                prop_assert_eq!(&r[28..], &p[..quoted]);
            }
        }

        /// Any bytes: parsing, the TTL decrement and the ICMP builder never panic, and a parsed
        /// packet always satisfies the "exactly one packet" invariants.
        #[test]
        fn arbitrary_datagrams_never_panic(data in proptest::collection::vec(any::<u8>(), 0..200)) {
            let mut d = data.clone();
            if let Ok(h) = parse(&d) {
                prop_assert_eq!(h.total_len, d.len());
                prop_assert!(h.header_len >= MIN_HEADER && h.header_len <= d.len());
                decrement_ttl(&mut d);
            }
            let _ = unreachable(&data);
        }

        /// The incremental update equals a full recomputation for every header.
        #[test]
        fn incremental_checksum_matches_recompute(
            src in any::<[u8; 4]>(), dst in any::<[u8; 4]>(), proto in any::<u8>(),
            ttl in 1u8.., id in any::<u16>(), len in 0usize..64,
        ) {
            let mut p = packet(src, dst, proto, ttl, &vec![0xab; len]);
            p[4..6].copy_from_slice(&id.to_be_bytes());
            p[10..12].copy_from_slice(&[0, 0]);
            let c = checksum(&p[..20]);
            p[10..12].copy_from_slice(&c.to_be_bytes());
            decrement_ttl(&mut p);
            prop_assert!(header_checksum_ok(&p, 20));
        }
    }
}
