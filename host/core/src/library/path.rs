//! Library paths: relative, `/`-separated, and safe on every filesystem and in every URL.
//!
//! A path names a database row, never a file on disk (bytes live in content blobs), but names are
//! still held to what a file system would accept, so that an export or a client's mirror of the
//! library never meets a name it cannot write.

use crate::CoreError;

/// Longest path in bytes.
pub const MAX_PATH_BYTES: usize = 1024;
/// Longest single name in bytes (what ext4 and NTFS allow).
pub const MAX_NAME_BYTES: usize = 255;
/// Deepest folder nesting.
pub const MAX_DEPTH: usize = 32;
/// File name extensions of G-code files (compared case-insensitively).
pub const GCODE_EXTENSIONS: [&str; 4] = ["gcode", "gco", "g", "gc"];

/// Characters refused in names: path separators of other systems and what Windows forbids.
const FORBIDDEN: &[char] = &['\\', ':', '*', '?', '"', '<', '>', '|'];

fn invalid(path: &str, why: impl std::fmt::Display) -> CoreError {
    CoreError::Invalid(format!("bad library path `{path}`: {why}"))
}

/// Checks a library path and returns it normalised (no leading or trailing `/`). The root is `""`.
pub fn normalise(path: &str) -> Result<String, CoreError> {
    let trimmed = path.trim_end_matches('/');
    if trimmed.is_empty() && path.is_empty() {
        return Ok(String::new());
    }
    if path.starts_with('/') {
        return Err(invalid(
            path,
            "absolute paths are not allowed; give a path relative to the library root",
        ));
    }
    if trimmed.len() > MAX_PATH_BYTES {
        return Err(invalid(path, format!("longer than {MAX_PATH_BYTES} bytes")));
    }
    let names: Vec<&str> = trimmed.split('/').collect();
    if names.len() > MAX_DEPTH {
        return Err(invalid(path, format!("deeper than {MAX_DEPTH} folders")));
    }
    for name in &names {
        check_name(path, name)?;
    }
    Ok(trimmed.to_string())
}

fn check_name(path: &str, name: &str) -> Result<(), CoreError> {
    if name.is_empty() {
        return Err(invalid(path, "empty name (a doubled `/`)"));
    }
    if name == "." || name == ".." {
        return Err(invalid(
            path,
            "`.` and `..` are not allowed (no path traversal)",
        ));
    }
    if name.len() > MAX_NAME_BYTES {
        return Err(invalid(
            path,
            format!("a name is longer than {MAX_NAME_BYTES} bytes"),
        ));
    }
    if let Some(c) = name
        .chars()
        .find(|c| c.is_control() || FORBIDDEN.contains(c))
    {
        return Err(invalid(
            path,
            format!("the character {c:?} is not allowed in names"),
        ));
    }
    if name.starts_with(' ') || name.ends_with(' ') || name.ends_with('.') {
        return Err(invalid(
            path,
            "names may not start or end with a space or end with a dot",
        ));
    }
    Ok(())
}

/// Checks a path for a G-code file: a valid, non-root path with a G-code extension.
pub fn normalise_gcode(path: &str) -> Result<String, CoreError> {
    let path = normalise(path)?;
    if path.is_empty() {
        return Err(invalid(&path, "a file needs a name"));
    }
    let ext = name_of(&path)
        .rsplit_once('.')
        .map(|(_, e)| e.to_ascii_lowercase());
    match ext.as_deref() {
        Some(e) if GCODE_EXTENSIONS.contains(&e) => Ok(path),
        Some("bgcode") => Err(invalid(
            &path,
            "binary G-code (.bgcode) is not supported; export ASCII G-code (.gcode) from the slicer",
        )),
        _ => Err(invalid(
            &path,
            format!("G-code files must end in .{}", GCODE_EXTENSIONS.join(", .")),
        )),
    }
}

/// The last component of a path.
pub fn name_of(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

/// The folder holding a path (`""` for the root).
pub fn parent_of(path: &str) -> &str {
    path.rsplit_once('/').map(|(p, _)| p).unwrap_or("")
}

/// `folder/name`, or `name` in the root.
pub fn join(folder: &str, name: &str) -> String {
    if folder.is_empty() {
        name.to_string()
    } else {
        format!("{folder}/{name}")
    }
}

/// Every ancestor folder of a path, outermost first (`a/b/c.gcode` → `a`, `a/b`).
pub fn ancestors(path: &str) -> Vec<&str> {
    path.match_indices('/').map(|(i, _)| &path[..i]).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn good_paths_are_normalised() {
        assert_eq!(normalise("").unwrap(), "");
        assert_eq!(normalise("a/b/").unwrap(), "a/b");
        assert_eq!(
            normalise_gcode("parts/Benchy v2.GCODE").unwrap(),
            "parts/Benchy v2.GCODE"
        );
        assert_eq!(ancestors("a/b/c.gcode"), ["a", "a/b"]);
        assert_eq!((parent_of("a/b.g"), name_of("a/b.g")), ("a", "b.g"));
    }

    #[test]
    fn traversal_absolute_and_odd_names_are_refused_with_the_reason() {
        let cases = [
            ("../etc/passwd.gcode", "traversal"),
            ("a/../../x.gcode", "traversal"),
            ("/etc/x.gcode", "absolute"),
            ("a//b.gcode", "empty name"),
            ("a\\b.gcode", "not allowed"),
            ("nul\0.gcode", "not allowed"),
            ("trailing./x.gcode", "end with a dot"),
        ];
        for (path, why) in cases {
            let message = normalise(path).unwrap_err().to_string();
            assert!(message.contains(why), "{path}: {message}");
        }
        let long = format!("{}.gcode", "x".repeat(300));
        assert!(normalise(&long).unwrap_err().to_string().contains("255"));
        assert!(normalise_gcode("a.png")
            .unwrap_err()
            .to_string()
            .contains(".gcode"));
        assert!(normalise_gcode("a.bgcode")
            .unwrap_err()
            .to_string()
            .contains("binary"));
        assert!(normalise_gcode("").is_err());
    }
}
