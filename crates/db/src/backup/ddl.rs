//! DDL from a manifest is data from a bucket. Before restore runs a `CREATE` it reads, the text is
//! parsed here as exactly one statement of the expected kind for the expected object, or refused:
//! `CREATE TABLE `t` (…)` for table `t`, `CREATE … VIEW `v` AS …` for view `v`, a trigger on a
//! table of the same database, and no `;` outside quotes and comments except inside the
//! `BEGIN … END` of a routine, trigger or event body.
//!
//! The server's own multi-statement mode would otherwise run `CREATE TABLE t (a int); DROP
//! DATABASE mysql` as two statements. Tables and views are further sent as prepared statements,
//! which the server accepts only as one statement; routines, triggers and events cannot be
//! prepared, so for them this parse is the guard.

/// What a statement may create.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Table,
    View,
    Procedure,
    Function,
    Trigger,
    Event,
}

impl Kind {
    /// The manifest's spelling of an object kind (`TABLE` is implied by a table entry).
    pub fn parse(text: &str) -> Option<Kind> {
        Some(match text {
            "TABLE" => Kind::Table,
            "VIEW" => Kind::View,
            "PROCEDURE" => Kind::Procedure,
            "FUNCTION" => Kind::Function,
            "TRIGGER" => Kind::Trigger,
            "EVENT" => Kind::Event,
            _ => return None,
        })
    }

    fn word(self) -> &'static str {
        match self {
            Kind::Table => "TABLE",
            Kind::View => "VIEW",
            Kind::Procedure => "PROCEDURE",
            Kind::Function => "FUNCTION",
            Kind::Trigger => "TRIGGER",
            Kind::Event => "EVENT",
        }
    }
}

/// What the header of an accepted statement says, for the checks against the server's lists.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Parsed {
    /// `DEFINER=user@host`, as (user, host); `None` for a table or `CURRENT_USER`.
    pub definer: Option<(String, String)>,
    /// The table a trigger is on.
    pub on_table: Option<String>,
    /// A table's `ENGINE=` option.
    pub engine: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Tok {
    Word(String),
    /// A backquoted (or, under ANSI_QUOTES, double-quoted) identifier, unescaped.
    Ident(String),
    Str(String),
    Punct(char),
}

/// Splits SQL into tokens, dropping comments; an unterminated quote or comment is an error.
fn lex(sql: &str) -> Result<Vec<Tok>, String> {
    let s: Vec<char> = sql.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < s.len() {
        let c = s[i];
        let next = s.get(i + 1).copied();
        if c.is_whitespace() {
            i += 1;
        } else if c == '#'
            || (c == '-' && next == Some('-') && s.get(i + 2).is_none_or(|c| c.is_whitespace()))
        {
            while i < s.len() && s[i] != '\n' {
                i += 1;
            }
        } else if c == '/' && next == Some('*') {
            // `/*! … */` is code the server runs: refuse rather than guess what it holds.
            if s.get(i + 2) == Some(&'!') || s.get(i + 2) == Some(&'M') {
                return Err("it holds an executable comment (/*! … */)".into());
            }
            let end = (i + 2..s.len().saturating_sub(1)).find(|&j| s[j] == '*' && s[j + 1] == '/');
            i = end.ok_or("a comment is not closed")? + 2;
        } else if c == '`' || c == '"' || c == '\'' {
            let mut text = String::new();
            let mut j = i + 1;
            loop {
                let Some(&d) = s.get(j) else { return Err(format!("a {c} quote is not closed")) };
                if d == '\\' && c == '\'' {
                    text.push(d);
                    if let Some(&e) = s.get(j + 1) {
                        text.push(e);
                    }
                    j += 2;
                } else if d == c && s.get(j + 1) == Some(&c) {
                    text.push(c);
                    j += 2;
                } else if d == c {
                    break;
                } else {
                    text.push(d);
                    j += 1;
                }
            }
            out.push(if c == '\'' { Tok::Str(text) } else { Tok::Ident(text) });
            i = j + 1;
        } else if c.is_alphanumeric() || c == '_' || c == '$' {
            let start = i;
            while i < s.len() && (s[i].is_alphanumeric() || s[i] == '_' || s[i] == '$') {
                i += 1;
            }
            out.push(Tok::Word(s[start..i].iter().collect()));
        } else {
            out.push(Tok::Punct(c));
            i += 1;
        }
    }
    Ok(out)
}

fn is_word(t: Option<&Tok>, w: &str) -> bool {
    matches!(t, Some(Tok::Word(x)) if x.eq_ignore_ascii_case(w))
}

/// An identifier token as a name (SHOW CREATE quotes every name; a bare word is accepted too).
fn name_of(t: Option<&Tok>) -> Option<String> {
    match t {
        Some(Tok::Ident(n) | Tok::Word(n)) => Some(n.clone()),
        _ => None,
    }
}

fn user_part(t: Option<&Tok>) -> Option<String> {
    match t {
        Some(Tok::Ident(n) | Tok::Str(n) | Tok::Word(n)) => Some(n.clone()),
        _ => None,
    }
}

/// Checks that `sql` is exactly one `CREATE` of `kind` named `name` (in database `db` if the name
/// is qualified) and returns what its header says.
pub fn check(sql: &str, kind: Kind, db: &str, name: &str) -> Result<Parsed, String> {
    let toks = lex(sql)?;
    let mut p = Parsed::default();
    let mut i = 0;
    if !is_word(toks.first(), "CREATE") {
        return Err("it does not start with CREATE".into());
    }
    i += 1;
    // View, routine, trigger and event headers: ALGORITHM=…, DEFINER=…, SQL SECURITY …
    loop {
        match toks.get(i) {
            Some(Tok::Word(w)) if w.eq_ignore_ascii_case("ALGORITHM") && kind == Kind::View => {
                if toks.get(i + 1) != Some(&Tok::Punct('=')) || !matches!(toks.get(i + 2), Some(Tok::Word(_)))
                {
                    return Err("ALGORITHM is malformed".into());
                }
                i += 3;
            }
            Some(Tok::Word(w)) if w.eq_ignore_ascii_case("DEFINER") && kind != Kind::Table => {
                if toks.get(i + 1) != Some(&Tok::Punct('=')) {
                    return Err("DEFINER is malformed".into());
                }
                if is_word(toks.get(i + 2), "CURRENT_USER") {
                    i += 3;
                    continue;
                }
                let user = user_part(toks.get(i + 2)).ok_or("DEFINER names no user")?;
                if toks.get(i + 3) != Some(&Tok::Punct('@')) {
                    return Err("DEFINER names no host".into());
                }
                let host = user_part(toks.get(i + 4)).ok_or("DEFINER names no host")?;
                p.definer = Some((user, host));
                i += 5;
            }
            Some(Tok::Word(w)) if w.eq_ignore_ascii_case("SQL") && kind == Kind::View => {
                if !is_word(toks.get(i + 1), "SECURITY") || !matches!(toks.get(i + 2), Some(Tok::Word(_))) {
                    return Err("SQL SECURITY is malformed".into());
                }
                i += 3;
            }
            _ => break,
        }
    }
    if kind == Kind::Function && is_word(toks.get(i), "AGGREGATE") {
        i += 1;
    }
    if !is_word(toks.get(i), kind.word()) {
        return Err(format!("it does not create a {}", kind.word().to_ascii_lowercase()));
    }
    i += 1;
    let mut found = name_of(toks.get(i)).ok_or("it names nothing")?;
    i += 1;
    if toks.get(i) == Some(&Tok::Punct('.')) {
        if found != db {
            return Err(format!("it creates its object in database `{found}`, not `{db}`"));
        }
        found = name_of(toks.get(i + 1)).ok_or("it names nothing after the database")?;
        i += 2;
    }
    if found != name {
        return Err(format!("it creates `{found}`, not `{name}`"));
    }
    if kind == Kind::Trigger {
        let on =
            i + toks[i..].iter().position(|t| is_word(Some(t), "ON")).ok_or("the trigger is on no table")?;
        p.on_table = match toks.get(on + 2) {
            Some(Tok::Punct('.')) if name_of(toks.get(on + 1)).as_deref() != Some(db) => {
                return Err("the trigger is on a table of another database".into())
            }
            Some(Tok::Punct('.')) => name_of(toks.get(on + 3)),
            _ => name_of(toks.get(on + 1)),
        };
    }
    one_statement(&toks[i..], kind)?;
    if kind == Kind::Table {
        p.engine = table_option(&toks[i..], "ENGINE");
        for refused in ["DIRECTORY", "CONNECTION"] {
            if top_level_words(&toks[i..]).any(|w| w.eq_ignore_ascii_case(refused)) {
                return Err(format!("it sets a table's {refused}, which a restore never does"));
            }
        }
    }
    Ok(p)
}

/// Words outside parentheses (a table's options, not its columns).
fn top_level_words(toks: &[Tok]) -> impl Iterator<Item = &str> {
    let mut depth = 0i32;
    toks.iter().filter_map(move |t| match t {
        Tok::Punct('(') => {
            depth += 1;
            None
        }
        Tok::Punct(')') => {
            depth -= 1;
            None
        }
        Tok::Word(w) if depth == 0 => Some(w.as_str()),
        _ => None,
    })
}

fn table_option(toks: &[Tok], option: &str) -> Option<String> {
    let mut depth = 0i32;
    for (i, t) in toks.iter().enumerate() {
        match t {
            Tok::Punct('(') => depth += 1,
            Tok::Punct(')') => depth -= 1,
            Tok::Word(w) if depth == 0 && w.eq_ignore_ascii_case(option) => {
                let at = if toks.get(i + 1) == Some(&Tok::Punct('=')) { i + 2 } else { i + 1 };
                return name_of(toks.get(at)).map(|e| e.to_ascii_lowercase());
            }
            _ => {}
        }
    }
    None
}

/// No `;` outside a `BEGIN … END` block (and none at all in a table or view); the statement may
/// end with one `;` and nothing after it.
fn one_statement(toks: &[Tok], kind: Kind) -> Result<(), String> {
    let compound = !matches!(kind, Kind::Table | Kind::View);
    let mut depth = 0i32;
    for (i, t) in toks.iter().enumerate() {
        let ends_block =
            |w: &str| ["IF", "LOOP", "REPEAT", "WHILE"].iter().any(|b| w.eq_ignore_ascii_case(b));
        let is = |w: &str, k: &str| w.eq_ignore_ascii_case(k);
        match t {
            Tok::Word(w) if compound && (is(w, "BEGIN") || is(w, "CASE")) => depth += 1,
            Tok::Word(w) if compound && is(w, "END") => {
                // END IF / END LOOP / … close statements counted as nothing; END and END CASE close.
                if !matches!(toks.get(i + 1), Some(Tok::Word(n)) if ends_block(n)) {
                    depth -= 1;
                }
                if depth < 0 {
                    return Err("an END closes nothing".into());
                }
            }
            Tok::Punct(';') if depth == 0 => {
                return if i + 1 == toks.len() {
                    Ok(())
                } else {
                    Err("it holds more than one statement".into())
                };
            }
            _ => {}
        }
    }
    if depth != 0 {
        return Err("a BEGIN or CASE is not closed".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_show_create_writes_is_accepted() {
        let t = "CREATE TABLE `t` (\n  `id` int(11) NOT NULL,\n  `s` varchar(9) DEFAULT 'a;b',\n  PRIMARY KEY (`id`)\n) ENGINE=InnoDB DEFAULT CHARSET=latin1 COMMENT='x; DROP'";
        assert_eq!(check(t, Kind::Table, "appdb", "t").map(|p| p.engine), Ok(Some("innodb".into())));
        let v = "CREATE ALGORITHM=UNDEFINED DEFINER=`root`@`localhost` SQL SECURITY DEFINER VIEW `v` AS select 1 AS `a`";
        assert_eq!(
            check(v, Kind::View, "appdb", "v").map(|p| p.definer),
            Ok(Some(("root".into(), "localhost".into())))
        );
        let p = "CREATE DEFINER=`app`@`%` PROCEDURE `p`(IN n INT)\nBEGIN\n  DECLARE i INT DEFAULT 0;\n  WHILE i < n DO SET i = i + 1; END WHILE;\n  IF i > 1 THEN SELECT CASE WHEN i > 2 THEN 'x' ELSE 'y' END; END IF;\nEND";
        assert!(check(p, Kind::Procedure, "appdb", "p").is_ok());
        let tr = "CREATE DEFINER=`root`@`localhost` TRIGGER `tr` BEFORE INSERT ON `employees` FOR EACH ROW SET NEW.x = 1";
        assert_eq!(check(tr, Kind::Trigger, "appdb", "tr").map(|p| p.on_table), Ok(Some("employees".into())));
        let e = "CREATE DEFINER=`root`@`localhost` EVENT `e` ON SCHEDULE EVERY 1 DAY ON COMPLETION NOT PRESERVE ENABLE DO BEGIN DELETE FROM t; END";
        assert!(check(e, Kind::Event, "appdb", "e").is_ok());
        let bare = "CREATE DEFINER=root@localhost TRIGGER appdb.employees_ai AFTER INSERT ON appdb.employees FOR EACH ROW SET @n = 1.5";
        assert_eq!(
            check(bare, Kind::Trigger, "appdb", "employees_ai").map(|p| p.on_table),
            Ok(Some("employees".into()))
        );
        assert!(check("CREATE TABLE `odd ``name.x/y` (a int)", Kind::Table, "d", "odd `name.x/y").is_ok());
    }

    #[test]
    fn anything_else_is_refused() {
        let refused = [
            ("CREATE TABLE `t` (a int); DROP DATABASE mysql", Kind::Table, "t"),
            ("CREATE TABLE `t` (a int);\nDROP DATABASE mysql;", Kind::Table, "t"),
            ("DROP TABLE `t`", Kind::Table, "t"),
            ("CREATE TABLE `u` (a int)", Kind::Table, "t"),
            ("CREATE TABLE `other`.`t` (a int)", Kind::Table, "t"),
            ("CREATE TABLE `t` (a int) DATA DIRECTORY='/etc'", Kind::Table, "t"),
            ("CREATE TABLE `t` (a int) ENGINE=FEDERATED CONNECTION='mysql://x'", Kind::Table, "t"),
            ("CREATE TABLE `t` (a int) /*!50100 ; DROP TABLE x */", Kind::Table, "t"),
            ("CREATE TABLE `t` (a varchar(3) DEFAULT 'x)", Kind::Table, "t"),
            ("CREATE VIEW `t` AS SELECT 1", Kind::Table, "t"),
            ("CREATE PROCEDURE `p`() BEGIN SELECT 1; END; DROP TABLE t", Kind::Procedure, "p"),
            ("CREATE PROCEDURE `p`() SELECT 1; SELECT 2", Kind::Procedure, "p"),
            ("CREATE PROCEDURE `p`() BEGIN SELECT 1;", Kind::Procedure, "p"),
            ("CREATE TRIGGER `tr` BEFORE INSERT ON `t` FOR EACH ROW SET @a=1; GRANT ALL ON *.* TO x", Kind::Trigger, "tr"),
            ("CREATE DEFINER=`root`@`localhost` EVENT `e` ON SCHEDULE EVERY 1 DAY DO SELECT 1 INTO OUTFILE '/x'; SELECT 2", Kind::Event, "e"),
            ("CREATE OR REPLACE TABLE `t` (a int)", Kind::Table, "t"),
            ("CREATE TRIGGER `tr` BEFORE INSERT ON `mysql`.`user` FOR EACH ROW SET @a=1", Kind::Trigger, "tr"),
        ];
        for (sql, kind, name) in refused {
            assert!(check(sql, kind, "appdb", name).is_err(), "accepted: {sql}");
        }
        assert_eq!(Kind::parse("DATABASE"), None);
    }
}
