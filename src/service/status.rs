//! What the operator endpoints may read of the running service: its providers and the counters
//! of its rate limits. The runtime itself stays private to the service.

use super::StsService;
use crate::limits::Limit;
use crate::providers::ProviderInfo;

/// A provider as operators see it: its listing, plus the claim its policies come from (WEKA's
/// "Claim Name").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderStatus {
    pub info: ProviderInfo,
    pub policy_claim: Option<String>,
}

impl StsService {
    /// Every configured provider with its key-set state, never a secret.
    pub fn provider_status(&self) -> Vec<ProviderStatus> {
        let rt = self.runtime.load();
        rt.registry
            .list()
            .into_iter()
            .map(|info| ProviderStatus {
                policy_claim: rt
                    .config
                    .provider_by_name(&info.name)
                    .and_then(|p| p.settings.policy_claim.clone()),
                info,
            })
            .collect()
    }

    /// How many requests `limit` refused since start.
    pub fn limit_refusals(&self, limit: Limit) -> u64 {
        self.runtime.load().limits.refusals(limit)
    }

    /// How many keys `limit` tracks now; `None` when the limit is off or keeps no table.
    pub fn limit_tracked(&self, limit: Limit) -> Option<usize> {
        self.runtime.load().limits.tracked(limit)
    }
}
