//! Watching the configuration file for edits.
//!
//! Editors save in many ways: writing the file in place, or writing a new file and renaming
//! it over the old one (which replaces the file the path names). So the watcher watches the
//! file's directory, not the file, and reacts to events that name the file. Only events that
//! can change its content count: writes, creates, renames and removals. Opening, reading and
//! closing it do not, so a host reading the file after an edit does not hear of its own read
//! as a new edit. When the path is a symbolic link, the directory of the file it points to
//! is watched as well, so that edits made through the target are seen; the target is
//! resolved when watching starts.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use notify::event::{EventKind, ModifyKind};
use notify::{RecursiveMode, Watcher as _};
use tokio::sync::mpsc;
use tokio::time::Instant;

/// How long the file must stay quiet after an event before [`ConfigWatcher::changed`]
/// reports it: one save is often several writes, and a half-written file must not be
/// applied.
pub const DEFAULT_SETTLE: Duration = Duration::from_millis(200);

/// Reports edits of one file, debounced.
///
/// The watch stops when the watcher is dropped.
///
/// ```no_run
/// # async fn example() -> Result<(), plugin_manager::host_kit::WatchError> {
/// use plugin_manager::host_kit::ConfigWatcher;
///
/// let mut watcher = ConfigWatcher::new("plugins.toml")?;
/// while watcher.changed().await {
///     println!("plugins.toml was edited");
/// }
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct ConfigWatcher {
    /// Kept for its `Drop`, which ends the watch (`None` in tests that feed events by hand).
    _watcher: Option<notify::RecommendedWatcher>,
    events: mpsc::Receiver<()>,
    settle: Duration,
    /// When the file counts as settled, if an event is pending.
    due: Option<Instant>,
}

/// The file system refused to watch the configuration file's directory.
#[derive(Debug, thiserror::Error)]
#[error("cannot watch {}: {source}", path.display())]
pub struct WatchError {
    path: PathBuf,
    source: notify::Error,
}

impl WatchError {
    /// The path that could not be watched.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl ConfigWatcher {
    /// Starts watching the file at `path` (which need not exist yet), with the
    /// [`DEFAULT_SETTLE`] delay.
    ///
    /// # Errors
    ///
    /// A [`WatchError`] naming the folder when the file system watcher cannot be created or
    /// cannot watch it.
    pub fn new(path: impl AsRef<Path>) -> Result<Self, WatchError> {
        let path = path.as_ref();
        let (watched_files, dirs) = watched(path);
        // One pending notice is enough: `changed` only needs to know that something happened.
        let (sender, events) = mpsc::channel(1);
        let fail = |source| WatchError {
            path: path.to_path_buf(),
            source,
        };
        let mut watcher =
            notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
                if let Ok(event) = event
                    && is_edit(event.kind)
                    && event.paths.iter().any(|p| watched_files.contains(p))
                {
                    let _ = sender.try_send(());
                }
            })
            .map_err(fail)?;
        for dir in dirs {
            watcher
                .watch(&dir, RecursiveMode::NonRecursive)
                .map_err(|source| WatchError { path: dir, source })?;
        }
        Ok(Self::from_parts(Some(watcher), events))
    }

    fn from_parts(watcher: Option<notify::RecommendedWatcher>, events: mpsc::Receiver<()>) -> Self {
        Self {
            _watcher: watcher,
            events,
            settle: DEFAULT_SETTLE,
            due: None,
        }
    }

    /// Sets how long the file must stay quiet after an event before it is reported.
    #[must_use]
    pub fn with_settle(mut self, settle: Duration) -> Self {
        self.settle = settle;
        self
    }

    /// Waits for the next edit and for the file to settle after it: returns once no event
    /// came for the settle delay (measured on tokio's clock). Returns `false` if the watch
    /// ended (the file system watcher stopped).
    ///
    /// Cancel-safe: dropping the future loses no edit, so it can be one branch of a
    /// `tokio::select!` loop.
    pub async fn changed(&mut self) -> bool {
        loop {
            match self.due {
                None => {
                    if self.events.recv().await.is_none() {
                        return false;
                    }
                    self.due = Some(Instant::now() + self.settle);
                }
                Some(due) => tokio::select! {
                    biased;
                    event = self.events.recv() => match event {
                        Some(()) => self.due = Some(Instant::now() + self.settle),
                        None => {
                            self.due = None;
                            return true;
                        }
                    },
                    () = tokio::time::sleep_until(due) => {
                        self.due = None;
                        return true;
                    }
                },
            }
        }
    }
}

/// Whether an event of this kind can change what the file holds. Access events (open, read,
/// close) cannot, nor can changes of metadata only.
pub(crate) fn is_edit(kind: EventKind) -> bool {
    matches!(
        kind,
        EventKind::Create(_)
            | EventKind::Remove(_)
            | EventKind::Modify(ModifyKind::Data(_) | ModifyKind::Name(_) | ModifyKind::Any)
    )
}

/// The paths events must name to count (the file, and the file a link points to), and the
/// directories to watch for them. Directories are canonical, so that the paths in events
/// (the watched directory joined with a name) compare equal.
fn watched(path: &Path) -> (HashSet<PathBuf>, Vec<PathBuf>) {
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    let dir = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf());
    let mut files = HashSet::new();
    let mut dirs = vec![dir.clone()];
    if let Some(name) = path.file_name() {
        files.insert(dir.join(name));
    }
    // A link's target, when the path is one (canonical already).
    if let Ok(target) = std::fs::canonicalize(path)
        && !files.contains(&target)
    {
        if let Some(target_dir) = target.parent()
            && !dirs.iter().any(|d| d == target_dir)
        {
            dirs.push(target_dir.to_path_buf());
        }
        files.insert(target);
    }
    (files, dirs)
}

#[cfg(test)]
mod tests {
    use notify::event::{AccessKind, AccessMode, CreateKind, DataChange, MetadataKind, RenameMode};

    use super::*;

    #[test]
    fn only_events_that_can_change_the_text_count() {
        let edits = [
            EventKind::Modify(ModifyKind::Data(DataChange::Content)),
            EventKind::Modify(ModifyKind::Data(DataChange::Any)),
            EventKind::Modify(ModifyKind::Any),
            EventKind::Modify(ModifyKind::Name(RenameMode::To)),
            EventKind::Create(CreateKind::File),
            EventKind::Remove(notify::event::RemoveKind::File),
        ];
        assert!(edits.iter().copied().all(is_edit));
        let reads = [
            EventKind::Access(AccessKind::Open(AccessMode::Read)),
            EventKind::Access(AccessKind::Read),
            EventKind::Access(AccessKind::Close(AccessMode::Read)),
            EventKind::Modify(ModifyKind::Metadata(MetadataKind::AccessTime)),
            EventKind::Any,
            EventKind::Other,
        ];
        assert!(!reads.iter().copied().any(is_edit));
    }

    /// Polls `changed` for at most `limit` (of paused tokio time): whether it fired.
    async fn fires_within(watcher: &mut ConfigWatcher, limit: Duration) -> bool {
        tokio::select! {
            biased;
            fired = watcher.changed() => fired,
            () = tokio::time::sleep(limit) => false,
        }
    }

    #[tokio::test(start_paused = true)]
    async fn reports_once_the_file_has_been_quiet_for_the_settle_delay() {
        let (sender, events) = mpsc::channel(1);
        let mut watcher = ConfigWatcher::from_parts(None, events);
        let start = Instant::now();

        sender.try_send(()).unwrap();
        assert!(!fires_within(&mut watcher, Duration::from_millis(150)).await);
        // A second write 150 ms in starts the delay again; dropping `changed` lost nothing.
        sender.try_send(()).unwrap();
        assert!(!fires_within(&mut watcher, Duration::from_millis(150)).await);
        assert!(watcher.changed().await);
        assert_eq!(start.elapsed(), Duration::from_millis(350));

        // Quiet: nothing to report.
        assert!(!fires_within(&mut watcher, Duration::from_secs(10)).await);
        drop(sender);
        assert!(!watcher.changed().await, "the watch ended");
    }

    #[test]
    fn a_relative_name_is_watched_in_the_current_directory() {
        let (files, dirs) = watched(Path::new("plugins.toml"));
        let here = std::fs::canonicalize(".").unwrap();
        assert_eq!(dirs.len(), 1);
        assert_eq!(dirs[0], here);
        assert!(files.contains(&here.join("plugins.toml")));
    }
}
