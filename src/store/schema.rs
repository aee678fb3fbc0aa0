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

// ---- AUTH: users, sessions, API keys, encrypted node credentials (created lazily) ----

/// Users: id → JSON [`crate::store::users::UserRecord`].
pub const USERS: TableDefinition<u64, &[u8]> = TableDefinition::new("users");
/// Unique user names: username → id.
pub const USERNAMES: TableDefinition<&str, u64> = TableDefinition::new("usernames");
/// Sessions: hex SHA-256 of the session id → JSON [`crate::store::sessions::SessionRecord`].
pub const SESSIONS: TableDefinition<&str, &[u8]> = TableDefinition::new("sessions");
/// API keys: id → JSON [`crate::store::api_keys::ApiKeyRecord`] (the token is stored only as SHA-256).
pub const API_KEYS: TableDefinition<u64, &[u8]> = TableDefinition::new("api_keys");
/// API key lookup: 12-character token prefix → id.
pub const API_KEY_PREFIXES: TableDefinition<&str, u64> = TableDefinition::new("api_key_prefixes");
/// Node credentials per owner (`user:<id>` or `env`): sealed with the device key.
pub const CREDENTIALS: TableDefinition<&str, &[u8]> = TableDefinition::new("credentials");
/// Id sequences (`users`, `api_keys`): the last id handed out; ids are never reused.
pub const AUTH_SEQUENCES: TableDefinition<&str, u64> = TableDefinition::new("auth_sequences");

// --- V2 (bifrost-rs) nonce pools, task V2. Created lazily; no migration yet. ---

/// Outgoing nonce codes already used for a partial signature: group id (32) ‖ code (32) →
/// unix time it was spent (see `store::v2_nonces`). Written (and committed) BEFORE the partial is sent; a code found here is
/// never signed with again.
pub const V2_SPENT_NONCES: TableDefinition<&[u8], u64> = TableDefinition::new("v2_spent_nonces");

/// Per-peer nonce pool state (encrypted at rest like shares): lower-case hex peer id →
/// opaque bytes. Discarded whole after an unclean stop (see [`V2_NODE_STATE`]).
pub const V2_NONCE_POOLS: TableDefinition<&str, &[u8]> = TableDefinition::new("v2_nonce_pools");

/// V2 node bookkeeping: e.g. `"run:<gid hex>"` (set while running, cleared on clean stop).
/// Key → opaque bytes.
pub const V2_NODE_STATE: TableDefinition<&str, &[u8]> = TableDefinition::new("v2_node_state");

// --- V2M: V2 node credentials (migration / import). Created lazily; no migration yet. ---

/// V2 credentials per owner (same owner keys as [`CREDENTIALS`]): sealed JSON
/// [`crate::store::credentials::V2NodeCredentials`].
pub const V2_CREDENTIALS: TableDefinition<&str, &[u8]> = TableDefinition::new("v2_credentials");

// --- NIP-46 remote signer (src/nip46). Created lazily on first write; no migration. ---

/// Service state: `transport_key` (sealed with the device key), `relays` (JSON list).
pub const NIP46_STATE: TableDefinition<&str, &[u8]> = TableDefinition::new("nip46_state");
/// Sessions: lower-case hex client pubkey → JSON [`crate::store::nip46::SessionRecord`].
pub const NIP46_SESSIONS: TableDefinition<&str, &[u8]> = TableDefinition::new("nip46_sessions");
/// Unused `bunker://` secrets: hex SHA-256 of the secret → unix expiry (seconds). Single use.
pub const NIP46_SECRETS: TableDefinition<&str, u64> = TableDefinition::new("nip46_secrets");
/// Per-session history: client pubkey → JSON list of [`crate::store::nip46::HistoryEntry`]
/// (the newest [`crate::store::nip46::HISTORY_CAP`]).
pub const NIP46_HISTORY: TableDefinition<&str, &[u8]> = TableDefinition::new("nip46_history");
