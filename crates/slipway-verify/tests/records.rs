//! Evidence is stored as JSON with the release record, and JSON has no NaN:
//! serde_json writes it as `null`. Whatever was written must read back, NaN
//! samples and values included.

use slipway_verify::{ComparedEvidence, MetricValue, Query};

fn query(text: &str) -> Query {
    Query {
        provider: "prometheus".to_owned(),
        text: text.to_owned(),
        path: None,
    }
}

#[test]
fn nan_samples_read_back_as_nan() {
    let evidence = ComparedEvidence {
        name: "error-rate".to_owned(),
        canary_query: query("up{role=\"canary\"}"),
        baseline_query: query("up{role=\"baseline\"}"),
        canary_samples: vec![0.5, f64::NAN, 1.0],
        baseline_samples: vec![f64::NAN],
        error: None,
    };
    let json = serde_json::to_string(&evidence).expect("serialises");
    assert!(json.contains("[0.5,null,1.0]"), "{json}");
    let back: ComparedEvidence = serde_json::from_str(&json).expect("reads back");
    assert_eq!(back.canary_samples.len(), 3);
    assert_eq!(back.canary_samples[0], 0.5);
    assert!(back.canary_samples[1].is_nan());
    assert!(back.baseline_samples[0].is_nan());
    assert_eq!(back.name, "error-rate");
}

#[test]
fn nan_metric_values_read_back_as_nan() {
    for value in [
        MetricValue::Scalar(f64::NAN),
        MetricValue::Vector(vec![f64::NAN, 2.0]),
    ] {
        let json = serde_json::to_string(&value).expect("serialises");
        let back: MetricValue = serde_json::from_str(&json).expect("reads back");
        assert_eq!(back.values().len(), value.values().len(), "{json}");
        assert!(back.values()[0].is_nan(), "{json}");
    }
    let scalar: MetricValue = serde_json::from_str("0.25").expect("a number");
    assert_eq!(scalar, MetricValue::Scalar(0.25));
    assert!(serde_json::from_str::<MetricValue>("\"x\"").is_err());
}
