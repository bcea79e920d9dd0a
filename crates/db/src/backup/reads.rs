//! The read plan: which `SELECT`s dump (or verify) which rows. Pure: it is given table sizes and
//! key bounds and decides everything, so the workers that run it make no choices.
//!
//! A table whose primary key starts with an integer column is cut into key ranges of about one
//! chunk's worth of rows, so one big table is read by every worker at once; any other table is one
//! streaming read (never `LIMIT … OFFSET`, which rescans). Ranges are half-open and the first and
//! last are unbounded, so together they cover every row exactly once whatever the keys are.

use super::manifest::{Codec, Column};

/// What the planner knows about one table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableSize {
    /// The server's estimate (`DATA_LENGTH`, or the chunk sizes when verifying).
    pub est_bytes: u64,
    /// `MIN` and `MAX` of the split key, when the table has one and is not empty.
    pub bounds: Option<(i128, i128)>,
}

/// One `SELECT`: the rows of table `table` whose split key is in `[lower, upper)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReadTask {
    pub table: usize,
    /// Position among the table's tasks; names its chunks.
    pub seq: usize,
    pub lower: Option<i128>,
    pub upper: Option<i128>,
}

/// More ranges than this per table buy nothing but round trips.
pub const MAX_RANGES: u64 = 4096;

/// Cuts each table into ranges of about `target_bytes` and orders all reads largest first, so the
/// biggest work starts early and the workers finish together.
pub fn plan_reads(tables: &[TableSize], target_bytes: u64) -> Vec<ReadTask> {
    let mut sized: Vec<(u64, ReadTask)> = Vec::new();
    for (i, t) in tables.iter().enumerate() {
        let ranges = match t.bounds {
            Some((min, max)) => {
                let wanted = t.est_bytes.div_ceil(target_bytes.max(1)).clamp(1, MAX_RANGES);
                split(min, max, wanted)
            }
            None => vec![(None, None)],
        };
        let each = t.est_bytes / ranges.len() as u64;
        for (seq, (lower, upper)) in ranges.into_iter().enumerate() {
            sized.push((each, ReadTask { table: i, seq, lower, upper }));
        }
    }
    sized.sort_by(|(a, ta), (b, tb)| b.cmp(a).then(ta.table.cmp(&tb.table)).then(ta.seq.cmp(&tb.seq)));
    sized.into_iter().map(|(_, t)| t).collect()
}

/// `parts` half-open ranges of equal key width over `[min, max]`, the outer ends left open.
pub fn split(min: i128, max: i128, parts: u64) -> Vec<(Option<i128>, Option<i128>)> {
    let span = (max - min).max(0) + 1;
    let parts = i128::from(parts).clamp(1, span);
    let width = (span + parts - 1) / parts;
    let cuts: Vec<i128> = (1..parts).map(|i| min + i * width).filter(|&c| c <= max).collect();
    let mut out = Vec::with_capacity(cuts.len() + 1);
    let mut lower = None;
    for c in cuts {
        out.push((lower, Some(c)));
        lower = Some(c);
    }
    out.push((lower, None));
    out
}

/// Quotes an identifier with backticks.
pub fn ident(name: &str) -> String {
    format!("`{}`", name.replace('`', "``"))
}

/// The expressions that read `columns` losslessly (see [`Codec`]).
pub fn select_list(columns: &[Column]) -> String {
    let exprs: Vec<String> = columns
        .iter()
        .map(|c| match c.codec {
            Codec::Text => ident(&c.name),
            Codec::Float => format!("CAST({} AS DOUBLE)", ident(&c.name)),
        })
        .collect();
    exprs.join(", ")
}

/// The `SELECT` of one read task.
pub fn select_sql(
    db: &str,
    table: &str,
    columns: &[Column],
    split_key: Option<&str>,
    task: &ReadTask,
) -> String {
    let mut sql = format!("SELECT {} FROM {}.{}", select_list(columns), ident(db), ident(table));
    let mut conds = Vec::new();
    if let Some(key) = split_key {
        if let Some(lo) = task.lower {
            conds.push(format!("{} >= {lo}", ident(key)));
        }
        if let Some(hi) = task.upper {
            conds.push(format!("{} < {hi}", ident(key)));
        }
    }
    if !conds.is_empty() {
        sql.push_str(" WHERE ");
        sql.push_str(&conds.join(" AND "));
    }
    sql
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every key in `[min, max]` falls in exactly one range.
    fn covers_once(min: i128, max: i128, ranges: &[(Option<i128>, Option<i128>)]) -> bool {
        let probe: Vec<i128> = if max - min < 10_000 {
            (min..=max).collect()
        } else {
            vec![min, min + 1, (min + max) / 2, max - 1, max]
        };
        probe.iter().all(|&k| {
            ranges.iter().filter(|(lo, hi)| lo.is_none_or(|lo| k >= lo) && hi.is_none_or(|hi| k < hi)).count()
                == 1
        })
    }

    #[test]
    fn ranges_cover_every_key_once() {
        for (min, max, parts) in [(1, 1_000_000, 8), (1, 7, 100), (5, 5, 3), (-50, 49, 7), (0, 10, 1)] {
            let r = split(min, max, parts);
            assert!(covers_once(min, max, &r), "{min}..={max} in {parts}: {r:?}");
            assert!(r.len() as u64 <= parts && !r.is_empty());
        }
        assert_eq!(split(1, 7, 100).len(), 7, "no more ranges than keys");
    }

    #[test]
    fn extreme_unsigned_and_signed_bigint_bounds_split() {
        let (umax, imin) = (i128::from(u64::MAX), i128::from(i64::MIN));
        for (min, max) in [(0, umax), (imin, i128::from(i64::MAX)), (umax - 3, umax)] {
            let r = split(min, max, 16);
            assert!(covers_once(min, max, &r), "{r:?}");
            assert!(r.iter().flat_map(|(a, b)| [*a, *b]).flatten().all(|c| c > min && c <= max));
        }
    }

    #[test]
    fn big_tables_are_cut_and_read_first() {
        let tables = [
            TableSize { est_bytes: 1_000, bounds: Some((1, 10)) },
            TableSize { est_bytes: 80 << 20, bounds: Some((1, 1_000_000)) },
            TableSize { est_bytes: 30 << 20, bounds: None },
        ];
        let plan = plan_reads(&tables, 8 << 20);
        assert_eq!(plan.iter().filter(|t| t.table == 1).count(), 10);
        assert_eq!(plan.iter().filter(|t| t.table == 2).count(), 1, "no split key: one read");
        assert_eq!(plan[0].table, 2, "the 30 MiB unsplittable read is the largest single task");
        assert_eq!(plan.last().map(|t| t.table), Some(0));
        assert_eq!(plan_reads(&tables, 8 << 20), plan, "deterministic");
    }

    #[test]
    fn selects_read_lossless_forms_within_the_range() {
        let cols = [
            Column { name: "id".into(), codec: Codec::Text },
            Column { name: "b`t".into(), codec: Codec::Text },
            Column { name: "f".into(), codec: Codec::Float },
        ];
        let task = ReadTask { table: 0, seq: 1, lower: Some(10), upper: Some(20) };
        assert_eq!(
            select_sql("db", "t", &cols, Some("id"), &task),
            "SELECT `id`, `b``t`, CAST(`f` AS DOUBLE) FROM `db`.`t` WHERE `id` >= 10 AND `id` < 20"
        );
        let whole = ReadTask { table: 0, seq: 0, lower: None, upper: None };
        assert_eq!(select_sql("db", "t", &cols[..1], None, &whole), "SELECT `id` FROM `db`.`t`");
    }
}
