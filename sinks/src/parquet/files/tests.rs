use super::*;
use proptest::prelude::*;

#[test]
fn names_parse_back() {
    let part = FlushPart {
        flush: FlushId { producer: "nginx-access.3".into(), lo: -5, hi: 1_700_000_000_000, parts: 3 },
        part: 2,
    };
    assert_eq!(classify(&part.file_name()), FileKind::Part(part.clone()));
    assert_eq!(classify(&temp_name(&part.file_name())), FileKind::Temp);
    assert_eq!(classify(&compacted_name(77)), FileKind::Compacted);
    assert_eq!(classify("notes.txt"), FileKind::Foreign);
    assert_eq!(classify("x_1_2_3of2.parquet"), FileKind::Foreign);
}

proptest! {
    #[test]
    fn any_producer_round_trips(producer in ".{0,20}", lo in any::<i64>(), span in 0i64..1 << 40, parts in 1u32..30) {
        let producer = sanitize_producer(&producer);
        let hi = lo.saturating_add(span);
        for part in 1..=parts {
            let p = FlushPart { flush: FlushId { producer: producer.clone(), lo, hi, parts }, part };
            prop_assert_eq!(classify(&p.file_name()), FileKind::Part(p.clone()));
        }
    }
}
