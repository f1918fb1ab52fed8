//! When each batch may leave: an offered rate spreads the batches evenly over time, measured from
//! the start of the run (so a late batch does not push back every later one).

use std::time::Duration;

#[derive(Clone, Copy, Debug)]
pub(crate) struct Pacer {
    /// Offered transactions per second; `None` sends as fast as the windows allow.
    pub(crate) rate: Option<f64>,
}

impl Pacer {
    /// How long after the start the batch whose first transaction is the `sent_before`-th of the
    /// run may be sent.
    pub(crate) fn due(&self, sent_before: usize) -> Duration {
        match self.rate {
            Some(rate) if rate > 0.0 => Duration::from_secs_f64(sent_before as f64 / rate),
            _ => Duration::ZERO,
        }
    }
}
