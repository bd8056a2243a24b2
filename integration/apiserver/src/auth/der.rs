//! The little PEM and DER handling the key loader needs: PEM blocks (any
//! label, as client-go's keyutil ignores labels), reading the SEC1
//! `ECPrivateKey` structure ring cannot parse itself, and writing the
//! SubjectPublicKeyInfo of a key (for the `kid` header).

use base64::Engine as _;

/// One `-----BEGIN <label>-----` block, base64-decoded. Blocks whose body is
/// not valid base64 are skipped (as Go's `pem.Decode` does).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PemBlock {
    pub label: String,
    pub der: Vec<u8>,
}

pub fn pem_blocks(text: &str) -> Vec<PemBlock> {
    let mut out = Vec::new();
    let mut current: Option<(String, String)> = None;
    for line in text.lines() {
        let line = line.trim();
        if let Some(label) = line
            .strip_prefix("-----BEGIN ")
            .and_then(|l| l.strip_suffix("-----"))
        {
            current = Some((label.to_string(), String::new()));
        } else if let Some(label) = line
            .strip_prefix("-----END ")
            .and_then(|l| l.strip_suffix("-----"))
        {
            if let Some((begin, body)) = current.take() {
                if begin == label {
                    if let Ok(der) = base64::engine::general_purpose::STANDARD.decode(body) {
                        out.push(PemBlock { label: begin, der });
                    }
                }
            }
        } else if let Some((_, body)) = current.as_mut() {
            // RFC 1421 headers ("Proc-Type: ...") are not base64.
            if !line.contains(':') {
                body.push_str(line);
            }
        }
    }
    out
}

/// Formats DER as a PEM block.
#[cfg(test)]
pub fn to_pem(label: &str, der: &[u8]) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut s = format!("-----BEGIN {label}-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        s.push_str(&String::from_utf8_lossy(chunk));
        s.push('\n');
    }
    s.push_str(&format!("-----END {label}-----\n"));
    s
}

/// One DER TLV: (tag, contents, rest).
fn tlv(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        let (bytes, rest) = rest.split_at(n);
        let len = bytes
            .iter()
            .fold(0usize, |acc, b| (acc << 8) | usize::from(*b));
        (len, rest)
    };
    if rest.len() < len {
        return None;
    }
    let (contents, rest) = rest.split_at(len);
    Some((tag, contents, rest))
}

/// The parts of a SEC1 `ECPrivateKey` (RFC 5915).
#[derive(Debug)]
pub struct Sec1<'a> {
    pub private: &'a [u8],
    /// DER contents of the curve OID, when present.
    pub curve_oid: Option<&'a [u8]>,
    /// Uncompressed public point, when present.
    pub public: Option<&'a [u8]>,
}

pub fn parse_sec1(der: &[u8]) -> Option<Sec1<'_>> {
    let (tag, seq, _) = tlv(der)?;
    if tag != 0x30 {
        return None;
    }
    let (tag, version, rest) = tlv(seq)?;
    if tag != 0x02 || version != [1] {
        return None;
    }
    let (tag, private, mut rest) = tlv(rest)?;
    if tag != 0x04 {
        return None;
    }
    let mut key = Sec1 {
        private,
        curve_oid: None,
        public: None,
    };
    while !rest.is_empty() {
        let (tag, inner, next) = tlv(rest)?;
        rest = next;
        match tag {
            0xa0 => {
                let (t, oid, _) = tlv(inner)?;
                if t == 0x06 {
                    key.curve_oid = Some(oid);
                }
            }
            0xa1 => {
                let (t, bits, _) = tlv(inner)?;
                if t == 0x03 {
                    key.public = bits.split_first().map(|(_, point)| point);
                }
            }
            _ => {}
        }
    }
    Some(key)
}

fn write_tlv(tag: u8, contents: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let len = contents.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes: Vec<u8> = len
            .to_be_bytes()
            .iter()
            .copied()
            .skip_while(|b| *b == 0)
            .collect();
        out.push(0x80 | bytes.len() as u8);
        out.extend_from_slice(&bytes);
    }
    out.extend_from_slice(contents);
    out
}

/// OID contents (without tag/length).
pub const OID_RSA_ENCRYPTION: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];
pub const OID_EC_PUBLIC_KEY: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01];
pub const OID_P256: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
pub const OID_P384: &[u8] = &[0x2b, 0x81, 0x04, 0x00, 0x22];

/// SubjectPublicKeyInfo DER for an algorithm OID, optional parameter OID
/// (None = NULL, as for RSA) and the key bits.
pub fn spki(alg: &[u8], param_oid: Option<&[u8]>, key: &[u8]) -> Vec<u8> {
    let mut alg_id = write_tlv(0x06, alg);
    match param_oid {
        Some(p) => alg_id.extend(write_tlv(0x06, p)),
        None => alg_id.extend([0x05, 0x00]),
    }
    let mut bits = vec![0u8];
    bits.extend_from_slice(key);
    let mut body = write_tlv(0x30, &alg_id);
    body.extend(write_tlv(0x03, &bits));
    write_tlv(0x30, &body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pem_round_trip_and_garbage() {
        let pem = to_pem("PUBLIC KEY", &[1, 2, 3, 4]);
        let blocks = pem_blocks(&format!(
            "junk\n{pem}more junk\n-----BEGIN X-----\n!!\n-----END X-----\n"
        ));
        assert_eq!(
            blocks,
            vec![PemBlock {
                label: "PUBLIC KEY".into(),
                der: vec![1, 2, 3, 4]
            }]
        );
    }

    #[test]
    fn tlv_rejects_truncation() {
        assert!(tlv(&[0x30, 0x05, 1, 2]).is_none());
        assert!(tlv(&[0x30, 0x85, 1, 1, 1, 1, 1]).is_none());
        assert!(parse_sec1(&[0x30, 0x03, 0x02, 0x01, 0x01]).is_none());
    }

    #[test]
    fn long_lengths() {
        let body = vec![7u8; 300];
        let enc = write_tlv(0x04, &body);
        let (tag, contents, rest) = tlv(&enc).unwrap();
        assert_eq!((tag, contents.len(), rest.len()), (0x04, 300, 0));
    }
}
