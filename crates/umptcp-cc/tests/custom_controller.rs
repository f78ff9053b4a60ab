//! A stranger's controller, written outside the crate with [`PathTable`]
//! in well under 100 lines, registered and picked by name.

use std::sync::Arc;

use umptcp_cc::{
    CcConfig, CongestionControl, CongestionControlFactory, CongestionEvent, PathId, PathInfo,
    PathTable, Registry,
};
use umptcp_time::Instant;

/// Additive increase of one MSS per ACK, halving on any congestion signal.
#[derive(Debug)]
struct Aimd {
    paths: PathTable<(u64, u64)>, // (cwnd, mss)
}

impl CongestionControl for Aimd {
    fn name(&self) -> &str {
        "aimd"
    }
    fn add_path(&mut self, path: &PathInfo, _now: Instant) {
        let mss = u64::from(path.mss.max(1));
        self.paths.insert(path.id, (10 * mss, mss));
    }
    fn remove_path(&mut self, path: PathId) {
        self.paths.remove(path);
    }
    fn on_event(&mut self, path: PathId, event: &CongestionEvent, _paths: &[PathInfo]) {
        let Some((cwnd, mss)) = self.paths.get_mut(path) else {
            return;
        };
        match event {
            CongestionEvent::Ack { .. } => *cwnd = cwnd.saturating_add(*mss),
            CongestionEvent::FastRetransmit { .. } | CongestionEvent::Ecn { .. } => {
                *cwnd = (*cwnd / 2).max(2 * *mss);
            }
            _ => {}
        }
    }
    fn window(&self, path: PathId) -> u64 {
        self.paths.get(path).map_or(0, |&(cwnd, _)| cwnd)
    }
    fn ssthresh(&self, _path: PathId) -> Option<u64> {
        None
    }
}

#[derive(Debug)]
struct AimdFactory;

impl CongestionControlFactory for AimdFactory {
    fn name(&self) -> &str {
        "aimd"
    }
    fn build(&self, _config: &CcConfig) -> Box<dyn CongestionControl> {
        Box::new(Aimd {
            paths: PathTable::new(),
        })
    }
}

#[test]
fn a_custom_controller_registers_and_runs() {
    let mut registry = Registry::with_builtins();
    assert!(registry.register(Arc::new(AimdFactory)).is_none());
    assert_eq!(
        registry.names().collect::<Vec<_>>(),
        ["aimd", "balia", "cubic", "lia", "olia", "reno", "wvegas"]
    );
    let mut cc = registry.build("aimd", &CcConfig::default()).unwrap();
    let paths = [PathInfo::new(PathId(3), 100)];
    cc.add_path(&paths[0], Instant::ZERO);
    let ack = CongestionEvent::Ack {
        now: Instant::ZERO,
        bytes_acked: 100,
        rtt: None,
        app_limited: false,
        in_recovery: false,
    };
    cc.on_event(PathId(3), &ack, &paths);
    assert_eq!(cc.window(PathId(3)), 1_100); // 10 * 100 + 100
    let loss = CongestionEvent::FastRetransmit {
        now: Instant::ZERO,
        bytes_in_flight: 1_100,
    };
    cc.on_event(PathId(3), &loss, &paths);
    assert_eq!(cc.window(PathId(3)), 550);
}
