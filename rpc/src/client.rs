//! The typed client: [`KvvmApiClient`] over HTTP.
//!
//! The methods of [`KvvmApiClient`] are implemented for every jsonrpsee
//! client, so the client built by [`http_client`] calls them directly:
//!
//! ```no_run
//! use kvvm_rpc::{http_client, KvvmApiClient};
//!
//! # async fn run() -> Result<(), kvvm_rpc::ClientError> {
//! let client = http_client("http://127.0.0.1:9650/ext/bc/2Z4UKeX/rpc")?;
//! let tip = client.last_accepted().await?;
//! println!("height {}", tip.height);
//! # Ok(())
//! # }
//! ```

use std::time::Duration;

pub use crate::api::KvvmApiClient;
pub use jsonrpsee::core::ClientError;
pub use jsonrpsee_http_client::HttpClient;

/// How long one call may take before the client gives up.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// Largest response the client accepts: above the bridge's default
/// per-call response limit, with room for batch overhead.
pub const MAX_RESPONSE_BYTES: u32 = 16 * 1024 * 1024;

/// An HTTP JSON-RPC client for a kvvm endpoint, e.g.
/// `http://127.0.0.1:9650/ext/bc/<chainID>/rpc`.
pub fn http_client(url: &str) -> Result<HttpClient, ClientError> {
    jsonrpsee_http_client::HttpClientBuilder::default()
        .request_timeout(REQUEST_TIMEOUT)
        .max_response_size(MAX_RESPONSE_BYTES)
        .build(url)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        codes, rpc_error, AccessView, AccountView, BlockHistoryView, BlockRef, BlockView,
        ChainInfo, EntryView, Hex32, HexBytes, KvBytes, KvvmApiServer, LimitsView, ListPage,
        MempoolLimitsView, NonceView, QuotaView, RoleView, RpcLimitsView, SigningBytesView,
        StateSyncView, SubmitItem, SubmitResult, SyncingView, TxStatus, TxStatusView,
        UnsignedTxRequest,
    };
    use jsonrpsee::core::client::ClientT;
    use jsonrpsee::core::params::{ArrayParams, ObjectParams};
    use jsonrpsee::core::{async_trait, RpcResult};
    use jsonrpsee::server::Server;
    use serde_json::Value;
    use std::collections::BTreeMap;

    /// An in-memory stand-in for the VM: a fixed map, nothing else.
    struct Stub {
        entries: BTreeMap<Vec<u8>, Vec<u8>>,
    }

    fn unsupported<T>() -> RpcResult<T> {
        Err(rpc_error(codes::INTERNAL, "not in the stub"))
    }

    impl Stub {
        fn entry(&self, key: &[u8]) -> Option<EntryView> {
            self.entries.get(key).map(|value| EntryView {
                key: KvBytes(key.to_vec()),
                value: KvBytes(value.clone()),
                value_hex: format!("0x{}", hex::encode(value)),
                owner: Hex32([7; 32]),
                height: 1,
            })
        }
    }

    #[async_trait]
    impl KvvmApiServer for Stub {
        async fn submit_tx(&self, _tx: HexBytes) -> RpcResult<SubmitResult> {
            unsupported()
        }
        async fn submit_txs(&self, _txs: Vec<HexBytes>) -> RpcResult<Vec<SubmitItem>> {
            unsupported()
        }
        async fn tx_status(&self, _tx_id: Hex32) -> RpcResult<TxStatusView> {
            Ok(TxStatusView {
                status: TxStatus::Unknown,
                block_height: None,
                block_id: None,
                reason: None,
            })
        }
        async fn get(&self, key: KvBytes) -> RpcResult<Option<EntryView>> {
            Ok(self.entry(key.as_bytes()))
        }
        async fn get_many(&self, keys: Vec<KvBytes>) -> RpcResult<Vec<Option<EntryView>>> {
            Ok(keys.iter().map(|k| self.entry(k.as_bytes())).collect())
        }
        async fn list(
            &self,
            prefix: KvBytes,
            cursor: Option<KvBytes>,
            limit: Option<u32>,
        ) -> RpcResult<ListPage> {
            let entries = self
                .entries
                .keys()
                .filter(|k| k.starts_with(prefix.as_bytes()))
                .filter(|k| cursor.as_ref().is_none_or(|c| k.as_slice() > c.as_bytes()))
                .take(limit.unwrap_or(100) as usize)
                .filter_map(|k| self.entry(k))
                .collect();
            Ok(ListPage {
                entries,
                next_cursor: None,
            })
        }
        async fn nonce(&self, account: Hex32) -> RpcResult<NonceView> {
            Ok(NonceView {
                account,
                accepted: 3,
                next: 5,
            })
        }
        async fn account(&self, account: Hex32) -> RpcResult<AccountView> {
            Ok(AccountView {
                account,
                nonce: 3,
                role: RoleView::Manager,
                keys_used: 2,
                bytes_used: 40,
                quota: Some(QuotaView {
                    max_keys: 10,
                    max_bytes: 1000,
                }),
                quota_override: true,
            })
        }
        async fn last_accepted(&self) -> RpcResult<BlockRef> {
            unsupported()
        }
        async fn block_by_id(&self, _id: Hex32) -> RpcResult<Option<BlockView>> {
            unsupported()
        }
        async fn block_by_height(&self, _height: u64) -> RpcResult<Option<BlockView>> {
            unsupported()
        }
        async fn chain_info(&self) -> RpcResult<ChainInfo> {
            Ok(ChainInfo {
                chain_id: "2Z4UKeX".into(),
                chain_id_hex: Hex32([1; 32]),
                network_id: 12345,
                genesis_hash: Hex32([2; 32]),
                limits: LimitsView {
                    max_key_bytes: 256,
                    max_value_bytes: 65536,
                    max_ops_per_tx: 16,
                    max_tx_bytes: 131072,
                    max_txs_per_block: 1000,
                    max_block_bytes: 2097152,
                },
                access: AccessView {
                    mode: "restricted".into(),
                    default_quota: None,
                },
                rpc_limits: RpcLimitsView {
                    max_request_bytes: 1,
                    max_response_bytes: 2,
                    max_batch_len: 3,
                    max_txs_per_submit: 4,
                    max_keys_per_get_many: 5,
                    max_list_limit: 6,
                    workers: 7,
                    work_queue: 8,
                },
                mempool_limits: MempoolLimitsView {
                    max_txs: 1,
                    max_bytes: 2,
                    max_txs_per_sender: 3,
                    max_future_nonces: 4,
                    max_waiting_txs: 5,
                    waiting_ttl_ms: 6,
                },
                block_history: BlockHistoryView {
                    keep_blocks: 2048,
                    oldest_block_height: 17,
                },
                state_sync: StateSyncView {
                    enabled: true,
                    summary_interval: 512,
                    last_summary_height: Some(1024),
                    syncing: Some(SyncingView {
                        height: 2048,
                        buckets: 256,
                        buckets_left: 9,
                    }),
                },
                rpcchainvm_protocol: 44,
                vm_version: "0.1.0".into(),
            })
        }
        async fn signing_bytes(&self, _req: UnsignedTxRequest) -> RpcResult<SigningBytesView> {
            Err(rpc_error(codes::NOT_READY, "chain is bootstrapping"))
        }
    }

    async fn serve_stub() -> (String, jsonrpsee::server::ServerHandle) {
        let entries = BTreeMap::from([
            (b"greeting".to_vec(), b"hello".to_vec()),
            (vec![0x00, 0xff], vec![0x01]),
        ]);
        let server = Server::builder().build("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", server.local_addr().unwrap());
        (url, server.start(Stub { entries }.into_rpc()))
    }

    #[tokio::test]
    async fn client_and_server_agree_on_names_and_types() {
        let (url, handle) = serve_stub().await;
        let client = http_client(&url).unwrap();

        let hit = client.get("greeting".into()).await.unwrap().unwrap();
        assert_eq!(hit.value, KvBytes::from("hello"));
        assert_eq!(hit.value_hex, "0x68656c6c6f");
        assert_eq!(client.get("absent".into()).await.unwrap(), None);

        let many = client
            .get_many(vec![KvBytes(vec![0x00, 0xff]), "nope".into()])
            .await
            .unwrap();
        assert_eq!(many.len(), 2);
        assert_eq!(many[0].as_ref().unwrap().value, KvBytes(vec![1]));
        assert!(many[1].is_none());

        let account = Hex32([9; 32]);
        let nonce = client.nonce(account).await.unwrap();
        assert_eq!((nonce.account, nonce.accepted, nonce.next), (account, 3, 5));

        let info = client.chain_info().await.unwrap();
        assert_eq!(info.limits.max_ops_per_tx, 16);
        assert_eq!(info.rpc_limits.max_txs_per_submit, 4);
        assert_eq!(info.mempool_limits.max_future_nonces, 4);
        assert_eq!(info.access.mode, "restricted");

        let view = client.account(account).await.unwrap();
        assert_eq!(
            (view.role, view.keys_used, view.bytes_used),
            (RoleView::Manager, 2, 40)
        );
        assert_eq!(view.quota.unwrap().max_keys, 10);

        handle.stop().unwrap();
    }

    #[tokio::test]
    async fn server_errors_reach_the_client_with_their_code() {
        let (url, handle) = serve_stub().await;
        let client = http_client(&url).unwrap();
        let req = UnsignedTxRequest {
            sender: Hex32([1; 32]),
            nonce: None,
            ops: vec![],
        };
        match client.signing_bytes(req).await.unwrap_err() {
            ClientError::Call(e) => assert_eq!(e.code(), codes::NOT_READY),
            other => panic!("unexpected error {other:?}"),
        }
        handle.stop().unwrap();
    }

    #[tokio::test]
    async fn named_params_use_camel_case_and_trailing_options_may_be_omitted() {
        let (url, handle) = serve_stub().await;
        let client = http_client(&url).unwrap();

        let mut named = ObjectParams::new();
        named.insert("txId", "ab".repeat(32)).unwrap();
        let status: Value = client.request("kvvm_txStatus", named).await.unwrap();
        assert_eq!(status["status"], "unknown");

        let mut only_prefix = ArrayParams::new();
        only_prefix.insert("gr").unwrap();
        let page: ListPage = client.request("kvvm_list", only_prefix).await.unwrap();
        assert_eq!(page.entries.len(), 1);
        assert_eq!(page.entries[0].key, KvBytes::from("greeting"));

        let mut bad = ArrayParams::new();
        bad.insert("not-hex").unwrap();
        match client
            .request::<Value, _>("kvvm_nonce", bad)
            .await
            .unwrap_err()
        {
            ClientError::Call(e) => assert_eq!(e.code(), codes::INVALID_PARAMS),
            other => panic!("unexpected error {other:?}"),
        }
        handle.stop().unwrap();
    }

    #[tokio::test]
    async fn wire_method_names_are_namespaced_camel_case() {
        let names: Vec<_> = Stub {
            entries: BTreeMap::new(),
        }
        .into_rpc()
        .method_names()
        .collect();
        for name in [
            "kvvm_submitTx",
            "kvvm_submitTxs",
            "kvvm_txStatus",
            "kvvm_get",
            "kvvm_getMany",
            "kvvm_list",
            "kvvm_nonce",
            "kvvm_account",
            "kvvm_lastAccepted",
            "kvvm_blockById",
            "kvvm_blockByHeight",
            "kvvm_chainInfo",
            "kvvm_signingBytes",
        ] {
            assert!(names.contains(&name), "{name} missing from {names:?}");
        }
        assert_eq!(names.len(), 13);
    }
}
