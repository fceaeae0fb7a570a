//! Unit tests of the `.kir` syntax: each op's form, literals, ids with gaps, and each parse
//! error with its line and column.

use super::*;
use crate::dtype::DType;
use crate::graph::NodeId;
use crate::op::{BinaryOp, Op, UnaryOp};
use crate::shape::Shape;
use crate::tensor::HostTensor;

/// Parses, verifies, prints, and checks that the text came back unchanged.
fn roundtrip(text: &str) -> Graph {
    let g = parse(text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    g.verify().unwrap();
    assert_eq!(print(&g), text);
    g
}

fn parse_err(text: &str) -> (usize, usize, String) {
    match parse(text) {
        Err(IrError::Parse { line, col, msg }) => (line, col, msg),
        Err(other) => panic!("expected a parse error, got {other}"),
        Ok(g) => panic!("expected a parse error, got\n{g}"),
    }
}

#[test]
fn every_structural_op_roundtrips() {
    let text = "\
%0 = input \"x\" : f32[2,3]
%1 = param \"w\" : f32[3,4]
%2 = matmul %0, %1 : f32[2,4]
%3 = const 0.5 : f32[]
%4 = const [1, 2, 3] : i64[3]
%5 = reshape %3 : f32[1,1]
%6 = expand %5 : f32[2,4]
%7 = add %2, %6 : f32[2,4]
%8 = reduce.sum %7 axes=[1] : f32[2,1]
%9 = reduce.max %7 axes=[0,1] : f32[1,1]
%10 = slice %0 [0:2:1, 1:3:2] : f32[2,1]
%11 = pad %0 [1:0, 0:2] value=0.0 : f32[3,5]
%12 = concat %0, %0, %0 axis=0 : f32[6,3]
%13 = random.normal seed=42 : f32[3]
%14 = random.uniform seed=18446744073709551615 : f64[]
%15 = permute %2 perm=[1,0] : f32[4,2]
%16 = argmax %2 axis=1 : i64[2,1]
%17 = const [0, 1, 1] : i64[1,3]
%18 = gather %0, %17 axis=0 : f32[1,3]
%19 = scatter_add %0, %17, %18 axis=0 : f32[2,3]
%20 = gt %0, %0 : bool[2,3]
%21 = where %20, %0, %19 : f32[2,3]
%22 = cast %21 : i32[2,3]
%23 = const [true, false] : bool[2]
%24 = not %23 : bool[2]
return %8, %16, %22
";
    let g = roundtrip(text);
    assert_eq!(g.outputs(), &[NodeId(8), NodeId(16), NodeId(22)]);
    assert_eq!(g.to_string(), text);
    assert_eq!(Graph::from_text(text).unwrap().to_text(), text);
}

#[test]
fn every_unary_and_binary_op_roundtrips() {
    for u in UnaryOp::ALL {
        let d = DType::ALL.into_iter().find(|&d| u.accepts(d)).unwrap();
        roundtrip(&format!(
            "%0 = input \"a\" : {d}[2]\n%1 = {} %0 : {d}[2]\nreturn %1\n",
            u.name()
        ));
    }
    for b in BinaryOp::ALL {
        let d = DType::ALL.into_iter().find(|&d| b.accepts(d)).unwrap();
        let r = if b.is_comparison() { DType::Bool } else { d };
        roundtrip(&format!(
            "%0 = input \"a\" : {d}[2]\n%1 = {} %0, %0 : {r}[2]\nreturn %1\n",
            b.name()
        ));
    }
}

#[test]
fn literals_roundtrip_bit_exactly() {
    let f32s = [
        0.1f32,
        -0.0,
        f32::MIN_POSITIVE / 3.0,
        f32::from_bits(1),
        f32::MAX,
        f32::INFINITY,
        f32::NEG_INFINITY,
        1e-5,
    ];
    let mut g = Graph::new();
    let a = g.constant(HostTensor::from(f32s.to_vec())).unwrap();
    let b = g
        .constant(HostTensor::from(vec![0.1f64, f64::from_bits(1), -1e300]))
        .unwrap();
    let c = g
        .constant(HostTensor::from(vec![i64::MIN, i64::MAX]))
        .unwrap();
    let d = g.constant(HostTensor::from(vec![f32::NAN])).unwrap();
    g.set_outputs(&[a, b, c, d]).unwrap();
    let text = print(&g);
    assert!(text.contains("%0 = const [0.1, -0.0, "), "{text}");
    assert!(text.contains("inf, -inf, 1e-5] : f32[8]"), "{text}");
    assert!(text.contains("[-9223372036854775808, 9223372036854775807] : i64[2]"));
    assert!(text.contains("%3 = const [nan] : f32[1]"));
    let back = roundtrip(&text);
    let Op::Constant { value } = &back.node(a).unwrap().op else {
        panic!("not a constant")
    };
    let bits: Vec<u32> = value
        .as_f32()
        .unwrap()
        .iter()
        .map(|x| x.to_bits())
        .collect();
    let want: Vec<u32> = f32s.iter().map(|x| x.to_bits()).collect();
    assert_eq!(bits, want);
    // Non-canonical spellings are accepted and printed canonically.
    let g = parse("%0 = const 1 : f32[]\n%1 = const [5] : i32[]\n").unwrap();
    assert_eq!(print(&g), "%0 = const 1.0 : f32[]\n%1 = const 5 : i32[]\n");
}

#[test]
fn names_are_escaped() {
    let mut g = Graph::new();
    let name = "a \"q\" \\ b\nc\u{7}é";
    g.input(name, DType::F32, Shape::scalar()).unwrap();
    let text = print(&g);
    assert_eq!(
        text,
        "%0 = input \"a \\\"q\\\" \\\\ b\\nc\\u{7}é\" : f32[]\n"
    );
    let back = roundtrip(&text);
    assert_eq!(back.find_input(name), Some(NodeId(0)));
}

#[test]
fn ids_with_gaps_and_reused_slots_survive() {
    let mut g = Graph::new();
    let x = g.input("x", DType::F32, Shape::new(&[2]).unwrap()).unwrap();
    let dead = g.unary(UnaryOp::Neg, x).unwrap();
    let dead2 = g.unary(UnaryOp::Exp, x).unwrap();
    let y = g.unary(UnaryOp::Sin, x).unwrap();
    g.remove(dead).unwrap();
    g.remove(dead2).unwrap();
    // Reuses slot 2, so %2 depends on %3 and prints after it.
    let z = g.unary(UnaryOp::Cos, y).unwrap();
    assert_eq!(z, NodeId(2));
    g.set_outputs(&[z]).unwrap();
    let text = print(&g);
    assert_eq!(
        text,
        "%0 = input \"x\" : f32[2]\n%3 = sin %0 : f32[2]\n%2 = cos %3 : f32[2]\nreturn %2\n"
    );
    let back = roundtrip(&text);
    assert_eq!(back.node_ids(), vec![NodeId(0), NodeId(2), NodeId(3)]);
}

#[test]
fn comments_blank_lines_and_missing_return() {
    let g = parse("; a graph\n\n  %0 = input \"x\" : f32[]   ; trailing\n").unwrap();
    assert_eq!(g.len(), 1);
    assert!(g.outputs().is_empty());
    assert!(parse("").unwrap().is_empty());
    assert!(parse("return\n").unwrap().outputs().is_empty());
}

#[test]
fn errors_point_at_the_offending_token() {
    let cases: &[(&str, usize, usize, &str)] = &[
        ("%0 = frobnicate : f32[]", 1, 6, "unknown op `frobnicate`"),
        ("%0 = input \"x\" : f33[2]", 1, 18, "unknown dtype `f33`"),
        (
            "%0 = input \"x\" : f32[2",
            1,
            23,
            "expected `]`, found end of line",
        ),
        (
            "%0 = input \"x\" : f32[2] junk",
            1,
            25,
            "unexpected `junk` after the type",
        ),
        (
            "%0 = input x : f32[]",
            1,
            12,
            "expected a quoted name, found `x`",
        ),
        ("%0 = input \"x : f32[]", 1, 12, "unterminated string"),
        (
            "%0 = input \"x\" : f32[]\n%1 = neg %7 : f32[]",
            2,
            10,
            "%7 is used before it is defined",
        ),
        (
            "%0 = input \"x\" : f32[]\n%0 = neg %0 : f32[]",
            2,
            1,
            "%0 is defined twice (first on line 1)",
        ),
        (
            "%0 = input \"x\" : f32[2]\n%1 = exp %0 : f32[3]",
            2,
            15,
            "type annotation f32[3] disagrees with f32[2], the type exp gives",
        ),
        (
            "%0 = input \"x\" : i32[2]\n%1 = exp %0 : i32[2]",
            2,
            6,
            "exp: not defined for i32",
        ),
        (
            "%0 = input \"x\" : f32[2]\n%1 = reshape %0 : f32[3]",
            2,
            6,
            "reshape: shape [3] is invalid for input of size 2 (shape [2])",
        ),
        (
            "%0 = input \"x\" : f32[2]\n%1 = add %0 : f32[2]",
            2,
            6,
            "add takes 2 operand(s), got 1",
        ),
        (
            "%0 = const [1, 2] : f32[3]",
            1,
            12,
            "2 value(s) given for type f32[3], which holds 3",
        ),
        (
            "%0 = const [1, 2.5] : i64[2]",
            1,
            16,
            "`2.5` is not a valid i64 literal",
        ),
        (
            "%0 = const 1 : bool[]",
            1,
            12,
            "`1` is not a valid bool literal",
        ),
        (
            "%0 = input \"x\" : f32[2]\n%1 = reduce.sum %0 axis=[0] : f32[1]",
            2,
            20,
            "expected `axes`, found `axis`",
        ),
        (
            "%0 = random.normal seed=-1 : f32[]",
            1,
            25,
            "expected a seed (a u64), found `-1`",
        ),
        (
            "%0 = input \"x\" : f32[]\nreturn %0\n%1 = neg %0 : f32[]",
            3,
            1,
            "nodes must come before `return` (line 2)",
        ),
        (
            "%0 = input \"x\" : f32[]\nreturn %0 %0",
            2,
            11,
            "unexpected `%0` after the outputs",
        ),
        (
            "%0 = input \"x\" : f32[] $",
            1,
            24,
            "unexpected character '$'",
        ),
        (
            "%99999999 = input \"x\" : f32[]",
            1,
            1,
            "expected a node id %N with N <= 1048576 after '%'",
        ),
        (
            "0 = input \"x\" : f32[]",
            1,
            1,
            "expected a node id `%N`, found `0`",
        ),
        (
            "%0 = input \"x\\q\" : f32[]",
            1,
            14,
            "unknown escape (use \\\" \\\\ \\n \\r \\t \\u{..})",
        ),
        (
            "%0 = input \"x\" : f32[1,1,1,1,1,1,1,1,1]",
            1,
            18,
            "rank 9 exceeds kiln's maximum rank of 8",
        ),
    ];
    for &(text, line, col, msg) in cases {
        assert_eq!(parse_err(text), (line, col, msg.to_string()), "{text}");
    }
    let e = parse("%0 = nope : f32[]").unwrap_err();
    assert_eq!(e.to_string(), "line 1, column 6: unknown op `nope`");
}

#[test]
fn save_and_load() {
    let dir = std::env::temp_dir().join(format!("kiln-text-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("g.kir");
    let mut g = Graph::new();
    let x = g.input("x", DType::F64, Shape::new(&[3]).unwrap()).unwrap();
    g.set_outputs(&[x]).unwrap();
    g.save(&path).unwrap();
    assert_eq!(Graph::load(&path).unwrap().to_text(), g.to_text());
    assert!(matches!(
        Graph::load(dir.join("missing.kir")),
        Err(IrError::Io { .. })
    ));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn bytes_that_are_not_utf8_are_a_parse_error_with_a_position() {
    let err = crate::text::parse_bytes(b"%0 = input \"x\" : f32[2]\n%1 = neg \xff%0 : f32[2]\n");
    match err {
        Err(IrError::Parse { line, col, msg }) => {
            assert_eq!((line, col), (2, 10), "{msg}");
            assert!(msg.contains("UTF-8"), "{msg}");
        }
        other => panic!("expected a parse error, got {other:?}"),
    }
    assert!(crate::text::parse_bytes(b"%0 = input \"x\" : f32[2]\nreturn %0\n").is_ok());
}
