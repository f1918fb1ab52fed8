//! The chain-config bytes the node hands Initialize. Asserts that parsing is deterministic, that
//! blank input is the defaults, and that a config's meaning does not depend on its formatting: a
//! config that parses gives the same settings after its JSON is re-serialized.
#![no_main]

use kvvm::fuzzing::ChainConfig;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    let parsed = ChainConfig::parse(bytes);
    assert_eq!(
        format!("{parsed:?}"),
        format!("{:?}", ChainConfig::parse(bytes)),
        "parsing is not deterministic"
    );
    if bytes.iter().all(u8::is_ascii_whitespace) {
        assert_eq!(parsed.expect("blank config"), ChainConfig::default());
        return;
    }
    let Ok(config) = parsed else {
        return;
    };
    let value: serde_json::Value =
        serde_json::from_slice(bytes).expect("a config that parses is JSON");
    let reformatted = serde_json::to_vec_pretty(&value).expect("JSON prints");
    let reparsed = ChainConfig::parse(&reformatted)
        .unwrap_or_else(|e| panic!("the re-serialized config does not parse: {e}"));
    assert_eq!(
        reparsed, config,
        "the settings depend on the JSON's formatting"
    );
});
