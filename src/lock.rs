//! The run lock: one ecmp-hotplug at a time changes the kernel.
//!
//! netifd runs one hotplug at a time, but mwan3track, `ubus call hotplug.iface` and people
//! don't wait for it. Runs serialise on an `flock` (released by the kernel when a run dies, so
//! a killed run never blocks the next) and each reads the full state after taking it. The wait
//! is bounded so that the hotplug queue never hangs. The file is opened without following
//! symlinks and must belong to us.

use std::fs::{File, OpenOptions};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::Path;
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::fcntl::{Flock, FlockArg, OFlag};

/// `/var/lock` is a tmpfs directory owned by root on OpenWrt (`/tmp/lock`).
pub const PATH: &str = "/var/lock/ecmp-hotplug.lock";

/// How long a run waits for another. A run takes milliseconds; the bound only matters when
/// one is stuck, and is then the ubus timeout plus room to spare.
pub const TIMEOUT: Duration = Duration::from_secs(10);

pub struct Lock {
    _file: Flock<File>,
}

pub fn acquire(path: &Path, timeout: Duration) -> Result<Lock, String> {
    let shown = path.display();
    safe_directory(path)?;
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .mode(0o600)
        .custom_flags((OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC).bits())
        .open(path)
        .map_err(|e| match e.raw_os_error() {
            Some(code) if code == Errno::ELOOP as i32 => {
                format!("lock {shown} is a symlink; not following it")
            }
            _ => format!("lock {shown}: {e}"),
        })?;
    let meta = file.metadata().map_err(|e| format!("lock {shown}: {e}"))?;
    if !meta.file_type().is_file() {
        return Err(format!("lock {shown} is not a regular file; not using it"));
    }
    if meta.uid() != nix::unistd::geteuid().as_raw() {
        // Left by a run as another user (before runs checked for root first): nobody holds
        // it, but taking over a file another user owns is not ours to decide. The owner by
        // uid: nix's User lookup (musl's getpwuid_r, passwd and nscd) costs 9.6 KB on mipsel.
        return Err(format!(
            "lock {shown} belongs to uid {}, not to this run's user: a run as that user left it; remove it (rm {shown}) and run again",
            meta.uid()
        ));
    }
    let deadline = Instant::now() + timeout;
    let mut file = file;
    loop {
        match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
            Ok(locked) => return Ok(Lock { _file: locked }),
            Err((f, Errno::EWOULDBLOCK)) if Instant::now() < deadline => {
                file = f;
                std::thread::sleep(Duration::from_millis(10));
            }
            Err((_, Errno::EWOULDBLOCK)) => {
                return Err(format!(
                    "another ecmp-hotplug held {shown} for {} s",
                    timeout.as_secs()
                ));
            }
            // io::Error's text is libc's strerror; nix's own Errno texts cost 2 KB.
            Err((_, e)) => return Err(format!("lock {shown}: {}", std::io::Error::from(e))),
        }
    }
}

/// The lock's directory must be ours (root's) and writable by nobody else, or sticky like
/// /tmp, where only a file's owner may replace it: else someone could swap the lock file.
fn safe_directory(path: &Path) -> Result<(), String> {
    let dir = path.parent().unwrap_or(Path::new("/"));
    let meta =
        std::fs::metadata(dir).map_err(|e| format!("lock directory {}: {e}", dir.display()))?;
    let writable_by_others = meta.mode() & 0o022 != 0 && meta.mode() & 0o1000 == 0;
    if meta.uid() != nix::unistd::geteuid().as_raw() && meta.uid() != 0 || writable_by_others {
        return Err(format!(
            "lock directory {} is writable by others or not root's; not using it",
            dir.display()
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp(name: &str) -> std::path::PathBuf {
        let dir =
            std::env::temp_dir().join(format!("ecmp-hotplug-lock-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn a_held_lock_times_out_and_frees_on_drop() {
        let path = temp("held").join("l");
        let held = acquire(&path, TIMEOUT).unwrap();
        let e = acquire(&path, Duration::from_millis(50)).err().unwrap();
        assert!(e.contains("another ecmp-hotplug held"), "{e}");
        drop(held);
        assert!(acquire(&path, Duration::from_millis(50)).is_ok());
    }

    #[test]
    fn a_directory_others_can_write_is_refused() {
        use std::os::unix::fs::PermissionsExt;
        let dir = temp("open");
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777)).unwrap();
        let e = acquire(&dir.join("l"), TIMEOUT).err().unwrap();
        assert!(e.contains("writable by others"), "{e}");
        // Sticky, like /tmp: only the owner may replace a file there.
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o1777)).unwrap();
        assert!(acquire(&dir.join("l"), TIMEOUT).is_ok());
    }

    #[test]
    fn symlinks_are_not_followed() {
        let dir = temp("link");
        std::os::unix::fs::symlink(dir.join("target"), dir.join("l")).unwrap();
        let e = acquire(&dir.join("l"), TIMEOUT).err().unwrap();
        assert!(e.contains("symlink"), "{e}");
        assert!(!dir.join("target").exists());
    }
}
