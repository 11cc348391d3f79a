//! Serving the store over HTTP on a local port, in-process.

use std::{
    fmt,
    net::SocketAddr,
    path::{Path, PathBuf},
    time::Duration,
};

use hyper::{body::Incoming, service::service_fn};
use hyper_util::{
    rt::{TokioExecutor, TokioIo},
    server::{conn::auto::Builder as ConnectionBuilder, graceful::GracefulShutdown},
};
use nrt_nats::Publisher;
use nrt_s3::S3Config;
use s3s::{auth::SimpleAuth, service::S3ServiceBuilder};
use tokio::{net::TcpListener, task::JoinHandle};
use tokio_util::sync::CancellationToken;

use crate::{
    announce::Announcer,
    store::{ClientAddr, NotifyingFileSystem},
};

/// How long `stop` lets requests in flight finish before it drops them.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

/// What to serve, where, and to whom.
#[derive(Clone)]
pub struct EmbeddedS3Options {
    /// Data directory, created when missing. Buckets are its sub-directories.
    pub root: PathBuf,
    /// `127.0.0.1:0` picks a free port; [`EmbeddedS3::endpoint`] tells which.
    pub listen: SocketAddr,
    /// The one identity requests must be signed with (AWS Signature V4 or V2).
    pub access_key: String,
    pub secret_key: String,
    /// Reported as `awsRegion` in events and used in [`EmbeddedS3::config`].
    pub region: String,
    /// Where object events go; `None` publishes nothing.
    pub events: Option<Publisher>,
    /// Buckets that exist once `start` returns (existing ones are kept as they are).
    pub buckets: Vec<String>,
}

impl EmbeddedS3Options {
    /// Loopback on a free port, `us-east-1`, no events, no buckets: set the rest as needed.
    pub fn local(root: impl Into<PathBuf>, access_key: &str, secret_key: &str) -> Self {
        Self {
            root: root.into(),
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            access_key: access_key.into(),
            secret_key: secret_key.into(),
            region: "us-east-1".into(),
            events: None,
            buckets: Vec::new(),
        }
    }
}

impl fmt::Debug for EmbeddedS3Options {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EmbeddedS3Options")
            .field("root", &self.root)
            .field("listen", &self.listen)
            .field("access_key", &self.access_key)
            .field("secret_key", &"[redacted]")
            .field("region", &self.region)
            .field("events", &self.events.is_some())
            .field("buckets", &self.buckets)
            .finish()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum EmbeddedS3Error {
    #[error("could not prepare the data directory {path}")]
    Root {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("could not open the data directory {path}: {detail}")]
    Store { path: PathBuf, detail: String },
    #[error("{name:?} is not a valid S3 bucket name (3-63 lower-case letters, digits, `.` or `-`)")]
    InvalidBucket { name: String },
    #[error("could not create bucket {name} in {path}")]
    Bucket {
        name: String,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("could not listen on {address}")]
    Listen {
        address: SocketAddr,
        #[source]
        source: std::io::Error,
    },
}

/// An S3 endpoint served from this process, publishing an S3 object event (MinIO's format, on
/// `objects.<bucket>` in stream OBJECTS) after every successful put, copy, multipart completion
/// and delete.
///
/// Every event is acknowledged by JetStream before the write is answered. When it cannot be
/// published the write is answered `503 ServiceUnavailable`: the object may exist without its
/// event for a moment, the client's retry (the AWS SDK retries 503s) writes again and announces
/// it, and no event is silently lost. Events are at-least-once: a publish that timed out may
/// still land, so a retried write can yield two events for one object.
///
/// Serves until [`stop`](Self::stop) or drop, not until a process-wide shutdown: services drain
/// their in-flight work into S3 on shutdown, so stop this after they have returned.
pub struct EmbeddedS3 {
    address: SocketAddr,
    root: PathBuf,
    access_key: String,
    secret_key: String,
    region: String,
    stop: CancellationToken,
    server: Option<JoinHandle<()>>,
}

impl EmbeddedS3 {
    /// Prepares the data directory and buckets and starts serving; ready once this returns.
    pub async fn start(options: EmbeddedS3Options) -> Result<Self, EmbeddedS3Error> {
        let root = prepare_root(&options.root)?;
        for bucket in &options.buckets {
            create_bucket(&root, bucket)?;
        }
        let fs = s3s_fs::FileSystem::new(&root).map_err(|error| EmbeddedS3Error::Store {
            path: root.clone(),
            detail: format!("{error:?}"),
        })?;
        let store = NotifyingFileSystem::new(
            fs,
            root.clone(),
            Announcer::new(options.events, options.region.clone()),
        );
        let mut builder = S3ServiceBuilder::new(store);
        builder.set_auth(SimpleAuth::from_single(
            options.access_key.clone(),
            options.secret_key.clone(),
        ));
        let service = builder.build();

        let listen_error = |source| EmbeddedS3Error::Listen {
            address: options.listen,
            source,
        };
        let listener = TcpListener::bind(options.listen)
            .await
            .map_err(listen_error)?;
        let address = listener.local_addr().map_err(listen_error)?;
        let stop = CancellationToken::new();
        let server = tokio::spawn(serve(listener, service, stop.clone()));
        tracing::info!(endpoint = %format!("http://{address}"), root = %root.display(), "Embedded S3 serving.");
        Ok(Self {
            address,
            root,
            access_key: options.access_key,
            secret_key: options.secret_key,
            region: options.region,
            stop,
            server: Some(server),
        })
    }

    /// `http://127.0.0.1:PORT`.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.address)
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.address
    }

    /// The data directory, absolute.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// How a client of the mesh reaches this endpoint.
    pub fn config(&self) -> S3Config {
        S3Config {
            region: self.region.clone(),
            ..S3Config::local(self.endpoint(), &self.access_key, &self.secret_key)
        }
    }

    /// Stops accepting connections and waits (up to 10 s) for requests in flight to finish.
    pub async fn stop(mut self) {
        self.stop.cancel();
        if let Some(server) = self.server.take() {
            let _ = server.await;
        }
    }
}

impl Drop for EmbeddedS3 {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

fn prepare_root(root: &Path) -> Result<PathBuf, EmbeddedS3Error> {
    let root_error = |source| EmbeddedS3Error::Root {
        path: root.to_owned(),
        source,
    };
    std::fs::create_dir_all(root).map_err(root_error)?;
    root.canonicalize().map_err(root_error)
}

fn create_bucket(root: &Path, name: &str) -> Result<(), EmbeddedS3Error> {
    if !s3s::path::check_bucket_name(name) {
        return Err(EmbeddedS3Error::InvalidBucket { name: name.into() });
    }
    let path = root.join(name);
    std::fs::create_dir_all(&path).map_err(|source| EmbeddedS3Error::Bucket {
        name: name.into(),
        path,
        source,
    })
}

async fn serve(listener: TcpListener, service: s3s::service::S3Service, stop: CancellationToken) {
    let connections = ConnectionBuilder::new(TokioExecutor::new());
    let graceful = GracefulShutdown::new();
    loop {
        let (socket, client) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    tracing::warn!(%error, "Embedded S3 could not accept a connection.");
                    // Out of file descriptors heals only as others close: don't spin meanwhile.
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = stop.cancelled() => break,
        };
        // Without it a small response can wait for the client's delayed ACK (~40 ms on Linux).
        if let Err(error) = socket.set_nodelay(true) {
            tracing::debug!(%error, "Embedded S3 could not set TCP_NODELAY.");
        }
        let service = service.clone();
        let handler = service_fn(move |mut request: http::Request<Incoming>| {
            request.extensions_mut().insert(ClientAddr(client));
            let service = service.clone();
            async move { service.call(request.map(s3s::Body::from)).await }
        });
        let connection = connections.serve_connection(TokioIo::new(socket), handler);
        let connection = graceful.watch(connection.into_owned());
        tokio::spawn(async move {
            if let Err(error) = connection.await {
                tracing::debug!(%error, "Embedded S3 connection ended with an error.");
            }
        });
    }
    drop(listener);
    tokio::select! {
        () = graceful.shutdown() => tracing::info!("Embedded S3 stopped."),
        () = tokio::time::sleep(DRAIN_TIMEOUT) => {
            tracing::warn!(timeout = ?DRAIN_TIMEOUT, "Embedded S3 stopped with requests still in flight.");
        }
    }
}
