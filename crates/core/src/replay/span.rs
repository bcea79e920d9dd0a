//! The stretch of time a replay covers: the regions it uses must each have traces (a missing one is
//! an error naming it, never a silent zero), and regions of different lengths are aligned at their
//! start, the replay covering their common span and saying so.

use super::error::ReplayError;
use super::figures::round;
use super::traces::Traces;
use serde::Serialize;
use std::collections::BTreeMap;

/// One file read.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FileSummary {
    pub file: String,
    pub zone: String,
    pub region: String,
    pub values: usize,
}

/// What a replay covered (`traces` in its JSON).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Span {
    pub gap_seconds: u32,
    /// Steps replayed: the common span of the regions used.
    pub steps: usize,
    pub seconds: u64,
    pub days: f64,
    /// Regions replayed, with their own length in steps.
    pub regions: BTreeMap<String, usize>,
    /// Regions with traces that the replay does not use.
    pub ignored_regions: Vec<String>,
    /// How the regions were aligned, in words.
    pub alignment: String,
    pub files: Vec<FileSummary>,
}

/// The span of `used` (region, its role in the replay), each of which must have traces.
pub fn span(traces: &Traces, used: &[(&str, &'static str)]) -> Result<Span, ReplayError> {
    let mut regions = BTreeMap::new();
    for (region, role) in used {
        let series = traces
            .regions
            .get(*region)
            .ok_or_else(|| ReplayError::NoTraces { region: region.to_string(), role })?;
        regions.insert(region.to_string(), series.len());
    }
    let steps = regions.values().copied().min().unwrap_or(0);
    let longest = regions.values().copied().max().unwrap_or(0);
    let alignment = if steps == longest {
        format!("every region replayed has {steps} steps")
    } else {
        let lengths: Vec<String> = regions.iter().map(|(r, n)| format!("{r} {n}")).collect();
        format!(
            "aligned at their start ({}): the replay covers the common {steps} steps, the rest is left out",
            lengths.join(", ")
        )
    };
    let ignored_regions =
        traces.regions.keys().filter(|r| !regions.contains_key(r.as_str())).cloned().collect();
    let seconds = steps as u64 * u64::from(traces.gap_seconds);
    Ok(Span {
        gap_seconds: traces.gap_seconds,
        steps,
        seconds,
        days: round(seconds as f64 / 86_400.0, 3),
        regions,
        ignored_regions,
        alignment,
        files: traces
            .pools
            .iter()
            .map(|p| FileSummary {
                file: p.file.clone(),
                zone: p.zone.clone(),
                region: p.region.clone(),
                values: p.values.len(),
            })
            .collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::super::testing::traces;
    use super::*;

    #[test]
    fn regions_of_different_lengths_are_aligned_at_their_start() {
        let t = traces(
            100,
            &[
                ("us-east-1a_x.json", &[1, 1, 1, 1]),
                ("us-west-2a_x.json", &[0, 1]),
                ("eu-west-1a_x.json", &[1]),
            ],
        );
        let s = span(&t, &[("us-east-1", "primary"), ("us-west-2", "fallback")]).expect("covered");
        assert_eq!((s.steps, s.seconds), (2, 200));
        assert_eq!(
            s.alignment,
            "aligned at their start (us-east-1 4, us-west-2 2): the replay covers the common 2 steps, the rest is left out"
        );
        assert_eq!(s.ignored_regions, ["eu-west-1"]);
        assert_eq!(s.files.len(), 3);
    }

    #[test]
    fn a_region_without_traces_is_named() {
        let t = traces(100, &[("us-east-1a_x.json", &[1])]);
        assert_eq!(
            span(&t, &[("us-east-1", "primary"), ("us-east-2", "fallback")]).err(),
            Some(ReplayError::NoTraces { region: "us-east-2".into(), role: "fallback" })
        );
    }
}
