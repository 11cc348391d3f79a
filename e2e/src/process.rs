//! A service binary running as its own process, as it is deployed: a config file, logs to a file,
//! SIGTERM to stop, and its peak memory and CPU time readable from /proc.

use std::{
    path::{Path, PathBuf},
    process::Stdio,
    time::Duration,
};

use anyhow::Context as _;
use tokio::process::{Child, Command};

/// Where `cargo build` put the workspace's binaries: beside this executable, or one level up from
/// a test executable in `deps/`.
pub fn binary_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("the running executable has a path");
    let dir = exe.parent().expect("an executable lives in a directory");
    if dir.ends_with("deps") {
        dir.parent().expect("deps has a parent").to_owned()
    } else {
        dir.to_owned()
    }
}

pub struct ServiceProcess {
    pub name: &'static str,
    child: Option<Child>,
    config_file: PathBuf,
    log_file: PathBuf,
}

impl ServiceProcess {
    /// Starts `name` (a binary of the workspace) with `config` written to `dir/<name>.toml`.
    pub fn start(name: &'static str, config: &str, dir: &Path) -> anyhow::Result<Self> {
        let config_file = dir.join(format!("{name}.toml"));
        std::fs::write(&config_file, config)?;
        let log_file = dir.join(format!("{name}.log"));
        let mut process = Self {
            name,
            child: None,
            config_file,
            log_file,
        };
        process.spawn()?;
        Ok(process)
    }

    fn spawn(&mut self) -> anyhow::Result<()> {
        let binary = binary_dir().join(self.name);
        anyhow::ensure!(
            binary.is_file(),
            "{} is not built: run `cargo build --workspace --bins`",
            binary.display()
        );
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log_file)?;
        let child = Command::new(&binary)
            .arg("--config")
            .arg(&self.config_file)
            .env_remove("RUST_LOG")
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("cannot start {}", binary.display()))?;
        self.child = Some(child);
        Ok(())
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().and_then(Child::id)
    }

    /// Peak resident memory so far (VmHWM), in KiB.
    pub fn peak_rss_kib(&self) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid()?)).ok()?;
        let line = status.lines().find(|line| line.starts_with("VmHWM:"))?;
        line.split_whitespace().nth(1)?.parse().ok()
    }

    /// CPU time used so far, user and system together.
    pub fn cpu_time(&self) -> Option<Duration> {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.pid()?)).ok()?;
        // The command name may hold spaces and parentheses: count fields after its last ')'.
        let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
        let (user, system): (u64, u64) =
            (fields.get(11)?.parse().ok()?, fields.get(12)?.parse().ok()?);
        // SAFETY: sysconf only reads a system constant.
        let ticks_per_second = u64::try_from(unsafe { libc::sysconf(libc::_SC_CLK_TCK) }).ok()?;
        Some(Duration::from_secs_f64(
            (user + system) as f64 / ticks_per_second.max(1) as f64,
        ))
    }

    /// SIGTERM, as Kubernetes and Nomad stop a service, then waits for it to drain and exit.
    pub async fn stop(&mut self) -> anyhow::Result<std::process::ExitStatus> {
        let mut child = self.child.take().context("not running")?;
        if let Some(pid) = child.id() {
            // SAFETY: kill(2) with a pid we own and a valid signal number has no memory effects.
            unsafe { libc::kill(pid as libc::pid_t, libc::SIGTERM) };
        }
        match tokio::time::timeout(Duration::from_secs(40), child.wait()).await {
            Ok(status) => Ok(status?),
            Err(_) => {
                child.kill().await?;
                anyhow::bail!("{} did not exit within 40 s of SIGTERM", self.name)
            }
        }
    }

    /// Starts the process again with the same configuration.
    pub fn restart(&mut self) -> anyhow::Result<()> {
        self.spawn()
    }

    /// The last lines the service logged, to explain a failed test.
    pub fn log_tail(&self, lines: usize) -> String {
        let text = std::fs::read_to_string(&self.log_file).unwrap_or_default();
        let tail: Vec<&str> = text.lines().rev().take(lines).collect();
        tail.into_iter().rev().collect::<Vec<_>>().join("\n")
    }
}
