//! A block's bytes as ParseBlock receives them from the node (from any peer, before anything is
//! known about the block). Asserts that decoding is the inverse of encoding, that the ID is blake3
//! of the bytes, that every transaction inside re-decodes alone to itself, and that the VM's
//! ParseBlock (size limit included) agrees with the bare decoder.
#![no_main]

use kvvm::block::Block;
use kvvm::tx::Transaction;
use kvvm_fuzz::served_vm;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    let vm = &served_vm().vm;
    let parsed = vm.parse_block(bytes);
    let decoded = Block::decode(bytes, usize::MAX);
    let Ok(block) = decoded else {
        assert!(parsed.is_err(), "ParseBlock took bytes the decoder refuses");
        return;
    };
    let within_limit = bytes.len() <= kvvm_fuzz::limits().max_block_bytes as usize;
    match parsed {
        Ok(parsed) => assert_eq!(parsed, block, "ParseBlock and the decoder disagree"),
        Err(e) => assert!(
            !within_limit,
            "ParseBlock refused a block within its limit: {e}"
        ),
    }
    assert_eq!(block.bytes, bytes);
    assert_eq!(block.id.0, *blake3::hash(bytes).as_bytes());
    let rebuilt = Block::new(
        block.parent,
        block.height,
        block.timestamp_ms,
        block.txs.clone(),
        block.state_root,
    );
    assert_eq!(rebuilt, block, "decode∘encode is not the identity");
    for tx in &block.txs {
        let alone = Transaction::decode(&tx.encode(), usize::MAX)
            .expect("a block's transaction decodes alone");
        assert_eq!(&alone, tx);
    }
});
