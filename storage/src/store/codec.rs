//! Decoding what the store reads back: a value that does not decode is a `Corrupt` error naming
//! what was read, never a panic.

use borsh::BorshDeserialize;

use crate::error::{Result, StorageError};
use crate::store::BlockId;

/// Borsh serialisation into a `Vec` only fails if the writer fails, and a `Vec` writer does not.
pub(crate) const BORSH_TO_VEC: &str = "borsh serialisation into a Vec cannot fail";

pub(crate) fn rejected_index_key(height: u64, id: &BlockId) -> [u8; 40] {
    let mut key = [0u8; 40];
    key[..8].copy_from_slice(&height.to_be_bytes());
    key[8..].copy_from_slice(id);
    key
}

pub(crate) fn decode_borsh<T: BorshDeserialize>(bytes: &[u8], what: &'static str) -> Result<T> {
    borsh::from_slice(bytes).map_err(|err| StorageError::Corrupt {
        what,
        reason: err.to_string(),
    })
}

pub(crate) fn decode_id(bytes: &[u8], what: &'static str) -> Result<[u8; 32]> {
    bytes.try_into().map_err(|_| StorageError::Corrupt {
        what,
        reason: format!("{} bytes, expected 32", bytes.len()),
    })
}

pub(crate) fn decode_u64_le(bytes: &[u8], what: &'static str) -> Result<u64> {
    let array: [u8; 8] = bytes.try_into().map_err(|_| StorageError::Corrupt {
        what,
        reason: format!("{} bytes, expected 8", bytes.len()),
    })?;
    Ok(u64::from_le_bytes(array))
}

pub(crate) fn decode_u32(bytes: &[u8], what: &'static str) -> Result<u32> {
    let array: [u8; 4] = bytes.try_into().map_err(|_| StorageError::Corrupt {
        what,
        reason: format!("{} bytes, expected 4", bytes.len()),
    })?;
    Ok(u32::from_le_bytes(array))
}
