//! Serving JSON-RPC to the node through the gRPC `http.HTTP` service.
//!
//! AvalancheGo does not talk HTTP to a VM: its API server forwards each request
//! over gRPC. HTTP/1.1 requests arrive whole as `HandleSimple` and expect the
//! whole response back; HTTP/2 (and upgrade) requests arrive as `Handle`, where
//! the VM dials a per-request node-side server to pull the body (`io.reader`)
//! and push the status, headers and body (`http.responsewriter`).
//!
//! Both paths rebuild an [`http::Request`] and run it through jsonrpsee's own
//! HTTP service (`Server::builder().to_service_builder()`, no socket), so every
//! HTTP-level decision is jsonrpsee's, applied exactly as on a real jsonrpsee
//! server:
//!
//! | request                                          | answer                                    |
//! |--------------------------------------------------|-------------------------------------------|
//! | `POST` with a JSON content type, any path          | 200, `application/json; charset=utf-8`    |
//! | body over [`BridgeLimits::max_request_body_bytes`] | 413 with a JSON-RPC error -32007 (`id: null`) |
//! | `HandleSimple` message over that plus [`REQUEST_ENVELOPE_BYTES`] | gRPC error, never decoded |
//! | batch longer than [`BridgeLimits::max_batch_len`]  | 200 with a single JSON-RPC error -32010   |
//! | response over [`BridgeLimits::max_response_body_bytes`] | 200 with JSON-RPC error -32008 for that call |
//! | body that does not start with `{` or `[`          | 400 with JSON-RPC parse error -32700      |
//! | body starting with `{`/`[` but invalid JSON       | 200 with JSON-RPC parse error -32700      |
//! | `POST` without a JSON content type                | 415, `text/plain`                         |
//! | any other method (`GET`, …)                       | 405, `text/plain`                         |
//! | websocket upgrade (this bridge is HTTP-only)      | 403, empty body                           |
//!
//! Accepted JSON content types are `application/json` and
//! `application/json-rpc`, optionally with `charset=utf-8`.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use http::header::{HeaderMap, HeaderName, HeaderValue, CONTENT_LENGTH, CONTENT_TYPE};
use http::StatusCode;
use http_body_util::{BodyExt, Full};
use jsonrpsee::server::{
    stop_channel, BatchRequestConfig, Methods, Server, ServerConfig, ServerHandle, TowerService,
};
use kvvm_proto::http::http_server::{Http, HttpServer};
use kvvm_proto::http::responsewriter::writer_client::WriterClient;
use kvvm_proto::http::responsewriter::{Header as WriterHeader, WriteHeaderRequest, WriteRequest};
use kvvm_proto::http::{
    Element, HandleSimpleHttpRequest, HandleSimpleHttpResponse, HttpRequest, HttpResponse,
    Request as ProtoRequest,
};
use kvvm_proto::io::reader::reader_client::ReaderClient;
use kvvm_proto::io::reader::{ErrorCode, ReadRequest};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tonic::transport::server::TcpIncoming;
use tonic::transport::{Channel, Endpoint};
use tonic::Status;
use tower::layer::util::Identity;
use tower::ServiceExt;

use crate::Error;

/// jsonrpsee's HTTP service with no extra middleware.
type JsonRpcService = TowerService<Identity, Identity>;

/// How many requests jsonrpsee handles at once; beyond it answers 429.
///
/// jsonrpsee counts every service call as a "connection". The node already
/// bounds its own API concurrency, so this is only a backstop against a
/// runaway caller, set well above what one node sends.
const MAX_IN_FLIGHT: u32 = 1024;

/// Bytes asked for per `io.reader.Read` call while pulling a `Handle` body.
const READ_CHUNK: i32 = 64 * 1024;

/// Largest payload per `http.responsewriter.Write` call.
const WRITE_CHUNK: usize = 1024 * 1024;

/// Consecutive empty, error-free reads after which a `Handle` body is
/// considered stuck (an `io.Reader` may return `0, nil`, but not forever).
const MAX_EMPTY_READS: u32 = 64;

/// Size limits the bridge enforces (through jsonrpsee) on every request.
///
/// There is no `Default`: the values are the chain config's `rpcMax*` fields, whose defaults are
/// declared once, in the VM's chain config, and this crate does not depend on the VM.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BridgeLimits {
    /// Largest request body accepted; larger ones get HTTP 413.
    pub max_request_body_bytes: u32,
    /// Largest response of a single call; a larger one is replaced by a
    /// JSON-RPC error -32008 for that call.
    pub max_response_body_bytes: u32,
    /// Most calls in one JSON-RPC batch; longer batches are rejected whole with
    /// a JSON-RPC error -32010.
    pub max_batch_len: u32,
}

/// Room for a request's method, URL and headers around its body in one
/// `HandleSimple` message. The node's HTTP server caps headers at 1 MiB (Go's
/// default), so a message larger than body limit + envelope carries a body
/// over the limit anyway.
pub const REQUEST_ENVELOPE_BYTES: usize = 1 << 20;

/// The VM side of the node's gRPC `http.HTTP` service, answering with a set of
/// jsonrpsee methods.
///
/// Cheap to clone: clones share the methods and the in-flight bound.
#[derive(Clone, Debug)]
pub struct HttpBridge {
    service: JsonRpcService,
    limits: BridgeLimits,
    /// jsonrpsee hands every service a stop signal; dropping this end would
    /// fire it, so the bridge keeps it for as long as any clone lives.
    _stop: Arc<ServerHandle>,
}

/// A fully buffered HTTP response produced by jsonrpsee.
struct Reply {
    status: StatusCode,
    headers: HeaderMap,
    body: Bytes,
}

impl Reply {
    /// A plain-text answer for requests that never reached jsonrpsee.
    fn text(status: StatusCode, message: String) -> Self {
        let mut headers = HeaderMap::new();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("text/plain"));
        Self {
            status,
            headers,
            body: Bytes::from(message),
        }
    }
}

impl HttpBridge {
    /// A bridge serving `methods` within `limits`.
    pub fn new(methods: impl Into<Methods>, limits: BridgeLimits) -> Self {
        let config = ServerConfig::builder()
            .http_only()
            .max_request_body_size(limits.max_request_body_bytes)
            .max_response_body_size(limits.max_response_body_bytes)
            .set_batch_request_config(BatchRequestConfig::Limit(limits.max_batch_len))
            .max_connections(MAX_IN_FLIGHT)
            .build();
        let (stop_handle, server_handle) = stop_channel();
        let service = Server::builder()
            .set_config(config)
            .to_service_builder()
            .build(methods, stop_handle);
        Self {
            service,
            limits,
            _stop: Arc::new(server_handle),
        }
    }

    /// The limits this bridge enforces.
    pub fn limits(&self) -> BridgeLimits {
        self.limits
    }

    /// This bridge as a tonic service. An incoming message may carry a body up
    /// to the request limit and its envelope; a larger one is refused by
    /// tonic before it is decoded, so no oversized body is ever held whole.
    /// Outgoing messages are bounded by the response limit already.
    pub fn into_grpc_service(self) -> HttpServer<Self> {
        let max_message = self.limits.max_request_body_bytes as usize + REQUEST_ENVELOPE_BYTES;
        HttpServer::new(self)
            .max_decoding_message_size(max_message)
            .max_encoding_message_size(usize::MAX)
    }

    /// Runs one HTTP request through jsonrpsee and buffers the answer.
    async fn call(&self, request: http::Request<Full<Bytes>>) -> Reply {
        let response = match self.service.clone().oneshot(request).await {
            Ok(response) => response,
            Err(e) => {
                tracing::warn!(error = %e, "jsonrpsee service failed");
                return Reply::text(StatusCode::INTERNAL_SERVER_ERROR, e.to_string());
            }
        };
        let (parts, body) = response.into_parts();
        match body.collect().await {
            Ok(collected) => Reply {
                status: parts.status,
                headers: parts.headers,
                body: collected.to_bytes(),
            },
            Err(e) => {
                tracing::warn!(error = %e, "jsonrpsee response body failed");
                Reply::text(StatusCode::INTERNAL_SERVER_ERROR, e.to_string())
            }
        }
    }

    /// Builds the request and runs it, answering 400 when it cannot be built.
    async fn serve(&self, method: &str, uri: &str, headers: &[Element], body: Vec<u8>) -> Reply {
        match build_request(method, uri, headers, body) {
            Ok(request) => self.call(request).await,
            Err(message) => Reply::text(StatusCode::BAD_REQUEST, message),
        }
    }
}

/// Rebuilds an [`http::Request`] from the node's forwarded parts.
///
/// `Content-Length` is set from the body actually received, so jsonrpsee's
/// size check sees the truth whatever the client claimed.
fn build_request(
    method: &str,
    uri: &str,
    headers: &[Element],
    body: Vec<u8>,
) -> Result<http::Request<Full<Bytes>>, String> {
    let mut builder = http::Request::builder()
        .method(http::Method::from_bytes(method.as_bytes()).map_err(|e| format!("method: {e}"))?)
        .uri(uri);
    let map = builder
        .headers_mut()
        .ok_or_else(|| format!("invalid request URI {uri:?}"))?;
    for element in headers {
        let name = HeaderName::from_bytes(element.key.as_bytes())
            .map_err(|e| format!("header name {:?}: {e}", element.key))?;
        for value in &element.values {
            let value = HeaderValue::from_bytes(value.as_bytes())
                .map_err(|e| format!("header {:?}: {e}", element.key))?;
            map.append(name.clone(), value);
        }
    }
    map.insert(CONTENT_LENGTH, HeaderValue::from(body.len()));
    builder
        .body(Full::new(Bytes::from(body)))
        .map_err(|e| format!("invalid request: {e}"))
}

/// Go's `http.CanonicalHeaderKey`: `content-type` → `Content-Type`.
///
/// The node copies our header keys verbatim into a Go `http.Header`, whose
/// own keys are canonical; canonical keys keep the two from duplicating.
fn canonical_header_key(name: &str) -> String {
    let mut upper = true;
    name.chars()
        .map(|c| {
            let out = if upper {
                c.to_ascii_uppercase()
            } else {
                c.to_ascii_lowercase()
            };
            upper = c == '-';
            out
        })
        .collect()
}

/// The node's preset response headers overlaid with jsonrpsee's (ours win,
/// names compared case-insensitively).
///
/// The node clears its response headers and applies exactly the ones we
/// return, so its preset ones (`response_headers`) must be echoed back.
fn merge_response_headers(preset: &[Element], ours: &HeaderMap) -> Vec<Element> {
    let mut merged: Vec<Element> = preset
        .iter()
        .filter(|e| !ours.contains_key(e.key.to_ascii_lowercase().as_str()))
        .cloned()
        .collect();
    for name in ours.keys() {
        merged.push(Element {
            key: canonical_header_key(name.as_str()),
            values: ours
                .get_all(name)
                .iter()
                .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
                .collect(),
        });
    }
    merged
}

fn to_writer_headers(elements: &[Element]) -> Vec<WriterHeader> {
    elements
        .iter()
        .map(|e| WriterHeader {
            key: e.key.clone(),
            values: e.values.clone(),
        })
        .collect()
}

/// The request URI of a `Handle` request: `request_uri` as received, or
/// rebuilt from the parsed URL when the node left it empty.
fn handle_request_uri(request: &ProtoRequest) -> String {
    if !request.request_uri.is_empty() {
        return request.request_uri.clone();
    }
    let Some(url) = &request.url else {
        return "/".to_owned();
    };
    let path = if url.raw_path.is_empty() {
        &url.path
    } else {
        &url.raw_path
    };
    let path = if path.is_empty() { "/" } else { path.as_str() };
    if url.raw_query.is_empty() {
        path.to_owned()
    } else {
        format!("{path}?{}", url.raw_query)
    }
}

/// Pulls a `Handle` request body through the node's `io.reader`, stopping
/// after `max + 1` bytes: enough for jsonrpsee to see the body is too large,
/// without buffering the rest of an oversized body.
async fn read_body(reader: &mut ReaderClient<Channel>, max: u32) -> Result<Vec<u8>, Status> {
    let cap = max as usize + 1;
    let mut body = Vec::new();
    let mut empty_reads = 0;
    while body.len() < cap {
        let want = READ_CHUNK.min(i32::try_from(cap - body.len()).unwrap_or(i32::MAX));
        let reply = reader
            .read(ReadRequest { length: want })
            .await?
            .into_inner();
        empty_reads = if reply.read.is_empty() {
            empty_reads + 1
        } else {
            0
        };
        body.extend_from_slice(&reply.read);
        match reply.error {
            Some(e) if e.error_code == ErrorCode::Eof as i32 => break,
            Some(e) => {
                return Err(Status::aborted(format!(
                    "reading request body: {}",
                    e.message
                )))
            }
            None if empty_reads >= MAX_EMPTY_READS => {
                return Err(Status::aborted("request body reader makes no progress"))
            }
            None => {}
        }
    }
    Ok(body)
}

#[tonic::async_trait]
impl Http for HttpBridge {
    async fn handle(
        &self,
        request: tonic::Request<HttpRequest>,
    ) -> Result<tonic::Response<HttpResponse>, Status> {
        let HttpRequest {
            response_writer,
            request,
        } = request.into_inner();
        let writer_info =
            response_writer.ok_or_else(|| Status::invalid_argument("missing response_writer"))?;
        let request = request.ok_or_else(|| Status::invalid_argument("missing request"))?;

        let channel = Endpoint::from_shared(format!("http://{}", writer_info.server_addr))
            .map_err(|e| Status::invalid_argument(format!("response writer address: {e}")))?
            .connect()
            .await
            .map_err(|e| Status::unavailable(format!("dialing response writer: {e}")))?;
        let mut reader = ReaderClient::new(channel.clone()).max_decoding_message_size(usize::MAX);
        let mut writer = WriterClient::new(channel)
            .max_encoding_message_size(usize::MAX)
            .max_decoding_message_size(usize::MAX);

        let body = read_body(&mut reader, self.limits.max_request_body_bytes).await?;
        let uri = handle_request_uri(&request);
        let reply = self
            .serve(&request.method, &uri, &request.header, body)
            .await;

        let header = merge_response_headers(&writer_info.header, &reply.headers);
        let headers = to_writer_headers(&header);
        writer
            .write_header(WriteHeaderRequest {
                headers: headers.clone(),
                status_code: i32::from(reply.status.as_u16()),
            })
            .await?;
        for chunk in reply.body.chunks(WRITE_CHUNK) {
            writer
                .write(WriteRequest {
                    headers: headers.clone(),
                    payload: chunk.to_vec(),
                })
                .await?;
        }
        Ok(tonic::Response::new(HttpResponse { header }))
    }

    async fn handle_simple(
        &self,
        request: tonic::Request<HandleSimpleHttpRequest>,
    ) -> Result<tonic::Response<HandleSimpleHttpResponse>, Status> {
        let HandleSimpleHttpRequest {
            method,
            url,
            request_headers,
            body,
            response_headers,
        } = request.into_inner();
        let reply = self.serve(&method, &url, &request_headers, body).await;
        Ok(tonic::Response::new(HandleSimpleHttpResponse {
            code: i32::from(reply.status.as_u16()),
            headers: merge_response_headers(&response_headers, &reply.headers),
            body: reply.body.to_vec(),
        }))
    }
}

/// A running bridge gRPC server (see [`serve_http_bridge`]).
#[derive(Debug)]
pub struct BridgeServer {
    local_addr: SocketAddr,
    task: JoinHandle<Result<(), tonic::transport::Error>>,
}

impl BridgeServer {
    /// Address to hand to the node (`CreateHandlers`' `server_addr`).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Waits until the server has stopped (after the shutdown future resolved
    /// and in-flight calls finished).
    pub async fn stopped(self) -> Result<(), Error> {
        self.task.await.map_err(Error::Task)??;
        Ok(())
    }
}

/// Serves `methods` as the node's `http.HTTP` gRPC service on `listener`
/// (normally a fresh `127.0.0.1:0` socket) until `shutdown` resolves.
///
/// The server runs on a spawned task, so the returned address can be reported
/// to the node at once; the listener is already accepting.
pub async fn serve_http_bridge(
    methods: impl Into<Methods>,
    limits: BridgeLimits,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<BridgeServer, Error> {
    let local_addr = listener.local_addr()?;
    let service = HttpBridge::new(methods, limits).into_grpc_service();
    let incoming = TcpIncoming::from(listener).with_nodelay(Some(true));
    let task = tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(service)
            .serve_with_incoming_shutdown(incoming, shutdown),
    );
    Ok(BridgeServer { local_addr, task })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    use jsonrpsee::RpcModule;
    use kvvm_proto::http::http_client::HttpClient as GrpcHttpClient;
    use kvvm_proto::http::responsewriter::writer_server::{Writer, WriterServer};
    use kvvm_proto::http::responsewriter::{HijackResponse, WriteResponse};
    use kvvm_proto::http::ResponseWriter;
    use kvvm_proto::io::reader::reader_server::{Reader, ReaderServer};
    use kvvm_proto::io::reader::{Error as ReadError, ReadResponse};
    use serde_json::{json, Value};
    use tokio::sync::oneshot;

    const SMALL: BridgeLimits = BridgeLimits {
        max_request_body_bytes: 4096,
        max_response_body_bytes: 2048,
        max_batch_len: 3,
    };

    fn test_methods() -> RpcModule<()> {
        let mut module = RpcModule::new(());
        module
            .register_method("echo", |params, _, _| params.one::<Value>())
            .unwrap();
        module
            .register_method("big", |params, _, _| {
                params.one::<usize>().map(|n| "x".repeat(n))
            })
            .unwrap();
        module
    }

    struct Running {
        client: GrpcHttpClient<Channel>,
        stop: oneshot::Sender<()>,
        server: BridgeServer,
    }

    async fn start(limits: BridgeLimits) -> Running {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        let server = serve_http_bridge(test_methods(), limits, listener, async {
            let _ = stopped.await;
        })
        .await
        .unwrap();
        let client = GrpcHttpClient::connect(format!("http://{}", server.local_addr()))
            .await
            .unwrap()
            .max_decoding_message_size(usize::MAX)
            .max_encoding_message_size(usize::MAX);
        Running {
            client,
            stop,
            server,
        }
    }

    fn header(key: &str, value: &str) -> Element {
        Element {
            key: key.into(),
            values: vec![value.into()],
        }
    }

    fn json_post(body: impl Into<Vec<u8>>) -> HandleSimpleHttpRequest {
        HandleSimpleHttpRequest {
            method: "POST".into(),
            url: "/ext/bc/2Z4UKeX/rpc".into(),
            request_headers: vec![header("Content-Type", "application/json")],
            body: body.into(),
            response_headers: vec![],
        }
    }

    async fn simple(
        running: &mut Running,
        req: HandleSimpleHttpRequest,
    ) -> HandleSimpleHttpResponse {
        running
            .client
            .handle_simple(req)
            .await
            .unwrap()
            .into_inner()
    }

    fn header_value<'a>(headers: &'a [Element], key: &str) -> Option<&'a str> {
        headers
            .iter()
            .find(|e| e.key.eq_ignore_ascii_case(key))
            .map(|e| e.values[0].as_str())
    }

    fn body_json(resp: &HandleSimpleHttpResponse) -> Value {
        serde_json::from_slice(&resp.body).unwrap()
    }

    #[tokio::test]
    async fn single_call_answers_200_json() {
        let mut r = start(SMALL).await;
        let resp = simple(
            &mut r,
            json_post(r#"{"jsonrpc":"2.0","id":1,"method":"echo","params":["hi"]}"#),
        )
        .await;
        assert_eq!(resp.code, 200);
        let content_type = header_value(&resp.headers, "content-type").unwrap();
        assert!(
            content_type.starts_with("application/json"),
            "{content_type}"
        );
        assert_eq!(
            body_json(&resp),
            json!({"jsonrpc":"2.0","id":1,"result":"hi"})
        );
    }

    #[tokio::test]
    async fn response_header_keys_are_canonical_and_node_presets_are_echoed() {
        let mut r = start(SMALL).await;
        let mut req = json_post(r#"{"jsonrpc":"2.0","id":1,"method":"echo","params":[1]}"#);
        req.response_headers = vec![
            header("Node-Id", "NodeID-abc"),
            header("Content-Type", "text/html"),
        ];
        let resp = simple(&mut r, req).await;
        assert_eq!(header_value(&resp.headers, "Node-Id"), Some("NodeID-abc"));
        let content_types: Vec<_> = resp
            .headers
            .iter()
            .filter(|e| e.key.eq_ignore_ascii_case("content-type"))
            .collect();
        assert_eq!(content_types.len(), 1, "{:?}", resp.headers);
        assert_eq!(content_types[0].key, "Content-Type");
        assert!(content_types[0].values[0].starts_with("application/json"));
    }

    #[tokio::test]
    async fn batch_within_limit_answers_every_call() {
        let mut r = start(SMALL).await;
        let batch = json!([
            {"jsonrpc":"2.0","id":1,"method":"echo","params":["a"]},
            {"jsonrpc":"2.0","id":2,"method":"echo","params":["b"]},
            {"jsonrpc":"2.0","id":3,"method":"echo","params":["c"]},
        ]);
        let resp = simple(&mut r, json_post(batch.to_string())).await;
        assert_eq!(resp.code, 200);
        let mut results: Vec<Value> = serde_json::from_slice(&resp.body).unwrap();
        results.sort_by_key(|v| v["id"].as_u64());
        let got: Vec<_> = results.iter().map(|v| v["result"].clone()).collect();
        assert_eq!(got, vec![json!("a"), json!("b"), json!("c")]);
    }

    #[tokio::test]
    async fn batch_over_limit_is_rejected_whole() {
        let mut r = start(SMALL).await;
        let batch: Vec<Value> = (0..4)
            .map(|i| json!({"jsonrpc":"2.0","id":i,"method":"echo","params":[i]}))
            .collect();
        let resp = simple(&mut r, json_post(serde_json::to_vec(&batch).unwrap())).await;
        // jsonrpsee answers 200 with one error object, not an array.
        assert_eq!(resp.code, 200);
        let v = body_json(&resp);
        assert_eq!(v["error"]["code"], -32010, "{v}");
        assert_eq!(v["id"], Value::Null);
    }

    #[tokio::test]
    async fn body_over_limit_is_413_with_json_error() {
        let mut r = start(SMALL).await;
        let padding = "x".repeat(SMALL.max_request_body_bytes as usize);
        let body = json!({"jsonrpc":"2.0","id":1,"method":"echo","params":[padding]});
        let resp = simple(&mut r, json_post(body.to_string())).await;
        assert_eq!(resp.code, 413);
        assert_eq!(body_json(&resp)["error"]["code"], -32007);
    }

    #[tokio::test]
    async fn a_message_past_the_body_limit_and_its_envelope_is_refused_undecoded() {
        let mut r = start(SMALL).await;
        let at_edge = SMALL.max_request_body_bytes as usize + REQUEST_ENVELOPE_BYTES - 4096;
        let resp = simple(&mut r, json_post(vec![b'x'; at_edge])).await;
        assert_eq!(
            resp.code, 413,
            "within the envelope: decoded, then refused by size"
        );
        let over = SMALL.max_request_body_bytes as usize + REQUEST_ENVELOPE_BYTES + 1;
        let refused = r
            .client
            .handle_simple(json_post(vec![b'x'; over]))
            .await
            .unwrap_err();
        assert_eq!(refused.code(), tonic::Code::OutOfRange, "{refused}");
    }

    #[tokio::test]
    async fn lying_content_length_does_not_bypass_the_body_limit() {
        let mut r = start(SMALL).await;
        let padding = "x".repeat(SMALL.max_request_body_bytes as usize);
        let mut req = json_post(
            json!({"jsonrpc":"2.0","id":1,"method":"echo","params":[padding]}).to_string(),
        );
        req.request_headers.push(header("Content-Length", "10"));
        assert_eq!(simple(&mut r, req).await.code, 413);
    }

    #[tokio::test]
    async fn response_over_limit_becomes_a_json_rpc_error() {
        let mut r = start(SMALL).await;
        let n = SMALL.max_response_body_bytes as usize;
        let resp = simple(
            &mut r,
            json_post(json!({"jsonrpc":"2.0","id":7,"method":"big","params":[n]}).to_string()),
        )
        .await;
        assert_eq!(resp.code, 200);
        let v = body_json(&resp);
        assert_eq!(v["error"]["code"], -32008, "{v}");
        assert_eq!(v["id"], 7);
    }

    #[tokio::test]
    async fn malformed_json_is_a_parse_error() {
        let mut r = start(SMALL).await;
        // Starts like JSON but is not: jsonrpsee answers 200 with -32700.
        let resp = simple(&mut r, json_post(r#"{"jsonrpc":"2.0","id":1,"#)).await;
        assert_eq!(resp.code, 200);
        assert_eq!(body_json(&resp)["error"]["code"], -32700);
        // Does not even start like JSON: jsonrpsee answers 400 with -32700.
        let resp = simple(&mut r, json_post("hello")).await;
        assert_eq!(resp.code, 400);
        assert_eq!(body_json(&resp)["error"]["code"], -32700);
        // Empty body: same as above.
        let resp = simple(&mut r, json_post("")).await;
        assert_eq!(resp.code, 400);
    }

    #[tokio::test]
    async fn unknown_method_is_method_not_found() {
        let mut r = start(SMALL).await;
        let resp = simple(
            &mut r,
            json_post(r#"{"jsonrpc":"2.0","id":"a","method":"nope","params":[]}"#),
        )
        .await;
        assert_eq!(resp.code, 200);
        let v = body_json(&resp);
        assert_eq!(v["error"]["code"], -32601);
        assert_eq!(v["id"], "a");
    }

    #[tokio::test]
    async fn get_is_405() {
        let mut r = start(SMALL).await;
        let mut req = json_post("");
        req.method = "GET".into();
        let resp = simple(&mut r, req).await;
        assert_eq!(resp.code, 405);
        assert!(String::from_utf8_lossy(&resp.body).contains("POST is required"));
    }

    #[tokio::test]
    async fn post_without_json_content_type_is_415() {
        let mut r = start(SMALL).await;
        let mut req = json_post(r#"{"jsonrpc":"2.0","id":1,"method":"echo","params":[1]}"#);
        req.request_headers = vec![header("Content-Type", "text/plain")];
        assert_eq!(simple(&mut r, req).await.code, 415);
    }

    #[tokio::test]
    async fn invalid_forwarded_request_is_400() {
        let mut r = start(SMALL).await;
        let mut req = json_post("{}");
        req.request_headers.push(header("bad header", "x"));
        let resp = simple(&mut r, req).await;
        assert_eq!(resp.code, 400);
        assert!(String::from_utf8_lossy(&resp.body).contains("header name"));
    }

    #[tokio::test]
    async fn server_stops_when_shutdown_resolves() {
        let r = start(SMALL).await;
        r.stop.send(()).unwrap();
        tokio::time::timeout(std::time::Duration::from_secs(5), r.server.stopped())
            .await
            .expect("bridge did not stop")
            .unwrap();
    }

    /// What the fake node's response writer received.
    #[derive(Default, Debug)]
    struct Written {
        status: Option<i32>,
        headers: Vec<WriterHeader>,
        body: Vec<u8>,
        reads: usize,
    }

    /// The node side of one `Handle` call: serves the request body through
    /// `io.reader` and records what `http.responsewriter` is told.
    #[derive(Clone)]
    struct FakeNode {
        body: Arc<Vec<u8>>,
        pos: Arc<Mutex<usize>>,
        written: Arc<Mutex<Written>>,
    }

    #[tonic::async_trait]
    impl Reader for FakeNode {
        async fn read(
            &self,
            request: tonic::Request<ReadRequest>,
        ) -> Result<tonic::Response<ReadResponse>, Status> {
            let want = request.into_inner().length as usize;
            let mut pos = self.pos.lock().unwrap();
            self.written.lock().unwrap().reads += 1;
            let end = (*pos + want.min(1000)).min(self.body.len());
            let read = self.body[*pos..end].to_vec();
            *pos = end;
            // Like Go's bytes.Reader: EOF comes on the read after the data.
            let error = read.is_empty().then(|| ReadError {
                error_code: ErrorCode::Eof as i32,
                message: "EOF".into(),
            });
            Ok(tonic::Response::new(ReadResponse { read, error }))
        }
    }

    #[tonic::async_trait]
    impl Writer for FakeNode {
        async fn write(
            &self,
            request: tonic::Request<WriteRequest>,
        ) -> Result<tonic::Response<WriteResponse>, Status> {
            let req = request.into_inner();
            let mut w = self.written.lock().unwrap();
            w.headers = req.headers;
            w.body.extend_from_slice(&req.payload);
            Ok(tonic::Response::new(WriteResponse {
                written: req.payload.len() as i32,
            }))
        }

        async fn write_header(
            &self,
            request: tonic::Request<WriteHeaderRequest>,
        ) -> Result<tonic::Response<()>, Status> {
            let req = request.into_inner();
            let mut w = self.written.lock().unwrap();
            w.status = Some(req.status_code);
            w.headers = req.headers;
            Ok(tonic::Response::new(()))
        }

        async fn flush(&self, _: tonic::Request<()>) -> Result<tonic::Response<()>, Status> {
            Ok(tonic::Response::new(()))
        }

        // The bridge never hijacks a connection; a call here would be a bridge bug the
        // tests should see as an error.
        async fn hijack(
            &self,
            _: tonic::Request<()>,
        ) -> Result<tonic::Response<HijackResponse>, Status> {
            Err(Status::failed_precondition(
                "the kvvm bridge must not hijack",
            ))
        }
    }

    async fn start_fake_node(body: Vec<u8>) -> (FakeNode, SocketAddr, oneshot::Sender<()>) {
        let node = FakeNode {
            body: Arc::new(body),
            pos: Arc::default(),
            written: Arc::default(),
        };
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        tokio::spawn(
            tonic::transport::Server::builder()
                .add_service(WriterServer::new(node.clone()))
                .add_service(ReaderServer::new(node.clone()))
                .serve_with_incoming_shutdown(TcpIncoming::from(listener), async {
                    let _ = stopped.await;
                }),
        );
        (node, addr, stop)
    }

    fn handle_request(addr: SocketAddr, method: &str) -> HttpRequest {
        HttpRequest {
            response_writer: Some(ResponseWriter {
                header: vec![header("Node-Id", "NodeID-xyz")],
                server_addr: addr.to_string(),
            }),
            request: Some(ProtoRequest {
                method: method.into(),
                proto: "HTTP/2.0".into(),
                proto_major: 2,
                header: vec![header("Content-Type", "application/json")],
                content_length: -1,
                request_uri: "/ext/bc/2Z4UKeX/rpc".into(),
                ..Default::default()
            }),
        }
    }

    #[tokio::test]
    async fn handle_reads_body_and_writes_status_headers_and_body() {
        let mut r = start(SMALL).await;
        let payload = "y".repeat(1500); // two 1000-byte reads, then EOF
        let request_body =
            json!({"jsonrpc":"2.0","id":9,"method":"echo","params":[payload]}).to_string();
        let (node, addr, _stop) = start_fake_node(request_body.into_bytes()).await;

        let reply = r
            .client
            .handle(handle_request(addr, "POST"))
            .await
            .unwrap()
            .into_inner();

        let w = node.written.lock().unwrap();
        assert_eq!(w.status, Some(200));
        assert!(w.reads >= 3, "body pulled in chunks, got {} reads", w.reads);
        let value: Value = serde_json::from_slice(&w.body).unwrap();
        assert_eq!(value, json!({"jsonrpc":"2.0","id":9,"result":payload}));
        let content_type = w
            .headers
            .iter()
            .find(|h| h.key == "Content-Type")
            .expect("content type written");
        assert!(content_type.values[0].starts_with("application/json"));
        assert!(w.headers.iter().any(|h| h.key == "Node-Id"));
        assert!(header_value(&reply.header, "Node-Id").is_some());
        assert!(header_value(&reply.header, "Content-Type").is_some());
    }

    #[tokio::test]
    async fn handle_stops_reading_an_oversized_body_and_answers_413() {
        let mut r = start(SMALL).await;
        let huge = vec![b'{'; 1024 * 1024];
        let (node, addr, _stop) = start_fake_node(huge).await;

        let call = r.client.handle(handle_request(addr, "POST"));
        tokio::time::timeout(std::time::Duration::from_secs(10), call)
            .await
            .expect("Handle hung")
            .unwrap();

        let w = node.written.lock().unwrap();
        assert_eq!(w.status, Some(413));
        let pulled = *node.pos.lock().unwrap();
        assert!(
            pulled <= SMALL.max_request_body_bytes as usize + 1,
            "pulled {pulled}"
        );
        let value: Value = serde_json::from_slice(&w.body).unwrap();
        assert_eq!(value["error"]["code"], -32007);
    }

    #[tokio::test]
    async fn handle_get_writes_405() {
        let mut r = start(SMALL).await;
        let (node, addr, _stop) = start_fake_node(Vec::new()).await;
        r.client.handle(handle_request(addr, "GET")).await.unwrap();
        assert_eq!(node.written.lock().unwrap().status, Some(405));
    }

    #[tokio::test]
    async fn handle_with_unreachable_writer_is_a_grpc_error() {
        let mut r = start(SMALL).await;
        let closed = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = closed.local_addr().unwrap();
        drop(closed);
        let status = r
            .client
            .handle(handle_request(addr, "POST"))
            .await
            .unwrap_err();
        assert_eq!(status.code(), tonic::Code::Unavailable);
    }

    #[test]
    fn canonical_header_keys_match_go() {
        assert_eq!(canonical_header_key("content-type"), "Content-Type");
        assert_eq!(canonical_header_key("x-FOO-bar"), "X-Foo-Bar");
        assert_eq!(canonical_header_key("vary"), "Vary");
    }

    #[test]
    fn handle_uri_falls_back_to_parsed_url() {
        let request = ProtoRequest {
            url: Some(kvvm_proto::http::Url {
                path: "/ext/bc/x/rpc".into(),
                raw_query: "a=1".into(),
                ..Default::default()
            }),
            ..Default::default()
        };
        assert_eq!(handle_request_uri(&request), "/ext/bc/x/rpc?a=1");
        assert_eq!(handle_request_uri(&ProtoRequest::default()), "/");
    }
}
