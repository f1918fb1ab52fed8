//! A transaction's bytes as JSON-RPC `submitTx` and gossip deliver them: decode, then the stateless
//! checks. Asserts that decoding is the inverse of encoding (so a transaction has one encoding and
//! one ID) and that every check gives the same verdict twice.
#![no_main]

use kvvm::tx::{Transaction, SIGNING_DOMAIN};
use kvvm_fuzz::{limits, CHAIN_ID};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    let max_tx_bytes = limits().max_tx_bytes as usize;
    let Ok(tx) = Transaction::decode(bytes, max_tx_bytes) else {
        return;
    };
    assert!(bytes.len() <= max_tx_bytes, "an oversized input decoded");
    assert_eq!(tx.encode(), bytes, "decode∘encode is not the identity");
    assert_eq!(
        tx.id.0,
        *blake3::hash(bytes).as_bytes(),
        "the ID is not blake3 of the bytes"
    );
    assert_eq!(tx.encoded_len, bytes.len());
    assert_eq!(
        Transaction::new(tx.signed.clone()),
        tx,
        "re-encoding changed the transaction"
    );

    let signing = tx.signed.unsigned.signing_bytes();
    assert!(signing.starts_with(SIGNING_DOMAIN));

    let format = tx.check_format(&CHAIN_ID, &limits());
    assert_eq!(
        format,
        tx.check_format(&CHAIN_ID, &limits()),
        "format verdict changed"
    );
    let signature = tx.verify_signature();
    assert_eq!(
        signature,
        tx.verify_signature(),
        "signature verdict changed"
    );
});
