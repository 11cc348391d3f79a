//! Starting a processor as a child process and watching it: exit, timeout, or a lost claim.

use std::{
    collections::BTreeMap,
    ffi::OsString,
    fs::File,
    os::unix::process::ExitStatusExt,
    path::Path,
    process::{ExitStatus, Stdio},
    time::Duration,
};

use tokio::process::{Child, Command};
use tokio_util::sync::CancellationToken;

/// The variable that tells a processor where its manifest is.
pub const MANIFEST_VARIABLE: &str = "NRT_JOB_MANIFEST";

/// How to start one attempt's process.
#[derive(Debug)]
pub struct Launch<'a> {
    pub program: &'a Path,
    pub args: Vec<OsString>,
    /// The registry's environment; nothing of the launcher's is inherited.
    pub env: &'a BTreeMap<String, String>,
    pub manifest: &'a Path,
    pub current_dir: &'a Path,
    pub stdout: &'a Path,
    pub stderr: &'a Path,
}

/// How an attempt's process ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    Code(i32),
    Signal(i32),
    /// Killed at the registry's timeout.
    TimedOut,
    /// Killed because another launcher took the job over.
    Lost,
}

/// A started processor. Dropped before it was reaped (a drain that ran out of time), it kills
/// its process group, so no processor outlives the attempt that owned it.
pub struct Running {
    child: Child,
    process_group: libc::pid_t,
    reaped: bool,
}

/// Starts the process in its own process group, so a kill reaches whatever it started too.
pub fn spawn(launch: &Launch<'_>) -> std::io::Result<Running> {
    let mut command = Command::new(launch.program);
    command
        .args(&launch.args)
        .env_clear()
        .envs(launch.env)
        .env(MANIFEST_VARIABLE, launch.manifest)
        .current_dir(launch.current_dir)
        .stdin(Stdio::null())
        .stdout(File::create(launch.stdout)?)
        .stderr(File::create(launch.stderr)?)
        .process_group(0);
    let launcher = libc::pid_t::try_from(std::process::id()).expect("pids fit pid_t");
    // SAFETY: the closure runs in the forked child between fork and exec, where only
    // async-signal-safe calls are allowed. It makes two raw syscalls (prctl, getppid) and builds
    // io::Errors from an errno, which neither allocates nor takes a lock; it captures a plain
    // integer. Why: a launcher that is SIGKILLed runs no cleanup, so the kernel must kill its
    // processors (the job is taken over by another launcher once the lease ends). The signal
    // follows the death of the spawning thread; tokio's worker threads live as long as the
    // runtime, which the launcher's process does.
    unsafe {
        command.pre_exec(move || {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) == -1 {
                return Err(std::io::Error::last_os_error());
            }
            // The launcher died before prctl took effect: the signal would never come.
            if libc::getppid() != launcher {
                return Err(std::io::Error::from_raw_os_error(libc::ESRCH));
            }
            Ok(())
        });
    }
    let child = command.spawn()?;
    let pid = child.id().expect("a just-spawned child has a pid");
    Ok(Running {
        child,
        process_group: libc::pid_t::try_from(pid).expect("pids fit pid_t"),
        reaped: false,
    })
}

impl Running {
    pub fn pid(&self) -> u32 {
        u32::try_from(self.process_group).expect("pids are positive")
    }

    /// Waits for the process to exit, killing its group at `timeout` or when `lost` fires.
    pub async fn supervise(
        &mut self,
        timeout: Duration,
        lost: &CancellationToken,
    ) -> std::io::Result<Exit> {
        let interrupted = tokio::select! {
            status = self.child.wait() => {
                self.reaped = true;
                return Ok(exit_of(status?));
            }
            () = tokio::time::sleep(timeout) => Exit::TimedOut,
            () = lost.cancelled() => Exit::Lost,
        };
        self.kill_group();
        self.child.wait().await?;
        self.reaped = true;
        Ok(interrupted)
    }

    fn kill_group(&self) {
        // SAFETY: kill(2) with a negative pid signals the process group we created for this
        // child; the group leader is not yet reaped, so the id cannot have been reused.
        let result = unsafe { libc::kill(-self.process_group, libc::SIGKILL) };
        if result == -1 {
            tracing::warn!(pid = self.process_group, error = %std::io::Error::last_os_error(), "Could not kill the processor's process group.");
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if !self.reaped {
            self.kill_group();
        }
    }
}

fn exit_of(status: ExitStatus) -> Exit {
    match (status.code(), status.signal()) {
        (Some(code), _) => Exit::Code(code),
        (None, Some(signal)) => Exit::Signal(signal),
        (None, None) => Exit::Code(-1),
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    struct Fixture {
        dir: tempfile::TempDir,
        env: BTreeMap<String, String>,
        stdout: std::path::PathBuf,
        stderr: std::path::PathBuf,
    }

    impl Fixture {
        fn new() -> Self {
            let dir = tempfile::tempdir().unwrap();
            Self {
                env: BTreeMap::from([("GREETING".to_owned(), "hello world".to_owned())]),
                stdout: dir.path().join("stdout.txt"),
                stderr: dir.path().join("stderr.txt"),
                dir,
            }
        }

        fn script(&self, body: &str) -> std::path::PathBuf {
            let path = self.dir.path().join("processor.sh");
            std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
            path
        }

        fn launch<'a>(&'a self, program: &'a Path, args: &[&str]) -> Launch<'a> {
            Launch {
                program,
                args: args.iter().map(OsString::from).collect(),
                env: &self.env,
                manifest: Path::new("/w/manifest.json"),
                current_dir: self.dir.path(),
                stdout: &self.stdout,
                stderr: &self.stderr,
            }
        }

        fn read(&self, name: &str) -> String {
            std::fs::read_to_string(self.dir.path().join(name)).unwrap()
        }
    }

    #[tokio::test]
    async fn the_process_sees_only_the_registry_environment_and_its_manifest() {
        let fixture = Fixture::new();
        let program = fixture.script("env | sort; echo \"$1\" >&2; exit 3");
        let mut running = spawn(&fixture.launch(&program, &["one arg; $(id)"])).unwrap();
        let exit = running
            .supervise(Duration::from_secs(10), &CancellationToken::new())
            .await
            .unwrap();
        assert_eq!(exit, Exit::Code(3));
        let variables: Vec<String> = fixture
            .read("stdout.txt")
            .lines()
            // The shell adds its own PWD, SHLVL and `_`.
            .filter(|line| {
                !["PWD=", "SHLVL=", "_="]
                    .iter()
                    .any(|own| line.starts_with(own))
            })
            .map(str::to_owned)
            .collect();
        assert_eq!(
            variables,
            ["GREETING=hello world", "NRT_JOB_MANIFEST=/w/manifest.json"]
        );
        assert_eq!(fixture.read("stderr.txt"), "one arg; $(id)\n");
    }

    #[tokio::test]
    async fn a_timeout_kills_the_process_and_what_it_started() {
        let fixture = Fixture::new();
        let program = fixture.script("sleep 60 & echo $! > child.pid; wait");
        let mut running = spawn(&fixture.launch(&program, &[])).unwrap();
        let child_pid = loop {
            if let Ok(pid) = std::fs::read_to_string(fixture.dir.path().join("child.pid"))
                && pid.ends_with('\n')
            {
                break pid.trim().to_owned();
            }
            tokio::task::yield_now().await;
        };
        let exit = running
            .supervise(Duration::from_millis(300), &CancellationToken::new())
            .await
            .unwrap();
        assert_eq!(exit, Exit::TimedOut);
        assert!(
            !is_alive(&child_pid),
            "the grandchild sleep died with its group"
        );
    }

    #[tokio::test]
    async fn a_lost_claim_kills_the_process() {
        let fixture = Fixture::new();
        let program = fixture.script("sleep 60");
        let mut running = spawn(&fixture.launch(&program, &[])).unwrap();
        let pid = running.pid().to_string();
        let lost = CancellationToken::new();
        lost.cancel();
        let exit = running
            .supervise(Duration::from_secs(60), &lost)
            .await
            .unwrap();
        assert_eq!(exit, Exit::Lost);
        assert!(!is_alive(&pid));
    }

    /// Gone, or a zombie waiting for init to reap it.
    fn is_alive(pid: &str) -> bool {
        for _ in 0..100 {
            match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
                Err(_) => return false,
                Ok(stat)
                    if stat
                        .rsplit(')')
                        .next()
                        .is_some_and(|rest| rest.trim_start().starts_with('Z')) =>
                {
                    return false;
                }
                Ok(_) => std::thread::sleep(Duration::from_millis(20)),
            }
        }
        true
    }
}
