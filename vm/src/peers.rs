//! The node IDs the node reported connected (this node's own included), for gossip and health.

use std::collections::HashSet;
use std::sync::Arc;

use parking_lot::Mutex;

/// A cheap-to-clone handle. A `parking_lot::Mutex`: set operations only, never held across an
/// `.await`.
#[derive(Clone, Default)]
pub struct Peers {
    connected: Arc<Mutex<HashSet<Vec<u8>>>>,
}

impl Peers {
    pub fn connect(&self, node_id: Vec<u8>) {
        self.connected.lock().insert(node_id);
    }

    pub fn disconnect(&self, node_id: &[u8]) {
        self.connected.lock().remove(node_id);
    }

    pub fn list(&self) -> Vec<Vec<u8>> {
        self.connected.lock().iter().cloned().collect()
    }

    pub fn count(&self) -> usize {
        self.connected.lock().len()
    }
}
