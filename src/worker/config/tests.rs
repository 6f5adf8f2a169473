use super::*;

fn errors(text: &str) -> String {
    parse(&SourceFile::new("w.toml", text)).unwrap_err().to_string()
}

#[test]
fn defaults() {
    let c = parse(&SourceFile::new("w.toml", "rules = ['r.toml']\n")).unwrap();
    assert_eq!(c.data_dir.get_ref(), "./data");
    assert_eq!(*c.checkpoint_interval.get_ref(), Duration::from_secs(10));
    assert_eq!(c.http.listen.get_ref(), "127.0.0.1:8080");
    assert!(c.sources.is_empty());
}

#[test]
fn misspelt_key_is_refused_at_its_position() {
    assert_eq!(
        errors("rules = ['r']\ncheckpoint_intervall = '5s'\n").split(':').take(3).collect::<Vec<_>>(),
        ["w.toml", "2", "1"]
    );
    let e = errors(
        "rules = ['r']\n[[source]]\nkind = 'kafka'\nbrokers = 'b'\ntopics = ['t']\ngroup = 'g'\nstream = 's'\nprops = 1\n",
    );
    assert!(e.starts_with("w.toml:"), "{e}");
    assert!(e.contains("props"), "{e}");
}

#[test]
fn semantic_errors_point_at_their_values() {
    let e = errors("rules = ['r']\ncheckpoint_interval = '0s'\n[http]\nlisten = 'nowhere'\n");
    assert!(e.contains("w.toml:2:23: `checkpoint_interval` must be positive"), "{e}");
    assert!(e.contains("w.toml:4:10: `listen`"), "{e}");
    let e = errors(
        "rules = ['r']\n[[source]]\nkind = 'kafka'\nbrokers = 'b'\ntopics = ['t']\ngroup = 'g'\nstream = 's'\nproperties = { 'enable.auto.commit' = 'true' }\n",
    );
    assert!(e.contains("enable.auto.commit"), "{e}");
    let e = errors("rules = ['r']\n[[notifier]]\nname = 'ops'\nkind = 'webhook'\n");
    assert!(e.contains("needs `url`"), "{e}");
}

#[test]
fn relative_paths_follow_the_config_file() {
    assert_eq!(resolve(Path::new("/etc/lp/w.toml"), "data"), "/etc/lp/data");
    assert_eq!(resolve(Path::new("w.toml"), "rules/*.toml"), "./rules/*.toml");
    assert_eq!(resolve(Path::new("/etc/w.toml"), "/var/x"), "/var/x");
}
