use std::io::Write;

use std::path::Path;

use super::*;

fn append(path: &Path, text: &str) {
    std::fs::OpenOptions::new().create(true).append(true).open(path).unwrap().write_all(text.as_bytes()).unwrap();
}

fn read(tail: &mut FileTail) -> String {
    let mut out = Vec::new();
    tail.read(&mut out, usize::MAX).unwrap();
    String::from_utf8(out).unwrap()
}

#[test]
fn whole_lines_only_then_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.log");
    let mut tail = FileTail::new(&path, None, 1 << 20);
    assert_eq!(read(&mut tail), "");
    append(&path, "one\ntw");
    assert_eq!(read(&mut tail), "one\n");
    append(&path, "o\nthree\n");
    assert_eq!(read(&mut tail), "two\nthree\n");
    assert_eq!(tail.offset(), 14);
}

#[test]
fn rename_rotation_drains_the_old_file_first() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.log");
    append(&path, "1\n");
    let mut tail = FileTail::new(&path, None, 1 << 20);
    assert_eq!(read(&mut tail), "1\n");
    append(&path, "2\n3");
    std::fs::rename(&path, dir.path().join("a.log.1")).unwrap();
    assert_eq!(read(&mut tail), "2\n", "the rotated file is still read");
    append(&path, "4\n");
    assert_eq!(read(&mut tail), "3\n4\n", "the old partial line, then the new file");
    assert_eq!(tail.generation(), 1);
}

#[test]
fn truncation_starts_over() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.log");
    append(&path, "aaaa\nbbbb\n");
    let mut tail = FileTail::new(&path, None, 1 << 20);
    assert_eq!(read(&mut tail), "aaaa\nbbbb\n");
    std::fs::write(&path, "c\n").unwrap();
    assert_eq!(read(&mut tail), "c\n");
}

#[test]
fn resume_only_in_the_same_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.log");
    append(&path, "1\n2\n");
    let mut tail = FileTail::new(&path, None, 1 << 20);
    read(&mut tail);
    let saved = (tail.identity().unwrap(), 2);
    let mut resumed = FileTail::new(&path, Some(saved), 1 << 20);
    assert_eq!(read(&mut resumed), "2\n");
    std::fs::remove_file(&path).unwrap();
    append(&path, "new\n");
    let mut other = FileTail::new(&path, Some(saved), 1 << 20);
    // A new file may reuse the inode; then the offset is only trusted within its length.
    let text = read(&mut other);
    assert!(text == "new\n" || text == "w\n", "{text:?}");
}

#[test]
fn an_endless_line_is_handed_out_past_the_limit() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.log");
    append(&path, &"x".repeat(100));
    let mut tail = FileTail::new(&path, None, 10);
    assert_eq!(read(&mut tail).len(), 100);
}
