//! Table definitions. Names and key/value types are part of the file format: change them only
//! through a migration.

use redb::TableDefinition;

/// Store-wide facts; holds [`SCHEMA_VERSION_KEY`].
pub const META: TableDefinition<&str, u64> = TableDefinition::new("meta");
/// Key of the schema version in [`META`].
pub const SCHEMA_VERSION_KEY: &str = "schema_version";

/// Settings: key → opaque bytes (v1+). Keys follow [`crate::store::settings::validate_key`].
pub const SETTINGS: TableDefinition<&str, &[u8]> = TableDefinition::new("settings");

/// Per-peer signing policy: lower-case hex peer pubkey → encoded policy (v2+).
pub const PEER_POLICIES: TableDefinition<&str, &[u8]> = TableDefinition::new("peer_policies");

/// Persistent counters for the audit view, e.g. partial signatures issued per peer (v2+).
pub const AUDIT_COUNTERS: TableDefinition<&str, u64> = TableDefinition::new("audit_counters");

// --- V2 (bifrost-rs) nonce pools, task V2. Created lazily; no migration yet. ---

/// Outgoing nonce codes already used for a partial signature: 32-byte code → unix time it
/// was spent. Written (and committed) BEFORE the partial is sent; a code found here is
/// never signed with again.
pub const V2_SPENT_NONCES: TableDefinition<&[u8], u64> = TableDefinition::new("v2_spent_nonces");

/// Per-peer nonce pool state (encrypted at rest like shares): lower-case hex peer id →
/// opaque bytes. Discarded whole after an unclean stop (see [`V2_NODE_STATE`]).
pub const V2_NONCE_POOLS: TableDefinition<&str, &[u8]> = TableDefinition::new("v2_nonce_pools");

/// V2 node bookkeeping: e.g. `"run_marker"` (set while running, cleared on clean stop) and
/// `"replay_cache"`. Key → opaque bytes.
pub const V2_NODE_STATE: TableDefinition<&str, &[u8]> = TableDefinition::new("v2_node_state");
