//! The HTTP side: a plain listener, a TLS listener that asks for client certificates, and
//! the control plane under `/__emulator/`.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body, Frame};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request as HttpRequest, Response, StatusCode};
use hyper_util::rt::TokioIo;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

use super::control;
use super::core::{Body as ReplyBody, BodyWriter, Core, Options, Reply, Request};
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
    #[error("TLS setup failed: {0}")]
    Tls(String),
    #[error("cannot start the runtime: {0}")]
    Runtime(std::io::Error),
}

pub struct ServeOptions {
    pub core: Options,
    /// Plain HTTP, for every endpoint that needs no client certificate.
    pub http: SocketAddr,
    /// HTTPS, for every endpoint; `/secapi/*` and downloadfundflow need a client certificate.
    pub https: SocketAddr,
    /// Where the CA and the merchant certificates are written; a temporary folder if None.
    pub cert_dir: Option<PathBuf>,
}

impl Default for ServeOptions {
    fn default() -> Self {
        ServeOptions {
            core: Options::default(),
            http: SocketAddr::from(([127, 0, 0, 1], 0)),
            https: SocketAddr::from(([127, 0, 0, 1], 0)),
            cert_dir: None,
        }
    }
}

/// A running emulator. Start it on port 0, read its URLs, drop it to stop it.
pub struct Emulator {
    core: Arc<Core>,
    http: SocketAddr,
    https: SocketAddr,
    cert_dir: PathBuf,
    ca_cert: PathBuf,
    clients: Vec<(String, ClientPaths)>,
    profile: PathBuf,
    _temp: Option<tempfile::TempDir>,
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
            Some(dir) => (None, dir),
            None => {
                let temp = tempfile::Builder::new()
                    .prefix("wxpay-emulator-")
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
            runtime.spawn(accept_plain(plain, core.clone()));
            runtime.spawn(accept_tls(tls, acceptor, core.clone()));
            runtime.spawn(tick(core.clone()));
        }
        let profile = cert_dir.join("wxpay-ops.toml");
        let first = &core.options.merchants[0];
        crate::fsutil::write_private(&profile, profile_toml(first, https).as_bytes()).map_err(
            |e| PkiError::Write {
                path: profile.clone(),
                source: e.into(),
            },
        )?;
        Ok(Emulator {
            core,
            http,
            https,
            cert_dir,
            ca_cert,
            clients,
            profile,
            _temp: temp,
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

    /// The control operations: pay, fail, clock, faults, logs.
    pub fn core(&self) -> &Core {
        &self.core
    }

    /// Serves until Ctrl-C.
    pub fn wait_for_ctrl_c(&self) {
        if let Some(runtime) = &self.runtime {
            let _ = runtime.block_on(tokio::signal::ctrl_c());
        }
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

fn profile_toml(merchant: &super::merchant::Merchant, https: SocketAddr) -> String {
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
         cert_p12 = \"{mch_id}/apiclient_cert.p12\"\n",
        mch_id = merchant.mch_id,
        appid = merchant.appids[0],
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

async fn accept_plain(listener: TcpListener, core: Arc<Core>) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let _ = stream.set_nodelay(true);
        tokio::spawn(serve_connection(TokioIo::new(stream), core.clone(), None));
    }
}

async fn accept_tls(listener: TcpListener, acceptor: TlsAcceptor, core: Arc<Core>) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let _ = stream.set_nodelay(true);
        let acceptor = acceptor.clone();
        let core = core.clone();
        tokio::spawn(async move {
            // A client whose certificate our CA did not issue fails the handshake here.
            let Ok(tls) = acceptor.accept(stream).await else {
                return;
            };
            let common_name = tls
                .get_ref()
                .1
                .peer_certificates()
                .and_then(|certs| certs.first())
                .and_then(|der| common_name(der));
            serve_connection(TokioIo::new(tls), core, common_name).await;
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

async fn serve_connection<I>(io: I, core: Arc<Core>, client_cn: Option<String>)
where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let service = service_fn(move |request| {
        let core = core.clone();
        let client_cn = client_cn.clone();
        async move { respond(core, request, client_cn).await }
    });
    let _ = http1::Builder::new().serve_connection(io, service).await;
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
    core: Arc<Core>,
    request: HttpRequest<Incoming>,
    client_cn: Option<String>,
) -> Result<Response<ResponseBody>, Dropped> {
    let method = request.method().as_str().to_owned();
    let path = request.uri().path().to_owned();
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
    if path == CONTROL_PREFIX || path.starts_with(&format!("{CONTROL_PREFIX}/")) {
        let (status, json) = control::handle(&core, &method, &path[CONTROL_PREFIX.len()..], &body);
        let mut response = Response::new(full(json.into_bytes()));
        *response.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
        response.headers_mut().insert(
            "Content-Type",
            "application/json".parse().expect("valid header"),
        );
        return Ok(response);
    }
    let reply = core.handle(&Request {
        method: &method,
        path: &path,
        body: &body,
        client_cert_cn: client_cn.as_deref(),
    });
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
