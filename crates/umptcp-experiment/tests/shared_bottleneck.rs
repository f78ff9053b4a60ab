//! `shared-bottleneck` at its defaults (seed 1, 120 s): the coupled
//! controllers take about half of a bottleneck shared with one TCP flow,
//! the uncoupled ones about two thirds (RFC 6356 §2, goal 2). The run is
//! deterministic, so these are exact checks of the figures the command
//! prints, not timing measurements.

use umptcp_experiment::{Options, run};

fn share(cc: &str, duration: Option<u64>) -> f64 {
    let mut options = Options::new(cc);
    options.duration = duration.map(std::time::Duration::from_secs);
    let report = run("shared-bottleneck", &options).expect("the experiment runs");
    let share = report.figure("mptcp_share").expect("mptcp_share");
    let utilization = report.figure("utilization").expect("utilization");
    // Both flows together keep the bottleneck busy (headers take ~5 %).
    assert!(utilization > 0.85, "{cc}: utilization {utilization}");
    share
}

#[test]
fn lia_takes_about_half() {
    let s = share("lia", None);
    assert!((0.40..=0.55).contains(&s), "lia: {s}");
}

#[test]
fn olia_takes_about_half() {
    let s = share("olia", None);
    assert!((0.40..=0.55).contains(&s), "olia: {s}");
}

#[test]
fn balia_takes_about_half() {
    let s = share("balia", None);
    assert!((0.40..=0.55).contains(&s), "balia: {s}");
}

#[test]
fn uncoupled_reno_takes_about_two_thirds() {
    // Two Reno subflows against one Reno flow: 2/3 in a fluid model.
    let s = share("reno", Some(60));
    assert!((0.6..=0.75).contains(&s), "reno: {s}");
}

#[test]
fn an_unknown_algorithm_or_experiment_is_a_typed_error() {
    let err = run("shared-bottleneck", &Options::new("nope")).unwrap_err();
    assert_eq!(
        err.to_string(),
        "no congestion control algorithm named \"nope\" is registered"
    );
    let err = run("nonsense", &Options::new("lia")).unwrap_err();
    assert!(err.to_string().contains("shared-bottleneck"), "{err}");
}

#[test]
fn a_run_repeats_exactly_and_runs_average() {
    let mut options = Options::new("lia");
    options.duration = Some(std::time::Duration::from_secs(20));
    let a = run("shared-bottleneck", &options).unwrap();
    let b = run("shared-bottleneck", &options).unwrap();
    assert_eq!(a.summary, b.summary);
    assert_eq!(a.csv(), b.csv());
    options.runs = 2;
    let two = run("shared-bottleneck", &options).unwrap();
    let mut second = options.clone();
    second.runs = 1;
    second.seed = 2;
    let b = run("shared-bottleneck", &second).unwrap();
    let (x, y) = (
        a.figure("mptcp_share").unwrap(),
        b.figure("mptcp_share").unwrap(),
    );
    assert_ne!(x, y, "the seed moves the start of the competitor");
    let mean = two.figure("mptcp_share").unwrap();
    assert!((mean - (x + y) / 2.0).abs() < 1e-12);
    assert_eq!(two.figure("mptcp_share_min"), Some(x.min(y)));
    assert_eq!(two.figure("mptcp_share_max"), Some(x.max(y)));
}
