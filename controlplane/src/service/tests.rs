//! The service layer's rules, independent of any surface's payloads.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::sync::Arc;

use sluice_model::MasterKey;

use super::providers::{self, EndpointsPatch, ProviderPatch, ProviderRef};
use super::routes::{self, RoutePatch, RouteRef, TargetProvider, TargetSpec};
use super::stats::{LogPage, LogQuery, UsageTotals};
use super::{keys, WriteMode};
use crate::error::ErrorKind;
use crate::store::draft::{EndpointDraft, KeyInput};
use crate::store::Store;

fn store() -> (tempfile::TempDir, Arc<Store>) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), MasterKey::generate(), None).unwrap();
    (dir, Arc::new(store))
}

fn openai(name: &str, host: &str, key: Option<&str>) -> ProviderPatch {
    ProviderPatch {
        name: Some(name.into()),
        kind: Some("openai".into()),
        endpoints: Some(EndpointsPatch::All(vec![EndpointDraft {
            base_url: format!("https://{host}/v1"),
            api_key: KeyInput::from_payload(key.map(String::from)),
        }])),
        ..ProviderPatch::default()
    }
}

fn target(provider: TargetProvider) -> TargetSpec {
    TargetSpec {
        provider,
        model: None,
        weight: 1,
        priority: 0,
    }
}

#[tokio::test]
async fn providers_get_defaults_and_merge_keeps_what_is_not_named() {
    let (_d, store) = store();
    let p = providers::create(
        &store,
        openai("oa", "api.openai.com", Some("sk-one-1234567890")),
    )
    .await
    .unwrap();
    assert_eq!(
        (p.enabled, p.weight, p.priority, p.timeout_ms),
        (true, 1, 0, 60_000)
    );
    assert_eq!(p.endpoints[0].api_key_masked, "sk-…7890");
    let patch = ProviderPatch {
        weight: Some(5),
        ..ProviderPatch::default()
    };
    let p = providers::update(&store, ProviderRef::Id(p.id), WriteMode::Merge, patch)
        .await
        .unwrap();
    assert_eq!((p.weight, p.kind.as_str()), (5, "openai"));
    // Replace: unnamed fields go back to defaults; the key at the same origin stays.
    let patch = ProviderPatch {
        priority: Some(3),
        ..ProviderPatch::default()
    };
    let p = providers::update(
        &store,
        ProviderRef::IdOrName("oa".into()),
        WriteMode::Replace,
        patch,
    )
    .await
    .unwrap();
    assert_eq!((p.weight, p.priority), (1, 3));
    assert_eq!(p.endpoints[0].api_key_masked, "sk-…7890");
    assert_eq!(
        providers::primary_key(&store, &p).unwrap(),
        "sk-one-1234567890"
    );
    let p = providers::set_enabled(&store, ProviderRef::Name("oa".into()), false)
        .await
        .unwrap();
    assert!(!p.enabled);
    assert_eq!(providers::list(&store).len(), 1);
}

#[tokio::test]
async fn primary_endpoint_form_creates_then_edits_the_first_endpoint() {
    let (_d, store) = store();
    let patch = ProviderPatch {
        name: Some("single".into()),
        endpoints: Some(EndpointsPatch::Primary {
            base_url: Some("https://api.example.com/v1".into()),
            api_key: Some("k-first-000000001".into()),
        }),
        ..ProviderPatch::default()
    };
    let p = providers::create(&store, patch).await.unwrap();
    assert_eq!(p.kind, "openai_compatible", "inferred when not given");
    let patch = ProviderPatch {
        endpoints: Some(EndpointsPatch::Primary {
            base_url: None,
            api_key: Some("k-second-00000002".into()),
        }),
        ..ProviderPatch::default()
    };
    let p = providers::update(&store, ProviderRef::Id(p.id), WriteMode::Merge, patch)
        .await
        .unwrap();
    assert_eq!(p.endpoints.len(), 1);
    assert_eq!(
        providers::primary_key(&store, &p).unwrap(),
        "k-second-00000002"
    );
}

#[tokio::test]
async fn references_answer_404_naming_what_was_asked() {
    let (_d, store) = store();
    let e = providers::get(&store, &ProviderRef::Id(7)).unwrap_err();
    assert_eq!(
        (e.kind, e.message.as_str()),
        (ErrorKind::NotFound, "provider 7 not found")
    );
    let e = providers::delete(&store, ProviderRef::Name("ghost".into()))
        .await
        .unwrap_err();
    assert_eq!(e.message, "provider `ghost` not found");
    let e = e.not_found_as(|| "Provider not found".into());
    assert_eq!(e.message, "Provider not found");
    let e = routes::get(&store, &RouteRef::IdOrName("nope".into())).unwrap_err();
    assert_eq!(
        (e.kind, e.message.as_str()),
        (ErrorKind::NotFound, "route `nope` not found")
    );
    let e = keys::get(&store, 3).unwrap_err();
    assert_eq!(e.message, "client key 3 not found");
}

#[tokio::test]
async fn routes_resolve_targets_and_guard_their_providers() {
    let (_d, store) = store();
    let p = providers::create(
        &store,
        openai("oa", "api.openai.com", Some("sk-one-1234567890")),
    )
    .await
    .unwrap();
    let missing = RoutePatch {
        name: Some("chat".into()),
        targets: Some(vec![target(TargetProvider::Missing)]),
        ..RoutePatch::default()
    };
    let e = routes::create(&store, missing).await.unwrap_err();
    assert_eq!(e.fields[0].field, "targets[0].provider");
    let unknown = RoutePatch {
        name: Some("chat".into()),
        targets: Some(vec![target(TargetProvider::Name("ghost".into()))]),
        ..RoutePatch::default()
    };
    let e = routes::create(&store, unknown).await.unwrap_err();
    assert!(e.message.contains("unknown provider `ghost`"), "{e}");
    let ok = RoutePatch {
        name: Some("chat".into()),
        retries: Some(4),
        strategy: Some("weighted".into()),
        targets: Some(vec![target(TargetProvider::Name("oa".into()))]),
        ..RoutePatch::default()
    };
    let r = routes::create(&store, ok).await.unwrap();
    assert_eq!(r.targets[0].provider_id, p.id);
    assert_eq!((r.strategy.as_str(), r.retries), ("weighted", 4));
    // A provider in use cannot go.
    let e = providers::delete(&store, ProviderRef::Id(p.id))
        .await
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::Conflict);
    assert!(e.message.contains("`chat`"));
    // Replace resets strategy and retries, keeps name and targets.
    let r = routes::update(
        &store,
        RouteRef::IdOrName("chat".into()),
        WriteMode::Replace,
        RoutePatch::default(),
    )
    .await
    .unwrap();
    assert_eq!(
        (r.strategy.as_str(), r.retries, r.targets.len()),
        (routes::DEFAULT_STRATEGY, routes::DEFAULT_RETRIES, 1)
    );
    routes::delete(&store, RouteRef::Id(r.id)).await.unwrap();
    providers::delete(&store, ProviderRef::Id(p.id))
        .await
        .unwrap();
    assert!(routes::list(&store).is_empty() && providers::list(&store).is_empty());
}

#[tokio::test]
async fn client_keys_are_shown_once_and_named_within_bounds() {
    let (_d, store) = store();
    let k = keys::create(&store, None).await.unwrap();
    assert_eq!(k.record.name, keys::DEFAULT_NAME);
    assert!(k.plaintext.starts_with("sk-sluice-"));
    assert_ne!(k.record.masked, k.plaintext);
    let e = keys::create(&store, Some("x".repeat(keys::MAX_NAME_LEN + 1)))
        .await
        .unwrap_err();
    assert_eq!(e.fields[0].field, "name");
    assert_eq!(keys::list(&store).len(), 1);
    keys::delete(&store, k.record.id).await.unwrap();
    assert_eq!(
        keys::delete(&store, k.record.id).await.unwrap_err().kind,
        ErrorKind::NotFound
    );
}

#[test]
fn usage_totals_round_to_hundredths_and_pages_round_up() {
    let t = UsageTotals {
        total: 3,
        ok: 2,
        latency_sum_ms: 100,
        tokens: 0,
        cost_nanousd: 1_500_000_000,
    };
    assert_eq!(t.cost_usd(), 1.5);
    assert_eq!(
        (t.failed(), t.success_rate(), t.avg_latency_ms()),
        (1, 66.67, 33.33)
    );
    assert_eq!(UsageTotals::default().success_rate(), 0.0);
    let page = LogPage {
        entries: Vec::new(),
        total: 5,
        query: LogQuery {
            page: 1,
            page_size: 2,
            status: None,
        },
    };
    assert_eq!(page.total_pages(), 3);
}
