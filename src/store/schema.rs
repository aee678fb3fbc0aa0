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
