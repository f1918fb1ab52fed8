//! Avalanche's text form of IDs (cb58) and kvvm's VMID.

use sha2::{Digest, Sha256};

/// The VM's name, zero-padded to 32 bytes, is its VMID (the convention AvalancheGo uses for xsvm).
pub const VM_NAME: &str = "kvvm";

pub fn vm_id() -> [u8; 32] {
    let mut id = [0u8; 32];
    id[..VM_NAME.len()].copy_from_slice(VM_NAME.as_bytes());
    id
}

/// cb58: base58 of the bytes followed by the last 4 bytes of their SHA-256.
pub fn cb58_encode(bytes: &[u8]) -> String {
    let checksum = Sha256::digest(bytes);
    let mut with_checksum = bytes.to_vec();
    with_checksum.extend_from_slice(&checksum[checksum.len() - 4..]);
    bs58::encode(with_checksum).into_string()
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Cb58Error {
    #[error("not base58")]
    NotBase58,
    #[error("too short to hold a checksum")]
    TooShort,
    #[error("checksum does not match")]
    BadChecksum,
}

pub fn cb58_decode(text: &str) -> Result<Vec<u8>, Cb58Error> {
    let raw = bs58::decode(text)
        .into_vec()
        .map_err(|_| Cb58Error::NotBase58)?;
    if raw.len() < 4 {
        return Err(Cb58Error::TooShort);
    }
    let (bytes, checksum) = raw.split_at(raw.len() - 4);
    let expected = Sha256::digest(bytes);
    if checksum != &expected[expected.len() - 4..] {
        return Err(Cb58Error::BadChecksum);
    }
    Ok(bytes.to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kvvm_vm_id_matches_the_published_cb58() {
        assert_eq!(
            cb58_encode(&vm_id()),
            "pKzWfwFJiwYE8pfXv6iF7r9E8nG68tv8uQuTKUA9Wmv5yUEmM"
        );
    }

    #[test]
    fn xsvm_id_matches_avalanchego() {
        let mut id = [0u8; 32];
        id[..4].copy_from_slice(b"xsvm");
        assert_eq!(
            cb58_encode(&id),
            "v3m4wPxaHpvGr8qfMeyK6PRW3idZrPHmYcMTt7oXdK47yurVH"
        );
    }

    #[test]
    fn decode_inverts_encode_and_checks_the_checksum() {
        let text = cb58_encode(&[1, 2, 3]);
        assert_eq!(cb58_decode(&text).unwrap(), vec![1, 2, 3]);
        let mut broken = text.into_bytes();
        let last = broken.len() - 1;
        broken[last] = if broken[last] == b'2' { b'3' } else { b'2' };
        assert_eq!(
            cb58_decode(std::str::from_utf8(&broken).unwrap()),
            Err(Cb58Error::BadChecksum)
        );
        assert_eq!(cb58_decode("0OIl"), Err(Cb58Error::NotBase58));
    }
}
