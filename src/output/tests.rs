use super::*;

#[test]
fn floats_print_rounded_to_twelve_digits() {
    assert_eq!(float_text(4.418999999999992), "4.419");
    assert_eq!(float_text(5.890000000000001), "5.89");
    assert_eq!(float_text(42.0), "42");
    assert_eq!(float_text(0.000123456789012345), "0.000123456789012");
    assert_eq!(float_text(-1.5), "-1.5");
    assert_eq!(float_text(1e21), "1000000000000000000000");
}
