//! The admin API's OpenAPI 3 document, generated from the handlers' `#[utoipa::path]`
//! attributes and the request/response types (`utoipa`), one tag per surface.
//!
//! The copy served at `/openapi.json` is committed at `controlplane/src/api/openapi.json`;
//! a test regenerates it and fails when it differs. After changing an endpoint or a type,
//! refresh it with
//! `SLUICE_UPDATE_OPENAPI=1 cargo nextest run --release -p sluice-controlplane openapi`.

use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::OpenApi as Document;
use utoipa::{Modify, OpenApi};

use super::{canonical, llm_backends, orchestrator, provider_management};

/// Everything in the document that no handler says: title, auth, tags.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "Sluice control plane admin API",
        version = "1.0.0",
        description = "Providers, routes, client keys and data planes, through four surfaces over one \
            canonical store: the canonical admin API (`/v1/admin/*`), the provider-management API \
            (`/api/providers`, `/api/model-routes`), the LLM-backend API (`/api/llm/*`) and the \
            orchestrator API (`/admin/*`); each answers errors in its own format. Auth: \
            `Authorization: Bearer <SLUICE_ADMIN_TOKEN>` or `X-Admin-Key`. Writes with a body need \
            `Content-Type: application/json` (415 otherwise). Without a token (development) only \
            requests addressed to localhost, 127.0.0.1, [::1] or --admin-allowed-hosts are \
            answered (403 otherwise)."
    ),
    servers((url = "http://localhost:8001")),
    security(("bearer" = []), ("adminKey" = [])),
    modifiers(&AdminAuth),
    tags(
        (name = canonical::TAG, description = "The canonical admin API: providers with endpoints, routes with strategy and targets, client keys, data planes. Errors: `{\"error\":{\"code\",\"message\",\"details\",\"type\",\"param\"},\"timestamp\",\"request_id\"}`."),
        (name = provider_management::TAG, description = "The provider-management API: providers by display name, model routes with modes and nodes, route selection, restore. Errors FastAPI style: `{\"detail\": ...}`."),
        (name = llm_backends::TAG, description = "The LLM-backend API: backends with adapters and configs, enable/disable. Errors: `{\"error\": \"...\"}`."),
        (name = orchestrator::TAG, description = "The orchestrator API: providers, health, stats and request logs. Errors: `{\"error\":{\"code\",\"message\",\"details\"},\"timestamp\",\"request_id\"}`."),
    )
)]
struct AdminApi;

/// Declares the two ways to present the admin token.
struct AdminAuth;

impl Modify for AdminAuth {
    fn modify(&self, doc: &mut Document) {
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
        components.add_security_scheme(
            "adminKey",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::new("X-Admin-Key"))),
        );
    }
}

/// The document before any surface adds its paths.
pub fn base() -> Document {
    AdminApi::openapi()
}

/// The whole document, from the same router the server runs.
pub fn document() -> Document {
    super::surfaces().into_openapi()
}

/// The document as committed: pretty JSON with a final newline.
pub fn document_json() -> Result<String, serde_json::Error> {
    let mut text = document().to_pretty_json()?;
    text.push('\n');
    Ok(text)
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    fn committed_path() -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("src/api/openapi.json")
    }

    /// The first line where two texts differ, with a little context.
    fn first_difference(committed: &str, generated: &str) -> String {
        let (a, b): (Vec<&str>, Vec<&str>) =
            (committed.lines().collect(), generated.lines().collect());
        let n = a.iter().zip(&b).take_while(|(x, y)| x == y).count();
        let show = |lines: &[&str]| {
            lines
                .iter()
                .skip(n.saturating_sub(2))
                .take(5)
                .map(|l| format!("    {l}"))
                .collect::<Vec<_>>()
                .join("\n")
        };
        format!(
            "first difference at line {} (committed {} lines, generated {} lines)\n  committed:\n{}\n  generated:\n{}",
            n + 1,
            a.len(),
            b.len(),
            show(&a),
            show(&b)
        )
    }

    #[test]
    fn openapi_document_is_current() {
        let generated = super::document_json().unwrap();
        let path = committed_path();
        if std::env::var_os("SLUICE_UPDATE_OPENAPI").is_some() {
            std::fs::write(&path, &generated).unwrap();
            return;
        }
        let committed = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            committed == generated,
            "{} is out of date with the handlers and types: {}\nRefresh it with \
             `SLUICE_UPDATE_OPENAPI=1 cargo nextest run --release -p sluice-controlplane openapi` \
             and commit the result.",
            path.display(),
            first_difference(&committed, &generated)
        );
        assert_eq!(
            super::super::OPENAPI_JSON,
            committed,
            "rebuild: include_str! is stale"
        );
    }

    #[test]
    fn openapi_document_tags_every_operation_with_its_surface() {
        let doc: serde_json::Value =
            serde_json::from_str(&super::document_json().unwrap()).unwrap();
        let paths = doc["paths"].as_object().unwrap();
        assert!(paths.keys().any(|p| p.starts_with("/v1/admin/")));
        for (path, item) in paths {
            for (method, op) in item.as_object().unwrap() {
                let tag = op["tags"][0].as_str().unwrap_or_default();
                let expected = match crate::api::surface::SurfaceKind::of_path(path) {
                    crate::api::surface::SurfaceKind::Canonical => super::canonical::TAG,
                    crate::api::surface::SurfaceKind::ProviderManagement => {
                        super::provider_management::TAG
                    }
                    crate::api::surface::SurfaceKind::LlmBackends => super::llm_backends::TAG,
                    crate::api::surface::SurfaceKind::Orchestrator => super::orchestrator::TAG,
                    crate::api::surface::SurfaceKind::Open => "",
                };
                assert_eq!(tag, expected, "{method} {path}");
            }
        }
    }
}
