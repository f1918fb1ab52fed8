//! Messages out, through the node's `appsender.AppSender` service at `server_addr`.
//!
//! The channel is created lazily (no connection until the first send) and shared by every task;
//! tonic channels multiplex calls, so each send clones the client. No HTTP/2 keepalive is
//! configured: the node's gRPC server refuses pings more often than every 5 s, and the connection
//! is local.

use std::time::Duration;

use kvvm_proto::appsender::app_sender_client::AppSenderClient;
use kvvm_proto::appsender::{SendAppGossipMsg, SendAppRequestMsg, SendAppResponseMsg};
use tonic::transport::{Channel, Endpoint};

/// A send that takes longer than this is abandoned; the node queues app messages and answers at
/// once, so a slow send means a stuck node, and gossip must not pile up behind it.
const SEND_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Clone)]
pub(crate) struct Outbound {
    client: AppSenderClient<Channel>,
}

impl Outbound {
    /// `server_addr` as the node passes it (`host:port`), or a full URI.
    pub(crate) fn new(server_addr: &str) -> Result<Self, tonic::transport::Error> {
        let uri = if server_addr.contains("://") {
            server_addr.to_string()
        } else {
            format!("http://{server_addr}")
        };
        let channel = Endpoint::from_shared(uri)?
            .connect_timeout(SEND_TIMEOUT)
            .timeout(SEND_TIMEOUT)
            .connect_lazy();
        Ok(Self {
            client: AppSenderClient::new(channel)
                .max_decoding_message_size(usize::MAX)
                .max_encoding_message_size(usize::MAX),
        })
    }

    /// Gossip to exactly `node_ids` (no sampled validators or peers).
    pub(crate) async fn gossip(
        &self,
        node_ids: Vec<Vec<u8>>,
        msg: Vec<u8>,
    ) -> Result<(), tonic::Status> {
        self.client
            .clone()
            .send_app_gossip(SendAppGossipMsg {
                node_ids,
                validators: 0,
                non_validators: 0,
                peers: 0,
                msg,
            })
            .await
            .map(drop)
    }

    pub(crate) async fn request(
        &self,
        node_id: Vec<u8>,
        request_id: u32,
        request: Vec<u8>,
    ) -> Result<(), tonic::Status> {
        self.client
            .clone()
            .send_app_request(SendAppRequestMsg {
                node_ids: vec![node_id],
                request_id,
                request,
            })
            .await
            .map(drop)
    }

    pub(crate) async fn respond(
        &self,
        node_id: Vec<u8>,
        request_id: u32,
        response: Vec<u8>,
    ) -> Result<(), tonic::Status> {
        self.client
            .clone()
            .send_app_response(SendAppResponseMsg {
                node_id,
                request_id,
                response,
            })
            .await
            .map(drop)
    }
}
