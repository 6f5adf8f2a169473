//! The page (`web/dist`) is embedded at build time (rust-embed): rebuild when any file
//! in it changes, is added or removed, not only when an embedded file's bytes change.
fn main() {
    println!("cargo:rerun-if-changed=../web/dist");
}
