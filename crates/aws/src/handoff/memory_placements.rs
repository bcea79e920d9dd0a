//! [`FixedPlacements`]: the placement seam's twin (behind the `testing` feature): the same
//! placements every time.

use super::placements::{Placement, Placements, PlacementsError, StandbyPlacements};
use async_trait::async_trait;
use spotctl_core::desired::{db_instance, LaunchSpec};
use spotctl_core::handoff::primary::PrimaryRecord;
use spotctl_core::names::Names;
use spotctl_core::placement::{Policy, Ranking};
use spotctl_layout::handoff_id;

/// The same placements every time (tests, the simulation).
pub struct FixedPlacements {
    pub names: Names,
    pub specs: Vec<LaunchSpec>,
}

impl FixedPlacements {
    /// `n` placements in zones `<region>a`, `<region>b`, … of `region`.
    pub fn in_region(names: &Names, region: &str, n: usize) -> FixedPlacements {
        let specs = (0..n)
            .map(|i| {
                let zone = char::from(b'a' + i as u8);
                LaunchSpec {
                    region: region.to_string(),
                    az: format!("{region}{zone}"),
                    subnet: format!("subnet-{zone}"),
                    instance_type: "m5.large".into(),
                    ami: "ami-test".into(),
                    reason: format!("placement {}", i + 1),
                }
            })
            .collect();
        FixedPlacements { names: names.clone(), specs }
    }
}

#[async_trait]
impl Placements for FixedPlacements {
    async fn standby(
        &self,
        primary: &PrimaryRecord,
        _interrupted: bool,
        _now: i64,
    ) -> Result<StandbyPlacements, PlacementsError> {
        let placements = self
            .specs
            .iter()
            .map(|spec| Placement {
                spec: spec.clone(),
                want: db_instance("standby", spec, &self.names, 20, "#!/bin/sh\n")
                    .create_only("handoff", handoff_id(primary.epoch)),
            })
            .collect();
        Ok(StandbyPlacements { ranking: Ranking::default(), policy: Policy::default(), placements })
    }
}
