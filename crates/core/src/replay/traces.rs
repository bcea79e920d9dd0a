//! Spot traces, parsed from bytes: one file per pool, `{"metadata": {"gap_seconds": N}, "data":
//! [v0, v1, …]}` (other keys, such as `prices`, are ignored), each value the instances obtainable
//! then (0, 1, or more for multi-node traces). The file name starts with the availability zone
//! (`us-east-1a_v100_1.json`), which gives the region; a zone may have several pools, and a zone or
//! region supplies the sum of its pools.
//!
//! Every file is parsed and checked before anything else is looked at, in name order, so the first
//! bad file is the one named. All files must share one gap (this replay does not resample), and the
//! pools of one region must have the same length (they are summed step by step); regions of
//! different lengths are aligned at their start by the replay, which covers their common span.

use crate::config::regions;
use serde::Deserialize;
use std::collections::BTreeMap;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TraceError {
    #[error(
        "no trace file (*.json) in the folder; valid: files named <zone>_….json, e.g. us-east-1a_v100_1.json"
    )]
    NoFiles,
    #[error(
        "{file}: not a spot trace ({why}); valid: {{\"metadata\": {{\"gap_seconds\": N}}, \"data\": [n, …]}}"
    )]
    Format { file: String, why: String },
    #[error("{file}: the name does not start with an availability zone of a known region; valid: <zone>_….json, e.g. us-east-1a_v100_1.json")]
    Name { file: String },
    #[error("{file}: gap_seconds is 0; valid: the seconds between two values, 1 or more")]
    ZeroGap { file: String },
    #[error("{file}: data is empty; valid: at least one value")]
    Empty { file: String },
    #[error("{file}: data[{index}] is {value}; valid: a whole number of instances, 0 or more")]
    Value { file: String, index: usize, value: String },
    #[error("{file}: {gap} s between values, but {other} has {other_gap} s; valid: traces of one gap (this replay does not resample)")]
    Gap { file: String, gap: u32, other: String, other_gap: u32 },
    #[error("{file}: {len} values, but {other} has {other_len} in the same region ({region}); valid: pools of one region covering the same span (they are summed step by step)")]
    Length { file: String, len: usize, other: String, other_len: usize, region: String },
}

/// One pool's trace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pool {
    /// The file name, as given.
    pub file: String,
    pub zone: String,
    pub region: String,
    pub values: Vec<u32>,
}

/// Every pool of a folder, checked, with the sums per zone and per region.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Traces {
    pub gap_seconds: u32,
    /// Sorted by file name.
    pub pools: Vec<Pool>,
    /// Zone → the sum of its pools, step by step.
    pub zones: BTreeMap<String, Vec<u32>>,
    /// Region → the sum of its zones, step by step.
    pub regions: BTreeMap<String, Vec<u32>>,
}

#[derive(Deserialize)]
struct Doc {
    metadata: Metadata,
    data: Vec<serde_json::Number>,
}

#[derive(Deserialize)]
struct Metadata {
    gap_seconds: u32,
}

/// The zone and region a file name speaks of: `us-east-1a_v100_1.json` → (`us-east-1a`, `us-east-1`).
fn zone_of(file: &str) -> Option<(String, String)> {
    let zone = file.split('_').next()?.trim_end_matches(".json");
    let region = zone.trim_end_matches(|c: char| c.is_ascii_lowercase());
    (region.len() < zone.len() && regions::is_known_region(region))
        .then(|| (zone.to_string(), region.to_string()))
}

/// One file: its name and its bytes.
pub fn parse_pool(file: &str, bytes: &[u8]) -> Result<(Pool, u32), TraceError> {
    let format = |why: String| TraceError::Format { file: file.to_string(), why };
    let doc: Doc = serde_json::from_slice(bytes).map_err(|e| format(e.to_string()))?;
    let (zone, region) = zone_of(file).ok_or_else(|| TraceError::Name { file: file.to_string() })?;
    if doc.metadata.gap_seconds == 0 {
        return Err(TraceError::ZeroGap { file: file.to_string() });
    }
    if doc.data.is_empty() {
        return Err(TraceError::Empty { file: file.to_string() });
    }
    let values = doc
        .data
        .iter()
        .enumerate()
        .map(|(index, n)| {
            let whole =
                n.as_u64().or_else(|| n.as_f64().filter(|f| *f >= 0.0 && f.fract() == 0.0).map(|f| f as u64));
            whole.and_then(|v| u32::try_from(v).ok()).ok_or_else(|| TraceError::Value {
                file: file.to_string(),
                index,
                value: n.to_string(),
            })
        })
        .collect::<Result<Vec<u32>, TraceError>>()?;
    Ok((Pool { file: file.to_string(), zone, region, values }, doc.metadata.gap_seconds))
}

impl Traces {
    /// Parses and checks every file (name, bytes), in name order.
    pub fn parse(files: &[(String, Vec<u8>)]) -> Result<Traces, TraceError> {
        let mut sorted: Vec<&(String, Vec<u8>)> = files.iter().collect();
        sorted.sort_by(|a, b| a.0.cmp(&b.0));
        let mut pools = Vec::with_capacity(sorted.len());
        let mut gap: Option<(u32, &str)> = None;
        for (name, bytes) in sorted {
            let (pool, g) = parse_pool(name, bytes)?;
            match gap {
                Some((first, other)) if first != g => {
                    return Err(TraceError::Gap {
                        file: name.clone(),
                        gap: g,
                        other: other.to_string(),
                        other_gap: first,
                    })
                }
                Some(_) => {}
                None => gap = Some((g, name)),
            }
            pools.push(pool);
        }
        let Some((gap_seconds, _)) = gap else { return Err(TraceError::NoFiles) };
        let mut first_of_region: BTreeMap<&str, &Pool> = BTreeMap::new();
        for p in &pools {
            match first_of_region.get(p.region.as_str()) {
                Some(first) if first.values.len() != p.values.len() => {
                    return Err(TraceError::Length {
                        file: p.file.clone(),
                        len: p.values.len(),
                        other: first.file.clone(),
                        other_len: first.values.len(),
                        region: p.region.clone(),
                    })
                }
                Some(_) => {}
                None => {
                    first_of_region.insert(&p.region, p);
                }
            }
        }
        let mut zones: BTreeMap<String, Vec<u32>> = BTreeMap::new();
        let mut regions: BTreeMap<String, Vec<u32>> = BTreeMap::new();
        for p in &pools {
            for sums in [zones.entry(p.zone.clone()), regions.entry(p.region.clone())] {
                let sum = sums.or_insert_with(|| vec![0; p.values.len()]);
                for (s, v) in sum.iter_mut().zip(&p.values) {
                    *s = s.saturating_add(*v);
                }
            }
        }
        Ok(Traces { gap_seconds, pools, zones, regions })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(name: &str, gap: u32, data: &[u32]) -> (String, Vec<u8>) {
        let body = serde_json::json!({"metadata": {"gap_seconds": gap}, "data": data, "prices": [0.9]});
        (name.to_string(), body.to_string().into_bytes())
    }

    fn err(files: &[(String, Vec<u8>)]) -> String {
        Traces::parse(files).err().map(|e| e.to_string()).unwrap_or_default()
    }

    #[test]
    fn pools_sum_into_zones_and_regions() {
        let t = Traces::parse(&[
            file("us-west-2a_v100_8.json", 600, &[4, 0, 8]),
            file("us-west-2a_v100_1.json", 600, &[1, 1, 0]),
            file("us-west-2b_k80_1.json", 600, &[0, 2, 1]),
            file("us-east-1c_v100_1.json", 600, &[1, 0]),
        ])
        .expect("valid");
        assert_eq!(t.gap_seconds, 600);
        assert_eq!(t.pools.iter().map(|p| p.file.as_str()).collect::<Vec<_>>()[0], "us-east-1c_v100_1.json");
        assert_eq!(t.zones["us-west-2a"], [5, 1, 8]);
        assert_eq!(t.regions["us-west-2"], [5, 3, 9]);
        assert_eq!(t.regions["us-east-1"], [1, 0]);
    }

    #[test]
    fn bad_files_are_named() {
        let good = file("us-east-1a_x.json", 60, &[1]);
        assert_eq!(err(&[]), TraceError::NoFiles.to_string());
        let e = err(&[good.clone(), ("us-east-1b_x.json".into(), b"{\"data\": [1]}".to_vec())]);
        assert!(e.starts_with("us-east-1b_x.json: not a spot trace (missing field `metadata`"), "{e}");
        assert_eq!(
            err(&[file("mars-1a_x.json", 60, &[1])]),
            "mars-1a_x.json: the name does not start with an availability zone of a known region; valid: \
             <zone>_….json, e.g. us-east-1a_v100_1.json"
        );
        assert!(err(&[file("us-east-1a_x.json", 0, &[1])]).starts_with("us-east-1a_x.json: gap_seconds is 0"));
        assert!(err(&[file("us-east-1a_x.json", 60, &[])]).starts_with("us-east-1a_x.json: data is empty"));
        let negative =
            ("us-east-1a_x.json".to_string(), br#"{"metadata":{"gap_seconds":60},"data":[1,-1]}"#.to_vec());
        assert!(err(&[negative]).starts_with("us-east-1a_x.json: data[1] is -1;"));
        let half =
            ("us-east-1a_x.json".to_string(), br#"{"metadata":{"gap_seconds":60},"data":[0.5]}"#.to_vec());
        assert!(err(&[half]).starts_with("us-east-1a_x.json: data[0] is 0.5;"));
        let whole =
            ("us-east-1a_x.json".to_string(), br#"{"metadata":{"gap_seconds":60},"data":[2.0]}"#.to_vec());
        assert_eq!(Traces::parse(&[whole]).map(|t| t.zones["us-east-1a"].clone()), Ok(vec![2]));
        assert_eq!(
            err(&[good.clone(), file("us-west-2a_x.json", 30, &[1])]),
            "us-west-2a_x.json: 30 s between values, but us-east-1a_x.json has 60 s; valid: traces of one gap \
             (this replay does not resample)"
        );
        assert_eq!(
            err(&[good, file("us-east-1b_x.json", 60, &[1, 1])]),
            "us-east-1b_x.json: 2 values, but us-east-1a_x.json has 1 in the same region (us-east-1); valid: \
             pools of one region covering the same span (they are summed step by step)"
        );
    }
}
