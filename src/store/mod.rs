//! The redb store: schema version, migrations, tables.
