//! The node's HTTP server, imitated: it routes `/ext/bc/<chainID>/<prefix>` to the handler the plugin
//! registered in CreateHandlers and forwards each request as `http.HTTP/HandleSimple`, exactly the
//! way AvalancheGo forwards HTTP/1.1 requests. Clients that are not Rust (Python, curl) talk to it.

#![allow(dead_code)]

use std::convert::Infallible;
use std::net::SocketAddr;

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use kvvm_proto::http::http_client::HttpClient;
use kvvm_proto::http::{Element, HandleSimpleHttpRequest};
use tonic::transport::Channel;

pub struct HttpFront {
    pub addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl HttpFront {
    /// Serves `route` (e.g. `/ext/bc/<chainID>/rpc`) by forwarding to the plugin handler at
    /// `handler_addr`.
    pub async fn start(handler_addr: &str, route: String) -> Self {
        let channel = tonic::transport::Endpoint::from_shared(format!("http://{handler_addr}"))
            .unwrap()
            .connect()
            .await
            .unwrap();
        let client = HttpClient::new(channel)
            .max_decoding_message_size(usize::MAX)
            .max_encoding_message_size(usize::MAX);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let client = client.clone();
                let route = route.clone();
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |req| {
                        forward(client.clone(), route.clone(), req)
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Self { addr, task }
    }

    pub fn url(&self, route: &str) -> String {
        format!("http://{}{route}", self.addr)
    }
}

impl Drop for HttpFront {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn forward(
    mut client: HttpClient<Channel>,
    route: String,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    if req.uri().path() != route {
        return Ok(Response::builder()
            .status(StatusCode::NOT_FOUND)
            .body(Full::new(Bytes::from_static(b"404 page not found\n")))
            .unwrap());
    }
    let method = req.method().to_string();
    let url = req
        .uri()
        .path_and_query()
        .map(|p| p.to_string())
        .unwrap_or_default();
    let mut request_headers: Vec<Element> = Vec::new();
    for (name, value) in req.headers() {
        let key = name.as_str().to_string();
        let value = value.to_str().unwrap_or_default().to_string();
        match request_headers.iter_mut().find(|e| e.key == key) {
            Some(e) => e.values.push(value),
            None => request_headers.push(Element {
                key,
                values: vec![value],
            }),
        }
    }
    let body = req.into_body().collect().await.unwrap().to_bytes().to_vec();
    let answer = client
        .handle_simple(HandleSimpleHttpRequest {
            method,
            url,
            request_headers,
            body,
            response_headers: vec![],
        })
        .await;
    let response = match answer {
        Ok(r) => {
            let r = r.into_inner();
            // The node turns codes outside 100..=599 (an unset 0 included) into 500.
            let code = if (100..=599).contains(&r.code) {
                r.code as u16
            } else {
                500
            };
            let mut builder = Response::builder().status(code);
            for h in r.headers {
                for v in h.values {
                    builder = builder.header(h.key.as_str(), v);
                }
            }
            builder.body(Full::new(Bytes::from(r.body))).unwrap()
        }
        Err(status) => Response::builder()
            .status(StatusCode::INTERNAL_SERVER_ERROR)
            .body(Full::new(Bytes::from(status.message().to_string())))
            .unwrap(),
    };
    Ok(response)
}
