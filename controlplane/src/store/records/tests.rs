use serde_json::json;

use super::{RouteLayout, RouteRecord, TargetRecord};

/// A route created through the provider-management API, with its layout.
pub(crate) fn route_with_layout() -> RouteRecord {
    RouteRecord {
        id: 7,
        name: "chat".into(),
        strategy: "weighted".into(),
        retries: 1,
        enabled: true,
        targets: vec![TargetRecord {
            provider_id: 3,
            model: Some("gpt-4o".into()),
            weight: 1,
            priority: 0,
        }],
        layout: Some(RouteLayout {
            mode: "multi".into(),
            config: json!({"temperature": 0.2}),
            nodes: vec![json!({"api_id": 3, "models": ["gpt-4o"]})],
        }),
        limits: None,
        created_ms: 1,
        updated_ms: 2,
    }
}

/// Renames the object key `from` to `to` in `v`.
pub(crate) fn rename_key(v: &mut serde_json::Value, from: &str, to: &str) {
    let obj = v.as_object_mut().expect("a JSON object");
    let moved = obj.remove(from).expect("key present");
    obj.insert(to.into(), moved);
}

#[test]
fn route_layout_is_written_as_layout() {
    let v = serde_json::to_value(route_with_layout()).expect("serialise");
    assert!(v.get("layout").is_some(), "{v}");
    assert!(v.get("seed002").is_none(), "{v}");
}

#[test]
fn route_stored_with_the_old_field_name_still_loads() {
    let route = route_with_layout();
    let mut v = serde_json::to_value(&route).expect("serialise");
    rename_key(&mut v, "layout", "seed002");
    let bytes = serde_json::to_vec(&v).expect("encode");
    let loaded: RouteRecord = serde_json::from_slice(&bytes).expect("old record loads");
    assert_eq!(loaded, route);
}

#[test]
fn client_key_stored_before_digests_still_loads_as_legacy() {
    let old = json!({"id": 3, "name": "k", "sha256": "ab".repeat(32), "masked": "sk-…abcd",
                     "created_ms": 5});
    let k: super::ClientKeyRecord = serde_json::from_value(old).expect("old record loads");
    assert!(k.is_legacy());
    assert!(k.enabled);
    assert_eq!(k.sha256.as_deref(), Some("ab".repeat(32).as_str()));
    assert!(k.team.is_none() && k.budget.is_none() && k.limits.is_none());
}

#[test]
fn state_from_before_governance_still_loads() {
    let old = json!({"version": 4, "next_ids": {"provider": 1, "route": 1, "key": 1},
                     "providers": {}, "routes": {}, "keys": {}});
    let s: super::State = serde_json::from_value(old).expect("old state loads");
    assert!(s.teams.is_empty() && s.prices.is_empty() && s.budget_marks.is_empty());
    assert!(s.key_digest_secret_sealed.is_empty());
}
