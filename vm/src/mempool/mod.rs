//! Transactions between their arrival and a block: [`admission`] checks them, [`pool`] holds them
//! until a block includes them, and [`fate`] remembers why one left without being accepted.

mod admission;
mod fate;
mod pool;

pub(crate) use admission::{Admission, AdmissionParts, AdmitError, Admitted, TxState};
pub(crate) use fate::{Fate, FateLog, WAITED_TOO_LONG};
pub(crate) use pool::{AddError, Mempool, MempoolLimits, Pick};
