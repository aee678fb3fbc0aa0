//! Moving a keyset to FROSTR V2 and holding V2 credentials (issue 7, items 3 and 5).
//!
//! The core (migrate, import, record) is pure like [`crate::frostr_v2`]. The control layer
//! ([`crate::control::keyset`], behind `/api/keyset*`), the `igloo keyset migrate` command
//! and the store record ([`crate::store::credentials::V2NodeCredentials`]) are thin layers
//! over this.
//!
//! * [`migrate`]: t v1 shares (or an nsec) → a V2 keyset with the same npub, this node's V2
//!   share and one password-protected `bfonboard` per other member.
//! * [`import`]: a `bfshare` / `bfonboard` / `bfprofile` (+ password) → V2 credentials.
//! * [`record`]: conversion between those credentials and the sealed store record.
//! * [`env_cache`]: the environment's V2 package, opened once (Argon2id) and kept.
//! * [`boot`]: what a node switched to V2 should run (reads the store; the one I/O part).

pub mod boot;
pub mod env_cache;
pub mod import;
pub mod migrate;
pub mod record;

pub use import::{ImportError, V2Credentials, V2Source, import_package};
pub use migrate::{MigrateError, Migration, MigrationInput, OnboardOut, V1_WARNING, migrate};
