//! Just enough DER to unwrap public keys; ring has no public API for that.

pub(super) const TAG_INTEGER: u8 = 0x02;
pub(super) const TAG_BIT_STRING: u8 = 0x03;
pub(super) const TAG_OID: u8 = 0x06;
pub(super) const TAG_SEQUENCE: u8 = 0x30;

/// 1.2.840.113549.1.1.1
pub(super) const OID_RSA_ENCRYPTION: &[u8] =
    &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];
/// 1.2.840.10045.2.1
pub(super) const OID_EC_PUBLIC_KEY: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01];
/// 1.2.840.10045.3.1.7 (prime256v1)
pub(super) const OID_P256: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
/// 1.3.132.0.34 (secp384r1)
pub(super) const OID_P384: &[u8] = &[0x2b, 0x81, 0x04, 0x00, 0x22];
/// 1.3.101.112
pub(super) const OID_ED25519: &[u8] = &[0x2b, 0x65, 0x70];

/// A cursor over DER bytes. Every read is bounds-checked and returns `None`
/// on anything unexpected, so hostile input cannot panic it.
pub(super) struct Der<'a>(pub(super) &'a [u8]);

impl<'a> Der<'a> {
    /// Reads one element with the given tag and returns its contents.
    pub(super) fn read(&mut self, tag: u8) -> Option<&'a [u8]> {
        let (&found, rest) = self.0.split_first()?;
        if found != tag {
            return None;
        }
        let (&first, rest) = rest.split_first()?;
        let (len, rest) = if first < 0x80 {
            (usize::from(first), rest)
        } else {
            // Long form; two length bytes (64 KiB) cover any key we accept.
            let count = usize::from(first & 0x7f);
            if count == 0 || count > 2 {
                return None;
            }
            let (len_bytes, rest) = rest.split_at_checked(count)?;
            let len = len_bytes
                .iter()
                .fold(0usize, |acc, &b| (acc << 8) | usize::from(b));
            // DER demands the shortest length encoding.
            if len < 0x80 || (count == 2 && len < 0x100) {
                return None;
            }
            (len, rest)
        };
        let (contents, rest) = rest.split_at_checked(len)?;
        self.0 = rest;
        Some(contents)
    }

    pub(super) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// Splits a SubjectPublicKeyInfo into (algorithm OID, raw parameters, key bytes).
pub(super) fn parse_spki(der: &[u8]) -> Option<(&[u8], &[u8], &[u8])> {
    let mut outer = Der(der);
    let mut spki = Der(outer.read(TAG_SEQUENCE)?);
    let mut alg_id = Der(spki.read(TAG_SEQUENCE)?);
    let oid = alg_id.read(TAG_OID)?;
    let params = alg_id.0;
    let bits = spki.read(TAG_BIT_STRING)?;
    if !outer.is_empty() || !spki.is_empty() {
        return None;
    }
    // Keys are whole bytes: the "unused bits" prefix must be zero.
    match bits.split_first() {
        Some((0, key)) => Some((oid, params, key)),
        _ => None,
    }
}

/// Whether `params` is exactly one OID element equal to `oid`.
pub(super) fn is_oid(params: &[u8], oid: &[u8]) -> bool {
    let mut der = Der(params);
    der.read(TAG_OID) == Some(oid) && der.is_empty()
}

/// The version field of a PKCS#8 `PrivateKeyInfo` / `OneAsymmetricKey`.
pub(super) fn pkcs8_version(der: &[u8]) -> Option<u8> {
    let mut seq = Der(Der(der).read(TAG_SEQUENCE)?);
    match seq.read(TAG_INTEGER)? {
        [v] => Some(*v),
        _ => None,
    }
}
