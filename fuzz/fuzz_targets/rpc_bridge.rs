//! The JSON-RPC bridge as the node drives it (`http.HTTP/HandleSimple`), with arbitrary HTTP
//! methods, URLs, headers and bodies; a body is raw bytes or a JSON-RPC call or batch built from
//! the API's method names with arbitrary parameters, so the fuzzer reaches every handler.
//!
//! Asserts that every answer is one the bridge documents (its status table in `rpc/src/bridge.rs`),
//! that a 200 carries JSON in which no call failed internally (a handler's panic or a failed
//! worker shows as -32603), that the same request answers the same twice (a request that submits
//! may change what a later one sees, so only its status is compared), and that no request changes
//! the chain.
#![no_main]

use arbitrary::Arbitrary;
use kvvm_fuzz::{runtime, served_vm};
use kvvm_proto::http::http_server::Http;
use kvvm_proto::http::{Element, HandleSimpleHttpRequest, HandleSimpleHttpResponse};
use kvvm_rpc::codes;
use libfuzzer_sys::fuzz_target;
use serde_json::{json, Map, Value};

/// Statuses the bridge documents: 200, 400 (not JSON), 403 (websocket), 405, 413, 415.
const DOCUMENTED: [i32; 6] = [200, 400, 403, 405, 413, 415];

#[derive(Arbitrary, Debug)]
struct Input {
    method: HttpMethod,
    url: Url,
    headers: Vec<Header>,
    body: Body,
}

#[derive(Arbitrary, Debug)]
enum HttpMethod {
    Post,
    Get,
    Raw(String),
}

#[derive(Arbitrary, Debug)]
enum Url {
    Rpc,
    Raw(String),
}

#[derive(Arbitrary, Debug)]
enum Header {
    JsonContentType,
    ContentType(String),
    Upgrade,
    Raw(String, Vec<String>),
}

#[derive(Arbitrary, Debug)]
enum Body {
    Raw(Vec<u8>),
    Call(Call),
    Batch(Vec<Call>),
}

#[derive(Arbitrary, Debug)]
struct Call {
    method: MethodName,
    params: Params,
    id: Id,
}

#[derive(Arbitrary, Debug)]
enum MethodName {
    Known(u8),
    Raw(String),
}

#[derive(Arbitrary, Debug)]
enum Params {
    Absent,
    Array(Vec<Json>),
    Object(Vec<(Field, Json)>),
}

/// Parameter names the API uses, so objects can name them.
#[derive(Arbitrary, Debug)]
enum Field {
    Known(u8),
    Raw(String),
}

const FIELDS: [&str; 12] = [
    "tx", "txs", "txId", "key", "keys", "prefix", "cursor", "limit", "account", "id", "height",
    "req",
];

#[derive(Arbitrary, Debug)]
enum Id {
    Absent,
    Number(u64),
    Text(String),
    Null,
}

#[derive(Arbitrary, Debug)]
enum Json {
    Null,
    Bool(bool),
    Int(i64),
    Uint(u64),
    Float(f64),
    Text(String),
    /// `0x`-prefixed hex, the API's byte encoding.
    Hex(Vec<u8>),
    Array(Vec<Json>),
    Object(Vec<(Field, Json)>),
}

impl Field {
    fn name(&self) -> String {
        match self {
            Field::Known(i) => FIELDS[*i as usize % FIELDS.len()].to_string(),
            Field::Raw(s) => s.clone(),
        }
    }
}

impl Json {
    fn value(&self) -> Value {
        match self {
            Json::Null => Value::Null,
            Json::Bool(b) => json!(b),
            Json::Int(i) => json!(i),
            Json::Uint(u) => json!(u),
            Json::Float(f) => json!(f),
            Json::Text(s) => json!(s),
            Json::Hex(bytes) => json!(format!("0x{}", hex(bytes))),
            Json::Array(items) => Value::Array(items.iter().map(Json::value).collect()),
            Json::Object(fields) => object(fields),
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn object(fields: &[(Field, Json)]) -> Value {
    let map: Map<String, Value> = fields.iter().map(|(f, v)| (f.name(), v.value())).collect();
    Value::Object(map)
}

impl Call {
    fn value(&self) -> Value {
        let mut call = Map::new();
        call.insert("jsonrpc".into(), json!("2.0"));
        let method = match &self.method {
            MethodName::Known(i) => {
                let methods = &served_vm().methods;
                methods[*i as usize % methods.len()].to_string()
            }
            MethodName::Raw(s) => s.clone(),
        };
        call.insert("method".into(), json!(method));
        match &self.params {
            Params::Absent => {}
            Params::Array(items) => {
                call.insert("params".into(), items.iter().map(Json::value).collect());
            }
            Params::Object(fields) => {
                call.insert("params".into(), object(fields));
            }
        }
        match &self.id {
            Id::Absent => {}
            Id::Number(n) => {
                call.insert("id".into(), json!(n));
            }
            Id::Text(s) => {
                call.insert("id".into(), json!(s));
            }
            Id::Null => {
                call.insert("id".into(), Value::Null);
            }
        }
        Value::Object(call)
    }
}

impl Input {
    fn request(&self) -> HandleSimpleHttpRequest {
        let method = match &self.method {
            HttpMethod::Post => "POST".to_string(),
            HttpMethod::Get => "GET".to_string(),
            HttpMethod::Raw(s) => s.clone(),
        };
        let url = match &self.url {
            Url::Rpc => "/ext/bc/kvvm/rpc".to_string(),
            Url::Raw(s) => s.clone(),
        };
        let header = |key: &str, value: &str| Element {
            key: key.to_string(),
            values: vec![value.to_string()],
        };
        let request_headers = self
            .headers
            .iter()
            .map(|h| match h {
                Header::JsonContentType => header("Content-Type", "application/json"),
                Header::ContentType(v) => header("Content-Type", v),
                Header::Upgrade => header("Upgrade", "websocket"),
                Header::Raw(key, values) => Element {
                    key: key.clone(),
                    values: values.clone(),
                },
            })
            .collect();
        let body = match &self.body {
            Body::Raw(bytes) => bytes.clone(),
            Body::Call(call) => call.value().to_string().into_bytes(),
            Body::Batch(calls) => Value::Array(calls.iter().map(Call::value).collect())
                .to_string()
                .into_bytes(),
        };
        HandleSimpleHttpRequest {
            method,
            url,
            request_headers,
            body,
            response_headers: Vec::new(),
        }
    }
}

fn send(request: HandleSimpleHttpRequest) -> HandleSimpleHttpResponse {
    let bridge = &served_vm().bridge;
    runtime()
        .block_on(bridge.handle_simple(tonic::Request::new(request)))
        .expect("HandleSimple answers every request in-band")
        .into_inner()
}

/// The error codes of every call in a JSON-RPC answer (one object or a batch).
fn error_codes(answer: &Value) -> Vec<i64> {
    let calls = match answer {
        Value::Array(calls) => calls.iter().collect(),
        single => vec![single],
    };
    calls
        .into_iter()
        .filter_map(|c| c.get("error")?.get("code")?.as_i64())
        .collect()
}

fn check(response: &HandleSimpleHttpResponse) {
    assert!(
        DOCUMENTED.contains(&response.code),
        "undocumented status {}",
        response.code
    );
    // A notification (a call without an ID) gets no answer: an empty 200.
    if response.code != 200 || response.body.is_empty() {
        return;
    }
    let answer: Value = serde_json::from_slice(&response.body).unwrap_or_else(|e| {
        panic!(
            "a 200 that is not JSON ({e}): {:?}",
            String::from_utf8_lossy(&response.body)
        )
    });
    assert!(
        !error_codes(&answer).contains(&i64::from(codes::INTERNAL)),
        "a call failed internally: {answer}"
    );
}

fuzz_target!(|input: Input| {
    let request = input.request();
    let submits = request.body.windows(6).any(|w| w == b"submit");
    let vm = &served_vm().vm;
    let before = vm.health().expect("a healthy VM");

    let first = send(request.clone());
    check(&first);
    let second = send(request);
    assert_eq!(
        first.code, second.code,
        "the same request answered differently"
    );
    if !submits {
        assert_eq!(
            first.body, second.body,
            "the same read answered differently"
        );
    }

    let after = vm.health().expect("a healthy VM");
    assert_eq!(
        after["lastAccepted"], before["lastAccepted"],
        "a request moved the chain"
    );
    assert_eq!(after["processingBlocks"], 0);
});
