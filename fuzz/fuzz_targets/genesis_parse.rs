//! The genesis bytes the node hands Initialize. Asserts that a parsed genesis prints
//! (`Genesis::to_json_pretty`) to a document that parses back to the same genesis, that parsing is
//! deterministic, and that the genesis hash covers the raw bytes.
#![no_main]

use kvvm_fuzz::GENESIS_UNIX;
use kvvm_genesis::{genesis_hash, Genesis};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    let parsed = Genesis::parse(bytes, GENESIS_UNIX);
    assert_eq!(
        format!("{parsed:?}"),
        format!("{:?}", Genesis::parse(bytes, GENESIS_UNIX)),
        "parsing is not deterministic"
    );
    assert_eq!(genesis_hash(bytes), *blake3::hash(bytes).as_bytes());
    let Ok(genesis) = parsed else {
        return;
    };
    assert!(genesis.timestamp <= GENESIS_UNIX);
    let printed = genesis.to_json_pretty();
    let reparsed = Genesis::parse(printed.as_bytes(), GENESIS_UNIX)
        .unwrap_or_else(|e| panic!("the printed genesis does not parse: {e}\n{printed}"));
    assert_eq!(reparsed, genesis, "print∘parse is not the identity");
});
