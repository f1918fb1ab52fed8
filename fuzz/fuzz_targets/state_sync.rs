//! State sync's bytes from strangers: a request (AppRequest under handler 1), a response
//! (AppResponse) or a summary (a peer's state summary frontier); the first byte picks which.
//! Asserts that what decodes re-encodes to the same bytes (a summary's ID is then blake3 of them);
//! and, for the records of a chunk answer, that the summary computed from them in memory is
//! accepted bucket by bucket by the syncing side's check, in one chunk or split in two, and
//! that the same bucket with one value changed is refused.
#![no_main]

use std::collections::BTreeSet;

use kvvm::state_sync::wire::{self, SyncResponse};
use kvvm_storage::{BucketCheck, StateSummary, SyncRecord};
use libfuzzer_sys::fuzz_target;

const REQUEST: u8 = 0;
const RESPONSE: u8 = 1;

fuzz_target!(|bytes: &[u8]| {
    let Some((&kind, payload)) = bytes.split_first() else {
        return;
    };
    match kind % 3 {
        REQUEST => {
            if let Ok(request) = wire::decode_request(payload) {
                let encoded = wire::encode_request(&request);
                assert_eq!(wire::decode_request(&encoded), Ok(request));
                // The handler prefix is a varint Go also reads non-minimally; the body is canonical.
                assert!(payload.ends_with(&encoded[1..]), "the body re-encodes differently");
            }
        }
        RESPONSE => {
            let Ok(response) = wire::decode_response(payload) else {
                return;
            };
            assert_eq!(wire::encode_response(&response), payload);
            if let SyncResponse::Chunk { records, .. } = response {
                check_buckets_of(records);
            }
        }
        _ => {
            let Ok(summary) = StateSummary::from_bytes(payload) else {
                return;
            };
            assert_eq!(summary.to_bytes(), payload);
            assert_eq!(summary.id(), *blake3::hash(payload).as_bytes());
            for bucket in 0..summary.buckets.len() {
                let (first, end) = summary.bucket_range(bucket).expect("a listed bucket");
                assert!(end.is_none_or(|end| first < end));
            }
        }
    }
});

/// The summary of `records` (when they are a state: distinct keys, each an element) and the
/// bucket check must agree on every bucket.
fn check_buckets_of(mut records: Vec<SyncRecord>) {
    let keys: BTreeSet<Vec<u8>> = records.iter().map(SyncRecord::sync_key).collect();
    if keys.len() != records.len() || records.iter().any(|r| r.element().is_none()) {
        return;
    }
    let summary = StateSummary::of_records(1, [0; 32], records.clone()).expect("a state summarizes");
    assert_eq!(summary.records(), records.len() as u64);
    records.sort_by_cached_key(SyncRecord::sync_key);
    let mut from = 0;
    for (index, bucket) in summary.buckets.iter().enumerate() {
        let to = from + bucket.records as usize;
        let slice = &records[from..to];
        let mut whole = BucketCheck::new(&summary, index).expect("a listed bucket");
        assert_eq!(whole.take_chunk(slice, true), Ok(()), "bucket {index} refused whole");
        let (head, tail) = slice.split_at(slice.len() / 2);
        let mut split = BucketCheck::new(&summary, index).expect("a listed bucket");
        if !head.is_empty() {
            assert_eq!(split.take_chunk(head, false), Ok(()));
        }
        assert_eq!(split.take_chunk(tail, true), Ok(()), "bucket {index} refused in two");
        let mut changed = slice.to_vec();
        if let Some(SyncRecord::Entry { entry, .. }) = changed
            .iter_mut()
            .find(|r| matches!(r, SyncRecord::Entry { .. }))
        {
            entry.value.push(0x5a);
            let mut check = BucketCheck::new(&summary, index).expect("a listed bucket");
            assert!(check.take_chunk(&changed, true).is_err(), "a changed value passed");
        }
        from = to;
    }
    assert_eq!(from, records.len());
}
