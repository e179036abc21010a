//! The one way files are written. A reader never sees half a file, and nothing is replaced that
//! is not ours to replace: `-` is standard output, a device or FIFO is written in place, and a
//! symlink's target is replaced while the link stays.
//!
//! Folders other users control are refused, as ssh refuses such a config: a folder must be
//! ours (or root's) and writable by no one else, or else sticky (as /tmp is), where others may
//! add entries but not replace ours. In a sticky folder of others a symlink is never followed
//! and another user's file is never replaced: either would let them pick what we overwrite.

use std::fs::{File, OpenOptions, Permissions};
use std::io::{self, BufWriter, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// Linux gives up on a chain of symlinks at the same length.
const MAX_SYMLINKS: usize = 40;

/// How our temporary files are named: `.wxpay-ops-XXXXXX.part`, a name no other program
/// picks, so that a later run can tell ours from others' and remove what a killed run left.
const TEMP_PREFIX: &str = ".wxpay-ops-";
const TEMP_SUFFIX: &str = ".part";

/// The temporary files being written now, for [`remove_live_temporaries`].
static LIVE: std::sync::Mutex<Vec<PathBuf>> = std::sync::Mutex::new(Vec::new());

/// A temporary file listed in [`LIVE`] while it is written; dropped once it is renamed into
/// place or removed.
struct Live(PathBuf);

impl Live {
    fn register(path: &Path) -> Live {
        live().push(path.to_owned());
        Live(path.to_owned())
    }
}

impl Drop for Live {
    fn drop(&mut self) {
        live().retain(|path| *path != self.0);
    }
}

fn live() -> std::sync::MutexGuard<'static, Vec<PathBuf>> {
    // A poisoned list still names every file; keep using it.
    LIVE.lock().unwrap_or_else(|e| e.into_inner())
}

/// Removes the temporary files being written now, for a process about to end on a signal,
/// whose destructors will not run.
pub fn remove_live_temporaries() {
    for path in live().drain(..) {
        let _ = std::fs::remove_file(path);
    }
}

/// Removes our own temporary files in `dir` untouched for longer than `older_than`: what runs
/// that were killed left behind. A run still writing one touches it more often than that;
/// other programs' files, and files of other users, are left alone. Returns how many went.
pub fn remove_stale_temporaries(dir: &Path, older_than: std::time::Duration) -> usize {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    let stale = |entry: &std::fs::DirEntry| -> bool {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        let ours = name.starts_with(TEMP_PREFIX) && name.ends_with(TEMP_SUFFIX);
        let Ok(metadata) = entry.metadata() else {
            return false;
        };
        let idle = metadata
            .modified()
            .ok()
            .and_then(|at| at.elapsed().ok())
            .is_some_and(|idle| idle > older_than);
        ours && metadata.is_file() && metadata.uid() == rustix::process::geteuid().as_raw() && idle
    };
    entries
        .flatten()
        .filter(stale)
        .filter(|entry| std::fs::remove_file(entry.path()).is_ok())
        .count()
}

/// A file write that failed, named by the path the caller asked for, never by a temporary file.
#[derive(Debug)]
pub struct FileError {
    pub path: PathBuf,
    pub source: io::Error,
    /// The folder that should hold the file and does not exist.
    missing_folder: Option<PathBuf>,
    /// Why the place is refused: another user controls it.
    refused: Option<String>,
}

impl FileError {
    pub fn new(path: &Path, source: io::Error) -> Self {
        FileError {
            path: path.to_owned(),
            source,
            missing_folder: None,
            refused: None,
        }
    }

    /// A place another user controls, refused before anything is written.
    fn refused(path: &Path, why: String) -> Self {
        FileError {
            refused: Some(why),
            ..FileError::new(path, io::ErrorKind::PermissionDenied.into())
        }
    }

    pub fn kind(&self) -> io::ErrorKind {
        self.source.kind()
    }

    /// What went wrong, without the path.
    pub fn reason(&self) -> String {
        match (&self.missing_folder, &self.refused) {
            (Some(dir), _) => format!("the folder {} does not exist", dir.display()),
            (None, Some(why)) => why.clone(),
            (None, None) => plain(&self.source),
        }
    }

    /// The remedy, where one is known.
    pub fn hint(&self) -> Option<String> {
        if let Some(dir) = &self.missing_folder {
            return Some(format!(
                "create the folder first (mkdir -p {}), or pick another path",
                dir.display()
            ));
        }
        if self.refused.is_some() {
            return Some(
                "write into a folder of your own that no one else can write (chmod 700), or remove what another user put there"
                    .to_owned(),
            );
        }
        match self.kind() {
            io::ErrorKind::PermissionDenied => Some(format!(
                "you may not write there; pick another path, or check the permissions of {}",
                folder_of(&self.path).display()
            )),
            io::ErrorKind::IsADirectory => {
                Some("name a file inside the folder, not the folder itself".to_owned())
            }
            _ => None,
        }
    }

    /// A write to standard output whose reader went away (`| head`).
    pub fn is_closed_stdout(&self) -> bool {
        is_stdout(&self.path) && self.kind() == io::ErrorKind::BrokenPipe
    }
}

impl std::fmt::Display for FileError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.path == Path::new("-") {
            write!(f, "standard output: {}", self.reason())
        } else {
            write!(f, "{}: {}", self.path.display(), self.reason())
        }
    }
}

impl std::error::Error for FileError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.source)
    }
}

/// For callers whose own error names the path already.
impl From<FileError> for io::Error {
    fn from(error: FileError) -> Self {
        io::Error::new(error.kind(), error.reason())
    }
}

/// An I/O error's own text. tempfile appends the temporary file's name, which means nothing to
/// the user, so the operating system's message is taken from underneath it.
fn plain(error: &io::Error) -> String {
    if let Some(code) = error.raw_os_error() {
        return io::Error::from_raw_os_error(code).to_string();
    }
    let inner = error
        .get_ref()
        .and_then(|inner| inner.source())
        .and_then(|source| source.downcast_ref::<io::Error>());
    match inner {
        Some(inner) => plain(inner),
        // tempfile's wrapper of an OS error gives no source: its text is the OS error's,
        // then ` at path "…"`.
        None => {
            let text = error.to_string();
            text.split(" at path \"").next().unwrap_or(&text).to_owned()
        }
    }
}

/// Why an atomic write failed: the file system, or the writer's own error.
#[derive(Debug)]
pub enum WriteError<E> {
    File(FileError),
    Inner(E),
}

/// Makes the writer that `-` (and `/dev/stdout`) is written to.
pub type StdoutWriter = fn() -> Box<dyn Write>;

static STDOUT: std::sync::OnceLock<StdoutWriter> = std::sync::OnceLock::new();

/// Routes what is written to `-` through `writer`: the command layer hands over its printer's
/// scrubbing writer, so that a file written to standard output is scrubbed as everything
/// printed is (this module sits below the printer and holds only the hook). Without it, as in
/// library use, the bytes go out as they are.
pub fn route_stdout(writer: StdoutWriter) {
    let _ = STDOUT.set(writer);
}

fn stdout_writer() -> Box<dyn Write> {
    match STDOUT.get() {
        Some(make) => make(),
        None => Box::new(io::stdout().lock()),
    }
}

/// Whether writing to `path` writes to standard output: `-`, or `/dev/stdout` and its kin.
pub fn is_stdout(path: &Path) -> bool {
    matches!(Target::of(path), Ok(Target::Stdout))
}

/// Makes `dir` and its missing parents (mode 0700, see [`create_private_dir_all`]) for a
/// command to write its files into, and refuses one that another user controls (see the
/// module's rule): no file of ours is then written where they can swap it for a link.
pub fn output_folder(dir: &Path) -> Result<(), FileError> {
    create_private_dir_all(dir)?;
    let refused = |why| Err(FileError::refused(dir, why));
    // The folder may be a link planted in a folder others can write.
    let entry = std::fs::symlink_metadata(dir).map_err(|e| FileError::new(dir, e))?;
    if entry.file_type().is_symlink()
        && Control::of(folder_of(dir)).is_ok_and(|c| c != Control::Ours)
    {
        return refused(format!(
            "{} is a symlink in {}, a folder others can write; it is not followed",
            dir.display(),
            folder_of(dir).display()
        ));
    }
    // Whoever controls the folder above can swap this one for another between our writes.
    if let Ok(Control::Others(why)) = Control::of(folder_of(dir)) {
        return refused(why);
    }
    match Control::of(dir).map_err(|e| FileError::new(dir, e))? {
        Control::Others(why) => refused(why),
        Control::Ours | Control::Sticky => Ok(()),
    }
}

/// Whom a write is for, which decides the mode and whether an existing file may go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Policy {
    /// Data: a new file gets mode 0600; a file replaced keeps its mode, since its owner chose
    /// who may read it (a report shared with a group stays shared).
    Data,
    /// Secrets: always mode 0600, whatever the file replaced allowed.
    Private,
    /// Secrets, and nothing that exists may be replaced, even one made after the caller looked.
    NewPrivate,
}

/// Where bytes for a path go.
#[derive(Debug, PartialEq, Eq)]
enum Target {
    Stdout,
    /// A device, FIFO or socket: opened and written as it is, never renamed over.
    InPlace(PathBuf),
    /// A regular file or nothing yet: a finished temporary file is renamed over it.
    Replace {
        path: PathBuf,
        existing: Option<Permissions>,
    },
}

impl Target {
    /// Follows symlinks to the place the bytes would land. A dangling link is written through,
    /// creating its target, as `echo > link` would.
    fn of(path: &Path) -> Result<Target, Refusal> {
        if path == Path::new("-") {
            return Ok(Target::Stdout);
        }
        let mut path = path.to_owned();
        for _ in 0..MAX_SYMLINKS {
            if let Some(stdout) = names_a_descriptor(&path) {
                return Ok(if stdout {
                    Target::Stdout
                } else {
                    Target::InPlace(path)
                });
            }
            let shared = match Control::of(folder_of(&path)) {
                Ok(Control::Ours) => false,
                Ok(Control::Sticky) => true,
                Ok(Control::Others(why)) => return Err(Refusal::Refused(why)),
                // A folder that is missing fails the write later, with its own words.
                Err(_) => false,
            };
            match std::fs::symlink_metadata(&path) {
                Ok(metadata) if shared && metadata.file_type().is_symlink() => {
                    return Err(Refusal::Refused(format!(
                        "{} is a symlink in {}, a folder others can write; it is not followed",
                        path.display(),
                        folder_of(&path).display()
                    )));
                }
                Ok(metadata) if shared && !is_ours(metadata.uid()) => {
                    return Err(Refusal::Refused(format!(
                        "{} belongs to another user (uid {}) in {}, a folder others can write; it is not replaced",
                        path.display(),
                        metadata.uid(),
                        folder_of(&path).display()
                    )));
                }
                Ok(metadata) if metadata.file_type().is_symlink() => {
                    // A relative target is relative to the link's folder; an absolute one
                    // replaces the whole path.
                    path = folder_of(&path).join(std::fs::read_link(&path).map_err(Refusal::Io)?);
                }
                Ok(metadata) if metadata.is_dir() => {
                    return Err(Refusal::Io(io::ErrorKind::IsADirectory.into()));
                }
                Ok(metadata) if metadata.is_file() => {
                    return Ok(Target::Replace {
                        path,
                        existing: Some(metadata.permissions()),
                    });
                }
                Ok(_) => return Ok(Target::InPlace(path)),
                Err(e) if e.kind() == io::ErrorKind::NotFound => {
                    return Ok(Target::Replace {
                        path,
                        existing: None,
                    });
                }
                Err(e) => return Err(Refusal::Io(e)),
            }
        }
        Err(Refusal::Io(rustix::io::Errno::LOOP.into()))
    }
}

/// Why bytes cannot go to a path.
#[derive(Debug)]
enum Refusal {
    Io(io::Error),
    /// Another user controls the place: what was found.
    Refused(String),
}

impl Refusal {
    fn for_path(self, path: &Path) -> FileError {
        match self {
            Refusal::Io(e) => FileError::new(path, e),
            Refusal::Refused(why) => FileError::refused(path, why),
        }
    }
}

/// Who may change what a folder holds.
#[derive(Debug, PartialEq, Eq)]
enum Control {
    /// This user (or root), and no one else.
    Ours,
    /// Others may add entries but not rename or remove ours (the sticky bit, as on /tmp).
    Sticky,
    /// Another user, or anyone in its group or at all: what was found.
    Others(String),
}

impl Control {
    /// The folder as it is reached, symlinks followed.
    fn of(dir: &Path) -> io::Result<Control> {
        let metadata = std::fs::metadata(dir)?;
        let mode = metadata.mode() & 0o7777;
        let refused = |why: &str| {
            Control::Others(format!(
                "the folder {} belongs to uid {} with mode {mode:04o}: {why}",
                dir.display(),
                metadata.uid(),
            ))
        };
        Ok(if !is_ours(metadata.uid()) {
            // The owner of a folder may rename what others put there, sticky or not.
            refused("another user controls it")
        } else if mode & 0o022 == 0 {
            Control::Ours
        } else if mode & 0o1000 != 0 {
            Control::Sticky
        } else {
            refused("others can write in it")
        })
    }
}

/// Ours, or root's (as the folders above every home are).
fn is_ours(uid: u32) -> bool {
    uid == 0 || uid == rustix::process::geteuid().as_raw()
}

/// Whether `path` is an entry of a `/proc/PID/fd` folder (`/dev/stdout` and `/dev/fd/N` lead
/// there), and if so whether it is our own standard output. Such an entry names an open
/// descriptor, not a file: it may be a pipe, or a file whose offset the shell has set, so it
/// is written through, never renamed over.
fn names_a_descriptor(path: &Path) -> Option<bool> {
    let folder = std::fs::canonicalize(folder_of(path)).ok()?;
    if !folder.starts_with("/proc") || folder.file_name()? != "fd" {
        return None;
    }
    let ours = std::fs::canonicalize("/proc/self/fd").is_ok_and(|own| own == folder);
    Some(ours && path.file_name()? == "1")
}

fn folder_of(path: &Path) -> &Path {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    }
}

/// Runs `write` against the place `path` names (see the module's rules). A regular file is
/// written to a temporary file beside it, flushed to disk, renamed into place, and the folder
/// flushed, so an interruption or an error leaves the old file (or none), never a half-written
/// one. New files get mode 0600; a replaced file keeps its mode.
pub fn write_atomic<T, E>(
    path: &Path,
    write: impl FnOnce(&mut dyn Write) -> Result<T, E>,
) -> Result<T, WriteError<E>> {
    write_with(path, Policy::Data, write)
}

/// Writes secret `contents` atomically with mode 0600, replacing what is there.
pub fn write_private(path: &Path, contents: &[u8]) -> Result<(), FileError> {
    write_bytes(path, Policy::Private, contents)
}

/// Writes secret `contents` atomically with mode 0600, but fails with `AlreadyExists` if
/// anything is at `path` by the time the file is moved into place.
pub fn write_new_private(path: &Path, contents: &[u8]) -> Result<(), FileError> {
    write_bytes(path, Policy::NewPrivate, contents)
}

/// An exclusive advisory lock on a folder, held until dropped, for read-modify-write cycles
/// that other processes run on the same files. The folder, not a file in it, is locked: the
/// atomic writer replaces a file with a new one, and a lock held on the old one would guard
/// nothing. Only cooperating processes (ours) are held back.
pub struct FolderLock {
    _folder: File,
}

/// Waits for the lock on `dir` and takes it.
pub fn lock_folder(dir: &Path) -> Result<FolderLock, FileError> {
    let folder = File::open(dir).map_err(|e| FileError::new(dir, e))?;
    rustix::fs::flock(&folder, rustix::fs::FlockOperation::LockExclusive)
        .map_err(|e| FileError::new(dir, e.into()))?;
    // Closing the file releases the lock.
    Ok(FolderLock { _folder: folder })
}

/// Creates a folder and its missing parents with mode 0700 whatever the umask, for folders
/// that hold secrets. Folders that exist are left as they are.
pub fn create_private_dir_all(dir: &Path) -> Result<(), FileError> {
    use std::os::unix::fs::DirBuilderExt;
    // The mode is filtered by the umask, which can only take bits away from 0700.
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| FileError::new(dir, e))
}

fn write_bytes(path: &Path, policy: Policy, contents: &[u8]) -> Result<(), FileError> {
    write_with(path, policy, |out| out.write_all(contents)).map_err(|e| match e {
        WriteError::File(e) => e,
        WriteError::Inner(e) => FileError::new(path, e),
    })
}

fn write_with<T, E>(
    path: &Path,
    policy: Policy,
    write: impl FnOnce(&mut dyn Write) -> Result<T, E>,
) -> Result<T, WriteError<E>> {
    let file_error = |e| WriteError::File(FileError::new(path, e));
    let target = Target::of(path).map_err(|e| WriteError::File(e.for_path(path)))?;
    match target {
        Target::Stdout => {
            let mut out = BufWriter::new(stdout_writer());
            let result = write(&mut out).map_err(WriteError::Inner)?;
            out.flush().map_err(file_error)?;
            Ok(result)
        }
        Target::InPlace(_) if policy == Policy::NewPrivate => {
            Err(file_error(io::ErrorKind::AlreadyExists.into()))
        }
        Target::InPlace(target) => {
            let file = OpenOptions::new()
                .write(true)
                .open(&target)
                .map_err(file_error)?;
            let mut out = BufWriter::new(&file);
            let result = write(&mut out).map_err(WriteError::Inner)?;
            out.flush().map_err(file_error)?;
            Ok(result)
        }
        Target::Replace {
            existing: Some(_), ..
        } if policy == Policy::NewPrivate => Err(file_error(io::ErrorKind::AlreadyExists.into())),
        Target::Replace {
            path: target,
            existing,
        } => {
            let dir = folder_of(&target);
            let file = tempfile::Builder::new()
                .prefix(TEMP_PREFIX)
                .suffix(TEMP_SUFFIX)
                .tempfile_in(dir)
                .map_err(|e| {
                    let missing = e.kind() == io::ErrorKind::NotFound && !dir.exists();
                    WriteError::File(FileError {
                        missing_folder: missing.then(|| dir.to_owned()),
                        ..FileError::new(path, e)
                    })
                })?;
            let _live = Live::register(file.path());
            let result = {
                let mut out = BufWriter::new(file.as_file());
                let result = write(&mut out).map_err(WriteError::Inner)?;
                out.flush().map_err(file_error)?;
                result
            };
            if let (Policy::Data, Some(permissions)) = (policy, existing) {
                file.as_file()
                    .set_permissions(permissions)
                    .map_err(file_error)?;
            }
            file.as_file().sync_all().map_err(file_error)?;
            let persisted = if policy == Policy::NewPrivate {
                file.persist_noclobber(&target)
            } else {
                file.persist(&target)
            };
            persisted.map_err(|e| file_error(e.error))?;
            // The rename is durable only once the folder that records it is on disk.
            File::open(dir)
                .and_then(|dir| dir.sync_all())
                .map_err(file_error)?;
            Ok(result)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::{FileTypeExt, PermissionsExt, symlink};

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    fn write_text(path: &Path, text: &str) -> Result<(), WriteError<io::Error>> {
        write_atomic(path, |out| out.write_all(text.as_bytes()))
    }

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

    #[test]
    fn new_files_are_private_and_replaced_files_keep_their_mode() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.csv");
        write_text(&path, "one").unwrap();
        assert_eq!(mode(&path), 0o600);
        std::fs::set_permissions(&path, Permissions::from_mode(0o640)).unwrap();
        write_text(&path, "two").unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "two");
        assert_eq!(mode(&path), 0o640);
        write_private(&path, b"secret").unwrap();
        assert_eq!(mode(&path), 0o600);
    }

    #[test]
    fn a_symlink_is_kept_and_its_target_replaced_in_the_target_folder() {
        let dir = tempfile::tempdir().unwrap();
        let links = dir.path().join("links");
        let data = dir.path().join("data");
        std::fs::create_dir_all(&links).unwrap();
        std::fs::create_dir_all(&data).unwrap();
        let target = data.join("out.csv");
        std::fs::write(&target, "old").unwrap();
        let link = links.join("out.csv");
        symlink("../data/out.csv", &link).unwrap();
        let chained = links.join("again.csv");
        symlink(&link, &chained).unwrap();

        write_text(&chained, "new").unwrap();
        assert!(link.symlink_metadata().unwrap().file_type().is_symlink());
        assert!(chained.symlink_metadata().unwrap().file_type().is_symlink());
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "new");
        // No temporary file was left on either side.
        assert_eq!(std::fs::read_dir(&links).unwrap().count(), 2);
        assert_eq!(std::fs::read_dir(&data).unwrap().count(), 1);
    }

    #[test]
    fn a_dangling_symlink_is_written_through_to_its_target() {
        let dir = tempfile::tempdir().unwrap();
        let link = dir.path().join("link.csv");
        symlink("made.csv", &link).unwrap();
        write_text(&link, "x").unwrap();
        assert!(link.symlink_metadata().unwrap().file_type().is_symlink());
        assert_eq!(
            std::fs::read_to_string(dir.path().join("made.csv")).unwrap(),
            "x"
        );
        let looped = dir.path().join("loop");
        symlink("loop", &looped).unwrap();
        assert!(matches!(write_text(&looped, "x"), Err(WriteError::File(_))));
    }

    #[test]
    fn a_fifo_is_written_in_place() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("pipe");
        let made = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap();
        assert!(made.success());
        let reader = {
            let fifo = fifo.clone();
            std::thread::spawn(move || std::fs::read_to_string(fifo).unwrap())
        };
        write_text(&fifo, "through the pipe").unwrap();
        assert_eq!(reader.join().unwrap(), "through the pipe");
        assert!(fifo.metadata().unwrap().file_type().is_fifo());
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn devices_are_written_in_place_never_renamed_over() {
        let null = Path::new("/dev/null");
        assert_eq!(Target::of(null).unwrap(), Target::InPlace(null.to_owned()));
        write_text(null, "discarded").unwrap();
        write_private(null, b"discarded").unwrap();
        assert!(null.metadata().unwrap().file_type().is_char_device());
        let refused = write_new_private(null, b"x").unwrap_err();
        assert_eq!(refused.kind(), io::ErrorKind::AlreadyExists);
    }

    #[test]
    fn a_dash_and_dev_stdout_are_standard_output_and_no_file() {
        assert_eq!(Target::of(Path::new("-")).unwrap(), Target::Stdout);
        assert_eq!(
            Target::of(Path::new("/dev/stdout")).unwrap(),
            Target::Stdout
        );
        assert_eq!(Target::of(Path::new("/dev/fd/1")).unwrap(), Target::Stdout);
        assert!(matches!(
            Target::of(Path::new("/dev/stderr")).unwrap(),
            Target::InPlace(_)
        ));
        assert_eq!(
            Target::of(Path::new("./-")).unwrap(),
            Target::Replace {
                path: "./-".into(),
                existing: None
            },
            "only a bare dash means stdout"
        );
    }

    #[test]
    fn a_missing_folder_is_named_with_a_hint_and_no_temporary_name() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("no/such/out.csv");
        let Err(WriteError::File(error)) = write_text(&path, "x") else {
            panic!("writing into a missing folder succeeded");
        };
        // The path asked for and its folder, and no temporary file's name.
        assert_eq!(
            error.to_string(),
            format!(
                "{}: the folder {} does not exist",
                path.display(),
                dir.path().join("no/such").display()
            )
        );
        assert!(error.hint().unwrap().contains("mkdir -p"));
    }

    #[test]
    fn a_folder_is_not_a_file() {
        let dir = tempfile::tempdir().unwrap();
        let Err(WriteError::File(error)) = write_text(dir.path(), "x") else {
            panic!("writing over a folder succeeded");
        };
        assert_eq!(error.kind(), io::ErrorKind::IsADirectory);
        assert!(error.hint().is_some());
    }

    #[test]
    fn new_private_never_replaces_a_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.toml");
        write_new_private(&path, b"first").unwrap();
        assert_eq!(mode(&path), 0o600);
        let error = write_new_private(&path, b"second").unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::AlreadyExists);
        assert_eq!(std::fs::read(&path).unwrap(), b"first");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn new_private_keeps_a_file_made_while_it_was_writing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.toml");
        let raced: Result<(), WriteError<io::Error>> =
            write_with(&path, Policy::NewPrivate, |out| {
                std::fs::write(&path, "theirs")?;
                out.write_all(b"ours")
            });
        let Err(WriteError::File(error)) = raced else {
            panic!("a file made during the write was replaced");
        };
        assert_eq!(error.kind(), io::ErrorKind::AlreadyExists);
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "theirs");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn folders_others_can_write_are_refused_unless_sticky_and_then_no_link_is_followed() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("target.csv");
        std::fs::write(&target, "old").unwrap();
        let folder = |name: &str, mode: u32| {
            let path = dir.path().join(name);
            std::fs::create_dir(&path).unwrap();
            std::fs::set_permissions(&path, Permissions::from_mode(mode)).unwrap();
            symlink(&target, path.join("link.csv")).unwrap();
            path
        };
        // Ours alone, sticky or not: our link is followed.
        for (name, mode) in [("own", 0o700), ("own-sticky", 0o1700)] {
            write_text(&folder(name, mode).join("link.csv"), name).unwrap();
            assert_eq!(std::fs::read_to_string(&target).unwrap(), name);
        }
        let open = folder("open", 0o777);
        let Err(WriteError::File(error)) = write_text(&open.join("new.csv"), "x") else {
            panic!("wrote into a folder anyone can write");
        };
        assert!(error.reason().contains("others can write in it"), "{error}");
        assert!(error.hint().unwrap().contains("chmod 700"));
        assert!(output_folder(&open.join("report")).is_err());

        let sticky = folder("sticky", 0o1777);
        write_text(&sticky.join("new.csv"), "x").unwrap();
        let Err(WriteError::File(error)) = write_text(&sticky.join("link.csv"), "x") else {
            panic!("followed a link in a sticky folder others can write");
        };
        assert!(error.reason().contains("is a symlink in"), "{error}");
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "own-sticky");
        output_folder(&sticky.join("report")).unwrap();
    }

    #[test]
    fn stale_temporaries_of_ours_are_removed_and_nothing_else() {
        let dir = tempfile::tempdir().unwrap();
        let old = std::time::SystemTime::now() - std::time::Duration::from_secs(7200);
        let make = |name: &str, modified: Option<std::time::SystemTime>| {
            let path = dir.path().join(name);
            let file = File::create(&path).unwrap();
            if let Some(at) = modified {
                file.set_modified(at).unwrap();
            }
            path
        };
        let stale = make(".wxpay-ops-AAAAAA.part", Some(old));
        let fresh = make(".wxpay-ops-BBBBBB.part", None);
        let other = make(".tmpCCCCCC", Some(old));
        let hour = std::time::Duration::from_secs(3600);
        assert_eq!(remove_stale_temporaries(dir.path(), hour), 1);
        assert!(!stale.exists() && fresh.exists() && other.exists());
    }

    #[test]
    fn private_folders_are_0700_whatever_exists_above() {
        let dir = tempfile::tempdir().unwrap();
        let deep = dir.path().join("a/b/c");
        create_private_dir_all(&deep).unwrap();
        for folder in ["a", "a/b", "a/b/c"] {
            assert_eq!(mode(&dir.path().join(folder)), 0o700, "{folder}");
        }
        create_private_dir_all(&deep).unwrap();
    }
}
