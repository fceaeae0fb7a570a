//! Property: for random well-typed graphs (`kiln_ir::testing`), print -> parse -> print is the
//! identity, the parsed graph verifies and has the same node ids and outputs.
//!
//! 256 cases by default (proptest's default); set `PROPTEST_CASES` for more. Inputs are byte
//! strings, so a failure shrinks towards a smaller graph.

use kiln_ir::testing::{random_graph, Entropy, GenConfig};
use kiln_ir::text::{parse, print};
use proptest::prelude::*;

fn check(bytes: &[u8], cfg: &GenConfig) -> Result<(), TestCaseError> {
    let g = random_graph(&mut Entropy::from_bytes(bytes), cfg)
        .map_err(|e| TestCaseError::fail(format!("generator: {e}")))?;
    g.verify()
        .map_err(|e| TestCaseError::fail(format!("generated graph: {e}")))?;
    let text = print(&g);
    let back = parse(&text).map_err(|e| TestCaseError::fail(format!("{e}\n{text}")))?;
    back.verify()
        .map_err(|e| TestCaseError::fail(format!("parsed graph: {e}\n{text}")))?;
    prop_assert_eq!(print(&back), text.clone());
    prop_assert_eq!(back.node_ids(), g.node_ids(), "{}", text);
    prop_assert_eq!(back.outputs(), g.outputs());
    Ok(())
}

proptest! {
    #[test]
    fn print_parse_print_is_identity(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        check(&bytes, &GenConfig::default())?;
    }

    #[test]
    fn big_graphs_with_many_removals(bytes in proptest::collection::vec(any::<u8>(), 0..8192)) {
        let cfg = GenConfig { max_nodes: 80, remove_percent: 40, ..GenConfig::default() };
        check(&bytes, &cfg)?;
    }
}

#[test]
fn seeded_graphs_roundtrip() {
    for seed in 0..200 {
        let g = kiln_ir::testing::random_graph_from_seed(seed).unwrap();
        let text = g.to_text();
        assert_eq!(parse(&text).unwrap().to_text(), text, "seed {seed}");
    }
}
