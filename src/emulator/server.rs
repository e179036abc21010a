//! The HTTP side: a plain listener, a TLS listener that asks for client certificates, and
//! the control plane under `/__emulator/`.

use std::convert::Infallible;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body::{Body, Frame};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request as HttpRequest, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_rustls::TlsAcceptor;

use super::control;
use super::core::{Body as ReplyBody, BodyWriter, Core, EmulatorOptions, Reply, Request};
use super::faults::FaultKind;
use super::pki::{ClientPaths, Pki, PkiError};
use crate::wechat::xml::MAX_MESSAGE_BYTES;

pub type ResponseBody = http_body_util::combinators::BoxBody<Bytes, std::io::Error>;

/// The prefix of the control plane; WeChat Pay has no path under it.
pub const CONTROL_PREFIX: &str = "/__emulator";

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error(transparent)]
    Pki(#[from] PkiError),
    #[error("cannot create a folder for the certificates: {0}")]
    TempDir(std::io::Error),
    #[error(
        "{} is open to other users (mode {mode:04o}), and the emulator keeps private keys there",
        path.display()
    )]
    OpenFolder { path: PathBuf, mode: u32 },
    #[error("TLS setup failed: {0}")]
    Tls(String),
    #[error("cannot start the runtime: {0}")]
    Runtime(std::io::Error),
}

pub struct ServeOptions {
    pub core: EmulatorOptions,
    /// Plain HTTP, for every endpoint that needs no client certificate.
    pub http: SocketAddr,
    /// HTTPS, for every endpoint; `/secapi/*` and downloadfundflow need a client certificate.
    pub https: SocketAddr,
    /// Where the CA and the merchant certificates are written; a temporary folder if None.
    pub cert_dir: Option<PathBuf>,
    /// When set, the control plane answers only requests carrying
    /// `Authorization: Bearer TOKEN`; `emulator serve --allow-remote` always sets one.
    pub control_token: Option<String>,
    /// How long a client may take to send a request's headers (and, on the TLS listener, to
    /// finish its handshake), and how long an idle connection stays open.
    pub header_read_timeout: Duration,
    /// Connections served at once, both listeners together; further clients wait in the
    /// listen backlog until one closes.
    pub max_connections: usize,
}

impl Default for ServeOptions {
    fn default() -> Self {
        ServeOptions {
            core: EmulatorOptions::default(),
            http: SocketAddr::from(([127, 0, 0, 1], 0)),
            https: SocketAddr::from(([127, 0, 0, 1], 0)),
            cert_dir: None,
            control_token: None,
            header_read_timeout: Duration::from_secs(10),
            max_connections: 1024,
        }
    }
}

/// Where `emulator serve` listens when told nothing.
const DEFAULT_HTTP: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 8787);
const DEFAULT_HTTPS: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 8788);

/// A listening address other than loopback, which only `allow_remote` permits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NotLoopback {
    /// Whether it is the TLS listener's.
    pub tls: bool,
    pub addr: SocketAddr,
}

/// The plain and TLS listeners' addresses from those given. A listener not given takes a
/// free port beside the one that is, so that a second emulator on another address never trips
/// over a default port. Only loopback unless `allow_remote`, since the control plane can move
/// money and time.
pub fn listen_addresses(
    http: Option<SocketAddr>,
    https: Option<SocketAddr>,
    allow_remote: bool,
) -> Result<(SocketAddr, SocketAddr), NotLoopback> {
    let beside = |other: SocketAddr| SocketAddr::new(other.ip(), 0);
    let (http, https) = match (http, https) {
        (None, None) => (DEFAULT_HTTP, DEFAULT_HTTPS),
        (Some(plain), None) => (plain, beside(plain)),
        (None, Some(tls)) => (beside(tls), tls),
        (Some(plain), Some(tls)) => (plain, tls),
    };
    for (tls, addr) in [(false, http), (true, https)] {
        if !allow_remote && !addr.ip().to_canonical().is_loopback() {
            return Err(NotLoopback { tls, addr });
        }
    }
    Ok((http, https))
}

/// A control token: 192 bits from the operating system's CSPRNG, in groups of eight hex
/// digits, so that it never takes the shape of a 32-character API key that output scrubbing
/// hides.
pub fn new_control_token() -> String {
    use rand::RngExt;
    let bytes: [u8; 24] = rand::rng().random();
    let hex = crate::wechat::hex_upper(&bytes).to_lowercase();
    let groups: Vec<&str> = hex
        .as_bytes()
        .chunks(8)
        .map(|group| std::str::from_utf8(group).expect("hex digits are ASCII"))
        .collect();
    format!("wxemu-{}", groups.join("-"))
}

/// What every connection needs: the core, the control token, the limits.
struct Server {
    core: Arc<Core>,
    control_token: Option<String>,
    header_read_timeout: Duration,
    connections: Arc<Semaphore>,
}

/// A running emulator. Start it on port 0, read its URLs, drop it to stop it.
pub struct Emulator {
    core: Arc<Core>,
    http: SocketAddr,
    https: SocketAddr,
    cert_dir: PathBuf,
    ca_cert: PathBuf,
    clients: Vec<(String, ClientPaths)>,
    /// AppID → the file (mode 0600) holding its AppSecret.
    app_secret_files: Vec<(String, PathBuf)>,
    profile: PathBuf,
    temp: Option<tempfile::TempDir>,
    runtime: Option<tokio::runtime::Runtime>,
}

impl Emulator {
    pub fn start(options: ServeOptions) -> Result<Emulator, ServeError> {
        crate::wechat::transport::install_crypto_provider();
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .thread_name("wxpay-emulator")
            .build()
            .map_err(ServeError::Runtime)?;
        let (temp, cert_dir) = match options.cert_dir {
            Some(dir) => {
                private_folder(&dir)?;
                (None, dir)
            }
            None => {
                use std::os::unix::fs::PermissionsExt;
                // 0700 is only ever narrowed by the umask, never widened.
                let temp = tempfile::Builder::new()
                    .prefix("wxpay-emulator-")
                    .permissions(std::fs::Permissions::from_mode(0o700))
                    .tempdir()
                    .map_err(ServeError::TempDir)?;
                let dir = temp.path().to_owned();
                (Some(temp), dir)
            }
        };
        let pki = Pki::generate()?;
        let ca_cert = pki.write_ca(&cert_dir)?;
        let mut clients = Vec::new();
        for merchant in &options.core.merchants {
            let paths = pki
                .issue_client(&merchant.mch_id)?
                .write_to(&cert_dir.join(&merchant.mch_id))?;
            clients.push((merchant.mch_id.clone(), paths));
        }
        let acceptor = tls_acceptor(&pki)?;

        let core = Arc::new(Core::new(options.core, runtime.handle().clone()));
        let server = Arc::new(Server {
            core: core.clone(),
            control_token: options.control_token,
            header_read_timeout: options.header_read_timeout,
            connections: Arc::new(Semaphore::new(options.max_connections.max(1))),
        });
        // Bind synchronously, so that starting works inside another runtime (async tests) too.
        let bind = |addr: SocketAddr| {
            let listener = std::net::TcpListener::bind(addr)
                .and_then(|l| l.set_nonblocking(true).map(|()| l))
                .map_err(|source| ServeError::Listen { addr, source })?;
            let local = listener
                .local_addr()
                .expect("a bound socket has an address");
            Ok::<_, ServeError>((listener, local))
        };
        let (plain, http) = bind(options.http)?;
        let (tls, https) = bind(options.https)?;
        {
            let _context = runtime.enter();
            let plain = TcpListener::from_std(plain).map_err(ServeError::Runtime)?;
            let tls = TcpListener::from_std(tls).map_err(ServeError::Runtime)?;
            runtime.spawn(accept_plain(plain, server.clone()));
            runtime.spawn(accept_tls(tls, acceptor, server));
            runtime.spawn(tick(core.clone()));
        }
        let write = |path: &Path, bytes: &[u8]| {
            crate::fsutil::write_private(path, bytes).map_err(|e| PkiError::Write {
                path: path.to_owned(),
                source: e.into(),
            })
        };
        // Each AppSecret in a file of its own, which profiles name rather than hold it.
        let mut app_secret_files: Vec<(String, PathBuf)> = Vec::new();
        for merchant in &core.options.merchants {
            for (appid, secret) in &merchant.app_secrets {
                if app_secret_files.iter().any(|(known, _)| known == appid) {
                    continue;
                }
                let path = cert_dir.join(app_secret_file_name(appid));
                write(&path, format!("{}\n", secret.expose()).as_bytes())?;
                app_secret_files.push((appid.clone(), path));
            }
        }
        // API v3: each merchant's RSA key and APIv3 key in its folder, and the emulator's
        // WeChat Pay public key.
        let public = cert_dir.join(WECHATPAY_PUBLIC_KEY_FILE);
        write(&public, super::v3::WECHATPAY_PUBLIC_KEY.as_bytes())?;
        for (mch_id, credentials) in &core.v3_credentials {
            let folder = cert_dir.join(mch_id);
            crate::fsutil::create_private_dir_all(&folder).map_err(|e| PkiError::Write {
                path: folder.clone(),
                source: e.into(),
            })?;
            write(
                &folder.join(V3_KEY_FILE),
                credentials.private_key_pem.as_bytes(),
            )?;
            let text = format!("{}\n", credentials.apiv3_key.expose());
            write(&folder.join(APIV3_KEY_FILE), text.as_bytes())?;
        }
        let first = &core.options.merchants[0];
        let v3 = core
            .v3_credentials(&first.mch_id)
            .map(|c| c.serial.as_str());
        let profile = cert_dir.join("wxpay-ops.toml");
        write(&profile, profile_toml(first, https, v3).as_bytes())?;
        Ok(Emulator {
            core,
            http,
            https,
            cert_dir,
            ca_cert,
            clients,
            app_secret_files,
            profile,
            temp,
            runtime: Some(runtime),
        })
    }

    /// A wxpay-ops config file (mode 0600) with a profile for the first merchant: the HTTPS
    /// base URL, the CA, and the merchant's .p12.
    pub fn profile(&self) -> &Path {
        &self.profile
    }

    pub fn base_url(&self) -> String {
        format!("http://{}", self.http)
    }

    pub fn http_addr(&self) -> SocketAddr {
        self.http
    }

    pub fn https_addr(&self) -> SocketAddr {
        self.https
    }

    pub fn tls_base_url(&self) -> String {
        format!("https://{}", self.https)
    }

    pub fn cert_dir(&self) -> &Path {
        &self.cert_dir
    }

    pub fn ca_cert(&self) -> &Path {
        &self.ca_cert
    }

    /// The certificate files of a merchant.
    pub fn client_cert(&self, mch_id: &str) -> Option<&ClientPaths> {
        self.clients
            .iter()
            .find(|(id, _)| id == mch_id)
            .map(|(_, p)| p)
    }

    /// The file (mode 0600) holding an AppID's AppSecret, for a backend's login.
    pub fn app_secret_file(&self, appid: &str) -> Option<&Path> {
        self.app_secret_files
            .iter()
            .find(|(id, _)| id == appid)
            .map(|(_, path)| path.as_path())
    }

    /// The control operations: pay, fail, clock, faults, logs.
    pub fn core(&self) -> &Core {
        &self.core
    }

    /// Whether the certificate folder is a temporary one, removed when the emulator stops.
    pub fn is_temporary(&self) -> bool {
        self.temp.is_some()
    }

    /// Keeps the temporary certificate folder after the emulator stops.
    pub fn keep_cert_dir(&mut self) {
        if let Some(temp) = self.temp.take() {
            let _ = temp.keep();
        }
    }

    /// Catches SIGINT, SIGTERM and SIGHUP from now on, so that none of them kills the
    /// process before the temporary folder is removed. Catch them before telling anyone that
    /// the emulator listens, then wait with `wait_for`.
    pub fn catch_stop_signals(&self) -> std::io::Result<StopSignals> {
        use tokio::signal::unix::{SignalKind, signal};
        let runtime = self
            .runtime
            .as_ref()
            .expect("a running emulator has its runtime");
        let _context = runtime.enter();
        Ok(StopSignals {
            interrupt: signal(SignalKind::interrupt())?,
            terminate: signal(SignalKind::terminate())?,
            hangup: signal(SignalKind::hangup())?,
        })
    }

    /// Serves until one of the caught signals comes; returns its name.
    pub fn wait_for(&self, mut signals: StopSignals) -> &'static str {
        let runtime = self
            .runtime
            .as_ref()
            .expect("a running emulator has its runtime");
        runtime.block_on(async {
            tokio::select! {
                _ = signals.interrupt.recv() => "SIGINT",
                _ = signals.terminate.recv() => "SIGTERM",
                _ = signals.hangup.recv() => "SIGHUP",
            }
        })
    }
}

/// The signals that stop `emulator serve`, caught.
pub struct StopSignals {
    interrupt: tokio::signal::unix::Signal,
    terminate: tokio::signal::unix::Signal,
    hangup: tokio::signal::unix::Signal,
}

impl Drop for Emulator {
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

/// Creates `dir` as 0700, or checks that an existing one admits nobody else. An open folder
/// is refused rather than tightened: it may be one the user shares on purpose
/// (`--cert-dir .`), and a silent chmod would change it behind their back.
fn private_folder(dir: &Path) -> Result<(), ServeError> {
    use std::os::unix::fs::PermissionsExt;
    match std::fs::metadata(dir) {
        Ok(found) if found.is_dir() && found.permissions().mode() & 0o077 != 0 => {
            Err(ServeError::OpenFolder {
                path: dir.to_owned(),
                mode: found.permissions().mode() & 0o7777,
            })
        }
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            super::pki::create_dir(dir).map_err(ServeError::Pki)
        }
        Err(e) => Err(ServeError::TempDir(e)),
    }
}

/// A merchant's API v3 private key, in its folder.
pub const V3_KEY_FILE: &str = "apiclient_v3_key.pem";

/// The emulator's WeChat Pay public key, in the certificate folder.
const WECHATPAY_PUBLIC_KEY_FILE: &str = "wechatpay_public_key.pem";

/// A merchant's APIv3 key, in its folder (mode 0600, as every file there).
pub const APIV3_KEY_FILE: &str = "apiv3_key";

/// Where an AppID's AppSecret is written, in the certificate folder.
fn app_secret_file_name(appid: &str) -> String {
    format!("{appid}.app_secret")
}

/// `v3`: the merchant's certificate serial, when it has v3 credentials.
fn profile_toml(
    merchant: &super::merchant::Merchant,
    https: SocketAddr,
    v3: Option<&str>,
) -> String {
    let appid = &merchant.appids[0];
    // Login (`wxpay-ops openid`) goes to the emulator too, with the app's AppSecret read from
    // its file: the secret is never written into the profile.
    let secret = if merchant.app_secrets.contains_key(appid) {
        format!("app_secret_file = \"{}\"\n", app_secret_file_name(appid))
    } else {
        String::new()
    };
    let login = format!("{secret}login_base = \"https://{https}\"\n");
    // The v3 keys make `--api v3` work against the emulator; the profile stays on v2 by
    // default, since bills and service-provider orders are v2's only here.
    let v3 = if let Some(serial) = v3 {
        format!(
            "# API v3 (commands with --api v3): the merchant's RSA key, its certificate's serial,\n\
             # the emulator's WeChat Pay public key, and the merchant's APIv3 key.\n\
             api_version = 2\n\
             private_key_pem = \"{mch_id}/{V3_KEY_FILE}\"\n\
             cert_serial = \"{serial}\"\n\
             wechatpay_public_key_pem = \"{WECHATPAY_PUBLIC_KEY_FILE}\"\n\
             wechatpay_public_key_id = \"{key_id}\"\n\
             apiv3_key_file = \"{mch_id}/{APIV3_KEY_FILE}\"\n",
            mch_id = merchant.mch_id,
            key_id = super::v3::WECHATPAY_PUBLIC_KEY_ID,
        )
    } else {
        String::new()
    };
    format!(
        "# A wxpay-ops profile for the emulator: wxpay-ops --config THIS_FILE config check\n\
         default_profile = \"emulator\"\n\n\
         [profiles.emulator]\n\
         mch_id = \"{mch_id}\"\n\
         appid = \"{appid}\"\n\
         api_key = \"{key}\"\n\
         sign_type = \"MD5\"\n\
         api_base = \"https://{https}\"\n\
         ca_cert = \"ca_cert.pem\"\n\
         cert_p12 = \"{mch_id}/apiclient_cert.p12\"\n\
         # Your own backend's payment handler: the emulator posts signed notifications here.\n\
         notify_url = \"http://127.0.0.1:8080/wxpay/notify\"\n\
         {login}{v3}",
        mch_id = merchant.mch_id,
        key = merchant.key.expose(),
    )
}

fn tls_acceptor(pki: &Pki) -> Result<TlsAcceptor, ServeError> {
    let tls = |e: &dyn std::fmt::Display| ServeError::Tls(e.to_string());
    let certs: Vec<CertificateDer<'static>> =
        CertificateDer::pem_slice_iter(pki.server_cert_pem.as_bytes())
            .collect::<Result<_, _>>()
            .map_err(|e| tls(&e))?;
    let key = PrivateKeyDer::from_pem_slice(pki.server_key_pem.as_bytes()).map_err(|e| tls(&e))?;
    let mut roots = rustls::RootCertStore::empty();
    for ca in CertificateDer::pem_slice_iter(pki.ca_cert_pem().as_bytes()) {
        roots.add(ca.map_err(|e| tls(&e))?).map_err(|e| tls(&e))?;
    }
    // Client certificates are asked for, verified against our CA, and required by the
    // endpoints that need them; others may connect without one.
    let verifier = rustls::server::WebPkiClientVerifier::builder(Arc::new(roots))
        .allow_unauthenticated()
        .build()
        .map_err(|e| tls(&e))?;
    let config = rustls::ServerConfig::builder()
        .with_client_cert_verifier(verifier)
        .with_single_cert(certs, key)
        .map_err(|e| tls(&e))?;
    Ok(TlsAcceptor::from(Arc::new(config)))
}

/// Settles due refunds and expiries even when no request comes in.
async fn tick(core: Arc<Core>) {
    let mut interval = tokio::time::interval(std::time::Duration::from_millis(50));
    loop {
        interval.tick().await;
        core.settle();
    }
}

/// How long to wait after a failed accept before trying again. A client that gave up
/// before being accepted is no reason to wait; anything else (out of file descriptors,
/// buffers or memory) persists for a while, and retrying at once would spin the CPU.
fn accept_backoff(error: &std::io::Error) -> Option<Duration> {
    use std::io::ErrorKind;
    match error.kind() {
        ErrorKind::ConnectionAborted | ErrorKind::ConnectionReset | ErrorKind::Interrupted => None,
        _ => Some(Duration::from_millis(100)),
    }
}

/// The next connection, once fewer than `max_connections` are open; the permit is held for
/// the connection's life. The permit is taken after the accept: taken before, it would sit
/// with a listener that has no client while a client of the other listener waits for it.
/// Each listener so holds at most one accepted connection that waits for a place.
async fn accept(listener: &TcpListener, server: &Server) -> (TcpStream, OwnedSemaphorePermit) {
    let stream = loop {
        match listener.accept().await {
            Ok((stream, _)) => break stream,
            Err(e) => {
                if let Some(pause) = accept_backoff(&e) {
                    tokio::time::sleep(pause).await;
                }
            }
        }
    };
    let _ = stream.set_nodelay(true);
    let permit = server
        .connections
        .clone()
        .acquire_owned()
        .await
        .expect("the connection semaphore is never closed");
    (stream, permit)
}

async fn accept_plain(listener: TcpListener, server: Arc<Server>) {
    loop {
        let (stream, permit) = accept(&listener, &server).await;
        let server = server.clone();
        tokio::spawn(async move {
            serve_connection(TokioIo::new(stream), server, Peer::default()).await;
            drop(permit);
        });
    }
}

async fn accept_tls(listener: TcpListener, acceptor: TlsAcceptor, server: Arc<Server>) {
    loop {
        let (stream, permit) = accept(&listener, &server).await;
        let acceptor = acceptor.clone();
        let server = server.clone();
        tokio::spawn(async move {
            // A client whose certificate our CA did not issue fails the handshake here, and
            // one that never finishes it is dropped after the header timeout.
            let handshake = acceptor.accept(stream);
            let Ok(Ok(tls)) = tokio::time::timeout(server.header_read_timeout, handshake).await
            else {
                return;
            };
            let common_name = tls
                .get_ref()
                .1
                .peer_certificates()
                .and_then(|certs| certs.first())
                .and_then(|der| common_name(der));
            let peer = Peer {
                tls: true,
                client_cn: common_name,
            };
            serve_connection(TokioIo::new(tls), server, peer).await;
            drop(permit);
        });
    }
}

fn common_name(der: &[u8]) -> Option<String> {
    use x509_parser::prelude::{FromDer, X509Certificate};
    let (_, cert) = X509Certificate::from_der(der).ok()?;
    let cn = cert
        .subject()
        .iter_common_name()
        .next()?
        .as_str()
        .ok()?
        .to_owned();
    Some(cn)
}

/// Who is on the other end of a connection.
#[derive(Debug, Clone, Default)]
struct Peer {
    /// Whether the connection is the HTTPS listener's.
    tls: bool,
    /// The common name of the client certificate, when one was shown.
    client_cn: Option<String>,
}

async fn serve_connection<I>(io: I, server: Arc<Server>, peer: Peer)
where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let timeout = server.header_read_timeout;
    let service = service_fn(move |request| {
        let server = server.clone();
        let peer = peer.clone();
        async move { respond(server, request, peer).await }
    });
    // The timer also closes a kept-alive connection that sends nothing for that long.
    let _ = http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(timeout)
        .serve_connection(io, service)
        .await;
}

/// Whether a control request carries the token, when one is required; compared in
/// constant time.
fn authorized(request: &HttpRequest<Incoming>, token: Option<&str>) -> bool {
    use subtle::ConstantTimeEq;
    let Some(token) = token else {
        return true;
    };
    request
        .headers()
        .get(hyper::header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "))
        .is_some_and(|given| bool::from(given.trim().as_bytes().ct_eq(token.as_bytes())))
}

fn is_control(path: &str) -> bool {
    path == CONTROL_PREFIX || path.starts_with(&format!("{CONTROL_PREFIX}/"))
}

/// An error makes hyper close the connection without an answer: the `drop` fault.
#[derive(Debug)]
struct Dropped;

impl std::fmt::Display for Dropped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("connection dropped by an injected fault")
    }
}

impl std::error::Error for Dropped {}

async fn respond(
    server: Arc<Server>,
    request: HttpRequest<Incoming>,
    peer: Peer,
) -> Result<Response<ResponseBody>, Dropped> {
    let core = &server.core;
    let client_cn = peer.client_cn;
    // Where this request came in, for the URLs an answer gives (a v3 bill's download_url).
    let origin = (request.headers().get(hyper::header::HOST))
        .and_then(|host| host.to_str().ok())
        .map(|host| format!("{}://{host}", if peer.tls { "https" } else { "http" }))
        .unwrap_or_default();
    let method = request.method().as_str().to_owned();
    let path = request.uri().path().to_owned();
    let query = request.uri().query().unwrap_or_default().to_owned();
    let authorization = (request.headers().get(hyper::header::AUTHORIZATION))
        .and_then(|value| value.to_str().ok())
        .map(str::to_owned);
    if is_control(&path) && !authorized(&request, server.control_token.as_deref()) {
        let body = serde_json::json!({
            "error": "the control plane needs the control token that `emulator serve` printed, \
                      sent as Authorization: Bearer TOKEN"
        });
        let mut response = json_response(StatusCode::UNAUTHORIZED, body.to_string());
        response.headers_mut().insert(
            hyper::header::WWW_AUTHENTICATE,
            "Bearer".parse().expect("valid header"),
        );
        return Ok(response);
    }
    let body = match Limited::new(request.into_body(), MAX_MESSAGE_BYTES)
        .collect()
        .await
    {
        Ok(collected) => collected.to_bytes(),
        Err(_) => {
            return Ok(plain(
                StatusCode::PAYLOAD_TOO_LARGE,
                "request body over 1 MiB",
            ));
        }
    };
    if is_control(&path) {
        let (status, json) = control::handle(core, &method, &path[CONTROL_PREFIX.len()..], &body);
        let status = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
        return Ok(json_response(status, json));
    }
    // Mini-program login is a GET with its parameters in the query string.
    let reply = if path == super::login::PATH {
        core.jscode2session(&method, &query)
    } else if path.starts_with(super::cloudpay::PREFIX) {
        core.cloud_pay(&method, &path, &body)
    } else if path.starts_with("/v3/") {
        core.v3(&super::v3::V3Request {
            method: &method,
            path: &path,
            query: &query,
            authorization: authorization.as_deref(),
            body: &body,
            origin: &origin,
        })
    } else {
        core.handle(&Request {
            method: &method,
            path: &path,
            body: &body,
            client_cert_cn: client_cn.as_deref(),
        })
    };
    match reply.transport {
        Some(FaultKind::Drop) => Err(Dropped),
        Some(FaultKind::Delay { ms }) => {
            tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
            Ok(to_response(reply))
        }
        Some(FaultKind::Truncate) if matches!(reply.body, ReplyBody::Stream(_)) => {
            // A streamed bill is cut after its first chunk, never rendered whole.
            let ReplyBody::Stream(write) = reply.body else {
                unreachable!("matched above")
            };
            Ok(Response::new(stream(write, Some(CHUNK))))
        }
        Some(FaultKind::Truncate) => {
            let whole = reply.body.into_vec().unwrap_or_default();
            let full_length = whole.len();
            let half = Bytes::from(whole[..full_length / 2].to_vec());
            let mut response = Response::new(Truncated { data: Some(half) }.boxed());
            response
                .headers_mut()
                .insert("Content-Length", full_length.into());
            response.headers_mut().insert(
                "Content-Type",
                reply.content_type.parse().expect("valid header"),
            );
            Ok(response)
        }
        _ => Ok(to_response(reply)),
    }
}

fn full(bytes: Vec<u8>) -> ResponseBody {
    Full::new(Bytes::from(bytes))
        .map_err(|never: Infallible| match never {})
        .boxed()
}

fn json_response(status: StatusCode, json: String) -> Response<ResponseBody> {
    let mut response = Response::new(full(json.into_bytes()));
    *response.status_mut() = status;
    response.headers_mut().insert(
        "Content-Type",
        "application/json".parse().expect("valid header"),
    );
    response
}

fn plain(status: StatusCode, text: &str) -> Response<ResponseBody> {
    let mut response = Response::new(full(text.as_bytes().to_vec()));
    *response.status_mut() = status;
    response
}

fn to_response(reply: Reply) -> Response<ResponseBody> {
    let body = match reply.body {
        ReplyBody::Bytes(bytes) => full(bytes),
        ReplyBody::Stream(write) => stream(write, None),
    };
    let mut response = Response::new(body);
    *response.status_mut() = StatusCode::from_u16(reply.status).unwrap_or(StatusCode::OK);
    response.headers_mut().insert(
        "Content-Type",
        reply.content_type.parse().expect("valid header"),
    );
    for (name, value) in reply.headers {
        // The values are the emulator's own: digits, Base64, hex.
        if let Ok(value) = value.parse() {
            response.headers_mut().insert(name, value);
        }
    }
    response
}

/// Runs a body writer on a blocking thread, sending what it writes in 64 KiB chunks; the
/// bounded channel keeps memory flat however large the body is.
fn stream(write: BodyWriter, cut_after: Option<usize>) -> ResponseBody {
    let (sender, receiver) = tokio::sync::mpsc::channel(4);
    tokio::task::spawn_blocking(move || {
        let mut chunks = ChunkWriter {
            sender,
            buffer: Vec::with_capacity(CHUNK),
            sent: 0,
            cut_after,
        };
        // A client that hangs up makes the writes fail, which ends the writer early.
        let _ = write(&mut chunks).and_then(|()| std::io::Write::flush(&mut chunks));
    });
    ChannelBody { receiver }.boxed()
}

const CHUNK: usize = 64 * 1024;

struct ChunkWriter {
    sender: tokio::sync::mpsc::Sender<std::io::Result<Bytes>>,
    buffer: Vec<u8>,
    sent: usize,
    /// The `truncate` fault: after this many bytes the body ends in an error.
    cut_after: Option<usize>,
}

impl std::io::Write for ChunkWriter {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.buffer.extend_from_slice(data);
        if self.buffer.len() >= CHUNK {
            self.flush()?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        if self.buffer.is_empty() {
            return Ok(());
        }
        let gone = |_| std::io::Error::new(std::io::ErrorKind::BrokenPipe, "the client went away");
        if self.cut_after.is_some_and(|limit| self.sent >= limit) {
            // hyper drops what it has buffered when a body fails, so a cut that follows its
            // chunk at once can arrive as a body of nothing. A real connection breaks after
            // data has flowed; give the chunks sent so far a moment to reach the socket.
            std::thread::sleep(std::time::Duration::from_millis(200));
            let cut = std::io::Error::other("body truncated by an injected fault");
            let _ = self.sender.blocking_send(Err(cut));
            return Err(std::io::Error::other("truncated"));
        }
        let chunk = Bytes::from(std::mem::replace(
            &mut self.buffer,
            Vec::with_capacity(CHUNK),
        ));
        self.sent += chunk.len();
        self.sender.blocking_send(Ok(chunk)).map_err(gone)
    }
}

struct ChannelBody {
    receiver: tokio::sync::mpsc::Receiver<std::io::Result<Bytes>>,
}

impl Body for ChannelBody {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        context: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
        self.receiver
            .poll_recv(context)
            .map(|chunk| chunk.map(|data| data.map(Frame::data)))
    }
}

/// Half a body, then an error: hyper closes the connection short of Content-Length.
struct Truncated {
    data: Option<Bytes>,
}

impl Body for Truncated {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
        Poll::Ready(Some(match self.data.take() {
            Some(data) => Ok(Frame::data(data)),
            None => Err(std::io::Error::other("body truncated by an injected fault")),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Error, ErrorKind};

    #[test]
    fn listeners_default_to_loopback_and_an_unnamed_one_goes_beside_the_named() {
        let addr = |text: &str| text.parse::<SocketAddr>().unwrap();
        assert_eq!(
            listen_addresses(None, None, false),
            Ok((addr("127.0.0.1:8787"), addr("127.0.0.1:8788")))
        );
        assert_eq!(
            listen_addresses(Some(addr("127.0.0.2:9000")), None, false),
            Ok((addr("127.0.0.2:9000"), addr("127.0.0.2:0")))
        );
        assert_eq!(
            listen_addresses(None, Some(addr("[::1]:9001")), false),
            Ok((addr("[::1]:0"), addr("[::1]:9001")))
        );
        let remote = addr("192.0.2.1:9000");
        assert_eq!(
            listen_addresses(Some(addr("127.0.0.1:1")), Some(remote), false),
            Err(NotLoopback {
                tls: true,
                addr: remote
            })
        );
        assert!(listen_addresses(Some(remote), None, true).is_ok());
    }

    #[test]
    fn accept_errors_that_last_pause_the_loop_and_a_vanished_client_does_not() {
        const EMFILE: i32 = 24;
        const ENFILE: i32 = 23;
        const ENOBUFS: i32 = 105;
        for lasting in [EMFILE, ENFILE, ENOBUFS] {
            assert_eq!(
                accept_backoff(&Error::from_raw_os_error(lasting)),
                Some(Duration::from_millis(100)),
                "errno {lasting}"
            );
        }
        for passing in [ErrorKind::ConnectionAborted, ErrorKind::ConnectionReset] {
            assert_eq!(accept_backoff(&Error::from(passing)), None, "{passing:?}");
        }
    }

    #[test]
    fn control_tokens_are_fresh_and_never_shaped_like_an_api_key() {
        let token = new_control_token();
        assert_ne!(token, new_control_token());
        assert_eq!(token.len(), "wxemu-".len() + 48 + 5);
        assert!(
            token
                .split('-')
                .all(|run| run.len() < 32 && run.chars().all(|c| c.is_ascii_alphanumeric())),
            "{token}"
        );
    }
}
