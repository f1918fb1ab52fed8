//! Compiles the `.proto` files under this crate into Rust with pure-Rust
//! tooling (protox), so no system `protoc` is needed.

use std::path::{Path, PathBuf};

const PROTO_FILES: &[&str] = &[
    "vm/vm.proto",
    "vm/runtime/runtime.proto",
    "http/http.proto",
    "http/responsewriter/responsewriter.proto",
    "io/reader/reader.proto",
    "io/writer/writer.proto",
    "appsender/appsender.proto",
    "io/prometheus/client/metrics.proto",
];

const PROTO_DIRS: &[&str] = &["vm", "http", "io", "appsender"];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let root = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR")?);

    for dir in PROTO_DIRS {
        println!("cargo:rerun-if-changed={}", root.join(dir).display());
    }
    for file in PROTO_FILES {
        println!("cargo:rerun-if-changed={}", root.join(file).display());
    }

    let fds = protox::compile(PROTO_FILES.iter().map(Path::new), [root.as_path()])?;

    tonic_prost_build::configure()
        .build_server(true)
        .build_client(true)
        .compile_fds(fds)?;
    Ok(())
}
