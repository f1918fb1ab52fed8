//! Wire types and gRPC stubs for the AvalancheGo `rpcchainvm` protocol, as
//! used by kvvm.
//!
//! The `.proto` files live in this crate's directory (`proto/`) and are our
//! own, wire-compatible descriptions of the subset of AvalancheGo's protocol
//! that kvvm needs. `build.rs` compiles them at build time with `protox`
//! (no system `protoc`) and `tonic-prost-build`, emitting both client and
//! server stubs. Module paths mirror the protobuf packages:
//!
//! | package                  | module                                |
//! |--------------------------|---------------------------------------|
//! | `vm`                     | [`vm`]                                |
//! | `vm.runtime`             | [`vm::runtime`]                       |
//! | `http`                   | [`http`]                              |
//! | `http.responsewriter`    | [`http::responsewriter`]              |
//! | `io.reader`              | [`io::reader`]                        |
//! | `io.writer`              | [`io::writer`]                        |
//! | `io.prometheus.client`   | [`io::prometheus::client`]            |
//! | `appsender`              | [`appsender`]                         |
//!
//! Google well-known types (`Empty`, `Timestamp`, `Duration`) map to
//! [`prost_types`], re-exported here for convenience.

pub use prost_types;

/// Package `vm`: the VM service the node drives.
#[allow(clippy::all, clippy::pedantic, missing_docs)]
pub mod vm {
    tonic::include_proto!("vm");

    /// Package `vm.runtime`: the plugin start-up handshake served by the node.
    #[allow(clippy::all, clippy::pedantic, missing_docs)]
    pub mod runtime {
        tonic::include_proto!("vm.runtime");
    }
}

/// Package `http`: HTTP requests forwarded by the node to a VM handler.
#[allow(clippy::all, clippy::pedantic, missing_docs)]
pub mod http {
    tonic::include_proto!("http");

    /// Package `http.responsewriter`: node-served response writer for `Handle`.
    #[allow(clippy::all, clippy::pedantic, missing_docs)]
    pub mod responsewriter {
        tonic::include_proto!("http.responsewriter");
    }
}

/// Packages under `io`.
pub mod io {
    /// Package `io.reader`: remote byte reader.
    #[allow(clippy::all, clippy::pedantic, missing_docs)]
    pub mod reader {
        tonic::include_proto!("io.reader");
    }

    /// Package `io.writer`: remote byte writer.
    #[allow(clippy::all, clippy::pedantic, missing_docs)]
    pub mod writer {
        tonic::include_proto!("io.writer");
    }

    /// Packages under `io.prometheus`.
    pub mod prometheus {
        /// Package `io.prometheus.client`: the Prometheus metric data model.
        #[allow(clippy::all, clippy::pedantic, missing_docs)]
        pub mod client {
            tonic::include_proto!("io.prometheus.client");
        }
    }
}

/// Package `appsender`: outbound app messaging served by the node.
#[allow(clippy::all, clippy::pedantic, missing_docs)]
pub mod appsender {
    tonic::include_proto!("appsender");
}
