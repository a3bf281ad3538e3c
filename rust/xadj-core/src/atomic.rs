//! Output files that appear whole or not at all: written to a temporary file in the same
//! directory, then renamed over the target. A failure (full disk, Ctrl-C, bad input found half
//! way) leaves no file behind, and any existing file untouched.

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::{Error, Result};

/// Removes the temporary file unless the write succeeded (also when the writer panics).
struct TempFile(Option<PathBuf>);

impl Drop for TempFile {
    fn drop(&mut self) {
        if let Some(path) = self.0.take() {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// Writes `path` through `write`; errors name `path` (not the temporary file).
pub fn write_file<T>(
    path: &Path,
    write: impl FnOnce(&mut BufWriter<File>) -> Result<T>,
) -> Result<T> {
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    let name = path
        .file_name()
        .ok_or_else(|| Error::Invalid(format!("{}: not a file name to write", path.display())))?;
    let tmp = path.with_file_name(format!(
        ".{}.{}-{}.tmp",
        name.to_string_lossy(),
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&tmp)
        .map_err(|e| Error::io(path, e))?;
    let mut guard = TempFile(Some(tmp.clone()));
    let mut writer = BufWriter::with_capacity(1 << 16, file);
    let value = write(&mut writer)?;
    writer
        .into_inner()
        .map_err(|e| Error::io(path, e.into_error()))?;
    std::fs::rename(&tmp, path).map_err(|e| Error::io(path, e))?;
    guard.0 = None;
    Ok(value)
}

/// The error `write` closures return for a failed write of `path`.
pub fn write_error(path: &Path) -> impl Fn(std::io::Error) -> Error + '_ {
    move |e| Error::io(path, e)
}

/// Convenience: writes `bytes` to `path` atomically.
pub fn write_bytes(path: &Path, bytes: &[u8]) -> Result<()> {
    write_file(path, |w| w.write_all(bytes).map_err(write_error(path)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("xadj-atomic-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    fn entries(d: &Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(d)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn appears_only_when_complete() {
        let d = dir("ok");
        let path = d.join("out.txt");
        write_bytes(&path, b"one\n").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"one\n");
        // A failure half way leaves the old file as it was and no temporary file.
        let err = write_file(&path, |w| {
            w.write_all(b"half").map_err(write_error(&path))?;
            Err::<(), _>(Error::input("in.txt", 3, "bad link"))
        })
        .unwrap_err();
        assert_eq!(err.to_string(), "in.txt:3: bad link");
        assert_eq!(std::fs::read(&path).unwrap(), b"one\n");
        assert_eq!(entries(&d), ["out.txt"]);
        let fresh = d.join("never.txt");
        assert!(write_file(&fresh, |_| Err::<(), _>(Error::Interrupted)).is_err());
        assert_eq!(entries(&d), ["out.txt"]);
    }

    #[test]
    fn errors_name_the_target_path() {
        let d = dir("err");
        let missing = d.join("no-such-dir").join("out.txt");
        let err = write_bytes(&missing, b"x").unwrap_err().to_string();
        assert!(
            err.starts_with(&format!("{}: ", missing.display())),
            "{err}"
        );
        // A directory in the way: the rename fails, naming the target.
        std::fs::create_dir(d.join("taken")).unwrap();
        let err = write_bytes(&d.join("taken"), b"x").unwrap_err().to_string();
        assert!(err.contains("taken: "), "{err}");
        assert_eq!(entries(&d), ["taken"]);
    }
}
