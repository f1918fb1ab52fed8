//! Domain types as the API shows them, and back: roles, quotas, accounts, operations, and the
//! limits `chainInfo` reports.

use kvvm_rpc::types::Hex32;
use kvvm_rpc::{
    AccessView, AccountView, MempoolLimitsView, OpArg, QuotaView, RoleView, RpcLimitsView,
};

use crate::access::{AccessRules, Account, Quota, Role};
use crate::chain_config::ChainConfig;
use crate::rpc_server::{MAX_KEYS_PER_CALL, MAX_LIST_LIMIT, MAX_TXS_PER_CALL};
use crate::tx::{AccountId, Operation};

pub(super) fn role_view(role: Role) -> RoleView {
    match role {
        Role::None => RoleView::None,
        Role::Enabled => RoleView::Enabled,
        Role::Manager => RoleView::Manager,
        Role::Admin => RoleView::Admin,
    }
}

fn role_of(view: RoleView) -> Role {
    match view {
        RoleView::None => Role::None,
        RoleView::Enabled => Role::Enabled,
        RoleView::Manager => Role::Manager,
        RoleView::Admin => Role::Admin,
    }
}

fn quota_view(quota: Quota) -> QuotaView {
    QuotaView {
        max_keys: quota.max_keys,
        max_bytes: quota.max_bytes,
    }
}

pub(super) fn operation(op: OpArg) -> Operation {
    match op {
        OpArg::Put { key, value } => Operation::Put {
            key: key.0,
            value: value.0,
        },
        OpArg::Delete { key } => Operation::Delete { key: key.0 },
        OpArg::SetRole { account, role } => Operation::SetRole {
            account: account.0,
            role: role_of(role),
        },
        OpArg::SetQuota { account, quota } => Operation::SetQuota {
            account: account.0,
            quota: quota.map(|q| Quota {
                max_keys: q.max_keys,
                max_bytes: q.max_bytes,
            }),
        },
    }
}

pub(super) fn account_view(
    account: AccountId,
    nonce: u64,
    record: &Account,
    rules: &AccessRules,
) -> AccountView {
    AccountView {
        account: Hex32(account),
        nonce,
        role: role_view(record.role),
        keys_used: record.usage.keys,
        bytes_used: record.usage.bytes,
        quota: rules.quota_of(record).map(quota_view),
        quota_override: record.quota.is_some(),
    }
}

pub(super) fn access_view(rules: &AccessRules) -> AccessView {
    AccessView {
        mode: if rules.restricted {
            "restricted"
        } else {
            "open"
        }
        .into(),
        default_quota: rules.default_quota.map(quota_view),
    }
}

/// Saturating, since the chain config's ranges keep every value far below either type's bound.
fn as_u32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

pub(super) fn rpc_limits(config: &ChainConfig) -> RpcLimitsView {
    RpcLimitsView {
        max_request_bytes: config.rpc_max_request_bytes,
        max_response_bytes: config.rpc_max_response_bytes,
        max_batch_len: config.rpc_max_batch_len,
        max_txs_per_submit: as_u32(MAX_TXS_PER_CALL),
        max_keys_per_get_many: as_u32(MAX_KEYS_PER_CALL),
        max_list_limit: MAX_LIST_LIMIT,
        workers: as_u32(config.rpc_workers),
        work_queue: as_u32(config.rpc_work_queue),
    }
}

pub(super) fn mempool_limits(config: &ChainConfig) -> MempoolLimitsView {
    let m = &config.mempool;
    MempoolLimitsView {
        max_txs: m.max_txs as u64,
        max_bytes: m.max_bytes as u64,
        max_txs_per_sender: m.max_txs_per_sender as u64,
        max_future_nonces: m.max_future_nonces,
        max_waiting_txs: m.max_waiting_txs as u64,
        waiting_ttl_ms: m.waiting_ttl_ms,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_convert_both_ways() {
        for role in [Role::None, Role::Enabled, Role::Manager, Role::Admin] {
            assert_eq!(role_of(role_view(role)), role);
        }
    }

    #[test]
    fn an_account_shows_its_override_or_else_the_default_quota() {
        let rules = AccessRules {
            restricted: true,
            default_quota: Some(Quota {
                max_keys: 1,
                max_bytes: 2,
            }),
        };
        let mut record = Account::default();
        let view = account_view([3; 32], 4, &record, &rules);
        assert_eq!(
            view.quota,
            Some(QuotaView {
                max_keys: 1,
                max_bytes: 2
            })
        );
        assert!(!view.quota_override);
        record.quota = Some(Quota {
            max_keys: 9,
            max_bytes: 9,
        });
        let view = account_view([3; 32], 4, &record, &rules);
        assert_eq!(
            view.quota,
            Some(QuotaView {
                max_keys: 9,
                max_bytes: 9
            })
        );
        assert!(view.quota_override);
        let open = account_view([3; 32], 4, &Account::default(), &AccessRules::default());
        assert_eq!(open.quota, None);
    }

    #[test]
    fn chain_info_limits_are_the_config_in_effect() {
        let config =
            ChainConfig::parse(br#"{"rpcMaxBatchLen": 7, "mempoolMaxFutureNonces": 3}"#).unwrap();
        assert_eq!(rpc_limits(&config).max_batch_len, 7);
        assert_eq!(rpc_limits(&config).max_txs_per_submit, 1_000);
        assert_eq!(mempool_limits(&config).max_future_nonces, 3);
        assert_eq!(
            mempool_limits(&config).waiting_ttl_ms,
            config.mempool.waiting_ttl_ms
        );
    }
}
