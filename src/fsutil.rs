//! Writing files so that a reader never sees half of one.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::Path;

/// Why an atomic write failed: the file system, or the writer's own error.
#[derive(Debug)]
pub enum WriteError<E> {
    Io(io::Error),
    Inner(E),
}

/// Runs `write` against a temporary file beside `path`, then renames it into place, so an
/// interruption or an error leaves the old file (or none), never a half-written one. The
/// file gets mode 0600: NamedTempFile creates it so, and removes it if we fail first.
pub fn write_atomic<T, E>(
    path: &Path,
    write: impl FnOnce(&mut BufWriter<&File>) -> Result<T, E>,
) -> Result<T, WriteError<E>> {
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    let file = tempfile::NamedTempFile::new_in(dir).map_err(WriteError::Io)?;
    let result = {
        let mut out = BufWriter::new(file.as_file());
        let result = write(&mut out).map_err(WriteError::Inner)?;
        out.flush().map_err(WriteError::Io)?;
        result
    };
    file.as_file().sync_all().map_err(WriteError::Io)?;
    file.persist(path).map_err(|e| WriteError::Io(e.error))?;
    Ok(result)
}

/// Writes `contents` atomically with mode 0600.
pub fn write_private(path: &Path, contents: &[u8]) -> io::Result<()> {
    write_atomic(path, |out| out.write_all(contents)).map_err(|e| match e {
        WriteError::Io(e) | WriteError::Inner(e) => e,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_write_leaves_the_old_file_and_no_temporary() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.csv");
        write_private(&path, b"old").unwrap();
        let failed: Result<(), WriteError<&str>> = write_atomic(&path, |out| {
            out.write_all(b"half").unwrap();
            Err("stopped")
        });
        assert!(matches!(failed, Err(WriteError::Inner("stopped"))));
        assert_eq!(std::fs::read(&path).unwrap(), b"old");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}
