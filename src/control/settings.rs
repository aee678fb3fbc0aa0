//! Settings changed at run time: stored as `env.<key>`, laid over the start-up configuration
//! ([`super::live`]) and pushed to the running node where it reads them live.

use std::sync::Arc;

use super::live::setting_key;
use super::{Control, Result, blocking};
use crate::config::Config;

/// The configuration before and after a change of settings.
pub struct Change {
    pub prev: Arc<Config>,
    pub next: Arc<Config>,
}

impl Control {
    /// Stores each `(key, value)` (an empty value removes the saved one: the start-up value
    /// returns) and recomputes the configuration in force. The values must have been checked
    /// with [`super::live::Setting::parse`]. Nothing reaches the node yet: callers update what
    /// they own from [`Change::next`], then call [`Self::apply_change`].
    pub async fn save_settings(&self, settings: Vec<(String, String)>) -> Result<Change> {
        let this = self.clone();
        let (prev, next) = blocking(move || {
            for (k, v) in settings {
                if v.is_empty() {
                    this.store.delete_setting(&setting_key(&k))?;
                } else {
                    this.store.put_setting(&setting_key(&k), v.as_bytes())?;
                }
            }
            Ok(this.live.reload(&this.store)?)
        })
        .await?;
        Ok(Change { prev, next })
    }

    /// Pushes a changed configuration to the running node and reloads it when it must (sign
    /// timeout or policy seeds changed while a node runs, or `credentials_changed`). Returns
    /// whether the node was reloaded.
    pub async fn apply_change(&self, change: &Change, credentials_changed: bool) -> bool {
        let node_restart = self.apply_live(&change.prev, &change.next);
        let reload = credentials_changed || node_restart;
        if reload {
            self.reload_node().await;
        }
        reload
    }

    /// True when the node must restart to take the change (sign timeout or policy seeds
    /// changed while a node runs).
    fn apply_live(&self, prev: &Config, next: &Config) -> bool {
        let seeds_changed = prev.peer_policies != next.peer_policies;
        if seeds_changed {
            self.node.set_guard_config(crate::node::GuardConfig {
                store: Some(self.store.clone()),
                sign_policy: next.sign_policy,
                seeds: next.peer_policies.clone(),
            });
        }
        (seeds_changed || prev.sign_timeout != next.sign_timeout) && self.node.wants_any_node()
    }
}
