//! Conversions from the metric registry's model to the wire's `io.prometheus.client` messages.

use kvvm_proto::io::prometheus::client as wire;
use prometheus::proto as model;

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
