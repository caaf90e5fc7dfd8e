//! The canonical admin API (`/v1/admin/*`, described by `/openapi.json`): providers with
//! endpoints, routes with strategy and targets, client keys (plaintext returned once) with
//! their teams, limits and budgets, price overrides,
//! connected data planes, and the config version. `{id}` accepts a numeric id or a name.
//! Errors: the orchestrator API's envelope plus OpenAI's `type`/`param`.

pub mod types;

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::surface::{Canonical, Failure, OpenAiErrorEnvelope};
use super::{parse_id, parse_json, parse_optional_json};
use crate::clock::now_ms;
use crate::error::ApiError;
use crate::service::providers::{self, ProviderRef};
use crate::service::routes::{self as route_service, RouteRef};
use crate::service::{keys, prices, teams, WriteMode};
use crate::App;
use types::{
    ClientKey, ClientKeyInput, ClientKeyList, CreatedClientKey, Dataplane, DataplaneList,
    ModelPrice, PriceInput, PriceList, Provider, ProviderInput, ProviderList, RotateInput, Route,
    RouteInput, RouteList, Team, TeamInput, TeamList, VersionInfo,
};

/// OpenAPI tag of this surface.
pub const TAG: &str = "canonical";

type Result<T> = std::result::Result<T, Failure<Canonical>>;

/// The canonical routes, each documented.
pub fn routes() -> OpenApiRouter<Arc<App>> {
    OpenApiRouter::new()
        .routes(routes!(list_providers, create_provider))
        .routes(routes!(
            get_provider,
            put_provider,
            patch_provider,
            delete_provider
        ))
        .routes(routes!(list_routes, create_route))
        .routes(routes!(get_route, put_route, patch_route, delete_route))
        .routes(routes!(list_keys, create_key))
        .routes(routes!(get_key, patch_key, delete_key))
        .routes(routes!(revoke_key))
        .routes(routes!(rotate_key))
        .routes(routes!(list_teams, create_team))
        .routes(routes!(get_team, put_team, delete_team))
        .routes(routes!(list_prices))
        .routes(routes!(put_price, delete_price))
        .routes(routes!(dataplanes))
        .routes(routes!(version))
}

/// Every provider.
#[utoipa::path(get, path = "/v1/admin/providers", tag = TAG,
    responses(
        (status = 200, description = "Every provider (keys masked)", body = ProviderList),
        (status = 401, description = "No or wrong admin token", body = OpenAiErrorEnvelope),
    ))]
async fn list_providers(State(app): State<Arc<App>>) -> Json<ProviderList> {
    let state = app.store.state();
    Json(ProviderList {
        providers: state.providers.values().map(Provider::from).collect(),
        version: state.version,
    })
}

/// Creates a provider.
#[utoipa::path(post, path = "/v1/admin/providers", tag = TAG, request_body = ProviderInput,
    responses(
        (status = 201, description = "Created", body = Provider),
        (status = 400, description = "Invalid field (`error.param` names it)", body = OpenAiErrorEnvelope),
        (status = 401, description = "No or wrong admin token", body = OpenAiErrorEnvelope),
        (status = 409, description = "Name taken", body = OpenAiErrorEnvelope),
        (status = 415, description = "Body not declared as JSON", body = OpenAiErrorEnvelope),
    ))]
async fn create_provider(
    State(app): State<Arc<App>>,
    body: Bytes,
) -> Result<(StatusCode, Json<Provider>)> {
    let input: ProviderInput = parse_json(&body)?;
    if input.name.is_none() {
        return Err(ApiError::field("name", "is required").into());
    }
    let p = providers::create(&app.store, input.into()).await?;
    Ok((StatusCode::CREATED, Json(Provider::from(&p))))
}

/// One provider.
#[utoipa::path(get, path = "/v1/admin/providers/{id}", tag = TAG,
    params(("id" = String, Path, description = "Numeric id or name")),
    responses(
        (status = 200, description = "The provider", body = Provider),
        (status = 401, description = "No or wrong admin token", body = OpenAiErrorEnvelope),
        (status = 404, description = "No such provider", body = OpenAiErrorEnvelope),
    ))]
async fn get_provider(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
) -> Result<Json<Provider>> {
    let p = providers::get(&app.store, &ProviderRef::IdOrName(id))?;
    Ok(Json(Provider::from(&p)))
}

/// Replaces a provider: absent fields take their defaults; keys of endpoints at the same
/// position and origin are kept unless given.
#[utoipa::path(put, path = "/v1/admin/providers/{id}", tag = TAG, request_body = ProviderInput,
    params(("id" = String, Path, description = "Numeric id or name")),
    responses(
        (status = 200, description = "Replaced", body = Provider),
        (status = 400, description = "Invalid field", body = OpenAiErrorEnvelope),
        (status = 401, description = "No or wrong admin token", body = OpenAiErrorEnvelope),
        (status = 404, description = "No such provider", body = OpenAiErrorEnvelope),
        (status = 409, description = "Name taken", body = OpenAiErrorEnvelope),
        (status = 415, description = "Body not declared as JSON", body = OpenAiErrorEnvelope),
    ))]
async fn put_provider(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Json<Provider>> {
    write_provider(&app, id, &body, WriteMode::Replace).await
}

/// Changes the fields given.
#[utoipa::path(patch, path = "/v1/admin/providers/{id}", tag = TAG, request_body = ProviderInput,
    params(("id" = String, Path, description = "Numeric id or name")),
    responses(
        (status = 200, description = "Changed", body = Provider),
        (status = 400, description = "Invalid field", body = OpenAiErrorEnvelope),
        (status = 401, description = "No or wrong admin token", body = OpenAiErrorEnvelope),
        (status = 404, description = "No such provider", body = OpenAiErrorEnvelope),
        (status = 409, description = "Name taken", body = OpenAiErrorEnvelope),
        (status = 415, description = "Body not declared as JSON", body = OpenAiErrorEnvelope),
    ))]
async fn patch_provider(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Json<Provider>> {
    write_provider(&app, id, &body, WriteMode::Merge).await
}

async fn write_provider(
    app: &App,
    id: String,
    body: &[u8],
    mode: WriteMode,
) -> Result<Json<Provider>> {
    let input: ProviderInput = parse_json(body)?;
    let p = providers::update(&app.store, ProviderRef::IdOrName(id), mode, input.into()).await?;
    Ok(Json(Provider::from(&p)))
}

/// Deletes a provider no route targets.
#[utoipa::path(delete, path = "/v1/admin/providers/{id}", tag = TAG,
    params(("id" = String, Path, description = "Numeric id or name")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, description = "No or wrong admin token", body = OpenAiErrorEnvelope),
        (status = 404, description = "No such provider", body = OpenAiErrorEnvelope),
        (status = 409, description = "A route still targets it", body = OpenAiErrorEnvelope),
    ))]
async fn delete_provider(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
) -> Result<StatusCode> {
    providers::delete(&app.store, ProviderRef::IdOrName(id)).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Every route.
#[utoipa::path(get, path = "/v1/admin/routes", tag = TAG,
    responses(
        (status = 200, description = "Every route", body = RouteList),
        (status = 401, description = "No or wrong admin token", body = OpenAiErrorEnvelope),
    ))]
async fn list_routes(State(app): State<Arc<App>>) -> Json<RouteList> {
    let state = app.store.state();
    Json(RouteList {
        routes: state
            .routes
            .values()
            .map(|r| Route::new(&state, r))
            .collect(),
        version: state.version,
    })
}

/// Creates a route.
#[utoipa::path(post, path = "/v1/admin/routes", tag = TAG, request_body = RouteInput,
    responses(
        (status = 201, description = "Created", body = Route),
        (status = 400, description = "Invalid field (`error.param` names it)", body = OpenAiErrorEnvelope),
        (status = 401, description = "No or wrong admin token", body = OpenAiErrorEnvelope),
        (status = 409, description = "Name taken", body = OpenAiErrorEnvelope),
        (status = 415, description = "Body not declared as JSON", body = OpenAiErrorEnvelope),
    ))]
async fn create_route(
    State(app): State<Arc<App>>,
    body: Bytes,
) -> Result<(StatusCode, Json<Route>)> {
    let input: RouteInput = parse_json(&body)?;
    if input.name.is_none() {
        return Err(ApiError::field("name", "is required").into());
    }
    let r = route_service::create(&app.store, input.into()).await?;
    Ok((
        StatusCode::CREATED,
        Json(Route::new(&app.store.state(), &r)),
    ))
}

/// One route.
#[utoipa::path(get, path = "/v1/admin/routes/{id}", tag = TAG,
    params(("id" = String, Path, description = "Numeric id or name")),
    responses(
        (status = 200, description = "The route", body = Route),
        (status = 401, description = "No or wrong admin token", body = OpenAiErrorEnvelope),
        (status = 404, description = "No such route", body = OpenAiErrorEnvelope),
    ))]
async fn get_route(State(app): State<Arc<App>>, Path(id): Path<String>) -> Result<Json<Route>> {
    let r = route_service::get(&app.store, &RouteRef::IdOrName(id))?;
    Ok(Json(Route::new(&app.store.state(), &r)))
}

/// Replaces a route: absent fields take their defaults (name and targets are kept).
#[utoipa::path(put, path = "/v1/admin/routes/{id}", tag = TAG, request_body = RouteInput,
    params(("id" = String, Path, description = "Numeric id or name")),
    responses(
        (status = 200, description = "Replaced", body = Route),
        (status = 400, description = "Invalid field", body = OpenAiErrorEnvelope),
        (status = 401, description = "No or wrong admin token", body = OpenAiErrorEnvelope),
        (status = 404, description = "No such route", body = OpenAiErrorEnvelope),
        (status = 409, description = "Name taken", body = OpenAiErrorEnvelope),
        (status = 415, description = "Body not declared as JSON", body = OpenAiErrorEnvelope),
    ))]
async fn put_route(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Json<Route>> {
    write_route(&app, id, &body, WriteMode::Replace).await
}

/// Changes the fields given.
#[utoipa::path(patch, path = "/v1/admin/routes/{id}", tag = TAG, request_body = RouteInput,
    params(("id" = String, Path, description = "Numeric id or name")),
    responses(
        (status = 200, description = "Changed", body = Route),
        (status = 400, description = "Invalid field", body = OpenAiErrorEnvelope),
        (status = 401, description = "No or wrong admin token", body = OpenAiErrorEnvelope),
        (status = 404, description = "No such route", body = OpenAiErrorEnvelope),
        (status = 409, description = "Name taken", body = OpenAiErrorEnvelope),
        (status = 415, description = "Body not declared as JSON", body = OpenAiErrorEnvelope),
    ))]
async fn patch_route(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Json<Route>> {
    write_route(&app, id, &body, WriteMode::Merge).await
}

async fn write_route(app: &App, id: String, body: &[u8], mode: WriteMode) -> Result<Json<Route>> {
    let input: RouteInput = parse_json(body)?;
    let r = route_service::update(&app.store, RouteRef::IdOrName(id), mode, input.into()).await?;
    Ok(Json(Route::new(&app.store.state(), &r)))
}

/// Deletes a route.
#[utoipa::path(delete, path = "/v1/admin/routes/{id}", tag = TAG,
    params(("id" = String, Path, description = "Numeric id or name")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, description = "No or wrong admin token", body = OpenAiErrorEnvelope),
        (status = 404, description = "No such route", body = OpenAiErrorEnvelope),
    ))]
async fn delete_route(State(app): State<Arc<App>>, Path(id): Path<String>) -> Result<StatusCode> {
    route_service::delete(&app.store, RouteRef::IdOrName(id)).await?;
    Ok(StatusCode::NO_CONTENT)
}

fn key_view(app: &App, k: &crate::store::records::ClientKeyRecord) -> ClientKey {
    ClientKey::new(&app.ledger, k, now_ms())
}

fn created_view(app: &App, created: keys::CreatedKey) -> CreatedClientKey {
    CreatedClientKey {
        record: key_view(app, &created.record),
        key: created.plaintext,
    }
}

/// Every client key (masked; never the secret).
#[utoipa::path(get, path = "/v1/admin/keys", tag = TAG,
    responses(
        (status = 200, description = "Every client key", body = ClientKeyList),
        (status = 401, description = "No or wrong admin token", body = OpenAiErrorEnvelope),
    ))]
async fn list_keys(State(app): State<Arc<App>>) -> Json<ClientKeyList> {
    Json(ClientKeyList {
        keys: keys::list(&app.store)
            .iter()
            .map(|k| key_view(&app, k))
            .collect(),
    })
}

/// Creates a random client key; the answer is the only place its plaintext ever appears.
#[utoipa::path(post, path = "/v1/admin/keys", tag = TAG, request_body(content = Option<ClientKeyInput>, description = "Optional; an empty body names the key `client-key`"),
    responses(
        (status = 201, description = "Created (with the plaintext `key`)", body = CreatedClientKey),
        (status = 400, description = "Invalid field (`error.param` names it; an unknown team names `team`)", body = OpenAiErrorEnvelope),
        (status = 401, description = "No or wrong admin token", body = OpenAiErrorEnvelope),
        (status = 415, description = "Body not declared as JSON", body = OpenAiErrorEnvelope),
    ))]
async fn create_key(
    State(app): State<Arc<App>>,
    body: Bytes,
) -> Result<(StatusCode, Json<CreatedClientKey>)> {
    let input: ClientKeyInput = parse_optional_json(&body)?;
    let created = keys::create_with(&app.store, input.into()).await?;
    Ok((StatusCode::CREATED, Json(created_view(&app, created))))
}

/// One client key (masked; never the secret).
#[utoipa::path(get, path = "/v1/admin/keys/{id}", tag = TAG,
    params(("id" = u64, Path, description = "Numeric id")),
    responses(
        (status = 200, description = "The client key", body = ClientKey),
        (status = 401, description = "No or wrong admin token", body = OpenAiErrorEnvelope),
        (status = 404, description = "No such key", body = OpenAiErrorEnvelope),
    ))]
async fn get_key(State(app): State<Arc<App>>, Path(id): Path<String>) -> Result<Json<ClientKey>> {
    let id = parse_id(&id, "client key")?;
    Ok(Json(key_view(&app, &keys::get(&app.store, id)?)))
}

/// Changes the fields given (`null` clears `team`, `user`, `expires_at`, `limits`,
/// `budget`).
#[utoipa::path(patch, path = "/v1/admin/keys/{id}", tag = TAG, request_body = ClientKeyInput,
    params(("id" = u64, Path, description = "Numeric id")),
    responses(
        (status = 200, description = "Changed", body = ClientKey),
        (status = 400, description = "Invalid field", body = OpenAiErrorEnvelope),
        (status = 401, description = "No or wrong admin token", body = OpenAiErrorEnvelope),
        (status = 404, description = "No such key", body = OpenAiErrorEnvelope),
        (status = 409, description = "Enabling a revoked key", body = OpenAiErrorEnvelope),
        (status = 415, description = "Body not declared as JSON", body = OpenAiErrorEnvelope),
    ))]
async fn patch_key(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Json<ClientKey>> {
    let id = parse_id(&id, "client key")?;
    let input: ClientKeyInput = parse_json(&body)?;
    let rec = keys::update(&app.store, &app.ledger, id, input.into()).await?;
    Ok(Json(key_view(&app, &rec)))
}

/// Revokes a key: refused by every data plane from the next snapshot on; it stays listed
/// as `revoked`.
#[utoipa::path(post, path = "/v1/admin/keys/{id}/revoke", tag = TAG,
    params(("id" = u64, Path, description = "Numeric id")),
    responses(
        (status = 200, description = "Revoked", body = ClientKey),
        (status = 401, description = "No or wrong admin token", body = OpenAiErrorEnvelope),
        (status = 404, description = "No such key", body = OpenAiErrorEnvelope),
    ))]
async fn revoke_key(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
) -> Result<Json<ClientKey>> {
    let id = parse_id(&id, "client key")?;
    Ok(Json(key_view(&app, &keys::revoke(&app.store, id).await?)))
}

/// Replaces a key's secret: the answer carries the new plaintext `key` (shown once); the
/// old secret keeps working until `overlap_seconds` have passed.
#[utoipa::path(post, path = "/v1/admin/keys/{id}/rotate", tag = TAG,
    request_body(content = Option<RotateInput>, description = "Optional; default overlap 3600 s"),
    params(("id" = u64, Path, description = "Numeric id")),
    responses(
        (status = 200, description = "Rotated (with the new plaintext `key`)", body = CreatedClientKey),
        (status = 400, description = "Invalid overlap", body = OpenAiErrorEnvelope),
        (status = 401, description = "No or wrong admin token", body = OpenAiErrorEnvelope),
        (status = 404, description = "No such key", body = OpenAiErrorEnvelope),
        (status = 409, description = "The key is revoked", body = OpenAiErrorEnvelope),
    ))]
async fn rotate_key(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Json<CreatedClientKey>> {
    let id = parse_id(&id, "client key")?;
    let input: RotateInput = parse_optional_json(&body)?;
    let created = keys::rotate(&app.store, id, input.overlap_seconds).await?;
    Ok(Json(created_view(&app, created)))
}

/// Deletes a client key (clients using it are refused from the next snapshot on).
#[utoipa::path(delete, path = "/v1/admin/keys/{id}", tag = TAG,
    params(("id" = u64, Path, description = "Numeric id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, description = "No or wrong admin token", body = OpenAiErrorEnvelope),
        (status = 404, description = "No such key", body = OpenAiErrorEnvelope),
    ))]
async fn delete_key(State(app): State<Arc<App>>, Path(id): Path<String>) -> Result<StatusCode> {
    let id = parse_id(&id, "client key")?;
    keys::delete(&app.store, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

fn team_view(app: &App, t: &crate::store::records::TeamRecord) -> Team {
    Team::new(&app.store.state(), &app.ledger, t, now_ms())
}

/// Every team.
#[utoipa::path(get, path = "/v1/admin/teams", tag = TAG,
    responses(
        (status = 200, description = "Every team", body = TeamList),
        (status = 401, description = "No or wrong admin token", body = OpenAiErrorEnvelope),
    ))]
async fn list_teams(State(app): State<Arc<App>>) -> Json<TeamList> {
    Json(TeamList {
        teams: teams::list(&app.store)
            .iter()
            .map(|t| team_view(&app, t))
            .collect(),
    })
}

/// Creates a team.
#[utoipa::path(post, path = "/v1/admin/teams", tag = TAG, request_body = TeamInput,
    responses(
        (status = 201, description = "Created", body = Team),
        (status = 400, description = "Invalid field (`error.param` names it)", body = OpenAiErrorEnvelope),
        (status = 401, description = "No or wrong admin token", body = OpenAiErrorEnvelope),
        (status = 409, description = "Name taken", body = OpenAiErrorEnvelope),
        (status = 415, description = "Body not declared as JSON", body = OpenAiErrorEnvelope),
    ))]
async fn create_team(State(app): State<Arc<App>>, body: Bytes) -> Result<(StatusCode, Json<Team>)> {
    let input: TeamInput = parse_json(&body)?;
    let t = teams::create(&app.store, input.into()).await?;
    Ok((StatusCode::CREATED, Json(team_view(&app, &t))))
}

/// One team.
#[utoipa::path(get, path = "/v1/admin/teams/{name}", tag = TAG,
    params(("name" = String, Path, description = "Team name")),
    responses(
        (status = 200, description = "The team", body = Team),
        (status = 401, description = "No or wrong admin token", body = OpenAiErrorEnvelope),
        (status = 404, description = "No such team", body = OpenAiErrorEnvelope),
    ))]
async fn get_team(State(app): State<Arc<App>>, Path(name): Path<String>) -> Result<Json<Team>> {
    Ok(Json(team_view(&app, &teams::get(&app.store, &name)?)))
}

/// Replaces a team: absent fields take their defaults (the name cannot change).
#[utoipa::path(put, path = "/v1/admin/teams/{name}", tag = TAG, request_body = TeamInput,
    params(("name" = String, Path, description = "Team name")),
    responses(
        (status = 200, description = "Replaced", body = Team),
        (status = 400, description = "Invalid field", body = OpenAiErrorEnvelope),
        (status = 401, description = "No or wrong admin token", body = OpenAiErrorEnvelope),
        (status = 404, description = "No such team", body = OpenAiErrorEnvelope),
        (status = 415, description = "Body not declared as JSON", body = OpenAiErrorEnvelope),
    ))]
async fn put_team(
    State(app): State<Arc<App>>,
    Path(name): Path<String>,
    body: Bytes,
) -> Result<Json<Team>> {
    let input: TeamInput = parse_json(&body)?;
    let t = teams::replace(&app.store, &app.ledger, name, input.into()).await?;
    Ok(Json(team_view(&app, &t)))
}

/// Deletes a team that has no keys.
#[utoipa::path(delete, path = "/v1/admin/teams/{name}", tag = TAG,
    params(("name" = String, Path, description = "Team name")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, description = "No or wrong admin token", body = OpenAiErrorEnvelope),
        (status = 404, description = "No such team", body = OpenAiErrorEnvelope),
        (status = 409, description = "The team still has keys", body = OpenAiErrorEnvelope),
    ))]
async fn delete_team(State(app): State<Arc<App>>, Path(name): Path<String>) -> Result<StatusCode> {
    teams::delete(&app.store, name).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The effective price table: shipped defaults and overrides, each with its `source`.
#[utoipa::path(get, path = "/v1/admin/prices", tag = TAG,
    responses(
        (status = 200, description = "Every price, by model", body = PriceList),
        (status = 401, description = "No or wrong admin token", body = OpenAiErrorEnvelope),
    ))]
async fn list_prices(State(app): State<Arc<App>>) -> Json<PriceList> {
    Json(PriceList {
        prices: prices::effective(&app.store)
            .into_iter()
            .map(ModelPrice::from)
            .collect(),
    })
}

/// Sets the prices of a model (or of a prefix: `gpt-4o-mini*`), US dollars per million
/// tokens; pushed to data planes with the next snapshot.
#[utoipa::path(put, path = "/v1/admin/prices/{model}", tag = TAG, request_body = PriceInput,
    params(("model" = String, Path, description = "Model name, or a prefix ending in `*`")),
    responses(
        (status = 200, description = "Set", body = ModelPrice),
        (status = 400, description = "Invalid field", body = OpenAiErrorEnvelope),
        (status = 401, description = "No or wrong admin token", body = OpenAiErrorEnvelope),
        (status = 415, description = "Body not declared as JSON", body = OpenAiErrorEnvelope),
    ))]
async fn put_price(
    State(app): State<Arc<App>>,
    Path(model): Path<String>,
    body: Bytes,
) -> Result<Json<ModelPrice>> {
    let input: PriceInput = parse_json(&body)?;
    let rec = prices::put(&app.store, model, input.into()).await?;
    Ok(Json(ModelPrice::from((
        prices::entry(&rec),
        prices::PriceSource::Override,
    ))))
}

/// Removes a model's override (its shipped default, if any, applies again).
#[utoipa::path(delete, path = "/v1/admin/prices/{model}", tag = TAG,
    params(("model" = String, Path, description = "Model name or prefix as overridden")),
    responses(
        (status = 204, description = "Removed"),
        (status = 401, description = "No or wrong admin token", body = OpenAiErrorEnvelope),
        (status = 404, description = "No override for that model", body = OpenAiErrorEnvelope),
    ))]
async fn delete_price(
    State(app): State<Arc<App>>,
    Path(model): Path<String>,
) -> Result<StatusCode> {
    prices::delete(&app.store, model).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Every known data plane: its applied version, last ACK/NACK and health.
#[utoipa::path(get, path = "/v1/admin/dataplanes", tag = TAG,
    responses(
        (status = 200, description = "Every known data plane", body = DataplaneList),
        (status = 401, description = "No or wrong admin token", body = OpenAiErrorEnvelope),
    ))]
async fn dataplanes(State(app): State<Arc<App>>) -> Json<DataplaneList> {
    let current = app.store.version();
    Json(DataplaneList {
        dataplanes: app
            .dataplanes
            .list()
            .into_iter()
            .map(|n| Dataplane::new(n, current))
            .collect(),
        config_version: current,
    })
}

/// The config version, resource counts and client auth mode.
#[utoipa::path(get, path = "/v1/admin/version", tag = TAG,
    responses(
        (status = 200, description = "The config version", body = VersionInfo),
        (status = 401, description = "No or wrong admin token", body = OpenAiErrorEnvelope),
    ))]
async fn version(State(app): State<Arc<App>>) -> Json<VersionInfo> {
    let state = app.store.state();
    Json(VersionInfo {
        version: state.version,
        providers: state.providers.len(),
        routes: state.routes.len(),
        client_keys: state.keys.len(),
        teams: state.teams.len(),
        client_auth: app.store.client_auth().as_str().to_string(),
        epoch: app.store.epoch().to_string(),
        connected_dataplanes: app.dataplanes.connected(),
    })
}
