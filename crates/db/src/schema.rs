//! Reading a database's schema objects (tables, views, triggers, routines) as CREATE statements.

use crate::Result;
use mysql::prelude::Queryable;
use mysql::Conn;

/// Quotes an identifier with backticks.
pub fn ident(name: &str) -> String {
    format!("`{}`", name.replace('`', "``"))
}

pub struct TableShape {
    pub name: String,
    pub create: String,
    /// Stored (not generated) columns, in order.
    pub columns: Vec<String>,
    pub bit_columns: Vec<String>,
}

pub fn tables(conn: &mut Conn, db: &str) -> Result<Vec<TableShape>> {
    let names: Vec<String> = conn.exec(
        "SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_TYPE = 'BASE TABLE' ORDER BY TABLE_NAME",
        (db,),
    )?;
    let mut out = Vec::new();
    for name in names {
        let create: Option<(String, String)> =
            conn.query_first(format!("SHOW CREATE TABLE {}.{}", ident(db), ident(&name)))?;
        let cols: Vec<(String, String, String)> = conn.exec(
            "SELECT COLUMN_NAME, DATA_TYPE, EXTRA FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? ORDER BY ORDINAL_POSITION",
            (db, &name),
        )?;
        let stored: Vec<&(String, String, String)> =
            cols.iter().filter(|(_, _, extra)| !extra.to_ascii_uppercase().contains("GENERATED")).collect();
        out.push(TableShape {
            create: create.map(|(_, c)| c).unwrap_or_default(),
            columns: stored.iter().map(|(c, _, _)| c.clone()).collect(),
            bit_columns: stored
                .iter()
                .filter(|(_, t, _)| t.eq_ignore_ascii_case("bit"))
                .map(|(c, _, _)| c.clone())
                .collect(),
            name,
        });
    }
    Ok(out)
}

/// CREATE VIEW statements, in name order (restore retries until dependencies are met).
pub fn views(conn: &mut Conn, db: &str) -> Result<Vec<String>> {
    let names: Vec<String> = conn.exec(
        "SELECT TABLE_NAME FROM information_schema.VIEWS WHERE TABLE_SCHEMA = ? ORDER BY TABLE_NAME",
        (db,),
    )?;
    let mut out = Vec::new();
    for n in names {
        let row: Option<mysql::Row> =
            conn.query_first(format!("SHOW CREATE VIEW {}.{}", ident(db), ident(&n)))?;
        if let Some(r) = row {
            out.push(r.get::<String, _>(1).unwrap_or_default());
        }
    }
    Ok(out)
}

pub fn triggers(conn: &mut Conn, db: &str) -> Result<Vec<String>> {
    let names: Vec<String> = conn.exec(
        "SELECT TRIGGER_NAME FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = ? ORDER BY EVENT_OBJECT_TABLE, ACTION_ORDER",
        (db,),
    )?;
    let mut out = Vec::new();
    for n in names {
        let row: Option<mysql::Row> =
            conn.query_first(format!("SHOW CREATE TRIGGER {}.{}", ident(db), ident(&n)))?;
        if let Some(r) = row {
            out.push(r.get::<String, _>(2).unwrap_or_default());
        }
    }
    Ok(out)
}

pub fn routines(conn: &mut Conn, db: &str) -> Result<Vec<String>> {
    let rows: Vec<(String, String)> = conn.exec(
        "SELECT ROUTINE_TYPE, ROUTINE_NAME FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = ? ORDER BY ROUTINE_TYPE, ROUTINE_NAME",
        (db,),
    )?;
    let mut out = Vec::new();
    for (kind, n) in rows {
        let row: Option<mysql::Row> =
            conn.query_first(format!("SHOW CREATE {kind} {}.{}", ident(db), ident(&n)))?;
        if let Some(r) = row {
            out.push(r.get::<String, _>(2).unwrap_or_default());
        }
    }
    Ok(out)
}

/// The SELECT list that dumps a table: BIT columns as numbers (LOAD DATA cannot take their bytes).
pub fn select_list(columns: &[String], bit_columns: &[String]) -> String {
    columns
        .iter()
        .map(|c| if bit_columns.contains(c) { format!("{} + 0", ident(c)) } else { ident(c) })
        .collect::<Vec<_>>()
        .join(", ")
}
