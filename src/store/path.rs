//! Where the store lives on disk, and the permissions it gets.
//!
//! The data directory is created 0700 and the store file 0600; modes of existing ones are
//! tightened with a warning, because the store will hold key shares.

use std::fs::{self, OpenOptions};
use std::io;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use super::StoreError;

/// File name used when DB_PATH names a directory.
pub const DB_FILE_NAME: &str = "igloo.redb";

const DIR_MODE: u32 = 0o700;
const FILE_MODE: u32 = 0o600;

/// Whether DB_PATH names the store file itself (the rule lives with the settings).
pub use crate::config::names_store_file;

/// Applies the DB_PATH rule ([`names_store_file`]): the store file's path.
pub fn resolve_db_path(p: &Path) -> PathBuf {
    if names_store_file(p) {
        p.to_path_buf()
    } else {
        p.join(DB_FILE_NAME)
    }
}

/// Creates the directory and the (empty) store file with private modes, or tightens the modes of
/// existing ones. Returns the store file path.
pub(crate) fn prepare(db_path: &Path) -> Result<PathBuf, StoreError> {
    let file = resolve_db_path(db_path);
    if names_store_file(db_path) {
        // DB_PATH names the file: its parent may be a shared directory (even the working
        // directory), so only a directory we create ourselves gets 0700.
        if let Some(parent) = file.parent().filter(|p| !p.as_os_str().is_empty()) {
            if !parent.exists() {
                create_private_dir(parent)?;
            }
        }
    } else {
        ensure_private_dir(db_path)?;
    }
    ensure_private_file(&file)?;
    Ok(file)
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> StoreError + '_ {
    move |source| StoreError::Io {
        path: path.to_path_buf(),
        source,
    }
}

fn create_private_dir(dir: &Path) -> Result<(), StoreError> {
    fs::DirBuilder::new()
        .recursive(true)
        .mode(DIR_MODE)
        .create(dir)
        .map_err(io_err(dir))?;
    // The mode given to mkdir is filtered by the umask; set it explicitly.
    fs::set_permissions(dir, fs::Permissions::from_mode(DIR_MODE)).map_err(io_err(dir))
}

fn ensure_private_dir(dir: &Path) -> Result<(), StoreError> {
    match fs::metadata(dir) {
        Ok(meta) if meta.is_dir() => tighten(dir, meta.permissions().mode(), DIR_MODE),
        Ok(_) => Err(StoreError::Io {
            path: dir.to_path_buf(),
            source: io::Error::new(
                io::ErrorKind::AlreadyExists,
                "DB_PATH has no extension, so it must be a directory, but a file is there",
            ),
        }),
        Err(e) if e.kind() == io::ErrorKind::NotFound => create_private_dir(dir),
        Err(e) => Err(io_err(dir)(e)),
    }
}

fn ensure_private_file(file: &Path) -> Result<(), StoreError> {
    match fs::metadata(file) {
        Ok(meta) if meta.is_file() => tighten(file, meta.permissions().mode(), FILE_MODE),
        Ok(_) => Err(StoreError::Io {
            path: file.to_path_buf(),
            source: io::Error::new(io::ErrorKind::AlreadyExists, "not a regular file"),
        }),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            // Create it ourselves so it is never world-readable, not even for an instant;
            // redb then initialises the empty file.
            OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(FILE_MODE)
                .open(file)
                .map_err(io_err(file))?;
            fs::set_permissions(file, fs::Permissions::from_mode(FILE_MODE)).map_err(io_err(file))
        }
        Err(e) => Err(io_err(file)(e)),
    }
}

fn tighten(path: &Path, mode: u32, wanted: u32) -> Result<(), StoreError> {
    let current = mode & 0o777;
    if current != wanted {
        tracing::warn!(
            path = %path.display(),
            "store permissions were {current:o}, setting {wanted:o}"
        );
        fs::set_permissions(path, fs::Permissions::from_mode(wanted)).map_err(io_err(path))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode(p: &Path) -> u32 {
        fs::metadata(p).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn extension_means_file_otherwise_directory() {
        assert_eq!(
            resolve_db_path(Path::new("/var/lib/igloo/store.db")),
            PathBuf::from("/var/lib/igloo/store.db")
        );
        assert_eq!(
            resolve_db_path(Path::new("./data")),
            PathBuf::from("./data/igloo.redb")
        );
        // A leading dot is a hidden name, not an extension.
        assert_eq!(
            resolve_db_path(Path::new(".igloo")),
            PathBuf::from(".igloo/igloo.redb")
        );
    }

    #[test]
    fn an_existing_directory_is_a_directory_whatever_its_name() {
        let tmp = tempfile::tempdir().unwrap();
        for name in ["tmp.Xy12", "igloo.d", "data.v2"] {
            let dir = tmp.path().join(name);
            fs::create_dir(&dir).unwrap();
            assert_eq!(resolve_db_path(&dir), dir.join(DB_FILE_NAME));
            let file = prepare(&dir).unwrap();
            assert_eq!(file, dir.join(DB_FILE_NAME));
            assert_eq!(mode(&dir), 0o700);
        }
        // A path that does not exist yet: the extension rule.
        let new = tmp.path().join("fresh.d");
        assert_eq!(resolve_db_path(&new), new);
    }

    #[test]
    fn creates_private_dir_and_file() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("a/data");
        let file = prepare(&dir).unwrap();
        assert_eq!(file, dir.join(DB_FILE_NAME));
        assert_eq!(mode(&dir), 0o700);
        assert_eq!(mode(&file), 0o600);
    }

    #[test]
    fn fixes_modes_of_existing_dir_and_file() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("data");
        fs::create_dir(&dir).unwrap();
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o755)).unwrap();
        let file = dir.join(DB_FILE_NAME);
        fs::write(&file, b"").unwrap();
        fs::set_permissions(&file, fs::Permissions::from_mode(0o644)).unwrap();
        prepare(&dir).unwrap();
        assert_eq!(mode(&dir), 0o700);
        assert_eq!(mode(&file), 0o600);
    }

    #[test]
    fn file_path_leaves_existing_parent_alone_but_creates_missing_one_private() {
        let tmp = tempfile::tempdir().unwrap();
        fs::set_permissions(tmp.path(), fs::Permissions::from_mode(0o755)).unwrap();
        let file = prepare(&tmp.path().join("store.db")).unwrap();
        assert_eq!(mode(tmp.path()), 0o755);
        assert_eq!(mode(&file), 0o600);

        let nested = tmp.path().join("new/store.db");
        prepare(&nested).unwrap();
        assert_eq!(mode(&tmp.path().join("new")), 0o700);
    }

    #[test]
    fn directory_path_that_is_a_file_is_an_error() {
        let tmp = tempfile::tempdir().unwrap();
        let not_dir = tmp.path().join("data");
        fs::write(&not_dir, b"x").unwrap();
        let err = prepare(&not_dir).unwrap_err();
        assert!(err.to_string().contains("must be a directory"), "{err}");
    }
}
