//! The axum side of authentication: the route layer that authenticates a request through
//! [`crate::auth`], enforces the route's [`Access`] level and hands the [`Principal`] to the
//! handler; and the caller's address as the rest of the server sees it.

use std::net::{IpAddr, SocketAddr};

use axum::Json;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::AppState;
use super::error::ApiError;
use crate::auth::access::decide;
use crate::auth::authn::{auth_methods, carries_credentials};
use crate::auth::{Access, AuthCtx, Decision, Principal, authenticate};
use crate::store::StoreError;

/// Runs `f` with the authentication context of this daemon (start-up configuration, the one
/// in force, the store). Blocking when `f` reads the store.
pub(crate) fn with_auth<T>(state: &AppState, f: impl FnOnce(&AuthCtx<'_>) -> T) -> T {
    let live = state.live.current();
    f(&AuthCtx {
        config: &state.config,
        live: &live,
        store: &state.store,
    })
}

/// The caller's address as [`crate::http::client_ip::resolve`] sees it.
pub fn client_ip(headers: &HeaderMap, peer: Option<IpAddr>, trust_proxy: bool) -> Option<IpAddr> {
    // One rule for the whole server (right-most forwarded hop, only behind a trusted proxy):
    // the rate limiter, the login throttle and the API-key audit must see the same address.
    peer.map(|p| super::client_ip::resolve(p, headers, trust_proxy))
}

fn unauthorized(state: &AppState, message: &str) -> Response {
    let methods = with_auth(state, auth_methods);
    (
        StatusCode::UNAUTHORIZED,
        Json(serde_json::json!({
            "error": message,
            "code": "UNAUTHORIZED",
            "authMethods": methods,
        })),
    )
        .into_response()
}

/// The route layer: authenticates the request, checks `access`, and inserts the
/// [`Principal`] for the handler.
pub async fn enforce(
    State((state, access)): State<(AppState, Access)>,
    mut req: Request,
    next: Next,
) -> Response {
    let peer = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip());
    let ip = client_ip(req.headers(), peer, state.config.auth.trust_proxy);
    if !state.config.auth.enabled {
        if decide(access, Some(&Principal::Anonymous), state.config.headless) != Decision::Allow {
            return unauthorized(&state, "Database user authentication required");
        }
        req.extensions_mut().insert(Principal::Anonymous);
        return next.run(req).await;
    }
    // Public routes (status is polled every few seconds) skip the store when the request
    // carries nothing to authenticate.
    if access == Access::Public && !carries_credentials(req.headers()) {
        return next.run(req).await;
    }
    let headers = req.headers().clone();
    let st = state.clone();
    let result = tokio::task::spawn_blocking(move || {
        let initialized = st.config.headless || st.store.user_count()? > 0;
        let p = if initialized || access == Access::Public {
            with_auth(&st, |ctx| authenticate(ctx, &headers, ip))?
        } else {
            None
        };
        Ok::<_, StoreError>((initialized, p))
    })
    .await;
    let (initialized, principal) = match result {
        Ok(Ok(v)) => v,
        Ok(Err(e)) => {
            tracing::error!(error = %e, "authentication failed on a store error");
            return ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "STORE_UNAVAILABLE",
                "The store is unavailable; try again",
            )
            .into_response();
        }
        Err(_) => {
            return ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "INTERNAL",
                "Unexpected server error",
            )
            .into_response();
        }
    };
    if access == Access::Public {
        if let Some(p) = principal {
            req.extensions_mut().insert(p);
        }
        return next.run(req).await;
    }
    if !initialized {
        return unauthorized(
            &state,
            "Database not initialized. Please complete onboarding.",
        );
    }
    // The access matrix (auth::access) decides; this layer only answers.
    match decide(access, principal.as_ref(), state.config.headless) {
        Decision::Allow => {}
        Decision::Unauthenticated => {
            let message = match (&principal, access) {
                (None, _) => "Authentication required",
                (Some(_), Access::DbUser) => {
                    "Database user authentication required: log in with a user name and password"
                }
                (Some(_), Access::Admin) => "Admin authentication required",
                (Some(_), _) => "This API key's scope does not cover this route",
            };
            return unauthorized(&state, message);
        }
        Decision::Forbidden => {
            return ApiError::new(
                StatusCode::FORBIDDEN,
                "FORBIDDEN",
                "Admin authentication required",
            )
            .into_response();
        }
    }
    let Some(principal) = principal else {
        return unauthorized(&state, "Authentication required");
    };
    req.extensions_mut().insert(principal);
    next.run(req).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proxy_headers_count_only_when_trusted() {
        let mut h = HeaderMap::new();
        let peer: IpAddr = "10.0.0.1".parse().unwrap();
        // A client can forge the left of X-Forwarded-For; the proxy appends the right-most hop.
        h.insert("x-forwarded-for", "6.6.6.6, 192.0.2.7".parse().unwrap());
        assert_eq!(client_ip(&h, Some(peer), false), Some(peer));
        assert_eq!(client_ip(&h, Some(peer), true), "192.0.2.7".parse().ok());
        h.insert("x-forwarded-for", "garbage".parse().unwrap());
        h.insert("x-real-ip", "192.0.2.8".parse().unwrap());
        assert_eq!(client_ip(&h, Some(peer), true), "192.0.2.8".parse().ok());
    }
}
