//! Pins wire-level facts of the generated types against hand-computed bytes,
//! so an accidental edit of a field number, type or enum value in the
//! `.proto` files fails here instead of silently breaking the node.

use kvvm_proto::prost_types::Timestamp;
use kvvm_proto::{appsender, http, io, vm};
use prost::Message;

fn enc<M: Message>(m: &M) -> Vec<u8> {
    m.encode_to_vec()
}

#[test]
fn enum_values() {
    assert_eq!(vm::State::Unspecified as i32, 0);
    assert_eq!(vm::State::StateSyncing as i32, 1);
    assert_eq!(vm::State::Bootstrapping as i32, 2);
    assert_eq!(vm::State::NormalOp as i32, 3);

    assert_eq!(vm::Error::Unspecified as i32, 0);
    assert_eq!(vm::Error::Closed as i32, 1);
    assert_eq!(vm::Error::NotFound as i32, 2);
    assert_eq!(vm::Error::StateSyncNotImplemented as i32, 3);

    assert_eq!(vm::Message::Unspecified as i32, 0);
    assert_eq!(vm::Message::BuildBlock as i32, 1);
    assert_eq!(vm::Message::StateSyncFinished as i32, 2);

    use vm::state_summary_accept_response::Mode;
    assert_eq!(Mode::Skipped as i32, 1);
    assert_eq!(Mode::Static as i32, 2);
    assert_eq!(Mode::Dynamic as i32, 3);

    assert_eq!(io::reader::ErrorCode::Eof as i32, 1);

    use io::prometheus::client::MetricType;
    assert_eq!(MetricType::Counter as i32, 0);
    assert_eq!(MetricType::Gauge as i32, 1);
    assert_eq!(MetricType::Summary as i32, 2);
    assert_eq!(MetricType::Untyped as i32, 3);
    assert_eq!(MetricType::Histogram as i32, 4);
    assert_eq!(MetricType::GaugeHistogram as i32, 5);
}

#[test]
fn get_block_not_found_is_field_6() {
    let miss = vm::GetBlockResponse {
        err: vm::Error::NotFound as i32,
        ..Default::default()
    };
    // tag = (6 << 3) | varint = 0x30, value 2
    assert_eq!(enc(&miss), [0x30, 0x02]);

    let decoded = vm::GetBlockResponse::decode(&[0x30u8, 0x02][..]).unwrap();
    assert_eq!(decoded.err(), vm::Error::NotFound);
}

#[test]
fn get_block_full_layout() {
    let hit = vm::GetBlockResponse {
        parent_id: vec![0xaa],
        bytes: vec![0xbb],
        height: 7,
        timestamp: Some(Timestamp {
            seconds: 1,
            nanos: 0,
        }),
        err: 0,
        verify_with_context: true,
    };
    assert_eq!(
        enc(&hit),
        [
            0x0a, 0x01, 0xaa, // 1: parent_id
            0x12, 0x01, 0xbb, // 2: bytes
            0x20, 0x07, // 4: height
            0x2a, 0x02, 0x08, 0x01, // 5: timestamp{seconds: 1}
            0x38, 0x01, // 7: verify_with_context
        ]
    );
}

#[test]
fn parse_block_height_is_field_4() {
    let r = vm::ParseBlockResponse::decode(&[0x20u8, 0x2a][..]).unwrap();
    assert_eq!(r.height, 42);
    let r = vm::ParseBlockResponse {
        id: vec![1],
        parent_id: vec![2],
        height: 5,
        timestamp: None,
        verify_with_context: true,
    };
    assert_eq!(
        enc(&r),
        [0x0a, 0x01, 0x01, 0x12, 0x01, 0x02, 0x20, 0x05, 0x30, 0x01]
    );
}

#[test]
fn initialize_and_set_state_layout() {
    let r = vm::InitializeResponse {
        last_accepted_id: vec![1],
        last_accepted_parent_id: vec![2],
        height: 3,
        bytes: vec![4],
        timestamp: Some(Timestamp {
            seconds: 0,
            nanos: 5,
        }),
    };
    let expect = [
        0x0a, 0x01, 0x01, 0x12, 0x01, 0x02, 0x18, 0x03, 0x22, 0x01, 0x04, 0x2a, 0x02, 0x10, 0x05,
    ];
    assert_eq!(enc(&r), expect);
    // SetStateResponse shares the layout.
    let s = vm::SetStateResponse::decode(&expect[..]).unwrap();
    assert_eq!(s.height, 3);
    assert_eq!(s.timestamp.unwrap().nanos, 5);

    let req = vm::SetStateRequest::decode(&[0x08u8, 0x03][..]).unwrap();
    assert_eq!(req.state(), vm::State::NormalOp);

    // InitializeRequest: server_addr = 14, network_upgrades = 15.
    let init = vm::InitializeRequest {
        server_addr: "a".into(),
        network_upgrades: Some(vm::NetworkUpgrades {
            granite_epoch_duration: Some(kvvm_proto::prost_types::Duration {
                seconds: 1,
                nanos: 0,
            }),
            helicon_time: Some(Timestamp::default()),
            ..Default::default()
        }),
        ..Default::default()
    };
    assert_eq!(
        enc(&init),
        [
            0x72, 0x01, b'a', // 14: server_addr
            0x7a, 0x08, // 15: network_upgrades, 8 bytes
            0x8a, 0x01, 0x02, 0x08, 0x01, // 17: granite_epoch_duration{seconds: 1}
            0x92, 0x01, 0x00, // 18: helicon_time{}
        ]
    );
}

#[test]
fn misc_vm_messages() {
    let ev = vm::WaitForEventResponse {
        message: vm::Message::BuildBlock as i32,
    };
    assert_eq!(enc(&ev), [0x08, 0x01]);

    let h = vm::GetBlockIdAtHeightResponse {
        blk_id: vec![],
        err: vm::Error::NotFound as i32,
    };
    assert_eq!(enc(&h), [0x10, 0x02]);

    let ss = vm::StateSyncEnabledResponse {
        enabled: false,
        err: vm::Error::Unspecified as i32,
    };
    assert!(enc(&ss).is_empty());

    // proto3 `optional`: presence is encoded even for zero.
    let bb = vm::BuildBlockRequest {
        p_chain_height: Some(0),
    };
    assert_eq!(enc(&bb), [0x08, 0x00]);
    let bv = vm::BlockVerifyRequest {
        bytes: vec![],
        p_chain_height: Some(0),
    };
    assert_eq!(enc(&bv), [0x10, 0x00]);

    // sint32 error_code uses zigzag: -1 -> 1.
    let f = vm::AppRequestFailedMsg {
        error_code: -1,
        ..Default::default()
    };
    assert_eq!(enc(&f), [0x18, 0x01]);

    let anc = vm::GetAncestorsRequest {
        max_blocks_retrival_time: 1,
        ..Default::default()
    };
    assert_eq!(enc(&anc), [0x20, 0x01]);

    let sa = vm::StateSummaryAcceptResponse {
        mode: vm::state_summary_accept_response::Mode::Static as i32,
        err: vm::Error::Closed as i32,
    };
    assert_eq!(enc(&sa), [0x08, 0x02, 0x10, 0x01]);
}

#[test]
fn appsender_and_runtime_layout() {
    let g = appsender::SendAppGossipMsg {
        node_ids: vec![vec![9]],
        validators: 1,
        non_validators: 2,
        peers: 3,
        msg: vec![7],
    };
    assert_eq!(
        enc(&g),
        [0x0a, 0x01, 0x09, 0x10, 0x01, 0x18, 0x02, 0x20, 0x03, 0x2a, 0x01, 0x07]
    );

    let e = appsender::SendAppErrorMsg {
        error_code: -2,
        ..Default::default()
    };
    assert_eq!(enc(&e), [0x18, 0x03]);

    let r = kvvm_proto::vm::runtime::InitializeRequest {
        protocol_version: 44,
        addr: "a".into(),
    };
    assert_eq!(enc(&r), [0x08, 44, 0x12, 0x01, b'a']);
}

#[test]
fn http_layout() {
    let req = http::Request {
        content_length: 1,
        tls: Some(http::ConnectionState {
            version: 1,
            ..Default::default()
        }),
        ..Default::default()
    };
    // 8: content_length; 16: tls (two-byte tag 0x82 0x01).
    assert_eq!(enc(&req), [0x40, 0x01, 0x82, 0x01, 0x02, 0x08, 0x01]);

    let simple = http::HandleSimpleHttpResponse {
        code: 200,
        headers: vec![],
        body: vec![1],
    };
    assert_eq!(enc(&simple), [0x08, 0xc8, 0x01, 0x1a, 0x01, 0x01]);

    let wh = http::responsewriter::WriteHeaderRequest {
        headers: vec![],
        status_code: 404,
    };
    assert_eq!(enc(&wh), [0x10, 0x94, 0x03]);

    // io.writer WriteResponse.error is proto3 optional.
    let w = io::writer::WriteResponse {
        written: 0,
        error: Some(String::new()),
    };
    assert_eq!(enc(&w), [0x12, 0x00]);

    let rd = io::reader::ReadResponse::decode(&[0x12u8, 0x02, 0x08, 0x01][..]).unwrap();
    assert_eq!(rd.error.unwrap().error_code(), io::reader::ErrorCode::Eof);
}

#[test]
fn metric_family_round_trips() {
    use io::prometheus::client::{
        Bucket, Counter, Gauge, Histogram, LabelPair, Metric, MetricFamily, MetricType,
    };

    let fam = MetricFamily {
        name: Some("kvvm_blocks_total".into()),
        help: Some("accepted blocks".into()),
        r#type: Some(MetricType::Counter as i32),
        metric: vec![
            Metric {
                label: vec![LabelPair {
                    name: Some("chain".into()),
                    value: Some("x".into()),
                }],
                counter: Some(Counter {
                    value: Some(3.0),
                    ..Default::default()
                }),
                ..Default::default()
            },
            Metric {
                histogram: Some(Histogram {
                    sample_count: Some(2),
                    sample_sum: Some(1.5),
                    bucket: vec![Bucket {
                        cumulative_count: Some(2),
                        upper_bound: Some(f64::INFINITY),
                        ..Default::default()
                    }],
                    created_timestamp: Some(Timestamp::default()),
                    schema: Some(-1),
                    ..Default::default()
                }),
                timestamp_ms: Some(1),
                ..Default::default()
            },
        ],
        unit: None,
    };
    let bytes = enc(&fam);
    let back = MetricFamily::decode(bytes.as_slice()).unwrap();
    assert_eq!(back, fam);
    assert_eq!(back.r#type(), MetricType::Counter);

    // proto2 presence: an explicit COUNTER (0) is still written as field 3.
    let only_type = MetricFamily {
        r#type: Some(0),
        ..Default::default()
    };
    assert_eq!(enc(&only_type), [0x18, 0x00]);

    // Gauge.value is a double at field 1, written even when 0.0.
    let g = Gauge { value: Some(0.0) };
    assert_eq!(enc(&g), [0x09, 0, 0, 0, 0, 0, 0, 0, 0]);

    // Histogram: created_timestamp = 15, schema = 5 (sint32).
    let h = Histogram {
        created_timestamp: Some(Timestamp::default()),
        schema: Some(-1),
        ..Default::default()
    };
    assert_eq!(enc(&h), [0x28, 0x01, 0x7a, 0x00]);

    // Metric: histogram = 7, timestamp_ms = 6.
    let m = Metric {
        histogram: Some(Histogram::default()),
        timestamp_ms: Some(2),
        ..Default::default()
    };
    assert_eq!(enc(&m), [0x30, 0x02, 0x3a, 0x00]);

    // The family travels inside vm.GatherResponse field 1.
    let gather = vm::GatherResponse {
        metric_families: vec![fam.clone()],
    };
    let gb = enc(&gather);
    assert_eq!(gb[0], 0x0a);
    assert_eq!(
        vm::GatherResponse::decode(gb.as_slice())
            .unwrap()
            .metric_families,
        vec![fam]
    );
}

#[test]
fn service_paths_exist() {
    // Compile-time pins of the generated module/type names other crates use.
    let names = [
        std::any::type_name::<vm::vm_server::VmServer<()>>(),
        std::any::type_name::<vm::vm_client::VmClient<()>>(),
        std::any::type_name::<vm::runtime::runtime_client::RuntimeClient<()>>(),
        std::any::type_name::<vm::runtime::runtime_server::RuntimeServer<()>>(),
        std::any::type_name::<http::http_server::HttpServer<()>>(),
        std::any::type_name::<http::http_client::HttpClient<()>>(),
        std::any::type_name::<http::responsewriter::writer_client::WriterClient<()>>(),
        std::any::type_name::<http::responsewriter::writer_server::WriterServer<()>>(),
        std::any::type_name::<io::reader::reader_server::ReaderServer<()>>(),
        std::any::type_name::<io::writer::writer_server::WriterServer<()>>(),
        std::any::type_name::<appsender::app_sender_client::AppSenderClient<()>>(),
        std::any::type_name::<appsender::app_sender_server::AppSenderServer<()>>(),
    ];
    assert!(
        names[0].ends_with("vm::vm_server::VmServer<()>"),
        "{}",
        names[0]
    );
    assert_eq!(names.len(), 12);
}
