//! The provider-management API: `/api/providers` CRUD (+`/test`), `/api/model-routes`
//! CRUD (+`/select`, `/state`), `/api/admin/providers/restore`, over the canonical
//! providers and routes (see [`types`] for the mapping). Errors FastAPI-style
//! (`{"detail": ...}`).

pub mod types;

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::StatusCode;
use axum::Json;
use utoipa_axum::router::{OpenApiRouter, UtoipaMethodRouterExt};
use utoipa_axum::routes;

use super::surface::{DetailError, Failure, ProviderManagement};
use super::{parse_id, parse_json, parse_optional_json, probe};
use crate::error::ApiError;
use crate::service::providers::{self, ProviderPatch, ProviderRef};
use crate::service::routes::{self as route_service, RouteRef};
use crate::service::WriteMode;
use crate::App;
use types::{
    provider_field, route_field, ConnectivityCheck, Provider, ProviderInput, Restored, Route,
    RouteInput, RouteState, SelectInput, Selection,
};

/// OpenAPI tag of this surface.
pub const TAG: &str = "provider-management";

/// Largest backup document accepted by the restore endpoint (other bodies: axum's 2 MB).
const RESTORE_BODY_LIMIT: usize = 256 * 1024 * 1024;

type Result<T> = std::result::Result<T, Failure<ProviderManagement>>;

/// The provider-management routes, each documented.
pub fn routes() -> OpenApiRouter<Arc<App>> {
    OpenApiRouter::new()
        .routes(routes!(list_providers, create_provider))
        .routes(routes!(get_provider, patch_provider, delete_provider))
        .routes(routes!(test_provider))
        .routes(routes!(list_routes, create_route))
        .routes(routes!(get_route, patch_route, delete_route))
        .routes(routes!(select_route))
        .routes(routes!(route_state))
        .routes(routes!(restore).layer(DefaultBodyLimit::max(RESTORE_BODY_LIMIT)))
}

fn provider_not_found() -> String {
    "Provider not found".into()
}

fn route_not_found() -> String {
    "Route not found".into()
}

/// Every provider.
#[utoipa::path(get, path = "/api/providers", tag = TAG,
    responses(
        (status = 200, description = "Every provider (keys masked)", body = Vec<Provider>),
        (status = 401, description = "No or wrong admin token", body = DetailError),
    ))]
async fn list_providers(State(app): State<Arc<App>>) -> Json<Vec<Provider>> {
    Json(
        providers::list(&app.store)
            .iter()
            .map(Provider::from)
            .collect(),
    )
}

/// Creates a provider.
#[utoipa::path(post, path = "/api/providers", tag = TAG, request_body = ProviderInput,
    responses(
        (status = 201, description = "Created", body = Provider),
        (status = 400, description = "Invalid field (`detail[].loc` names it)", body = DetailError),
        (status = 401, description = "No or wrong admin token", body = DetailError),
        (status = 409, description = "Name taken", body = DetailError),
        (status = 415, description = "Body not declared as JSON", body = DetailError),
    ))]
async fn create_provider(
    State(app): State<Arc<App>>,
    body: Bytes,
) -> Result<(StatusCode, Json<Provider>)> {
    let input: ProviderInput = parse_json(&body)?;
    if input.name.is_none() {
        return Err(ApiError::field("name", "field required").into());
    }
    if input.base_url.is_none() {
        return Err(ApiError::field("base_url", "field required").into());
    }
    let patch = ProviderPatch::try_from(input)?;
    let p = providers::create(&app.store, patch)
        .await
        .map_err(|e| e.rename_fields(provider_field))?;
    Ok((StatusCode::CREATED, Json(Provider::from(&p))))
}

/// One provider.
#[utoipa::path(get, path = "/api/providers/{id}", tag = TAG,
    params(("id" = u64, Path, description = "Numeric id")),
    responses(
        (status = 200, description = "The provider", body = Provider),
        (status = 401, description = "No or wrong admin token", body = DetailError),
        (status = 404, description = "No such provider", body = DetailError),
    ))]
async fn get_provider(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
) -> Result<Json<Provider>> {
    let id = parse_id(&id, "provider")?;
    let p = providers::get(&app.store, &ProviderRef::Id(id))
        .map_err(|e| e.not_found_as(provider_not_found))?;
    Ok(Json(Provider::from(&p)))
}

/// Changes the fields given.
#[utoipa::path(patch, path = "/api/providers/{id}", tag = TAG, request_body = ProviderInput,
    params(("id" = u64, Path, description = "Numeric id")),
    responses(
        (status = 200, description = "Changed", body = Provider),
        (status = 400, description = "Invalid field", body = DetailError),
        (status = 401, description = "No or wrong admin token", body = DetailError),
        (status = 404, description = "No such provider", body = DetailError),
        (status = 409, description = "Name taken", body = DetailError),
        (status = 415, description = "Body not declared as JSON", body = DetailError),
    ))]
async fn patch_provider(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Json<Provider>> {
    let id = parse_id(&id, "provider")?;
    let input: ProviderInput = parse_json(&body)?;
    let patch = ProviderPatch::try_from(input)?;
    let p = providers::update(&app.store, ProviderRef::Id(id), WriteMode::Merge, patch)
        .await
        .map_err(|e| {
            e.not_found_as(provider_not_found)
                .rename_fields(provider_field)
        })?;
    Ok(Json(Provider::from(&p)))
}

/// Deletes a provider no route uses.
#[utoipa::path(delete, path = "/api/providers/{id}", tag = TAG,
    params(("id" = u64, Path, description = "Numeric id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, description = "No or wrong admin token", body = DetailError),
        (status = 404, description = "No such provider", body = DetailError),
        (status = 409, description = "A route still uses it", body = DetailError),
    ))]
async fn delete_provider(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
) -> Result<StatusCode> {
    let id = parse_id(&id, "provider")?;
    providers::delete(&app.store, ProviderRef::Id(id))
        .await
        .map_err(|e| e.not_found_as(provider_not_found))?;
    Ok(StatusCode::NO_CONTENT)
}

/// Checks that the provider's first endpoint answers (OpenAI-style kinds: `GET
/// {base_url}/models` with the key; others: `GET {base_url}`); redirects are not followed.
#[utoipa::path(post, path = "/api/providers/{id}/test", tag = TAG,
    params(("id" = u64, Path, description = "Numeric id")),
    responses(
        (status = 200, description = "The check's result", body = ConnectivityCheck),
        (status = 401, description = "No or wrong admin token", body = DetailError),
        (status = 404, description = "No such provider", body = DetailError),
    ))]
async fn test_provider(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
) -> Result<Json<ConnectivityCheck>> {
    let id = parse_id(&id, "provider")?;
    let p = providers::get(&app.store, &ProviderRef::Id(id))
        .map_err(|e| e.not_found_as(provider_not_found))?;
    let Some(endpoint) = p.endpoints.first() else {
        return Ok(Json(ConnectivityCheck::local()));
    };
    let key = providers::primary_key(&app.store, &p)?;
    Ok(Json(
        probe::check(&p.kind, &endpoint.base_url, &key).await.into(),
    ))
}

/// Every route.
#[utoipa::path(get, path = "/api/model-routes", tag = TAG,
    responses(
        (status = 200, description = "Every route", body = Vec<Route>),
        (status = 401, description = "No or wrong admin token", body = DetailError),
    ))]
async fn list_routes(State(app): State<Arc<App>>) -> Json<Vec<Route>> {
    Json(
        route_service::list(&app.store)
            .iter()
            .map(Route::from)
            .collect(),
    )
}

/// Creates a route.
#[utoipa::path(post, path = "/api/model-routes", tag = TAG, request_body = RouteInput,
    responses(
        (status = 201, description = "Created", body = Route),
        (status = 400, description = "Invalid field (`detail[].loc` names it)", body = DetailError),
        (status = 401, description = "No or wrong admin token", body = DetailError),
        (status = 409, description = "Name taken", body = DetailError),
        (status = 415, description = "Body not declared as JSON", body = DetailError),
    ))]
async fn create_route(
    State(app): State<Arc<App>>,
    body: Bytes,
) -> Result<(StatusCode, Json<Route>)> {
    let input: RouteInput = parse_json(&body)?;
    if input.name.is_none() {
        return Err(ApiError::field("name", "field required").into());
    }
    if input.nodes.is_none() {
        return Err(ApiError::field("nodes", "field required").into());
    }
    let r = route_service::create_with(&app.store, move |current| input.into_patch(current))
        .await
        .map_err(|e| e.rename_fields(route_field))?;
    Ok((StatusCode::CREATED, Json(Route::from(&r))))
}

/// One route.
#[utoipa::path(get, path = "/api/model-routes/{id}", tag = TAG,
    params(("id" = u64, Path, description = "Numeric id")),
    responses(
        (status = 200, description = "The route", body = Route),
        (status = 401, description = "No or wrong admin token", body = DetailError),
        (status = 404, description = "No such route", body = DetailError),
    ))]
async fn get_route(State(app): State<Arc<App>>, Path(id): Path<String>) -> Result<Json<Route>> {
    let id = parse_id(&id, "route")?;
    let r = route_service::get(&app.store, &RouteRef::Id(id))
        .map_err(|e| e.not_found_as(route_not_found))?;
    Ok(Json(Route::from(&r)))
}

/// Changes the fields given (targets are re-derived from the nodes and mode).
#[utoipa::path(patch, path = "/api/model-routes/{id}", tag = TAG, request_body = RouteInput,
    params(("id" = u64, Path, description = "Numeric id")),
    responses(
        (status = 200, description = "Changed", body = Route),
        (status = 400, description = "Invalid field", body = DetailError),
        (status = 401, description = "No or wrong admin token", body = DetailError),
        (status = 404, description = "No such route", body = DetailError),
        (status = 409, description = "Name taken", body = DetailError),
        (status = 415, description = "Body not declared as JSON", body = DetailError),
    ))]
async fn patch_route(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Json<Route>> {
    let id = parse_id(&id, "route")?;
    let input: RouteInput = parse_json(&body)?;
    let r = route_service::update_with(
        &app.store,
        RouteRef::Id(id),
        WriteMode::Merge,
        move |current| input.into_patch(current),
    )
    .await
    .map_err(|e| e.not_found_as(route_not_found).rename_fields(route_field))?;
    Ok(Json(Route::from(&r)))
}

/// Deletes a route.
#[utoipa::path(delete, path = "/api/model-routes/{id}", tag = TAG,
    params(("id" = u64, Path, description = "Numeric id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, description = "No or wrong admin token", body = DetailError),
        (status = 404, description = "No such route", body = DetailError),
    ))]
async fn delete_route(State(app): State<Arc<App>>, Path(id): Path<String>) -> Result<StatusCode> {
    let id = parse_id(&id, "route")?;
    route_service::delete(&app.store, RouteRef::Id(id))
        .await
        .map_err(|e| e.not_found_as(route_not_found))?;
    Ok(StatusCode::NO_CONTENT)
}

/// Picks the next node: the route's balancer is kept across calls, disabled and unhealthy
/// providers are skipped while another node is available.
#[utoipa::path(post, path = "/api/model-routes/{id}/select", tag = TAG,
    request_body(content = Option<SelectInput>, description = "Optional model hint"),
    params(("id" = u64, Path, description = "Numeric id")),
    responses(
        (status = 200, description = "The node picked", body = Selection),
        (status = 400, description = "Route inactive, or no node serves the model", body = DetailError),
        (status = 401, description = "No or wrong admin token", body = DetailError),
        (status = 404, description = "No such route", body = DetailError),
    ))]
async fn select_route(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Json<Selection>> {
    let id = parse_id(&id, "route")?;
    let hint: SelectInput = parse_optional_json(&body)?;
    let choice = route_service::select(&app, &RouteRef::Id(id), hint.model.as_deref())
        .map_err(|e| e.not_found_as(route_not_found))?;
    Ok(Json(choice.into()))
}

/// The route's rotation state and members.
#[utoipa::path(get, path = "/api/model-routes/{id}/state", tag = TAG,
    params(("id" = u64, Path, description = "Numeric id")),
    responses(
        (status = 200, description = "Rotation state", body = RouteState),
        (status = 401, description = "No or wrong admin token", body = DetailError),
        (status = 404, description = "No such route", body = DetailError),
    ))]
async fn route_state(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
) -> Result<Json<RouteState>> {
    let id = parse_id(&id, "route")?;
    let rotation = route_service::rotation(&app, &RouteRef::Id(id))
        .map_err(|e| e.not_found_as(route_not_found))?;
    Ok(Json(rotation.into()))
}

/// Restores from `<data_dir>/backup.json`, or from a backup document posted as the body;
/// all or nothing.
#[utoipa::path(post, path = "/api/admin/providers/restore", tag = TAG,
    request_body(content = Option<Object>, description = "A backup document (`sluice backup export`); empty: the data directory's backup.json"),
    responses(
        (status = 200, description = "Restored", body = Restored),
        (status = 400, description = "Invalid backup", body = DetailError),
        (status = 401, description = "No or wrong admin token", body = DetailError),
    ))]
async fn restore(State(app): State<Arc<App>>, body: Bytes) -> Result<Json<Restored>> {
    let store = app.store.clone();
    let path = store.backup_path().to_path_buf();
    tokio::task::spawn_blocking(move || {
        if body.iter().all(u8::is_ascii_whitespace) {
            crate::backup::restore_into(&store, &path)
        } else {
            store.replace_all(crate::backup::parse(&body)?)
        }
    })
    .await
    .map_err(ApiError::internal)??;
    let s = app.store.state();
    Ok(Json(Restored {
        restored: true,
        providers: s.providers.len(),
        routes: s.routes.len(),
        version: s.version,
    }))
}
