//! The ephemeral NIP-01 relay served on the daemon's port.
