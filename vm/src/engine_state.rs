//! The node's engine state (`snow.State`), as SetState reports it.

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EngineState {
    Starting,
    StateSyncing,
    Bootstrapping,
    NormalOp,
}

impl EngineState {
    pub fn as_str(self) -> &'static str {
        match self {
            EngineState::Starting => "starting",
            EngineState::StateSyncing => "state_syncing",
            EngineState::Bootstrapping => "bootstrapping",
            EngineState::NormalOp => "normal_op",
        }
    }
}
