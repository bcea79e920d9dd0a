//! The steady writer of `benches/protect.sh`: `C` connections insert single-row autocommit
//! transactions into `appdb.acks` at `R` commits/s in all, and log each one the server
//! acknowledged with the client's clock: `id start_us ack_us` (microseconds since 1970), one
//! line per commit. It stops when the server goes away (the benchmark kills it) or after
//! `SECONDS`, and writes the log then.
//!
//! cargo run --release -p spotctl-db --example protect_writer -- DSN OUT [RATE] [CONNECTIONS] [SECONDS]

use mysql::prelude::Queryable;
use std::io::Write;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

fn now_us() -> u128 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_micros()).unwrap_or(0)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let (dsn, out) = match (args.get(1), args.get(2)) {
        (Some(d), Some(o)) => (d.clone(), o.clone()),
        _ => return Err("usage: protect_writer DSN OUT [RATE] [CONNECTIONS] [SECONDS]".into()),
    };
    let rate: f64 = args.get(3).map(|r| r.parse()).transpose()?.unwrap_or(500.0);
    let conns: u64 = args.get(4).map(|c| c.parse()).transpose()?.unwrap_or(8);
    let seconds: u64 = args.get(5).map(|s| s.parse()).transpose()?.unwrap_or(3600);
    let mut c = mysql::Conn::new(mysql::Opts::from_url(&dsn)?)?;
    c.query_drop(
        "CREATE TABLE IF NOT EXISTS appdb.acks (id BIGINT PRIMARY KEY, writer INT NOT NULL, pad VARCHAR(100) NOT NULL)",
    )?;
    let first: u64 = c.query_first("SELECT COALESCE(MAX(id), 0) + 1 FROM appdb.acks")?.unwrap_or(1);
    drop(c);
    let gap = Duration::from_secs_f64(conns as f64 / rate);
    let end = Instant::now() + Duration::from_secs(seconds);
    let handles: Vec<_> = (0..conns)
        .map(|w| {
            let dsn = dsn.clone();
            std::thread::spawn(move || -> Vec<(u64, u128, u128)> {
                let mut acked = Vec::new();
                let Ok(opts) = mysql::Opts::from_url(&dsn) else { return acked };
                let Ok(mut c) = mysql::Conn::new(opts) else { return acked };
                let mut next = Instant::now() + gap.mul_f64(w as f64 / conns as f64);
                let mut k = 0u64;
                while Instant::now() < end {
                    if let Some(wait) = next.checked_duration_since(Instant::now()) {
                        std::thread::sleep(wait);
                    }
                    next += gap;
                    let id = first + w + k * conns;
                    k += 1;
                    let start = now_us();
                    match c.exec_drop("INSERT INTO appdb.acks VALUES (?, ?, REPEAT('p', 60))", (id, w)) {
                        Ok(()) => acked.push((id, start, now_us())),
                        Err(_) => break,
                    }
                }
                acked
            })
        })
        .collect();
    let mut all: Vec<(u64, u128, u128)> = Vec::new();
    for h in handles {
        all.extend(h.join().map_err(|_| "a writer thread panicked")?);
    }
    all.sort_by_key(|a| a.2);
    let mut f = std::io::BufWriter::new(std::fs::File::create(&out)?);
    for (id, start, ack) in &all {
        writeln!(f, "{id} {start} {ack}")?;
    }
    f.flush()?;
    eprintln!("protect_writer: {} commits acknowledged", all.len());
    Ok(())
}
