use serde_json::json;

use super::{parse, FORMAT};
use crate::store::records::tests::{rename_key, route_with_layout};
use crate::store::records::State;

#[test]
fn backup_with_the_old_route_field_name_restores_the_layout() {
    let route = route_with_layout();
    let mut state = State::default();
    state.routes.insert(route.id, route.clone());
    let mut state_json = serde_json::to_value(&state).expect("serialise");
    let routes = state_json
        .get_mut("routes")
        .and_then(|r| r.get_mut(route.id.to_string()))
        .expect("route in state");
    rename_key(routes, "layout", "seed002");
    let file =
        json!({"format": FORMAT, "exported_at": "2026-01-01T00:00:00Z", "state": state_json});
    let bytes = serde_json::to_vec(&file).expect("encode");
    let restored = parse(&bytes).expect("old backup parses");
    assert_eq!(restored.routes.get(&route.id), Some(&route));
}
