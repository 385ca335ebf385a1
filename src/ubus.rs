//! Runs `ubus call network.interface dump` with a bounded wait and returns its output.
//!
//! A hung ubus (netifd busy or restarting) must not hang the hotplug queue: the call is killed,
//! with anything it started, after [`TIMEOUT`]. Output beyond the dump size limit is refused
//! without reading it all. Only fixed arguments are passed; nothing from the dump, the
//! environment or the config ever reaches a command line.

use std::io::Read;
use std::os::fd::AsFd;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;

use crate::dump::MAX_DUMP_BYTES;

/// How long ubus may take. netifd answers a dump in milliseconds; ubus's own default
/// timeout (30 s) is far too long to hold up every later hotplug script.
pub const TIMEOUT: Duration = Duration::from_secs(5);

/// The raw dump, or a one-line reason it could not be had.
pub fn dump(timeout: Duration) -> Result<Vec<u8>, String> {
    let what = "ubus call network.interface dump";
    let mut child = Command::new("ubus")
        .args(["call", "network.interface", "dump"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn()
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => "ubus not found on PATH".to_string(),
            _ => format!("{what}: {e}"),
        })?;
    let deadline = Instant::now() + timeout;
    let result = collect(&mut child, deadline);
    if result.is_err() {
        // Kill the whole group: a shell wrapper's children hold the pipe too.
        let _ = killpg(Pid::from_raw(child.id() as i32), Signal::SIGKILL);
    }
    let status = child.wait().map_err(|e| format!("{what}: {e}"));
    let (stdout, stderr) = result.map_err(|e| format!("{what}: {e}"))?;
    let status = status?;
    if !status.success() {
        let msg = String::from_utf8_lossy(&stderr);
        let first = msg
            .lines()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("no message");
        return Err(format!("{what} failed ({status}): {}", first.trim()));
    }
    Ok(stdout)
}

/// Reads stdout and stderr until both close, or fails at `deadline` / on oversized output.
fn collect(child: &mut Child, deadline: Instant) -> Result<(Vec<u8>, Vec<u8>), String> {
    let (Some(mut out), Some(mut err)) = (child.stdout.take(), child.stderr.take()) else {
        return Err("no pipes".into());
    };
    let (mut stdout, mut stderr) = (Vec::new(), Vec::new());
    let (mut out_open, mut err_open) = (true, true);
    let mut buf = [0u8; 16384];
    while out_open || err_open {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(format!("no answer within {} s", TIMEOUT.as_secs()));
        }
        let ms = PollTimeout::try_from(left.as_millis().min(i32::MAX as u128) as i32)
            .unwrap_or(PollTimeout::MAX);
        let mut fds = Vec::new();
        if out_open {
            fds.push(PollFd::new(out.as_fd(), PollFlags::POLLIN));
        }
        if err_open {
            fds.push(PollFd::new(err.as_fd(), PollFlags::POLLIN));
        }
        match poll(&mut fds, ms) {
            Ok(0) => continue,
            Ok(_) => {}
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => return Err(format!("poll: {}", std::io::Error::from(e))),
        }
        let ready: Vec<bool> = fds
            .iter()
            .map(|f| f.revents().is_some_and(|r| !r.is_empty()))
            .collect();
        drop(fds);
        let mut ready = ready.into_iter();
        if out_open && ready.next() == Some(true) {
            let n = out
                .read(&mut buf)
                .map_err(|e| format!("reading its output: {e}"))?;
            out_open = n > 0;
            stdout.extend_from_slice(buf.get(..n).unwrap_or_default());
            if stdout.len() > MAX_DUMP_BYTES {
                return Err(format!("output is larger than {MAX_DUMP_BYTES} bytes"));
            }
        }
        if err_open && ready.next() == Some(true) {
            let n = err
                .read(&mut buf)
                .map_err(|e| format!("reading its errors: {e}"))?;
            err_open = n > 0;
            if stderr.len() < 4096 {
                stderr.extend_from_slice(buf.get(..n).unwrap_or_default());
            }
        }
    }
    // Both pipes are closed; give the process the rest of the time to exit.
    match wait(child, deadline).map_err(|e| e.to_string())? {
        Some(_) => Ok((stdout, stderr)),
        None => Err(format!("no answer within {} s", TIMEOUT.as_secs())),
    }
}

/// Waits for `child` to exit, until `deadline`: its status, or `None` if it still runs. A
/// process that has closed its output has nearly always exited, or does within
/// microseconds: the first looks are 50 µs apart (a fixed 5 ms wait was most of a hotplug
/// run's time), then the pauses grow to 5 ms.
pub fn wait(child: &mut Child, deadline: Instant) -> std::io::Result<Option<ExitStatus>> {
    let mut pause = Duration::from_micros(50);
    loop {
        if let Some(status) = child.try_wait()? {
            return Ok(Some(status));
        }
        if Instant::now() >= deadline {
            return Ok(None);
        }
        std::thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(5));
    }
}
