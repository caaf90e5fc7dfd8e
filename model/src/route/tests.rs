use crate::route::{RouteError, Strategy};

#[test]
fn canonical_names_round_trip() {
    for strategy in Strategy::ALL {
        assert_eq!(strategy.as_str().parse::<Strategy>(), Ok(strategy));
        let json = serde_json::to_string(&strategy).unwrap();
        assert_eq!(json, format!("\"{}\"", strategy.as_str()));
        assert_eq!(serde_json::from_str::<Strategy>(&json).unwrap(), strategy);
    }
}

#[test]
fn aliases_from_the_admin_apis_and_common_spellings() {
    let cases = [
        ("round-robin", Strategy::RoundRobin),
        ("Round_Robin", Strategy::RoundRobin),
        ("failover", Strategy::Priority),
        ("weighted_round_robin", Strategy::Weighted),
        ("least-latency", Strategy::LeastLatency),
        ("power_of_two", Strategy::P2c),
        ("power-of-two-choices", Strategy::P2c),
        (" p2c ", Strategy::P2c),
    ];
    for (name, expected) in cases {
        assert_eq!(name.parse::<Strategy>(), Ok(expected), "{name}");
        let json = format!("\"{name}\"");
        assert_eq!(serde_json::from_str::<Strategy>(&json).unwrap(), expected);
    }
}

#[test]
fn unknown_name_lists_valid_ones() {
    let err = "random".parse::<Strategy>().unwrap_err();
    assert!(matches!(err, RouteError::UnknownStrategy { ref name, .. } if name == "random"));
    let message = err.to_string();
    for strategy in Strategy::ALL {
        assert!(message.contains(strategy.as_str()), "{message}");
    }
    let serde_err = serde_json::from_str::<Strategy>("\"random\"").unwrap_err();
    assert!(serde_err.to_string().contains("round_robin"));
    assert!(serde_json::from_str::<Strategy>("3").is_err());
}

#[test]
fn default_is_round_robin() {
    assert_eq!(Strategy::default(), Strategy::RoundRobin);
}
