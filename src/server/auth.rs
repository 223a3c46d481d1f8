//! Logging in: SCRAM-SHA-256 against the users' stored verifiers (see `scram`), TLS when
//! required, connection limits, and a slowdown for bursts of failed logins. Without users
//! configured, sessions are trusted (loopback only, unless `--insecure`).

use std::collections::HashMap;
use std::fmt::Debug;
use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use bytes::Bytes;
use futures::{Sink, SinkExt};
use pgwire::api::auth::{
    protocol_negotiation, save_startup_parameters_to_metadata, DefaultServerParameterProvider, ServerParameterProvider,
    StartupHandler,
};
use pgwire::api::{
    ClientInfo, ConnectionGuard, ConnectionHandle, ConnectionManager, PgWireConnectionState, PidSecretKeyGenerator,
    RandomPidSecretKeyGenerator, METADATA_USER,
};
use pgwire::error::{ErrorInfo, PgWireError, PgWireResult};
use pgwire::messages::response::{ReadyForQuery, TransactionStatus};
use pgwire::messages::startup::{Authentication, BackendKeyData, ParameterStatus};
use pgwire::messages::{PgWireBackendMessage, PgWireFrontendMessage};

use super::scram::{Exchange, Verifier};
use super::settings;
use crate::config::ServerConfig;

/// One user as the server knows it.
pub struct User {
    pub verifier: Verifier,
    pub max_connections: Option<usize>,
}

/// Failed logins from one address within this window slow its next attempts.
const FAILURE_WINDOW: Duration = Duration::from_secs(60);
const FREE_FAILURES: u32 = 5;
const MAX_DELAY: Duration = Duration::from_secs(5);

/// What every connection's login consults.
pub struct Authenticator {
    users: HashMap<String, User>,
    /// Keys the decoy salts of unknown users.
    decoy_secret: Vec<u8>,
    require_tls: bool,
    /// SHA-256 of the server certificate: SCRAM-SHA-256-PLUS is offered over TLS.
    certificate_hash: Option<Vec<u8>>,
    max_connections: usize,
    connections: Arc<Mutex<HashMap<String, usize>>>,
    total: Arc<AtomicUsize>,
    failures: Mutex<HashMap<IpAddr, (u32, Instant)>>,
    pub connection_manager: Arc<ConnectionManager>,
}

impl Authenticator {
    pub fn new(
        config: &ServerConfig,
        certificate_hash: Option<Vec<u8>>,
        connection_manager: Arc<ConnectionManager>,
    ) -> Result<Self, String> {
        let mut users = HashMap::new();
        for (name, u) in &config.users {
            let verifier = Verifier::parse(&u.password).map_err(|e| format!("users.{name}.password: {e}"))?;
            users.insert(name.clone(), User { verifier, max_connections: u.max_connections });
        }
        Ok(Authenticator {
            users,
            decoy_secret: super::scram::random_bytes(32),
            require_tls: config.tls.as_ref().is_some_and(|t| t.require),
            certificate_hash,
            max_connections: config.limits.max_connections,
            connections: Arc::default(),
            total: Arc::default(),
            failures: Mutex::default(),
            connection_manager,
        })
    }

    /// Whether logins need a password.
    pub fn authenticates(&self) -> bool {
        !self.users.is_empty()
    }

    fn delay_for(&self, addr: IpAddr) -> Duration {
        let failures = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        match failures.get(&addr) {
            Some((n, at)) if at.elapsed() < FAILURE_WINDOW && *n > FREE_FAILURES => {
                (Duration::from_millis(100) * 2u32.saturating_pow(n - FREE_FAILURES)).min(MAX_DELAY)
            }
            _ => Duration::ZERO,
        }
    }

    fn failed(&self, addr: IpAddr) {
        let mut failures = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        failures.retain(|_, (_, at)| at.elapsed() < FAILURE_WINDOW);
        let entry = failures.entry(addr).or_insert((0, Instant::now()));
        entry.0 += 1;
        entry.1 = Instant::now();
    }

    /// Counts a session against the limits; released when the connection ends.
    fn admit(&self, user: &str) -> Result<SessionSlot, PgWireError> {
        let limit = self.users.get(user).and_then(|u| u.max_connections);
        let mut per_user = self.connections.lock().unwrap_or_else(|p| p.into_inner());
        let mine = per_user.get(user).copied().unwrap_or(0);
        if self.total.load(Ordering::SeqCst) >= self.max_connections {
            return Err(fatal("53300", format!("sorry, too many clients already (limits.max_connections = {})", self.max_connections)));
        }
        if limit.is_some_and(|l| mine >= l) {
            return Err(fatal("53300", format!("too many connections for role \"{user}\" (users.{user}.max_connections = {})", limit.unwrap_or(0))));
        }
        *per_user.entry(user.to_string()).or_insert(0) += 1;
        self.total.fetch_add(1, Ordering::SeqCst);
        Ok(SessionSlot { user: user.to_string(), per_user: self.connections.clone(), total: self.total.clone() })
    }
}

/// A session's place within the connection limits.
struct SessionSlot {
    user: String,
    per_user: Arc<Mutex<HashMap<String, usize>>>,
    total: Arc<AtomicUsize>,
}

impl Drop for SessionSlot {
    fn drop(&mut self) {
        self.total.fetch_sub(1, Ordering::SeqCst);
        let mut per_user = self.per_user.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = per_user.get_mut(&self.user) {
            *n -= 1;
            if *n == 0 {
                per_user.remove(&self.user);
            }
        }
    }
}

fn fatal(code: &str, message: String) -> PgWireError {
    PgWireError::UserError(Box::new(ErrorInfo::new("FATAL".into(), code.into(), message)))
}

fn login_failed(user: &str) -> PgWireError {
    fatal("28P01", format!("password authentication failed for user \"{user}\""))
}

enum State {
    Initial,
    Challenged { exchange: Exchange, known: bool },
}

/// One connection's login.
pub struct Login {
    auth: Arc<Authenticator>,
    state: Mutex<Option<State>>,
}

impl Login {
    pub fn new(auth: Arc<Authenticator>) -> Self {
        Login { auth, state: Mutex::new(Some(State::Initial)) }
    }
}

/// AuthenticationOk, the server's parameters, the cancel key, ReadyForQuery.
async fn finish<C>(client: &mut C, auth: &Authenticator) -> PgWireResult<()>
where
    C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send,
    C::Error: Debug,
    PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
{
    let (pid, secret_key) = RandomPidSecretKeyGenerator::default().generate(client);
    client.set_pid_and_secret_key(pid, secret_key.clone());
    let (handle, guard): (Arc<ConnectionHandle>, ConnectionGuard) = auth.connection_manager.register(pid, secret_key.clone());
    client.session_extensions().insert::<Arc<ConnectionHandle>>(handle);
    client.session_extensions().insert::<ConnectionGuard>(guard);
    settings::apply_startup(client.metadata_mut())?;
    client.feed(PgWireBackendMessage::Authentication(Authentication::Ok)).await?;
    let mut parameters: Vec<(String, String)> = DefaultServerParameterProvider::default()
        .server_parameters(client)
        .unwrap_or_default()
        .into_iter()
        .collect();
    parameters.extend(settings::reported(client.metadata()).into_iter().map(|(k, v)| (k.to_string(), v)));
    for (name, value) in parameters {
        client.feed(PgWireBackendMessage::ParameterStatus(ParameterStatus::new(name, value))).await?;
    }
    client.feed(PgWireBackendMessage::BackendKeyData(BackendKeyData::new(pid, secret_key))).await?;
    client.send(PgWireBackendMessage::ReadyForQuery(ReadyForQuery::new(TransactionStatus::Idle))).await?;
    client.set_state(PgWireConnectionState::ReadyForQuery);
    Ok(())
}

#[async_trait]
impl StartupHandler for Login {
    async fn on_startup<C>(&self, client: &mut C, message: PgWireFrontendMessage) -> PgWireResult<()>
    where
        C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let auth = &self.auth;
        match message {
            PgWireFrontendMessage::Startup(ref startup) => {
                protocol_negotiation(client, startup).await?;
                save_startup_parameters_to_metadata(client, startup);
                if auth.require_tls && !client.is_secure() {
                    return Err(fatal("28000", "fedsql accepts only TLS sessions (require_tls): connect with sslmode=require".into()));
                }
                let user = client.metadata().get(METADATA_USER).cloned().unwrap_or_default();
                let slot = auth.admit(&user)?;
                client.session_extensions().insert::<Arc<Mutex<Option<SessionSlot>>>>(Arc::new(Mutex::new(Some(slot))));
                if !auth.authenticates() {
                    return finish(client, auth).await;
                }
                let mut mechanisms = vec!["SCRAM-SHA-256".to_string()];
                if client.is_secure() && auth.certificate_hash.is_some() {
                    mechanisms.insert(0, "SCRAM-SHA-256-PLUS".to_string());
                }
                client.set_state(PgWireConnectionState::AuthenticationInProgress);
                client.send(PgWireBackendMessage::Authentication(Authentication::SASL(mechanisms))).await?;
            }
            PgWireFrontendMessage::PasswordMessageFamily(msg) => {
                let user = client.metadata().get(METADATA_USER).cloned().unwrap_or_default();
                let addr = client.socket_addr().ip();
                let state = self.state.lock().unwrap_or_else(|p| p.into_inner()).take();
                match state {
                    Some(State::Initial) => {
                        let initial = msg.into_sasl_initial_response()?;
                        let data = initial.data.unwrap_or_default();
                        let text = std::str::from_utf8(&data).map_err(|_| login_failed(&user))?;
                        let known = auth.users.get(&user);
                        let verifier = known.map_or_else(|| Verifier::decoy(&user, &auth.decoy_secret), |u| u.verifier.clone());
                        let plus_offered = client.is_secure() && auth.certificate_hash.is_some();
                        let (exchange, server_first) = Exchange::start(&initial.auth_method, text, verifier, plus_offered)
                            .map_err(|e| {
                                tracing::info!(user, %addr, reason = ?e, "login refused");
                                auth.failed(addr);
                                login_failed(&user)
                            })?;
                        *self.state.lock().unwrap_or_else(|p| p.into_inner()) =
                            Some(State::Challenged { exchange, known: known.is_some() });
                        client
                            .send(PgWireBackendMessage::Authentication(Authentication::SASLContinue(Bytes::from(server_first))))
                            .await?;
                    }
                    Some(State::Challenged { exchange, known }) => {
                        let response = msg.into_sasl_response()?;
                        let text = std::str::from_utf8(&response.data).unwrap_or_default();
                        let outcome = exchange.finish(text, auth.certificate_hash.as_deref());
                        // Every failure waits alike; a burst from one address waits longer.
                        let delay = auth.delay_for(addr);
                        match outcome {
                            Ok(server_final) if known => {
                                client
                                    .feed(PgWireBackendMessage::Authentication(Authentication::SASLFinal(Bytes::from(server_final))))
                                    .await?;
                                tracing::info!(user, %addr, "login");
                                finish(client, auth).await?;
                            }
                            outcome => {
                                tracing::info!(user, %addr, known, reason = ?outcome.err(), "login failed");
                                auth.failed(addr);
                                tokio::time::sleep(delay).await;
                                return Err(login_failed(&user));
                            }
                        }
                    }
                    None => return Err(login_failed(&user)),
                }
            }
            _ => {}
        }
        Ok(())
    }
}
