//! The load's transactions, signed before anything is timed, and the order they are sent in.
//!
//! Each account sends its transactions to one node only (account `a` to node `a mod nodes`): a
//! node that got nonce 7 of an account before nonce 6 reached it by gossip would hold 7 behind a
//! gap, which measures the gossip race rather than the chain.

use ed25519_dalek::SigningKey;
use kvvm_rpc::HexBytes;

use crate::tx::{Operation, Transaction, UnsignedTx};

/// What the transactions write.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Keys {
    /// Every put writes a key of its own, as in a store that grows.
    Distinct,
    /// Every put of every transaction writes the one key of its sender (one writer, many writes).
    Shared,
}

#[derive(Clone, Debug)]
pub(crate) struct Shape {
    /// Distinguishes one load's accounts and keys from another's on the same chain.
    pub(crate) seed: u64,
    pub(crate) accounts: usize,
    pub(crate) ops_per_tx: usize,
    pub(crate) value_bytes: usize,
    pub(crate) keys: Keys,
}

/// One signed transaction, ready to submit.
#[derive(Clone, Debug)]
pub(crate) struct Signed {
    pub(crate) id: [u8; 32],
    pub(crate) account: usize,
    pub(crate) bytes: HexBytes,
}

/// The key of load account `index` under `seed`: deterministic, so a run can be repeated, and
/// apart from the keys of the tests and of `kvvm bench`.
pub(crate) fn account_key(seed: u64, index: usize) -> SigningKey {
    let mut secret = [0u8; 32];
    secret[..8].copy_from_slice(b"kvvmload");
    secret[8..16].copy_from_slice(&seed.to_le_bytes());
    secret[16..24].copy_from_slice(&(index as u64).to_le_bytes());
    SigningKey::from_bytes(&secret)
}

impl Shape {
    pub(crate) fn accounts(&self) -> Vec<SigningKey> {
        (0..self.accounts)
            .map(|index| account_key(self.seed, index))
            .collect()
    }

    fn key(&self, account: usize, nonce: u64, op: usize) -> Vec<u8> {
        match self.keys {
            Keys::Distinct => format!("load/{}/{account}/{nonce}/{op}", self.seed).into_bytes(),
            Keys::Shared => format!("load/{}/{account}", self.seed).into_bytes(),
        }
    }

    /// `count` transactions, account by account in turn, each account's nonces in order from
    /// `first_nonces[account]` (its next nonce on the chain).
    pub(crate) fn sign(
        &self,
        chain_id: [u8; 32],
        signers: &[SigningKey],
        first_nonces: &[u64],
        count: usize,
    ) -> Vec<Signed> {
        (0..count)
            .map(|n| {
                let account = n % self.accounts;
                let nonce = first_nonces[account] + (n / self.accounts) as u64;
                let signer = &signers[account];
                // The value changes with the nonce, so a rewrite of a shared key is a real change.
                let mut value = vec![0xa5; self.value_bytes];
                for (byte, v) in value.iter_mut().zip(nonce.to_le_bytes()) {
                    *byte = v;
                }
                let ops = (0..self.ops_per_tx)
                    .map(|op| Operation::Put {
                        key: self.key(account, nonce, op),
                        value: value.clone(),
                    })
                    .collect();
                let tx = Transaction::new(
                    UnsignedTx {
                        chain_id,
                        sender: signer.verifying_key().to_bytes(),
                        nonce,
                        ops,
                    }
                    .sign(signer),
                );
                Signed {
                    id: tx.id.0,
                    account,
                    bytes: HexBytes(tx.encode()),
                }
            })
            .collect()
    }
}

/// How a plan is cut into `kvvm_submitTxs` calls.
#[derive(Clone, Copy, Debug)]
pub(crate) struct BatchLimits {
    pub(crate) txs: usize,
    /// Bytes of transactions in one call, counted as the hex the request carries: the node
    /// refuses a request body over its rpcMaxRequestBytes (HTTP 413) without reading it.
    pub(crate) hex_bytes: usize,
}

/// The hex characters `tx` takes in a request (`"0x…",`).
fn hex_len(tx: &Signed) -> usize {
    2 * tx.bytes.0.len() + 5
}

/// Indexes into the plan, cut into batches within `limits` (a transaction larger than the byte
/// limit goes alone) of one node's accounts, the nodes taking turns. Within a node, the plan's
/// order (hence each account's nonce order) is kept.
pub(crate) fn batches(
    plan: &[Signed],
    nodes: usize,
    limits: BatchLimits,
) -> Vec<(usize, Vec<usize>)> {
    batches_of(plan, 0..plan.len(), nodes, limits)
}

/// As [`batches`], for the plan's transactions at `indexes` only (those to send again), in the
/// order given.
pub(crate) fn batches_of(
    plan: &[Signed],
    indexes: impl IntoIterator<Item = usize>,
    nodes: usize,
    limits: BatchLimits,
) -> Vec<(usize, Vec<usize>)> {
    let mut per_node: Vec<Vec<Vec<usize>>> = vec![Vec::new(); nodes];
    let mut open: Vec<(Vec<usize>, usize)> = vec![(Vec::new(), 0); nodes];
    for index in indexes {
        let tx = &plan[index];
        let node = tx.account % nodes;
        let (batch, bytes) = &mut open[node];
        let size = hex_len(tx);
        if !batch.is_empty() && (batch.len() >= limits.txs || *bytes + size > limits.hex_bytes) {
            per_node[node].push(std::mem::take(batch));
            *bytes = 0;
        }
        batch.push(index);
        *bytes += size;
    }
    for (node, (batch, _)) in open.into_iter().enumerate() {
        if !batch.is_empty() {
            per_node[node].push(batch);
        }
    }
    let mut queues: Vec<std::vec::IntoIter<Vec<usize>>> =
        per_node.into_iter().map(Vec::into_iter).collect();
    let mut out = Vec::new();
    loop {
        let before = out.len();
        for (node, queue) in queues.iter_mut().enumerate() {
            if let Some(batch) = queue.next() {
                out.push((node, batch));
            }
        }
        if out.len() == before {
            return out;
        }
    }
}
