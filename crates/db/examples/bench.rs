//! Drain and restore speed against the usual tools, measured in one run on this machine.
//!
//! Seeds `appdb.employees (id INT PRIMARY KEY, name VARCHAR(255), email VARCHAR(255))` on a
//! throwaway MariaDB, then times: spotctl drain + restore (to a local directory blob store, so the
//! figures are the database's and not a network's), `mysqldump | gzip` + `gunzip | mysql`, and
//! mydumper/myloader when installed. Every restore goes to its own fresh server.
//!
//! `cargo run --release -p spotctl-db --example bench -- [ROWS]` (default 1000000). To try other
//! settings: `SPOTCTL_BENCH_READERS`, `SPOTCTL_BENCH_LOADERS`, `SPOTCTL_BENCH_CHUNK_MIB`;
//! `SPOTCTL_BENCH_LOGICAL=1` sends every table as rows.

use mysql::prelude::Queryable;
use spotctl_db::backup::fence;
use spotctl_db::backup::{drain, restore, DrainOptions, Method, RestoreOptions};
use spotctl_db::store::FsBlobStore;
use spotctl_testkit::mariadb::MariaDb;
use std::path::Path;
use std::process::Command;
use std::time::Instant;

type Res<T> = Result<T, Box<dyn std::error::Error>>;

fn main() -> Res<()> {
    let rows: u64 = match std::env::args().nth(1) {
        Some(a) => a.parse().map_err(|e| format!("ROWS must be a number: {e}"))?,
        None => 1_000_000,
    };
    let work = WorkDir(std::env::temp_dir().join(format!("spotctl-bench-{}", std::process::id())));
    std::fs::create_dir_all(&work.0)?;
    let work = &work.0;
    let servers: Option<Vec<MariaDb>> = (0..4).map(|_| MariaDb::start()).collect();
    let Some(servers) = servers else { return Err("MariaDB is not installed".into()) };
    let [old, new, base, myl] = &servers[..] else { return Err("four servers".into()) };

    println!("seeding appdb.employees with {rows} rows");
    let mut c = mysql::Conn::new(mysql::Opts::from_url(&old.root_dsn(""))?)?;
    c.query_drop("CREATE DATABASE appdb")?;
    c.query_drop(
        "CREATE TABLE appdb.employees (id INT NOT NULL PRIMARY KEY, name VARCHAR(255) NOT NULL, email VARCHAR(255) NOT NULL)",
    )?;
    let step = 1_000_000u64;
    for lo in (1..=rows).step_by(step as usize) {
        let hi = (lo + step - 1).min(rows);
        c.query_drop(format!(
            "INSERT INTO appdb.employees SELECT seq, CONCAT('name', seq), CONCAT('e', seq, '@example.com') FROM appdb.seq_{lo}_to_{hi}"
        ))?;
    }
    drop(c);

    let store = FsBlobStore::new(work.join("blobs"));
    let env = |name: &str| std::env::var(name).ok().and_then(|v| v.parse::<usize>().ok());
    let mut drain_opts = DrainOptions::default();
    let mut restore_opts = RestoreOptions::default();
    drain_opts.readers = env("SPOTCTL_BENCH_READERS").unwrap_or(drain_opts.readers);
    drain_opts.chunk_bytes =
        env("SPOTCTL_BENCH_CHUNK_MIB").map(|m| m << 20).unwrap_or(drain_opts.chunk_bytes);
    restore_opts.workers = env("SPOTCTL_BENCH_LOADERS").unwrap_or(restore_opts.workers);
    if std::env::var_os("SPOTCTL_BENCH_LOGICAL").is_some() {
        drain_opts.method = Method::Rows;
    }
    println!(
        "spotctl: {:?}, {} readers, {} MiB chunks, {} loaders",
        drain_opts.method,
        drain_opts.readers,
        drain_opts.chunk_bytes >> 20,
        restore_opts.workers
    );
    let (t, cpu, server_cpu) = (Instant::now(), cpu_secs("self"), cpu_secs(&server_pid(old)));
    let m = drain(&old.root_dsn(""), &store, "bench", "b1", &drain_opts)?;
    let s_drain = t.elapsed().as_secs_f64();
    println!(
        "spotctl drain CPU: {:.2} s in spotctl, {:.2} s in the server ({:.2} s wall, 2 cores)",
        cpu_secs("self") - cpu,
        cpu_secs(&server_pid(old)) - server_cpu,
        s_drain
    );
    fence::lift(&old.root_dsn(""))?;
    let t = Instant::now();
    let v = restore(&new.root_dsn(""), &store, "bench", "b1", &restore_opts)?;
    let s_restore = t.elapsed().as_secs_f64();
    let mib = |b: u64| b as f64 / 1_048_576.0;
    println!(
        "spotctl drain phases (ms): fence {} schema {} data {}; {:.1} MiB of files and rows, {:.1} MiB stored; {} chunks of rows, {} tables as files",
        m.timings_ms.fence,
        m.timings_ms.schema,
        m.timings_ms.data,
        mib(m.raw_bytes()),
        mib(m.stored_bytes()),
        m.tables().map(|(_, t)| t.chunks.len()).sum::<usize>(),
        m.tables_as_files()
    );
    println!(
        "spotctl restore phases (ms): schema {} load {} objects {} verify {}; {} rows verified",
        v.timings_ms.schema,
        v.timings_ms.load,
        v.timings_ms.objects,
        v.timings_ms.verify,
        v.rows()
    );

    let dump = tool(&["mariadb-dump", "mysqldump"])?;
    let client = tool(&["mariadb", "mysql"])?;
    let gz = work.join("dump.sql.gz");
    let t = Instant::now();
    sh(&format!(
        "{dump} --no-defaults -uroot --socket={} --single-transaction --routines --triggers --databases appdb | gzip > {}",
        sock(old),
        gz.display()
    ))?;
    let m_drain = t.elapsed().as_secs_f64();
    let t = Instant::now();
    sh(&format!("gunzip -c {} | {client} --no-defaults -uroot --socket={}", gz.display(), sock(base)))?;
    let m_restore = t.elapsed().as_secs_f64();
    let gz_mib = mib(std::fs::metadata(&gz)?.len());

    let mut mydumper = None;
    if let (Ok(d), Ok(l)) = (tool(&["mydumper"]), tool(&["myloader"])) {
        let dir = work.join("mydumper");
        let t = Instant::now();
        sh(&format!("{d} -S {} -u root -B appdb -o {} -t 4 -c", sock(old), dir.display()))?;
        let y_drain = t.elapsed().as_secs_f64();
        let t = Instant::now();
        sh(&format!("{l} -S {} -u root -d {} -t 4", sock(myl), dir.display()))?;
        mydumper = Some((y_drain, t.elapsed().as_secs_f64()));
    }

    for (name, db) in [("spotctl", new), ("mysqldump", base), ("myloader", myl)] {
        let mut c = mysql::Conn::new(mysql::Opts::from_url(&db.root_dsn(""))?)?;
        let n: Option<u64> = c.query_first("SELECT COUNT(*) FROM appdb.employees").unwrap_or(None);
        println!("rows restored by {name}: {}", n.map(|n| n.to_string()).unwrap_or_else(|| "none".into()));
    }
    println!();
    println!("{:<28}{:>10}{:>11}{:>10}{:>12}", "", "drain s", "restore s", "total s", "stored MiB");
    let (sd, sr) = (s_drain, s_restore);
    println!(
        "{:<28}{sd:>10.2}{sr:>11.2}{:>10.2}{:>12.1}",
        "spotctl (zstd, verified)",
        sd + sr,
        mib(m.stored_bytes())
    );
    let (md, mr) = (m_drain, m_restore);
    println!(
        "{:<28}{md:>10.2}{mr:>11.2}{:>10.2}{gz_mib:>12.1}   spotctl is {:.2}x faster (drain {:.2}x, restore {:.2}x)",
        "mysqldump | gzip",
        md + mr,
        (md + mr) / (sd + sr),
        md / sd,
        mr / sr
    );
    if let Some((yd, yr)) = mydumper {
        println!(
            "{:<28}{yd:>10.2}{yr:>11.2}{:>10.2}{:>12}   spotctl is {:.2}x faster (drain {:.2}x, restore {:.2}x)",
            "mydumper -c / myloader",
            yd + yr,
            "",
            (yd + yr) / (sd + sr),
            yd / sd,
            yr / sr
        );
    } else {
        println!("mydumper/myloader: not installed (apt-get install mydumper)");
    }
    println!(
        "spotctl drain rate: {:.1} MiB/s of rows, so about {:.1} GiB drains in 110 s of the 2-minute warning",
        mib(m.raw_bytes()) / sd,
        mib(m.raw_bytes()) / sd * 110.0 / 1024.0
    );
    Ok(())
}

/// The bench's scratch directory, removed however the run ends.
struct WorkDir(std::path::PathBuf);

impl Drop for WorkDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// User + system CPU seconds of a process so far, from /proc (0 where unreadable).
fn cpu_secs(pid: &str) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name, which is in parentheses and may hold spaces.
    let after = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<&str> = after.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of stat(5); `after` starts at field 3. Ticks: 1/100 s.
    let ticks = |i: usize| f.get(i).and_then(|x| x.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(11) + ticks(12)) / 100.0
}

fn server_pid(db: &MariaDb) -> String {
    std::fs::read_to_string(db.dir.join("pid")).unwrap_or_default().trim().to_string()
}

fn sock(db: &MariaDb) -> String {
    db.dir.join("sock").display().to_string()
}

/// The first of `names` found on PATH (or in /usr/sbin, where Debian puts servers).
fn tool(names: &[&str]) -> Res<String> {
    let path = std::env::var("PATH").unwrap_or_default();
    for n in names {
        for dir in path.split(':').chain(["/usr/sbin", "/usr/bin"]) {
            if Path::new(dir).join(n).is_file() {
                return Ok(Path::new(dir).join(n).display().to_string());
            }
        }
    }
    Err(format!("none of {names:?} is installed").into())
}

fn sh(cmd: &str) -> Res<()> {
    let status = Command::new("bash").args(["-o", "pipefail", "-c", cmd]).status()?;
    if !status.success() {
        return Err(format!("`{cmd}` failed: {status}").into());
    }
    Ok(())
}
