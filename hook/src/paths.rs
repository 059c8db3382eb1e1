//! Resolving the paths a tool call names against the repository root: `..`,
//! symlinks (followed for every part of the path that exists) and absolute
//! paths are resolved the way the kernel would, never trusted as written.

use std::path::{Component, Path, PathBuf};

/// Where a path lands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Place {
    /// Inside the repository root: the path relative to it (`/`-separated, `""` for the root).
    Inside(String),
    /// Outside the repository: the resolved absolute path.
    Outside(String),
}

/// The repository root for a working directory: the nearest ancestor holding
/// `.git`, else the directory itself; symlinks resolved.
pub fn repository_root(cwd: &Path) -> PathBuf {
    let base = std::fs::canonicalize(cwd).unwrap_or_else(|_| normalize(cwd));
    let mut dir = base.as_path();
    loop {
        if dir.join(".git").exists() {
            return dir.to_path_buf();
        }
        match dir.parent() {
            Some(p) => dir = p,
            None => return base,
        }
    }
}

/// Resolves `raw` (already tilde-expanded) relative to `cwd` and places it
/// relative to `root` (a canonical path).
pub fn place(root: &Path, cwd: &Path, raw: &str) -> Place {
    let joined = if Path::new(raw).is_absolute() { PathBuf::from(raw) } else { cwd.join(raw) };
    let resolved = resolve(&joined);
    match resolved.strip_prefix(root) {
        Ok(rel) => {
            Place::Inside(rel.components().map(|c| c.as_os_str().to_string_lossy()).collect::<Vec<_>>().join("/"))
        }
        Err(_) => Place::Outside(resolved.display().to_string()),
    }
}

/// Follows symlinks through the longest existing prefix of `path` (as the
/// kernel does, so `link/..` is the target's parent), then applies the rest
/// lexically (a part that does not exist cannot be a symlink).
fn resolve(path: &Path) -> PathBuf {
    let comps: Vec<Component> = path.components().collect();
    for split in (0..=comps.len()).rev() {
        let (head, tail) = comps.split_at(split);
        let prefix: PathBuf = head.iter().collect();
        if prefix.as_os_str().is_empty() {
            continue;
        }
        if let Ok(canon) = std::fs::canonicalize(&prefix) {
            let mut out = canon;
            for c in tail {
                push(&mut out, *c);
            }
            return out;
        }
    }
    normalize(path)
}

fn push(out: &mut PathBuf, c: Component) {
    match c {
        Component::ParentDir => {
            out.pop();
        }
        Component::CurDir => {}
        Component::RootDir | Component::Prefix(_) => *out = PathBuf::from(c.as_os_str()),
        Component::Normal(n) => out.push(n),
    }
}

fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in path.components() {
        push(&mut out, c);
    }
    out
}

/// Whether `name` matches a shell-style pattern with `*` and `?`.
pub fn wildcard(pattern: &str, name: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    let (mut pi, mut ni) = (0usize, 0usize);
    let (mut star, mut mark) = (None::<usize>, 0usize);
    while ni < n.len() {
        match p.get(pi) {
            Some('*') => {
                star = Some(pi);
                mark = ni;
                pi += 1;
            }
            Some(&c) if c == '?' || Some(&c) == n.get(ni) => {
                pi += 1;
                ni += 1;
            }
            _ => match star {
                Some(s) => {
                    pi = s + 1;
                    mark += 1;
                    ni = mark;
                }
                None => return false,
            },
        }
    }
    p.get(pi..).is_some_and(|rest| rest.iter().all(|&c| c == '*'))
}

/// Whether a path (relative or absolute, `/`-separated) looks like a secret:
/// its file name matches a pattern, or one of its folders matches a `dir/` pattern.
pub fn is_secret(path: &str, patterns: &[String]) -> bool {
    let parts: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
    let Some((file, dirs)) = parts.split_last() else { return false };
    patterns.iter().any(|p| match p.strip_suffix('/') {
        Some(dir) => dirs.iter().any(|d| wildcard(dir, d)) || wildcard(dir, file),
        None => wildcard(p, file),
    })
}

/// Expands a glob in the last part of a path (`src/*.rs`) against the
/// filesystem, as the shell would (dotfiles only for patterns starting with
/// `.`). `None` when the pattern has glob characters in a folder part or uses
/// `[...]` classes (not analysed: the caller fails closed).
pub fn expand_glob(cwd: &Path, raw: &str) -> Option<Vec<String>> {
    if raw.contains('[') {
        return None;
    }
    let (dir, pat) = match raw.rfind('/') {
        Some(i) => (raw.get(..i)?, raw.get(i + 1..)?),
        None => ("", raw),
    };
    if dir.contains(['*', '?']) {
        return None;
    }
    let base = if dir.is_empty() {
        cwd.to_path_buf()
    } else if Path::new(dir).is_absolute() {
        PathBuf::from(dir)
    } else {
        cwd.join(dir)
    };
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(&base) {
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') && !pat.starts_with('.') {
                continue;
            }
            if wildcard(pat, &name) {
                out.push(if dir.is_empty() { name } else { format!("{dir}/{name}") });
            }
        }
    }
    out.sort();
    if out.is_empty() {
        out.push(raw.to_string());
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards() {
        assert!(wildcard(".env.*", ".env.local"));
        assert!(!wildcard(".env.*", ".env"));
        assert!(wildcard("id_rsa*", "id_rsa.pub"));
        assert!(wildcard("*.pem", "a.pem"));
        assert!(!wildcard("*.pem", "a.pem.txt"));
        assert!(wildcard("a?c", "abc"));
    }

    #[test]
    fn secrets() {
        let p: Vec<String> = [".env", "*.pem", ".ssh/"].iter().map(|s| s.to_string()).collect();
        assert!(is_secret("config/.env", &p));
        assert!(is_secret("/home/u/.ssh/config", &p));
        assert!(!is_secret("src/env.rs", &p));
    }
}
