//! Identifiers: the typed 32-byte IDs of blocks and transactions, Avalanche's text form of IDs
//! (cb58), and kvvm's VMID.
//!
//! Block and transaction IDs are distinct types so that one cannot be passed where the other is
//! meant, and so that errors carry the ID itself rather than a string made from it. Both print as
//! 64 lowercase hex characters, the form the JSON-RPC API uses.

use borsh::{BorshDeserialize, BorshSerialize};
use sha2::{Digest, Sha256};

/// An ID that was not 32 bytes long.
#[derive(Debug, thiserror::Error, Clone, Copy, PartialEq, Eq)]
#[error("an ID is 32 bytes, got {0}")]
pub struct IdLengthError(pub usize);

macro_rules! id32 {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(
            Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default, BorshSerialize,
            BorshDeserialize,
        )]
        pub struct $name(pub [u8; 32]);

        impl $name {
            pub fn as_bytes(&self) -> &[u8; 32] {
                &self.0
            }

            pub fn to_vec(self) -> Vec<u8> {
                self.0.to_vec()
            }
        }

        impl AsRef<[u8]> for $name {
            fn as_ref(&self) -> &[u8] {
                &self.0
            }
        }

        impl From<[u8; 32]> for $name {
            fn from(bytes: [u8; 32]) -> Self {
                Self(bytes)
            }
        }

        impl From<$name> for [u8; 32] {
            fn from(id: $name) -> Self {
                id.0
            }
        }

        impl TryFrom<&[u8]> for $name {
            type Error = IdLengthError;

            fn try_from(bytes: &[u8]) -> Result<Self, IdLengthError> {
                <[u8; 32]>::try_from(bytes)
                    .map(Self)
                    .map_err(|_| IdLengthError(bytes.len()))
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&hex::encode(self.0))
            }
        }

        impl std::fmt::Debug for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                write!(f, "{}({})", stringify!($name), self)
            }
        }
    };
}

id32!(
    /// blake3 of a block's canonical bytes.
    BlockId
);
id32!(
    /// blake3 of a signed transaction's canonical bytes.
    TxId
);

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
    fn ids_print_as_64_lowercase_hex_and_parse_only_from_32_bytes() {
        let id = BlockId([0xab; 32]);
        assert_eq!(id.to_string(), "ab".repeat(32));
        assert_eq!(
            format!("{:?}", TxId([1; 32])),
            format!("TxId({})", "01".repeat(32))
        );
        assert_eq!(BlockId::try_from(&[0xab; 32][..]), Ok(id));
        assert_eq!(BlockId::try_from(&[0; 31][..]), Err(IdLengthError(31)));
        assert_eq!(TxId::try_from(&[0; 33][..]), Err(IdLengthError(33)));
    }

    #[test]
    fn an_id_encodes_as_its_bare_32_bytes() {
        // Blocks embed their parent's ID: the newtype must not change the bytes on the wire.
        assert_eq!(borsh::to_vec(&BlockId([7; 32])).unwrap(), vec![7; 32]);
    }

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
