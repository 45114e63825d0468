//! Who may read the console. On a loopback address anyone on the machine may; on any
//! other address only with authentication configured: a user and the SHA-256 of its
//! password (HTTP basic auth), or a header an authenticating proxy sets, named
//! explicitly.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderName, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use sha2::{Digest, Sha256};

/// Why the console refuses to start: the operator's configuration.
#[derive(Debug, thiserror::Error)]
pub enum AccessError {
    /// A non-loopback address without authentication.
    #[error(
        "refusing to serve the console on {0} without authentication: listen on a loopback \
         address, or give --basic-auth-user with --basic-auth-sha256, or --trusted-user-header"
    )]
    Unauthenticated(SocketAddr),
    /// The password hash is not 64 hex digits.
    #[error("--basic-auth-sha256 must be the SHA-256 of the password as 64 hex digits")]
    BadHash,
    /// Basic auth given in half.
    #[error("--basic-auth-user and --basic-auth-sha256 go together")]
    HalfBasic,
    /// The trusted header is not a valid header name.
    #[error("--trusted-user-header `{0}` is not a header name")]
    BadHeader(String),
}

/// How requests are admitted.
#[derive(Debug, Clone)]
pub enum Access {
    /// Everyone who can reach the (loopback) address.
    Loopback,
    /// HTTP basic auth against one user.
    Basic {
        /// The user name.
        user: String,
        /// SHA-256 of the password.
        password_sha256: [u8; 32],
    },
    /// Requests that carry this header, set by an authenticating proxy.
    TrustedHeader(HeaderName),
}

impl Access {
    /// The access for serving on `listen`, from the flags.
    pub fn new(
        listen: SocketAddr,
        basic_user: Option<&str>,
        basic_sha256: Option<&str>,
        trusted_header: Option<&str>,
    ) -> Result<Self, AccessError> {
        if let Some(name) = trusted_header {
            let name =
                HeaderName::try_from(name).map_err(|_| AccessError::BadHeader(name.to_owned()))?;
            return Ok(Self::TrustedHeader(name));
        }
        match (basic_user, basic_sha256) {
            (Some(user), Some(hash)) => {
                let bytes = hex::decode(hash.trim()).map_err(|_| AccessError::BadHash)?;
                let password_sha256 = bytes.try_into().map_err(|_| AccessError::BadHash)?;
                Ok(Self::Basic {
                    user: user.to_owned(),
                    password_sha256,
                })
            }
            (None, None) if listen.ip().is_loopback() => Ok(Self::Loopback),
            (None, None) => Err(AccessError::Unauthenticated(listen)),
            _ => Err(AccessError::HalfBasic),
        }
    }

    /// Whether a request with these headers may read.
    fn admits(&self, headers: &axum::http::HeaderMap) -> bool {
        match self {
            Self::Loopback => true,
            Self::TrustedHeader(name) => {
                headers.get(name).is_some_and(|v| !v.as_bytes().is_empty())
            }
            Self::Basic {
                user,
                password_sha256,
            } => headers
                .get(header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.strip_prefix("Basic "))
                .and_then(|b64| base64::engine::general_purpose::STANDARD.decode(b64).ok())
                .and_then(|raw| String::from_utf8(raw).ok())
                .is_some_and(|pair| match pair.split_once(':') {
                    Some((u, password)) => {
                        let hash = Sha256::digest(password.as_bytes());
                        // Both compared in full, whatever differs first.
                        let same_hash = hash
                            .iter()
                            .zip(password_sha256)
                            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                            == 0;
                        same_hash & (u == user)
                    }
                    None => false,
                }),
        }
    }
}

/// Admits a request, or answers 401 (basic auth) or 403 (no trusted header).
pub(super) async fn check(
    State(access): State<Arc<Access>>,
    request: Request,
    next: Next,
) -> Response {
    if access.admits(request.headers()) {
        return next.run(request).await;
    }
    match access.as_ref() {
        Access::Basic { .. } => (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, "Basic realm=\"grantwatch\"")],
            "authentication required\n",
        )
            .into_response(),
        _ => (StatusCode::FORBIDDEN, "not signed in through the proxy\n").into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderMap;

    fn addr(text: &str) -> SocketAddr {
        text.parse().expect("address")
    }

    #[test]
    fn only_loopback_goes_without_authentication() {
        assert!(matches!(
            Access::new(addr("127.0.0.1:8080"), None, None, None),
            Ok(Access::Loopback)
        ));
        assert!(matches!(
            Access::new(addr("[::1]:8080"), None, None, None),
            Ok(Access::Loopback)
        ));
        assert!(matches!(
            Access::new(addr("0.0.0.0:8080"), None, None, None),
            Err(AccessError::Unauthenticated(_))
        ));
        assert!(matches!(
            Access::new(addr("0.0.0.0:8080"), Some("ana"), None, None),
            Err(AccessError::HalfBasic)
        ));
        assert!(matches!(
            Access::new(addr("0.0.0.0:8080"), Some("ana"), Some("12"), None),
            Err(AccessError::BadHash)
        ));
    }

    #[test]
    fn basic_auth_and_trusted_headers_admit_only_their_requests() {
        let hash = hex::encode(Sha256::digest(b"s3cret"));
        let basic =
            Access::new(addr("0.0.0.0:8080"), Some("ana"), Some(&hash), None).expect("basic");
        let with = |value: &str| {
            let mut headers = HeaderMap::new();
            let encoded = base64::engine::general_purpose::STANDARD.encode(value);
            headers.insert(
                header::AUTHORIZATION,
                format!("Basic {encoded}").parse().expect("header"),
            );
            headers
        };
        assert!(basic.admits(&with("ana:s3cret")));
        assert!(!basic.admits(&with("ana:wrong")));
        assert!(!basic.admits(&with("bob:s3cret")));
        assert!(!basic.admits(&HeaderMap::new()));
        let proxy =
            Access::new(addr("0.0.0.0:8080"), None, None, Some("X-Forwarded-User")).expect("proxy");
        let mut headers = HeaderMap::new();
        assert!(!proxy.admits(&headers));
        headers.insert("x-forwarded-user", "ana".parse().expect("header"));
        assert!(proxy.admits(&headers));
    }
}
