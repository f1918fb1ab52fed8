//! What the fuzz targets in `fuzz/` reach beyond the public API: built only with the `fuzzing`
//! feature, so the plugin's own surface stays as it is. Each item is the real code path the node
//! or a peer drives, never a stand-in.

use std::sync::Arc;

use kvvm_rpc::HttpBridge;

pub use crate::cache::BoundedSet;
pub use crate::chain_config::{ChainConfig, ConfigError};
use crate::node::{KvVm, VmError};

/// The JSON-RPC bridge exactly as CreateHandlers serves it (`plugin::vm_service`), over an
/// initialized `vm`, without the gRPC server and socket around it; and the wire names of the
/// methods it serves.
pub fn rpc_bridge(
    vm: Arc<KvVm>,
    protocol: u32,
) -> Result<(HttpBridge, Vec<&'static str>), VmError> {
    let (methods, limits) = crate::rpc_server::served_api(vm, protocol)?;
    let mut names: Vec<&'static str> = methods.method_names().collect();
    names.sort_unstable();
    Ok((HttpBridge::new(methods, limits), names))
}
