//! SCRAM-SHA-256 (RFC 5802/7677) against PostgreSQL's stored verifiers.
//!
//! A user is stored as PostgreSQL stores `pg_authid.rolpassword`:
//! `SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>` (base64). The server proves
//! a client knows the password from StoredKey alone (H(ClientProof ⊕ ClientSignature) =
//! StoredKey), so the verifier is not password-equivalent: a leaked users file lets nobody
//! log in. pgwire's own SCRAM handler wants the salted password, which is.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use ring::{digest, hmac, pbkdf2, rand::SecureRandom};

pub const DEFAULT_ITERATIONS: u32 = 4096;

#[derive(Clone, PartialEq, Eq)]
pub struct Verifier {
    pub iterations: u32,
    pub salt: Vec<u8>,
    stored_key: Vec<u8>,
    server_key: Vec<u8>,
}

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Verifier(***)")
    }
}

fn hmac_sha256(key: &[u8], msg: &[u8]) -> Vec<u8> {
    hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, key), msg).as_ref().to_vec()
}

fn sha256(msg: &[u8]) -> Vec<u8> {
    digest::digest(&digest::SHA256, msg).as_ref().to_vec()
}

/// SASLprep, as PostgreSQL applies it: a password it cannot prepare is used as is.
fn normalize(password: &str) -> String {
    stringprep::saslprep(password).map(|p| p.into_owned()).unwrap_or_else(|_| password.to_string())
}

pub fn random_bytes(n: usize) -> Vec<u8> {
    let mut out = vec![0u8; n];
    ring::rand::SystemRandom::new().fill(&mut out).expect("system randomness");
    out
}

impl Verifier {
    /// The verifier of `password`, as PostgreSQL's `password_encryption = scram-sha-256` makes it.
    pub fn from_password(password: &str, salt: &[u8], iterations: u32) -> Verifier {
        let mut salted = [0u8; 32];
        let rounds = std::num::NonZeroU32::new(iterations.max(1)).expect("at least one");
        pbkdf2::derive(pbkdf2::PBKDF2_HMAC_SHA256, rounds, salt, normalize(password).as_bytes(), &mut salted);
        let client_key = hmac_sha256(&salted, b"Client Key");
        Verifier {
            iterations,
            salt: salt.to_vec(),
            stored_key: sha256(&client_key),
            server_key: hmac_sha256(&salted, b"Server Key"),
        }
    }

    pub fn parse(text: &str) -> Result<Verifier, String> {
        let bad = || "not a SCRAM-SHA-256 verifier (SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>; `fedsql passwd` makes one)".to_string();
        let rest = text.strip_prefix("SCRAM-SHA-256$").ok_or_else(bad)?;
        let (params, keys) = rest.split_once('$').ok_or_else(bad)?;
        let (iterations, salt) = params.split_once(':').ok_or_else(bad)?;
        let (stored, server) = keys.split_once(':').ok_or_else(bad)?;
        let decode = |s: &str| B64.decode(s).map_err(|_| bad());
        let v = Verifier {
            iterations: iterations.parse().map_err(|_| bad())?,
            salt: decode(salt)?,
            stored_key: decode(stored)?,
            server_key: decode(server)?,
        };
        if v.stored_key.len() != 32 || v.server_key.len() != 32 || v.iterations == 0 {
            return Err(bad());
        }
        Ok(v)
    }

    /// A verifier that matches no password, with a salt fixed per user name, so an unknown
    /// user's exchange looks like a known user's.
    pub fn decoy(user: &str, secret: &[u8]) -> Verifier {
        Verifier {
            iterations: DEFAULT_ITERATIONS,
            salt: hmac_sha256(secret, user.as_bytes())[..16].to_vec(),
            stored_key: hmac_sha256(secret, b"stored"),
            server_key: hmac_sha256(secret, b"server"),
        }
    }
}

impl std::fmt::Display for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "SCRAM-SHA-256${}:{}${}:{}",
            self.iterations,
            B64.encode(&self.salt),
            B64.encode(&self.stored_key),
            B64.encode(&self.server_key)
        )
    }
}

/// How the client bound the exchange to the TLS channel (the gs2 header's flag).
#[derive(Debug, Clone, PartialEq, Eq)]
enum Binding {
    /// `n`: the client does not support channel binding.
    None,
    /// `y`: the client supports it but thinks the server does not.
    Supported,
    /// `p=tls-server-end-point`.
    ServerEndPoint,
}

/// The server's side of one exchange, after its first message.
pub struct Exchange {
    verifier: Verifier,
    gs2_header: String,
    binding: Binding,
    client_first_bare: String,
    server_first: String,
    nonce: String,
}

/// Why an exchange failed: the client sees only "password authentication failed".
#[derive(Debug)]
pub enum Failure {
    /// Which part was malformed (read through Debug, in the log).
    #[allow(dead_code)]
    Malformed(&'static str),
    /// A downgrade (`y` while the server offered -PLUS) or binding data that differs.
    ChannelBinding,
    WrongProof,
}

fn attribute<'a>(part: &'a str, name: char) -> Option<&'a str> {
    part.strip_prefix(name).and_then(|r| r.strip_prefix('='))
}

impl Exchange {
    /// Reads the client-first message and answers with the server-first message.
    /// `plus_offered`: SCRAM-SHA-256-PLUS was offered (the session is on TLS).
    pub fn start(
        mechanism: &str,
        client_first: &str,
        verifier: Verifier,
        plus_offered: bool,
    ) -> Result<(Exchange, String), Failure> {
        let mut parts = client_first.splitn(3, ',');
        let flag = parts.next().ok_or(Failure::Malformed("gs2 header"))?;
        let authzid = parts.next().ok_or(Failure::Malformed("gs2 header"))?;
        let bare = parts.next().ok_or(Failure::Malformed("client-first-message-bare"))?;
        let binding = match flag {
            "n" => Binding::None,
            "y" => Binding::Supported,
            "p=tls-server-end-point" => Binding::ServerEndPoint,
            _ => return Err(Failure::Malformed("channel binding flag")),
        };
        let plus = mechanism == "SCRAM-SHA-256-PLUS";
        if plus != (binding == Binding::ServerEndPoint) || (binding == Binding::Supported && plus_offered) {
            return Err(Failure::ChannelBinding);
        }
        let client_nonce = bare
            .split(',')
            .find_map(|p| attribute(p, 'r'))
            .filter(|n| !n.is_empty())
            .ok_or(Failure::Malformed("client nonce"))?;
        let nonce = format!("{client_nonce}{}", B64.encode(random_bytes(18)));
        let server_first = format!("r={nonce},s={},i={}", B64.encode(&verifier.salt), verifier.iterations);
        let exchange = Exchange {
            verifier,
            gs2_header: format!("{flag},{authzid},"),
            binding,
            client_first_bare: bare.to_string(),
            server_first: server_first.clone(),
            nonce,
        };
        Ok((exchange, server_first))
    }

    /// Checks the client-final message; on success returns the server-final message.
    /// `certificate_hash`: the SHA-256 of the server certificate (tls-server-end-point).
    pub fn finish(&self, client_final: &str, certificate_hash: Option<&[u8]>) -> Result<String, Failure> {
        let (without_proof, proof) = client_final.rsplit_once(",p=").ok_or(Failure::Malformed("proof"))?;
        let mut channel = None;
        let mut nonce = None;
        for part in without_proof.split(',') {
            if let Some(c) = attribute(part, 'c') {
                channel = Some(c);
            } else if let Some(r) = attribute(part, 'r') {
                nonce = Some(r);
            }
        }
        let mut expected = self.gs2_header.as_bytes().to_vec();
        if self.binding == Binding::ServerEndPoint {
            expected.extend(certificate_hash.ok_or(Failure::ChannelBinding)?);
        }
        if channel.map(|c| B64.decode(c)) != Some(Ok(expected)) {
            return Err(Failure::ChannelBinding);
        }
        if nonce != Some(self.nonce.as_str()) {
            return Err(Failure::Malformed("nonce"));
        }
        let proof = B64.decode(proof).map_err(|_| Failure::Malformed("proof"))?;
        let auth_message = format!("{},{},{}", self.client_first_bare, self.server_first, without_proof);
        let signature = hmac_sha256(&self.verifier.stored_key, auth_message.as_bytes());
        if proof.len() != signature.len() {
            return Err(Failure::WrongProof);
        }
        let client_key: Vec<u8> = proof.iter().zip(&signature).map(|(a, b)| a ^ b).collect();
        // Compared in constant time: every byte is looked at whatever differs.
        let expected = sha256(&client_key);
        let difference = expected.iter().zip(&self.verifier.stored_key).fold(0u8, |acc, (a, b)| acc | (a ^ b));
        if difference != 0 || expected.len() != self.verifier.stored_key.len() {
            return Err(Failure::WrongProof);
        }
        let server_signature = hmac_sha256(&self.verifier.server_key, auth_message.as_bytes());
        Ok(format!("v={}", B64.encode(server_signature)))
    }
}

/// SHA-256 of a DER certificate: tls-server-end-point's binding data (RFC 5929) for
/// certificates signed with SHA-256 or weaker.
pub fn certificate_hash(der: &[u8]) -> Vec<u8> {
    sha256(der)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A client's side, as RFC 5802 computes it.
    fn client_final(password: &str, client_first_bare: &str, server_first: &str, header: &[u8]) -> String {
        let parts: Vec<&str> = server_first.split(',').collect();
        let nonce = &parts[0][2..];
        let salt = B64.decode(&parts[1][2..]).unwrap();
        let iterations: u32 = parts[2][2..].parse().unwrap();
        let v = Verifier::from_password(password, &salt, iterations);
        let mut salted = [0u8; 32];
        pbkdf2::derive(pbkdf2::PBKDF2_HMAC_SHA256, std::num::NonZeroU32::new(iterations).unwrap(), &salt, password.as_bytes(), &mut salted);
        let client_key = hmac_sha256(&salted, b"Client Key");
        let without_proof = format!("c={},r={nonce}", B64.encode(header));
        let auth = format!("{client_first_bare},{server_first},{without_proof}");
        let sig = hmac_sha256(&v.stored_key, auth.as_bytes());
        let proof: Vec<u8> = client_key.iter().zip(&sig).map(|(a, b)| a ^ b).collect();
        format!("{without_proof},p={}", B64.encode(proof))
    }

    #[test]
    fn a_postgres_verifier_round_trips_and_checks_its_password() {
        // pg_authid.rolpassword of a role PostgreSQL 15 made with PASSWORD 'pencil'.
        let text = "SCRAM-SHA-256$4096:6c88KelM/WxBpi8DRjrWLQ==$t8R1NOFyIRoNn81KtW6TEjA2oZsCk9MSWvKFvTzUAdA=:APr5dTdZyNlRWxL0lZFwffPmbAYPxNsk1ufgZAMC8dA=";
        let parsed = Verifier::parse(text).unwrap();
        assert_eq!(parsed.to_string(), text);
        assert_eq!(Verifier::from_password("pencil", &parsed.salt, 4096), parsed);
        let (ex, server_first) = Exchange::start("SCRAM-SHA-256", "n,,n=,r=abc", parsed, false).unwrap();
        let fin = client_final("pencil", "n=,r=abc", &server_first, b"n,,");
        assert!(ex.finish(&fin, None).unwrap().starts_with("v="));
        let made = Verifier::from_password("pencil", b"fedsql-test-salt", 4096);
        let (ex, server_first) = Exchange::start("SCRAM-SHA-256", "n,,n=,r=abc", made.clone(), false).unwrap();
        let fin = client_final("pencil", "n=,r=abc", &server_first, b"n,,");
        assert!(ex.finish(&fin, None).unwrap().starts_with("v="));
        let (ex, server_first) = Exchange::start("SCRAM-SHA-256", "n,,n=,r=abc", made, false).unwrap();
        let wrong = client_final("pencils", "n=,r=abc", &server_first, b"n,,");
        assert!(matches!(ex.finish(&wrong, None), Err(Failure::WrongProof)));
    }

    #[test]
    fn a_downgrade_from_plus_is_refused() {
        let v = Verifier::from_password("pencil", b"salt", 4096);
        assert!(matches!(Exchange::start("SCRAM-SHA-256", "y,,n=,r=abc", v.clone(), true), Err(Failure::ChannelBinding)));
        assert!(Exchange::start("SCRAM-SHA-256", "y,,n=,r=abc", v, false).is_ok());
    }

    #[test]
    fn malformed_verifiers_are_named() {
        assert!(Verifier::parse("md5abc").unwrap_err().contains("fedsql passwd"));
        assert!(Verifier::parse("SCRAM-SHA-256$x:y$z:w").is_err());
    }
}
