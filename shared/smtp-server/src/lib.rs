//! A real SMTP server for tests: aiosmtpd (`make test-tools` installs it into `.tools/venv`) on a
//! free loopback port, stopped on drop. By default it requires STARTTLS, presenting a certificate
//! for 127.0.0.1 and localhost made for this server alone ([`SmtpServer::ca_file`] is what a
//! client must trust), and then AUTH as [`USER`] with [`PASSWORD`]. Every message it accepts is
//! kept, decoded by Python's own e-mail package, for [`SmtpServer::received`]. Recipients whose
//! local part is `unknown` are refused with 550, `busy` with 451.

use std::{
    path::{Path, PathBuf},
    process::Stdio,
    time::Duration,
};

use serde::Deserialize;
use tokio::{
    io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines},
    net::TcpStream,
    process::{Child, ChildStdin, ChildStdout, Command},
};

/// The user the server accepts, with [`PASSWORD`].
pub const USER: &str = "nrt-notifier";
pub const PASSWORD: &str = "correct horse battery staple";

const SERVER_SCRIPT: &str = include_str!("server.py");
/// How long the server may take to answer after it was started.
const READY_TIMEOUT: Duration = Duration::from_secs(30);
/// Log lines shown when the server fails.
const LOG_TAIL: usize = 25;

/// What the server demands before it takes credentials and mail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Security {
    /// STARTTLS is offered and required, then AUTH is required.
    StartTls,
    /// No STARTTLS offered; AUTH is optional and accepted in plain text.
    Plain,
}

#[derive(Debug, thiserror::Error)]
pub enum SmtpServerError {
    #[error("aiosmtpd not found: {0}")]
    NotFound(&'static str),
    #[error("could not prepare the server's files")]
    Files(#[source] std::io::Error),
    #[error("could not make the server's certificate")]
    Certificate(#[source] rcgen::Error),
    #[error("could not run {program}")]
    Spawn {
        program: String,
        #[source]
        source: std::io::Error,
    },
    #[error("the SMTP server did not answer EHLO ({reason}); its log ends:\n{log}")]
    NotReady { reason: String, log: String },
}

/// A running aiosmtpd.
pub struct SmtpServer {
    port: u16,
    ca_file: PathBuf,
    messages: PathBuf,
    // Killed on drop; the server also exits when this, its stdin, closes.
    _child: Child,
    _stdin: ChildStdin,
    _dir: tempfile::TempDir,
}

/// One message the server accepted.
#[derive(Debug, Clone, Deserialize)]
pub struct ReceivedMessage {
    /// The envelope sender (`MAIL FROM`).
    pub mail_from: String,
    /// The envelope recipients (`RCPT TO`) the server accepted.
    pub rcpt_tos: Vec<String>,
    /// Whether the message came after STARTTLS.
    pub over_tls: bool,
    /// Whether the client had logged in.
    pub authenticated: bool,
    /// The content as sent, after the SMTP dot-unstuffing.
    pub raw: String,
    /// Each header with its decoded value (RFC 2047 words resolved), in order.
    pub headers: Vec<(String, String)>,
    /// The text body, with its transfer encoding and charset undone.
    pub body: String,
}

impl ReceivedMessage {
    /// The decoded value of the first header called `name`, in any case.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(header, _)| header.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }
}

impl SmtpServer {
    /// A server that requires STARTTLS and AUTH.
    ///
    /// # Panics
    /// When the server cannot start; tests want the reason, with the log, on screen.
    pub async fn start() -> Self {
        Self::start_with(Security::StartTls).await
    }

    /// A server that speaks plain text only.
    ///
    /// # Panics
    /// As [`SmtpServer::start`].
    pub async fn start_plain() -> Self {
        Self::start_with(Security::Plain).await
    }

    async fn start_with(security: Security) -> Self {
        match Self::try_start(security).await {
            Ok(server) => server,
            Err(error) => panic!(
                "the SMTP server did not start: {}",
                nrt_runtime::describe_error(&error)
            ),
        }
    }

    /// Starts the server and waits until it answers EHLO. The server binds its own free port
    /// and reports it, so no other process can take the port in between.
    pub async fn try_start(security: Security) -> Result<Self, SmtpServerError> {
        let python = find_python()?;
        let dir = tempfile::Builder::new()
            .prefix("nrt-smtp-")
            .tempdir()
            .map_err(SmtpServerError::Files)?;
        let messages = dir.path().join("messages");
        std::fs::create_dir(&messages).map_err(SmtpServerError::Files)?;
        let (ca_file, key_file) = write_certificate(dir.path())?;
        let script = dir.path().join("server.py");
        std::fs::write(&script, SERVER_SCRIPT).map_err(SmtpServerError::Files)?;
        let log = dir.path().join("server.log");

        let mut command = Command::new(&python);
        command.arg(&script).arg("--messages").arg(&messages).args([
            "--user",
            USER,
            "--password",
            PASSWORD,
        ]);
        if security == Security::StartTls {
            command
                .arg("--cert")
                .arg(&ca_file)
                .arg("--key")
                .arg(&key_file);
        }
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log).map_err(SmtpServerError::Files)?)
            .kill_on_drop(true)
            .spawn()
            .map_err(|source| SmtpServerError::Spawn {
                program: python.display().to_string(),
                source,
            })?;
        let stdin = child.stdin.take().expect("stdin is piped");
        let stdout = child.stdout.take().expect("stdout is piped");
        let port = match tokio::time::timeout(READY_TIMEOUT, answering_port(stdout)).await {
            Ok(Ok(port)) => port,
            Ok(Err(error)) => return Err(not_ready(error.to_string(), &log)),
            Err(_) => return Err(not_ready(format!("{READY_TIMEOUT:?} passed"), &log)),
        };
        Ok(Self {
            port,
            ca_file,
            messages,
            _child: child,
            _stdin: stdin,
            _dir: dir,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The PEM certificate the server presents after STARTTLS, self-signed for 127.0.0.1 and
    /// localhost: a client that trusts it as a root reaches this server and no other.
    pub fn ca_file(&self) -> &Path {
        &self.ca_file
    }

    /// Every message accepted so far, oldest first. The server stores a message before it
    /// answers the client, so one a client saw accepted is here.
    ///
    /// # Panics
    /// When a stored message cannot be read.
    pub fn received(&self) -> Vec<ReceivedMessage> {
        let mut files: Vec<PathBuf> = std::fs::read_dir(&self.messages)
            .expect("the message directory is readable")
            .map(|entry| entry.expect("a message entry is readable").path())
            .filter(|path| path.extension().is_some_and(|ext| ext == "json"))
            .collect();
        files.sort();
        files
            .iter()
            .map(|path| {
                let text = std::fs::read_to_string(path)
                    .unwrap_or_else(|error| panic!("cannot read {}: {error}", path.display()));
                serde_json::from_str(&text)
                    .unwrap_or_else(|error| panic!("{} is not a message: {error}", path.display()))
            })
            .collect()
    }
}

/// `NRT_SMTP_VENV`, else `.tools/venv` in this checkout (found upwards from the working
/// directory or the running binary), as long as it holds aiosmtpd.
fn find_python() -> Result<PathBuf, SmtpServerError> {
    let venv = nrt_runtime::tools::find_tool("NRT_SMTP_VENV", "venv", |venv| {
        venv.join("bin/aiosmtpd").is_file()
    });
    venv.map(|venv| venv.join("bin/python"))
        .ok_or(SmtpServerError::NotFound(
            "run `make test-tools`, or set NRT_SMTP_VENV to the virtualenv holding it",
        ))
}

/// Writes a fresh self-signed certificate for 127.0.0.1 and localhost and its key; returns
/// their paths.
fn write_certificate(dir: &Path) -> Result<(PathBuf, PathBuf), SmtpServerError> {
    let names = vec!["127.0.0.1".to_owned(), "localhost".to_owned()];
    let certified =
        rcgen::generate_simple_self_signed(names).map_err(SmtpServerError::Certificate)?;
    let cert = dir.join("cert.pem");
    let key = dir.join("key.pem");
    std::fs::write(&cert, certified.cert.pem()).map_err(SmtpServerError::Files)?;
    std::fs::write(&key, certified.signing_key.serialize_pem()).map_err(SmtpServerError::Files)?;
    Ok((cert, key))
}

/// The port the server printed once it was listening, after it answered EHLO there.
async fn answering_port(stdout: ChildStdout) -> std::io::Result<u16> {
    let line = BufReader::new(stdout)
        .lines()
        .next_line()
        .await?
        .ok_or_else(|| std::io::Error::other("it exited before listening"))?;
    let port = line
        .trim()
        .parse()
        .map_err(|_| std::io::Error::other(format!("it printed {line:?}, not a port")))?;
    let (read, mut write) = TcpStream::connect(("127.0.0.1", port)).await?.into_split();
    let mut replies = BufReader::new(read).lines();
    expect_reply(&mut replies, "220").await?;
    write.write_all(b"EHLO harness.test\r\n").await?;
    expect_reply(&mut replies, "250").await?;
    write.write_all(b"QUIT\r\n").await?;
    Ok(port)
}

/// Reads one reply with `code`: lines `<code>-…`, then the last one `<code> …`.
async fn expect_reply<R: tokio::io::AsyncBufRead + Unpin>(
    replies: &mut Lines<R>,
    code: &str,
) -> std::io::Result<()> {
    while let Some(line) = replies.next_line().await? {
        match line.strip_prefix(code) {
            Some(rest) if rest.starts_with(' ') || rest.is_empty() => return Ok(()),
            Some(rest) if rest.starts_with('-') => continue,
            _ => {
                return Err(std::io::Error::other(format!(
                    "expected a {code} reply, got {line:?}"
                )));
            }
        }
    }
    Err(std::io::Error::other(format!(
        "the connection closed before a {code} reply"
    )))
}

fn not_ready(reason: String, log: &Path) -> SmtpServerError {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    SmtpServerError::NotReady {
        reason,
        log: lines[lines.len().saturating_sub(LOG_TAIL)..].join("\n"),
    }
}
