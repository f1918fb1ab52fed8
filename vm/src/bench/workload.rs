//! What the benchmark feeds a node: signed transactions from many accounts, made before any stage
//! is timed, so signing never counts.

use ed25519_dalek::SigningKey;

use crate::tx::{Operation, Transaction, UnsignedTx};

/// Accounts' keys are derived from their index, so a run is the same every time.
fn account_key(space: u8, index: u64) -> SigningKey {
    let mut seed = [0u8; 32];
    seed[0] = space;
    seed[1..9].copy_from_slice(&index.to_le_bytes());
    SigningKey::from_bytes(&seed)
}

/// Distinct per (space, account, nonce, op): no two transactions of a run touch the same key, so
/// every put adds a key, as in a store that grows.
fn key(space: u8, account: u64, nonce: u64, op: usize) -> Vec<u8> {
    format!("bench/{space}/{account}/{nonce}/{op}").into_bytes()
}

pub(crate) struct Workload {
    pub(crate) chain_id: [u8; 32],
    /// Distinguishes the keys and accounts of one batch from another's.
    pub(crate) space: u8,
    pub(crate) accounts: u64,
    pub(crate) ops_per_tx: usize,
    pub(crate) value_bytes: usize,
}

impl Workload {
    /// `count` transactions, encoded as a client submits them: account by account in turn, each
    /// account's nonces in order from 0.
    pub(crate) fn encoded(&self, count: u64) -> Vec<Vec<u8>> {
        self.encoded_range(0..count)
    }

    /// The transactions `range` of that sequence, so a long one can be made a part at a time.
    pub(crate) fn encoded_range(&self, range: std::ops::Range<u64>) -> Vec<Vec<u8>> {
        let keys: Vec<SigningKey> = (0..self.accounts)
            .map(|index| account_key(self.space, index))
            .collect();
        let value = vec![0xa5; self.value_bytes];
        range
            .map(|n| {
                let account = n % self.accounts;
                let nonce = n / self.accounts;
                let signer = &keys[account as usize];
                let ops = (0..self.ops_per_tx)
                    .map(|op| Operation::Put {
                        key: key(self.space, account, nonce, op),
                        value: value.clone(),
                    })
                    .collect();
                let unsigned = UnsignedTx {
                    chain_id: self.chain_id,
                    sender: signer.verifying_key().to_bytes(),
                    nonce,
                    ops,
                };
                Transaction::new(unsigned.sign(signer)).encode()
            })
            .collect()
    }
}

/// Signatures of `count` distinct messages, for timing the strict check alone.
pub(crate) fn signed_messages(
    count: usize,
) -> Vec<(
    ed25519_dalek::VerifyingKey,
    Vec<u8>,
    ed25519_dalek::Signature,
)> {
    use ed25519_dalek::Signer;
    let key = account_key(0xff, 0);
    (0..count)
        .map(|n| {
            let message = format!("kvvm bench message {n}").into_bytes();
            let signature = key.sign(&message);
            (key.verifying_key(), message, signature)
        })
        .collect()
}
