//! Staff access tokens: JWT (RFC 7519) signed with HS256 (RFC 7518 §3.2) through `jwt-compact`.
//!
//! Claims: `sub` (staff id), `tenant` (tenant id), `role` ([`Role`]), `exp` and `iat` (Unix seconds).
//! A token whose signature does not verify, whose `alg` is not `HS256` (including `none`), that is expired, or
//! that is malformed is rejected with an [`AuthError`] that the API maps to 401.

use super::ticket::Role;
use chrono::{DateTime, Duration, Utc};
use jwt_compact::alg::{Hs256, Hs256Key};
use jwt_compact::{AlgorithmExt, Claims, Header, TimeOptions, UntrustedToken};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// How long a login token lives: 12 hours.
pub const TOKEN_TTL_SECONDS: i64 = 12 * 3600;

/// Edgedesk's custom claims (`exp`/`iat` are the registered claims next to them).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StaffClaims {
    /// Subject: the staff id (`staff.staff_id`).
    pub sub: String,
    /// The staff member's tenant id; every request is scoped to it.
    pub tenant: String,
    /// The role at login time, serialized lower-case (`owner` … `agent`); the API re-reads it from D1.
    pub role: Role,
    /// The account's `session_version` at login: a password change or reset bumps it, and every older
    /// token stops working. Tokens issued before versions existed carry none and count as version 1.
    #[serde(default = "first_version")]
    pub ver: i64,
}

fn first_version() -> i64 {
    1
}

/// Why a token was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// Not a JWT of the expected shape: bad base64url, JSON, header or claims.
    #[error("the token is malformed")]
    Malformed,
    /// The header's `alg` is not `HS256` (e.g. `none` or `HS512`).
    #[error("the token's algorithm must be HS256")]
    WrongAlgorithm,
    /// The HMAC-SHA256 signature does not match the secret.
    #[error("the token's signature is invalid")]
    BadSignature,
    /// `exp` is missing, or more than 60 s (the leeway) in the past.
    #[error("the token has expired")]
    Expired,
    /// Signing failed while issuing a token ([`issue`] only).
    #[error("the token could not be created")]
    Creation,
}

/// Signs claims valid from `now` for [`TOKEN_TTL_SECONDS`].
pub fn issue(secret: &[u8], claims: StaffClaims, now: DateTime<Utc>) -> Result<String, AuthError> {
    sign(&Hs256Key::new(secret), claims, TOKEN_TTL_SECONDS, now)
}

/// Verifies a token at time `now` (60 s leeway for clock skew) and returns its claims.
pub fn verify(secret: &[u8], token: &str, now: DateTime<Utc>) -> Result<StaffClaims, AuthError> {
    check(&Hs256Key::new(secret), token, now, |_| true)
}

/// An HS256 JWT (`typ: JWT`) of `claims`, issued at `now`, expiring `ttl_seconds` later.
fn sign<T: Serialize>(
    key: &Hs256Key,
    claims: T,
    ttl_seconds: i64,
    now: DateTime<Utc>,
) -> Result<String, AuthError> {
    let opts = TimeOptions::new(Duration::seconds(0), move || now);
    let claims =
        Claims::new(claims).set_duration_and_issuance(&opts, Duration::seconds(ttl_seconds));
    Hs256
        .token(&Header::empty().with_token_type("JWT"), &claims, key)
        .map_err(|_| AuthError::Creation)
}

/// The claims of an HS256 token signed with `key`: only HS256, a good signature, an `exp`, claims `accept`s
/// (else [`AuthError::Malformed`]), and not expired at `now` (60 s leeway).
fn check<T: DeserializeOwned + Clone>(
    key: &Hs256Key,
    token: &str,
    now: DateTime<Utc>,
    accept: impl Fn(&T) -> bool,
) -> Result<T, AuthError> {
    let untrusted = UntrustedToken::new(token).map_err(|_| AuthError::Malformed)?;
    if untrusted.algorithm() != "HS256" {
        return Err(AuthError::WrongAlgorithm);
    }
    let token = Hs256
        .validator::<T>(key)
        .validate(&untrusted)
        .map_err(|e| match e {
            jwt_compact::ValidationError::InvalidSignature => AuthError::BadSignature,
            _ => AuthError::Malformed,
        })?;
    // A token without `exp` would never expire.
    if token.claims().expiration.is_none() || !accept(&token.claims().custom) {
        return Err(AuthError::Malformed);
    }
    let opts = TimeOptions::new(Duration::seconds(60), move || now);
    token
        .claims()
        .validate_expiration(&opts)
        .map_err(|_| AuthError::Expired)?;
    Ok(token.claims().custom.clone())
}

/// How long a customer's room token lives: 4 hours (queue, conversation, reconnects).
pub const ROOM_TOKEN_TTL_SECONDS: i64 = 4 * 3600;

/// A customer's room token: bound to one tenant, session, room and peer; role is always the customer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoomClaims {
    /// Always `room` (a staff token never verifies as a room token, nor the reverse).
    pub aud: String,
    /// Tenant id.
    pub tenant: String,
    /// Support session id.
    pub session: String,
    /// Room id.
    pub room: String,
    /// The customer's peer id in the room.
    pub peer: String,
    /// The customer's name (shown to the agent).
    pub name: String,
}

/// Room tokens are signed with a key derived from the JWT secret (`<secret>:rooms`), so they can never be
/// confused with staff tokens even by a verifier that forgot the audience.
fn room_key(secret: &[u8]) -> Hs256Key {
    let mut k = secret.to_vec();
    k.extend_from_slice(b":rooms");
    Hs256Key::new(k)
}

/// Signs a room token valid from `now` for [`ROOM_TOKEN_TTL_SECONDS`].
pub fn issue_room(
    secret: &[u8],
    claims: RoomClaims,
    now: DateTime<Utc>,
) -> Result<String, AuthError> {
    sign(&room_key(secret), claims, ROOM_TOKEN_TTL_SECONDS, now)
}

/// Verifies a room token at `now` (60 s leeway).
pub fn verify_room(
    secret: &[u8],
    token: &str,
    now: DateTime<Utc>,
) -> Result<RoomClaims, AuthError> {
    check(&room_key(secret), token, now, |c: &RoomClaims| {
        c.aud == "room"
    })
}

/// PBKDF2 iterations for new password hashes (Workers' WebCrypto allows at most 100 000).
pub const PBKDF2_ITERATIONS: u32 = 100_000;

/// A stored password hash: `pbkdf2-sha256$<iterations>$<salt, base64>$<32-byte hash, base64>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasswordHash {
    /// PBKDF2 iteration count this hash was derived with.
    pub iterations: u32,
    /// Random salt (16 bytes for hashes Edgedesk creates; any non-empty length parses).
    pub salt: Vec<u8>,
    /// The derived key: 32 bytes of PBKDF2-HMAC-SHA256.
    pub hash: Vec<u8>,
}

impl PasswordHash {
    /// Parses the stored form; `None` when it is not one.
    pub fn parse(s: &str) -> Option<PasswordHash> {
        use base64::Engine;
        let b64 = base64::engine::general_purpose::STANDARD;
        let mut parts = s.split('$');
        if parts.next()? != "pbkdf2-sha256" {
            return None;
        }
        let iterations = parts.next()?.parse().ok()?;
        let salt = b64.decode(parts.next()?).ok()?;
        let hash = b64.decode(parts.next()?).ok()?;
        (parts.next().is_none() && !salt.is_empty() && hash.len() == 32).then_some(PasswordHash {
            iterations,
            salt,
            hash,
        })
    }

    /// The stored form.
    pub fn encode(&self) -> String {
        use base64::Engine;
        let b64 = base64::engine::general_purpose::STANDARD;
        format!(
            "pbkdf2-sha256${}${}${}",
            self.iterations,
            b64.encode(&self.salt),
            b64.encode(&self.hash)
        )
    }

    /// Compares a freshly derived hash in constant time.
    pub fn matches(&self, derived: &[u8]) -> bool {
        use subtle::ConstantTimeEq;
        self.hash.len() == derived.len() && bool::from(self.hash.ct_eq(derived))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;

    fn claims() -> StaffClaims {
        StaffClaims {
            sub: "s1".into(),
            tenant: "default".into(),
            role: Role::Owner,
            ver: 3,
        }
    }

    #[test]
    fn room_tokens_are_not_staff_tokens() {
        let secret = b"0123456789abcdef0123456789abcdef";
        let now = chrono::DateTime::from_timestamp(1_700_000_000, 0).unwrap_or_default();
        let rc = RoomClaims {
            aud: "room".into(),
            tenant: "default".into(),
            session: "s".into(),
            room: "r".into(),
            peer: "p".into(),
            name: "Ana".into(),
        };
        let t = issue_room(secret, rc.clone(), now).unwrap_or_default();
        assert_eq!(verify_room(secret, &t, now), Ok(rc));
        assert!(
            verify(secret, &t, now).is_err(),
            "a room token is no staff token"
        );
        let staff = issue(secret, claims(), now).unwrap_or_default();
        assert!(
            verify_room(secret, &staff, now).is_err(),
            "a staff token is no room token"
        );
        assert_eq!(
            verify_room(
                secret,
                &t,
                now + Duration::seconds(ROOM_TOKEN_TTL_SECONDS + 61)
            ),
            Err(AuthError::Expired)
        );
        assert!(verify_room(b"another-secret-0123456789abcdef!", &t, now).is_err());
    }

    #[test]
    fn issue_then_verify() {
        let now = crate::domain::time::from_millis(1_795_352_400_000);
        let t = issue(b"secret", claims(), now).unwrap();
        assert_eq!(verify(b"secret", &t, now), Ok(claims()));
        assert_eq!(verify(b"other", &t, now), Err(AuthError::BadSignature));
        let later = now + Duration::seconds(TOKEN_TTL_SECONDS + 61);
        assert_eq!(verify(b"secret", &t, later), Err(AuthError::Expired));
        assert_eq!(verify(b"secret", "nope", now), Err(AuthError::Malformed));
    }

    #[test]
    fn password_hash_format() {
        let h = PasswordHash {
            iterations: 100_000,
            salt: vec![1; 16],
            hash: vec![7; 32],
        };
        let s = h.encode();
        assert!(s.starts_with("pbkdf2-sha256$100000$"));
        assert_eq!(PasswordHash::parse(&s), Some(h.clone()));
        assert!(h.matches(&[7; 32]));
        assert!(!h.matches(&[7; 31]));
        assert!(PasswordHash::parse("md5$x").is_none());
    }

    #[test]
    fn a_token_without_exp_is_refused() {
        let t = Hs256
            .token(
                &Header::empty(),
                &Claims::new(claims()),
                &Hs256Key::new(b"secret"),
            )
            .unwrap();
        let now = crate::domain::time::from_millis(0);
        assert_eq!(verify(b"secret", &t, now), Err(AuthError::Malformed));
    }

    #[test]
    fn alg_none_and_other_algs_are_refused() {
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let body =
            b64.encode(r#"{"sub":"s1","tenant":"default","role":"owner","exp":99999999999}"#);
        for alg in ["none", "HS512"] {
            let head = b64.encode(format!(r#"{{"alg":"{alg}","typ":"JWT"}}"#));
            let t = format!("{head}.{body}.{}", b64.encode("sig"));
            let now = crate::domain::time::from_millis(0);
            assert_eq!(verify(b"secret", &t, now), Err(AuthError::WrongAlgorithm));
        }
    }
}
