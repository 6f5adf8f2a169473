use super::*;

#[test]
fn line_col_counts_from_one() {
    let f = SourceFile::new("r.toml", "a = 1\nbé = 'x'\n");
    assert_eq!(f.line_col(0), (1, 1));
    assert_eq!(f.line_col(6), (2, 1));
    assert_eq!(f.line_col(11), (2, 5)); // 'b', 'é' (2 bytes), ' ', '=' -> the space after '='
    assert_eq!(f.error_at(6, "boom").to_string(), "r.toml:2:1: boom");
}

#[test]
fn inside_string_points_at_the_character() {
    let f = SourceFile::new("r.toml", "regex = 'ab(c'\n");
    let span = 8..14;
    assert_eq!(f.error_inside_string(span, 2, "x").col, 12);
}
