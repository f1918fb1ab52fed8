//! Conversions between protobuf messages and domain types, and the one mapping from the VM's
//! errors to gRPC statuses: IDs become [`BlockId`]s here, blocks become responses, and the metric
//! registry's model becomes the wire's `io.prometheus.client` messages.

use kvvm_proto::io::prometheus::client as wire;
use kvvm_proto::prost_types::Timestamp;
use kvvm_proto::vm as pb;
use prometheus::proto as model;
use tonic::Status;

use crate::block::Block;
use crate::error::ChainError;
use crate::ids::BlockId;
use crate::node::VmError;

/// The gRPC status of a failed call. A block or transaction that is wrong is the caller's
/// problem (invalid argument); a disk or thread failure is ours (internal).
pub fn status(e: VmError) -> Status {
    match &e {
        VmError::NotInitialized | VmError::ShutDown => Status::failed_precondition(e.to_string()),
        VmError::Chain(ChainError::Storage(_)) => Status::internal(e.to_string()),
        VmError::Chain(_) => Status::invalid_argument(e.to_string()),
        _ => Status::internal(e.to_string()),
    }
}

pub fn timestamp(ms: u64) -> Timestamp {
    Timestamp {
        seconds: (ms / 1000) as i64,
        nanos: ((ms % 1000) * 1_000_000) as i32,
    }
}

/// A 32-byte field, or an invalid-argument status naming it.
pub fn id32(bytes: &[u8], field: &str) -> Result<[u8; 32], Status> {
    bytes.try_into().map_err(|_| {
        Status::invalid_argument(format!("{field} must be 32 bytes, got {}", bytes.len()))
    })
}

pub fn block_id(bytes: &[u8], field: &str) -> Result<BlockId, Status> {
    id32(bytes, field).map(BlockId)
}

pub fn initialize_response(tip: &Block) -> pb::InitializeResponse {
    pb::InitializeResponse {
        last_accepted_id: tip.id.to_vec(),
        last_accepted_parent_id: tip.parent.to_vec(),
        height: tip.height,
        bytes: tip.bytes.clone(),
        timestamp: Some(timestamp(tip.timestamp_ms)),
    }
}

pub fn set_state_response(tip: &Block) -> pb::SetStateResponse {
    pb::SetStateResponse {
        last_accepted_id: tip.id.to_vec(),
        last_accepted_parent_id: tip.parent.to_vec(),
        height: tip.height,
        bytes: tip.bytes.clone(),
        timestamp: Some(timestamp(tip.timestamp_ms)),
    }
}

pub fn build_block_response(block: &Block) -> pb::BuildBlockResponse {
    pb::BuildBlockResponse {
        id: block.id.to_vec(),
        parent_id: block.parent.to_vec(),
        bytes: block.bytes.clone(),
        height: block.height,
        timestamp: Some(timestamp(block.timestamp_ms)),
        verify_with_context: false,
    }
}

pub fn parse_block_response(block: &Block) -> pb::ParseBlockResponse {
    pb::ParseBlockResponse {
        id: block.id.to_vec(),
        parent_id: block.parent.to_vec(),
        height: block.height,
        timestamp: Some(timestamp(block.timestamp_ms)),
        verify_with_context: false,
    }
}

/// A found block, or the in-band "not found" the node expects.
pub fn get_block_response(found: Option<&Block>) -> pb::GetBlockResponse {
    match found {
        Some(block) => pb::GetBlockResponse {
            parent_id: block.parent.to_vec(),
            bytes: block.bytes.clone(),
            height: block.height,
            timestamp: Some(timestamp(block.timestamp_ms)),
            err: pb::Error::Unspecified as i32,
            verify_with_context: false,
        },
        None => pb::GetBlockResponse {
            err: pb::Error::NotFound as i32,
            ..Default::default()
        },
    }
}

pub fn metric_family(family: &model::MetricFamily) -> wire::MetricFamily {
    let kind = family.get_field_type();
    let wire_type = match kind {
        model::MetricType::COUNTER => wire::MetricType::Counter,
        model::MetricType::GAUGE => wire::MetricType::Gauge,
        model::MetricType::SUMMARY => wire::MetricType::Summary,
        model::MetricType::UNTYPED => wire::MetricType::Untyped,
        model::MetricType::HISTOGRAM => wire::MetricType::Histogram,
    };
    wire::MetricFamily {
        name: Some(family.name().to_string()),
        help: Some(family.help().to_string()),
        r#type: Some(wire_type as i32),
        metric: family
            .get_metric()
            .iter()
            .map(|m| metric(m, kind))
            .collect(),
        ..Default::default()
    }
}

fn metric(m: &model::Metric, kind: model::MetricType) -> wire::Metric {
    let mut out = wire::Metric {
        label: m
            .get_label()
            .iter()
            .map(|l| wire::LabelPair {
                name: Some(l.name().to_string()),
                value: Some(l.value().to_string()),
            })
            .collect(),
        ..Default::default()
    };
    match kind {
        model::MetricType::COUNTER => {
            out.counter = Some(wire::Counter {
                value: Some(m.get_counter().get_value()),
                ..Default::default()
            })
        }
        model::MetricType::GAUGE => {
            out.gauge = Some(wire::Gauge {
                value: Some(m.get_gauge().get_value()),
            })
        }
        // kvvm registers no untyped metrics; the family would carry no values.
        model::MetricType::UNTYPED => {}
        model::MetricType::SUMMARY => {
            let s = m.get_summary();
            out.summary = Some(wire::Summary {
                sample_count: Some(s.sample_count()),
                sample_sum: Some(s.sample_sum()),
                quantile: s
                    .get_quantile()
                    .iter()
                    .map(|q| wire::Quantile {
                        quantile: Some(q.quantile()),
                        value: Some(q.value()),
                    })
                    .collect(),
                ..Default::default()
            })
        }
        model::MetricType::HISTOGRAM => {
            let h = m.get_histogram();
            out.histogram = Some(wire::Histogram {
                sample_count: Some(h.get_sample_count()),
                sample_sum: Some(h.get_sample_sum()),
                bucket: h
                    .get_bucket()
                    .iter()
                    .map(|b| wire::Bucket {
                        cumulative_count: Some(b.cumulative_count()),
                        upper_bound: Some(b.upper_bound()),
                        ..Default::default()
                    })
                    .collect(),
                ..Default::default()
            })
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::Metrics;

    #[test]
    fn a_storage_failure_is_internal_and_a_bad_block_is_invalid_argument() {
        let storage = kvvm_storage::StorageError::NotInitialized;
        let code = status(VmError::Chain(ChainError::Storage(storage))).code();
        assert_eq!(code, tonic::Code::Internal);
        let bad = VmError::Chain(ChainError::MalformedBlock("x".into()));
        assert_eq!(status(bad).code(), tonic::Code::InvalidArgument);
        assert_eq!(
            status(VmError::ShutDown).code(),
            tonic::Code::FailedPrecondition
        );
    }

    #[test]
    fn histogram_and_counter_values_survive_conversion() {
        let metrics = Metrics::new();
        metrics.blocks_accepted.inc_by(3);
        metrics.block_verify_seconds.observe(0.002);
        metrics.block_verify_seconds.observe(5.0);
        let families: Vec<wire::MetricFamily> =
            metrics.gather().iter().map(metric_family).collect();
        let accepted = families
            .iter()
            .find(|f| f.name() == "blocks_accepted_total")
            .unwrap();
        assert_eq!(accepted.r#type, Some(wire::MetricType::Counter as i32));
        assert_eq!(
            accepted.metric[0].counter.as_ref().unwrap().value,
            Some(3.0)
        );
        let verify = families
            .iter()
            .find(|f| f.name() == "block_verify_seconds")
            .unwrap();
        let h = verify.metric[0].histogram.as_ref().unwrap();
        assert_eq!(h.sample_count, Some(2));
        assert!((h.sample_sum.unwrap() - 5.002).abs() < 1e-9);
        // 0.002 falls in a finite bucket, 5.0 above the largest one.
        let last = h.bucket.last().unwrap();
        assert_eq!(last.cumulative_count, Some(1));
    }
}
