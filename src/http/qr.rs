//! `POST /api/qr {text}`: a QR code as SVG, for packages and URIs meant for another device
//! (bfonboard packages, the bunker URI). Rendered on the server with the `qrcode` crate so
//! the UI needs no encoder; the text is as secret as the package, so nothing is logged or
//! cached.

use axum::body::Bytes;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use qrcode::render::svg;
use qrcode::{EcLevel, QrCode};
use serde::Deserialize;
use zeroize::Zeroize;

use super::auth::json_body;
use super::error::ApiError;

/// The longest text encoded (a QR code of version 40 at level L holds 2,953 bytes).
pub const MAX_QR_TEXT: usize = 2048;

#[derive(Deserialize, utoipa::ToSchema)]
pub struct QrRequest {
    /// The text to encode (at most 2048 bytes).
    pub text: String,
}

impl Drop for QrRequest {
    fn drop(&mut self) {
        self.text.zeroize();
    }
}

/// The SVG of `text`, dark modules on white with a quiet zone, or why it cannot be encoded.
pub fn render(text: &str) -> Result<String, ApiError> {
    if text.is_empty() || text.len() > MAX_QR_TEXT {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "INVALID_REQUEST",
            format!("text must be 1 to {MAX_QR_TEXT} bytes"),
        ));
    }
    let code = QrCode::with_error_correction_level(text.as_bytes(), EcLevel::L).map_err(|_| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "INVALID_REQUEST",
            "The text does not fit in a QR code",
        )
    })?;
    Ok(code
        .render::<svg::Color>()
        .min_dimensions(256, 256)
        .dark_color(svg::Color("#000000"))
        .light_color(svg::Color("#ffffff"))
        .quiet_zone(true)
        .build())
}

#[utoipa::path(post, path = "/api/qr", tag = "status", request_body = QrRequest,
    responses((status = 200, description = "The QR code as `image/svg+xml`", content_type = "image/svg+xml", body = String),
        (status = 400, description = "Empty, over 2048 bytes or not JSON", body = super::error::ErrorBody),
        (status = 401, description = "Not signed in", body = super::error::ErrorBody)))]
pub async fn qr(body: Bytes) -> Response {
    let req: QrRequest = match json_body(&body) {
        Ok(r) => r,
        Err(e) => return e.into_response(),
    };
    match render(&req.text) {
        Ok(svg) => (
            [
                (header::CONTENT_TYPE, "image/svg+xml"),
                (header::CACHE_CONTROL, "no-store"),
            ],
            svg,
        )
            .into_response(),
        Err(e) => e.into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_svg_and_refuses_empty_or_oversized_text() {
        let svg = render("bfonboard1qqqsyqcyq5rqwzqf").expect("svg");
        assert!(svg.contains("<svg") && svg.contains("#000000"));
        assert!(render("").is_err());
        assert!(render(&"a".repeat(MAX_QR_TEXT + 1)).is_err());
        assert!(render(&"a".repeat(MAX_QR_TEXT)).is_ok());
    }
}
