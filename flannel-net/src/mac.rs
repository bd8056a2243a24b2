//! Ethernet hardware addresses and their text form (`c6:d2:32:6f:8f:44`).

/// An Ethernet hardware address.
pub type Mac = [u8; 6];

/// Parse "c6:d2:32:6f:8f:44" (either case; '-' separators accepted too).
pub fn parse_mac(s: &str) -> Option<Mac> {
    let sep = if s.contains('-') { '-' } else { ':' };
    let mut mac = [0u8; 6];
    let mut parts = s.split(sep);
    for byte in mac.iter_mut() {
        let p = parts.next()?;
        if p.len() != 2 || !p.bytes().all(|c| c.is_ascii_hexdigit()) {
            return None;
        }
        *byte = u8::from_str_radix(p, 16).ok()?;
    }
    if parts.next().is_some() {
        return None;
    }
    Some(mac)
}

/// Lower-case, colon-separated hex of any hardware address ("c6:d2:32:6f:8f:44" for a MAC;
/// "" for none).
pub fn format_mac(b: &[u8]) -> String {
    let mut s = String::with_capacity(b.len() * 3);
    for (i, byte) in b.iter().enumerate() {
        if i > 0 {
            s.push(':');
        }
        s.push(char::from(HEX[usize::from(byte >> 4)]));
        s.push(char::from(HEX[usize::from(byte & 0xf)]));
    }
    s
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// The MAC in `b` when it is exactly 6 bytes long.
pub fn mac_from_slice(b: &[u8]) -> Option<Mac> {
    Mac::try_from(b).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roundtrip_and_rejects() {
        let m = parse_mac("C6:d2:32:6f:8f:44").expect("valid mac");
        assert_eq!(m, [0xc6, 0xd2, 0x32, 0x6f, 0x8f, 0x44]);
        assert_eq!(format_mac(&m), "c6:d2:32:6f:8f:44");
        assert_eq!(parse_mac(&format_mac(&m)), Some(m));
        assert_eq!(parse_mac("c6-d2-32-6f-8f-44"), Some(m));
        for bad in [
            "",
            "c6:d2:32:6f:8f",
            "c6:d2:32:6f:8f:44:00",
            "c6:d2:32:6f:8f:4",
            "c6:d2:32:6f:8f:4g",
            "c6:d2:32:6f:8f:+4",
            "c6d2:32:6f:8f:44",
            "c6:d2-32:6f:8f:44",
        ] {
            assert_eq!(parse_mac(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn format_any_length() {
        assert_eq!(format_mac(&[0, 1, 2, 0xa, 0xb, 0xff]), "00:01:02:0a:0b:ff");
        assert_eq!(
            format_mac(&[0xc6, 0xd2, 0x32, 0x6f, 0x8f, 0x04]),
            "c6:d2:32:6f:8f:04"
        );
        assert_eq!(format_mac(&[]), "");
        assert_eq!(mac_from_slice(&[1, 2, 3]), None);
        assert_eq!(
            mac_from_slice(&[1, 2, 3, 4, 5, 6]),
            Some([1, 2, 3, 4, 5, 6])
        );
    }
}
