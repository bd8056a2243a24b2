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
}

/// Parse `pkt` as exactly one IPv4 packet: version 4, a header length inside the packet, and a
/// total length equal to the number of bytes (nothing before or after the packet).
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
        assert!(unreachable(&frag).is_none());
        // A first fragment (more-fragments set, offset 0) does get one.
        frag[6..8].copy_from_slice(&0x2000u16.to_be_bytes());
        assert!(unreachable(&frag).is_some());
    }

    proptest! {
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
