//! Service-account keys: the public keys of `--service-account-key-file`
//! (PEM public keys, private keys whose public half is used, or
//! certificates; RSA or ECDSA P-256/P-384; several per file, as client-go's
//! `keyutil.ParsePublicKeysPEM`) and the private key of
//! `--service-account-signing-key-file` (PKCS#8, PKCS#1 or SEC1).

use std::path::Path;

use ring::rand::SystemRandom;
use ring::signature::{self, EcdsaKeyPair, KeyPair as _, RsaKeyPair};
use x509_parser::prelude::FromDer as _;

use super::der::{self, OID_EC_PUBLIC_KEY, OID_P256, OID_P384, OID_RSA_ENCRYPTION};
use super::AuthError;

/// A verification key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PublicKey {
    /// PKCS#1 `RSAPublicKey` DER.
    Rsa(Vec<u8>),
    /// Uncompressed P-256 point.
    EcP256(Vec<u8>),
    /// Uncompressed P-384 point.
    EcP384(Vec<u8>),
}

impl PublicKey {
    /// Whether `sig` over `msg` is valid for the JOSE algorithm `alg`.
    pub fn verify(&self, alg: &str, msg: &[u8], sig: &[u8]) -> bool {
        let algorithm: &dyn signature::VerificationAlgorithm = match (self, alg) {
            (PublicKey::Rsa(_), "RS256") => &signature::RSA_PKCS1_2048_8192_SHA256,
            (PublicKey::Rsa(_), "RS384") => &signature::RSA_PKCS1_2048_8192_SHA384,
            (PublicKey::Rsa(_), "RS512") => &signature::RSA_PKCS1_2048_8192_SHA512,
            (PublicKey::EcP256(_), "ES256") => &signature::ECDSA_P256_SHA256_FIXED,
            (PublicKey::EcP384(_), "ES384") => &signature::ECDSA_P384_SHA384_FIXED,
            _ => return false,
        };
        let key = match self {
            PublicKey::Rsa(k) | PublicKey::EcP256(k) | PublicKey::EcP384(k) => k,
        };
        signature::UnparsedPublicKey::new(algorithm, key)
            .verify(msg, sig)
            .is_ok()
    }

    /// SubjectPublicKeyInfo DER.
    pub fn spki_der(&self) -> Vec<u8> {
        match self {
            PublicKey::Rsa(k) => der::spki(OID_RSA_ENCRYPTION, None, k),
            PublicKey::EcP256(k) => der::spki(OID_EC_PUBLIC_KEY, Some(OID_P256), k),
            PublicKey::EcP384(k) => der::spki(OID_EC_PUBLIC_KEY, Some(OID_P384), k),
        }
    }

    /// Upstream's key id: base64url(SHA-256(SPKI DER)), unpadded.
    pub fn key_id(&self) -> String {
        use base64::Engine as _;
        let digest = ring::digest::digest(&ring::digest::SHA256, &self.spki_der());
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest.as_ref())
    }
}

/// A signing key.
#[derive(Debug)]
pub enum PrivateKey {
    Rsa(RsaKeyPair),
    Ec(EcdsaKeyPair, PublicKey),
}

impl PrivateKey {
    pub fn public(&self) -> PublicKey {
        match self {
            PrivateKey::Rsa(kp) => PublicKey::Rsa(kp.public().as_ref().to_vec()),
            PrivateKey::Ec(_, public) => public.clone(),
        }
    }

    /// The JOSE algorithm this key signs with.
    pub fn algorithm(&self) -> &'static str {
        match self {
            PrivateKey::Rsa(_) => "RS256",
            PrivateKey::Ec(_, PublicKey::EcP384(_)) => "ES384",
            PrivateKey::Ec(..) => "ES256",
        }
    }

    pub fn sign(&self, msg: &[u8]) -> Result<Vec<u8>, AuthError> {
        let rng = SystemRandom::new();
        let fail = |_| AuthError::Config("signing the token failed".into());
        match self {
            PrivateKey::Rsa(kp) => {
                let mut sig = vec![0u8; kp.public().modulus_len()];
                kp.sign(&signature::RSA_PKCS1_SHA256, &rng, msg, &mut sig)
                    .map_err(fail)?;
                Ok(sig)
            }
            PrivateKey::Ec(kp, _) => Ok(kp.sign(&rng, msg).map_err(fail)?.as_ref().to_vec()),
        }
    }
}

fn ec_from_pkcs8(der: &[u8]) -> Option<PrivateKey> {
    let rng = SystemRandom::new();
    if let Ok(kp) = EcdsaKeyPair::from_pkcs8(&signature::ECDSA_P256_SHA256_FIXED_SIGNING, der, &rng)
    {
        let public = PublicKey::EcP256(kp.public_key().as_ref().to_vec());
        return Some(PrivateKey::Ec(kp, public));
    }
    let kp =
        EcdsaKeyPair::from_pkcs8(&signature::ECDSA_P384_SHA384_FIXED_SIGNING, der, &rng).ok()?;
    let public = PublicKey::EcP384(kp.public_key().as_ref().to_vec());
    Some(PrivateKey::Ec(kp, public))
}

fn ec_from_sec1(der: &[u8]) -> Option<PrivateKey> {
    let sec1 = der::parse_sec1(der)?;
    let public = sec1.public?;
    let p384 = match sec1.curve_oid {
        Some(oid) if oid == OID_P384 => true,
        Some(oid) if oid == OID_P256 => false,
        Some(_) => return None,
        None => sec1.private.len() == 48,
    };
    let alg = if p384 {
        &signature::ECDSA_P384_SHA384_FIXED_SIGNING
    } else {
        &signature::ECDSA_P256_SHA256_FIXED_SIGNING
    };
    let kp = EcdsaKeyPair::from_private_key_and_public_key(
        alg,
        sec1.private,
        public,
        &SystemRandom::new(),
    )
    .ok()?;
    let public = public.to_vec();
    let public = if p384 {
        PublicKey::EcP384(public)
    } else {
        PublicKey::EcP256(public)
    };
    Some(PrivateKey::Ec(kp, public))
}

/// A private key from one DER block of any supported encoding.
pub fn private_key_from_der(der: &[u8]) -> Option<PrivateKey> {
    if let Ok(kp) = RsaKeyPair::from_pkcs8(der) {
        return Some(PrivateKey::Rsa(kp));
    }
    if let Ok(kp) = RsaKeyPair::from_der(der) {
        return Some(PrivateKey::Rsa(kp));
    }
    ec_from_pkcs8(der).or_else(|| ec_from_sec1(der))
}

fn public_from_spki(spki: &x509_parser::x509::SubjectPublicKeyInfo<'_>) -> Option<PublicKey> {
    let alg = spki.algorithm.algorithm.as_bytes();
    let bits = spki.subject_public_key.data.to_vec();
    if alg == OID_RSA_ENCRYPTION {
        return Some(PublicKey::Rsa(bits));
    }
    if alg != OID_EC_PUBLIC_KEY {
        return None;
    }
    let curve = spki.algorithm.parameters.as_ref()?.as_oid().ok()?;
    match curve.as_bytes() {
        c if c == OID_P256 => Some(PublicKey::EcP256(bits)),
        c if c == OID_P384 => Some(PublicKey::EcP384(bits)),
        _ => None,
    }
}

/// A public key from one DER block: a private key, an SPKI, a certificate or
/// a PKCS#1 `RSAPublicKey`.
pub fn public_key_from_der(label: &str, der: &[u8]) -> Option<PublicKey> {
    if let Some(private) = private_key_from_der(der) {
        return Some(private.public());
    }
    if let Ok((_, spki)) = x509_parser::x509::SubjectPublicKeyInfo::from_der(der) {
        return public_from_spki(&spki);
    }
    if let Ok((_, cert)) = x509_parser::parse_x509_certificate(der) {
        return public_from_spki(cert.public_key());
    }
    if label == "RSA PUBLIC KEY" {
        // Checked for well-formedness when used; ring parses it lazily.
        return Some(PublicKey::Rsa(der.to_vec()));
    }
    None
}

fn read(path: &Path, what: &str) -> Result<String, AuthError> {
    std::fs::read_to_string(path)
        .map_err(|e| AuthError::Config(format!("{what} {}: {e}", path.display())))
}

/// All public keys in a `--service-account-key-file`.
pub fn load_public_keys(path: &Path) -> Result<Vec<PublicKey>, AuthError> {
    let text = read(path, "--service-account-key-file")?;
    let keys: Vec<PublicKey> = der::pem_blocks(&text)
        .iter()
        .filter_map(|b| public_key_from_der(&b.label, &b.der))
        .collect();
    if keys.is_empty() {
        return Err(AuthError::Config(format!(
            "--service-account-key-file {}: no RSA or ECDSA (P-256, P-384) public or private key found",
            path.display()
        )));
    }
    Ok(keys)
}

/// The first private key in a PEM file.
pub fn load_private_key(path: &Path, what: &str) -> Result<PrivateKey, AuthError> {
    let text = read(path, what)?;
    private_key_from_pem(&text).ok_or_else(|| {
        AuthError::Config(format!(
            "{what} {}: no RSA (PKCS#1/PKCS#8, 2048 bits or more) or ECDSA P-256/P-384 \
             (SEC1/PKCS#8) private key found",
            path.display()
        ))
    })
}

pub fn private_key_from_pem(text: &str) -> Option<PrivateKey> {
    der::pem_blocks(text)
        .iter()
        .find_map(|b| private_key_from_der(&b.der))
}
