//! Who may write, and how much each account may store: the rules from the genesis `access`
//! section that execution applies on every node (so all agree) and admission applies early.
//!
//! - On a restricted chain only an account holding a role (enabled, manager, admin) may send a
//!   transaction at all; on an open one anyone may.
//! - Admins set any account's role but their own (so the last admin cannot lock the chain by
//!   mistake) and set quota overrides; managers grant and revoke `enabled` on accounts that are
//!   not managers or admins; nobody else changes roles.
//! - A transaction may not leave its sender's keys or bytes above its quota where it grew them;
//!   one that shrinks or keeps them always passes, so an account over a lowered quota can still
//!   delete and overwrite.

use kvvm_genesis::{Access, AccessMode};
use kvvm_storage::AccountId;
pub use kvvm_storage::{Account, Quota, Role, Usage};

use crate::error::TxError;

/// The chain-wide access rules, fixed at genesis.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AccessRules {
    /// Whether writing needs a role.
    pub restricted: bool,
    /// The quota of every account without an override; `None`: no limit.
    pub default_quota: Option<Quota>,
}

impl AccessRules {
    pub fn from_genesis(access: &Access) -> Self {
        Self {
            restricted: access.mode == AccessMode::Restricted,
            default_quota: access.default_quota.map(|q| Quota {
                max_keys: q.max_keys,
                max_bytes: q.max_bytes,
            }),
        }
    }

    /// The quota that applies to `account`: its override, else the default.
    pub fn quota_of(&self, account: &Account) -> Option<Quota> {
        account.quota.or(self.default_quota)
    }

    /// Whether an account with `role` may send transactions.
    pub fn check_sender(&self, role: Role) -> Result<(), TxError> {
        if self.restricted && role == Role::None {
            return Err(TxError::NotAllowed);
        }
        Ok(())
    }
}

/// Whether `sender` (holding `sender_role`) may change `target`'s role from `from` to `to`.
pub fn check_role_change(
    sender: &AccountId,
    sender_role: Role,
    target: &AccountId,
    from: Role,
    to: Role,
) -> Result<(), TxError> {
    if sender == target {
        return Err(TxError::OwnRoleChange);
    }
    let manages = |role| matches!(role, Role::None | Role::Enabled);
    let allowed = match sender_role {
        Role::Admin => true,
        Role::Manager => manages(from) && manages(to),
        Role::Enabled | Role::None => false,
    };
    if !allowed {
        return Err(TxError::RoleChangeDenied {
            sender: sender_role,
            target: *target,
            from,
            to,
        });
    }
    Ok(())
}

/// Whether an account holding `sender_role` may set quotas.
pub fn check_quota_change(sender_role: Role) -> Result<(), TxError> {
    if sender_role != Role::Admin {
        return Err(TxError::QuotaChangeDenied(sender_role));
    }
    Ok(())
}

/// Whether going from `before` to `after` keeps within `quota` wherever it grew.
pub fn check_usage(before: Usage, after: Usage, quota: Option<Quota>) -> Result<(), TxError> {
    let Some(quota) = quota else {
        return Ok(());
    };
    let keys_over = after.keys > quota.max_keys && after.keys > before.keys;
    let bytes_over = after.bytes > quota.max_bytes && after.bytes > before.bytes;
    if keys_over || bytes_over {
        return Err(TxError::QuotaExceeded {
            keys: after.keys,
            bytes: after.bytes,
            max_keys: quota.max_keys,
            max_bytes: quota.max_bytes,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const ADMIN: AccountId = [1; 32];
    const OTHER: AccountId = [2; 32];

    #[test]
    fn only_a_role_may_write_on_a_restricted_chain() {
        let restricted = AccessRules {
            restricted: true,
            default_quota: None,
        };
        assert_eq!(
            restricted.check_sender(Role::None),
            Err(TxError::NotAllowed)
        );
        for role in [Role::Enabled, Role::Manager, Role::Admin] {
            assert_eq!(restricted.check_sender(role), Ok(()));
        }
        assert_eq!(AccessRules::default().check_sender(Role::None), Ok(()));
    }

    #[test]
    fn admins_set_any_role_but_their_own() {
        let all = [Role::None, Role::Enabled, Role::Manager, Role::Admin];
        for from in all {
            for to in all {
                assert_eq!(
                    check_role_change(&ADMIN, Role::Admin, &OTHER, from, to),
                    Ok(())
                );
            }
        }
        assert_eq!(
            check_role_change(&ADMIN, Role::Admin, &ADMIN, Role::Admin, Role::None),
            Err(TxError::OwnRoleChange)
        );
    }

    #[test]
    fn managers_grant_and_revoke_enabled_only() {
        let change = |from, to| check_role_change(&ADMIN, Role::Manager, &OTHER, from, to);
        assert_eq!(change(Role::None, Role::Enabled), Ok(()));
        assert_eq!(change(Role::Enabled, Role::None), Ok(()));
        for (from, to) in [
            (Role::None, Role::Manager),
            (Role::None, Role::Admin),
            (Role::Manager, Role::None),
            (Role::Admin, Role::Enabled),
            (Role::Enabled, Role::Manager),
        ] {
            assert!(
                matches!(change(from, to), Err(TxError::RoleChangeDenied { .. })),
                "{from} → {to}"
            );
        }
    }

    #[test]
    fn enabled_and_roleless_accounts_change_no_roles_and_only_admins_set_quotas() {
        for role in [Role::None, Role::Enabled] {
            assert!(check_role_change(&ADMIN, role, &OTHER, Role::None, Role::Enabled).is_err());
        }
        assert_eq!(check_quota_change(Role::Admin), Ok(()));
        for role in [Role::None, Role::Enabled, Role::Manager] {
            assert_eq!(
                check_quota_change(role),
                Err(TxError::QuotaChangeDenied(role))
            );
        }
    }

    #[test]
    fn usage_may_reach_the_quota_but_not_grow_past_it() {
        let quota = Some(Quota {
            max_keys: 2,
            max_bytes: 10,
        });
        let usage = |keys, bytes| Usage { keys, bytes };
        assert_eq!(check_usage(usage(1, 5), usage(2, 10), quota), Ok(()));
        assert!(matches!(
            check_usage(usage(2, 5), usage(3, 6), quota),
            Err(TxError::QuotaExceeded { keys: 3, .. })
        ));
        assert!(matches!(
            check_usage(usage(1, 10), usage(1, 11), quota),
            Err(TxError::QuotaExceeded { bytes: 11, .. })
        ));
        // Above a lowered quota, shrinking or keeping usage passes; growing either part fails.
        assert_eq!(check_usage(usage(5, 50), usage(4, 50), quota), Ok(()));
        assert!(check_usage(usage(5, 50), usage(5, 51), quota).is_err());
        assert_eq!(check_usage(usage(0, 0), usage(99, 99), None), Ok(()));
    }
}
