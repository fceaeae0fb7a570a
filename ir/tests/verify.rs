//! `Program::verify`: lowering produces programs that pass it (shipped graphs, pads, concats,
//! gathers, training steps, random graphs fused and eager), and each rule catches the
//! corruption it exists for, naming the rule and the kernel.

use kiln_ir::kernel::{
    lower, lower_step, Body, BufferId, BufferKind, InstKind, KernelKind, LowerOptions, Program, Val,
};
use kiln_ir::testing::random_graph_from_seed;
use kiln_ir::{DType, Graph, IrError};

fn parse(text: &str) -> Graph {
    kiln_ir::text::parse(text).expect("test graph parses")
}

fn lowered(text: &str) -> Program {
    let g = parse(text);
    lower(&g, g.outputs(), &LowerOptions::default()).expect("lowering verifies")
}

/// Asserts that `program` fails verification with `rule`, at `kernel` when given.
fn assert_broken(program: &Program, rule: &str, kernel: Option<usize>) {
    match program.verify() {
        Err(IrError::Internal {
            context,
            rule: r,
            msg,
        }) => {
            assert_eq!(r, rule, "wrong rule ({context}: {msg})");
            if let Some(k) = kernel {
                assert!(
                    context.ends_with(&format!("kernel k{k}")),
                    "{context}: {msg}"
                );
            }
            let text = program.verify().unwrap_err().to_string();
            assert!(text.contains("a kiln bug") && text.contains(rule), "{text}");
        }
        other => panic!("expected a `{rule}` violation, got {other:?}"),
    }
}

const PAD_CONCAT: &str = "\
%0 = input \"x\" : f32[3,4]
%1 = pad %0 [1:2, 0:3] value=0.5 : f32[6,7]
%2 = exp %1 : f32[6,7]
%3 = input \"y\" : f32[2,4]
%4 = concat %0, %3 axis=0 : f32[5,4]
%5 = neg %4 : f32[5,4]
return %2, %5
";

const GATHER_GEMM: &str = "\
%0 = input \"src\" : f32[5,3]
%1 = input \"idx\" : i64[4,3]
%2 = gather %0, %1 axis=0 : f32[4,3]
%3 = input \"w\" : f32[3,2]
%4 = matmul %2, %3 : f32[4,2]
%5 = tanh %4 : f32[4,2]
return %5
";

const SGD_STEP: &str = "\
%0 = param \"w\" : f32[4]
%1 = input \"g\" : f32[4]
%2 = const 0.1 : f32[]
%3 = reshape %2 : f32[1]
%4 = expand %3 : f32[4]
%5 = mul %4, %1 : f32[4]
%6 = sub %0, %5 : f32[4]
%7 = reduce.sum %0 axes=[0] : f32[1]
return %7, %6
";

/// A pad seen through a reshape: its mask tests a merged coordinate (`2 i0 + i1`), checked
/// point by point (found by the fuzzer once such masks were refused).
const PAD_RESHAPED: &str = "\
%0 = input \"x\" : f32[3]
%1 = pad %0 [1:0] value=0.5 : f32[4]
%2 = reshape %1 : f32[2,2]
%3 = neg %2 : f32[2,2]
return %3
";

#[test]
fn lowered_programs_verify() {
    for text in [PAD_CONCAT, GATHER_GEMM, PAD_RESHAPED] {
        let g = parse(text);
        for options in [LowerOptions::default(), LowerOptions::eager()] {
            lower(&g, g.outputs(), &options).expect("verified");
        }
    }
    for name in [
        "elementwise_chain",
        "layernorm",
        "mlp_forward",
        "mlp_train_step",
        "softmax",
    ] {
        let path = format!(
            "{}/../examples/graphs/{name}.kir",
            env!("CARGO_MANIFEST_DIR")
        );
        let g = Graph::load(&path).expect("shipped graph loads");
        for options in [LowerOptions::default(), LowerOptions::eager()] {
            lower(&g, g.outputs(), &options).expect("verified");
        }
    }
    for seed in 0..200 {
        let g = random_graph_from_seed(seed).expect("a random graph");
        for options in [LowerOptions::default(), LowerOptions::eager()] {
            if let Err(e @ IrError::Internal { .. }) = lower(&g, g.outputs(), &options) {
                panic!("seed {seed}: {e}");
            }
        }
    }
}

#[test]
fn training_steps_verify_with_their_in_place_writer() {
    let g = parse(SGD_STEP);
    let outputs = g.outputs().to_vec();
    let step = lower_step(
        &g,
        &outputs[..1],
        &[("w".into(), outputs[1])],
        &LowerOptions::default(),
    )
    .expect("verified step");
    let w = step.updates[0].1;
    assert!(
        step.kernels
            .iter()
            .any(|k| k.out() == w && k.reads().contains(&w)),
        "the update is written in place, reading the parameter"
    );
    step.verify().unwrap();
}

#[test]
fn an_unmasked_load_outside_its_buffer_is_caught() {
    let mut p = lowered(GATHER_GEMM);
    let k = p.kernels.len() - 1;
    let KernelKind::Gemm { a, .. } = &mut p.kernels[k].kind else {
        panic!("the last kernel is the gemm with its tanh epilogue")
    };
    a.offset += 1;
    assert_broken(&p, "load-in-bounds", Some(k));

    let mut p = lowered(PAD_CONCAT);
    let KernelKind::Elementwise { body, .. } = &mut p.kernels[0].kind else {
        panic!()
    };
    let load = body.insts.iter_mut().find_map(|i| match &mut i.kind {
        InstKind::Load { view, mask } => Some((view, mask)),
        _ => None,
    });
    let (view, mask) = load.expect("the pad reads x");
    assert!(mask.is_some(), "the pad's load is masked");
    // One row further is outside x wherever the mask admits the last row.
    view.offset += 4;
    assert_broken(&p, "load-in-bounds", Some(0));
}

#[test]
fn the_gather_source_view_is_checked() {
    let mut p = lowered(GATHER_GEMM);
    let gather = p
        .kernels
        .iter()
        .position(|k| k.kind_name() == "gather")
        .unwrap();
    let KernelKind::Gather { src, .. } = &mut p.kernels[gather].kind else {
        panic!()
    };
    src.strides[1] = 2;
    assert_broken(&p, "load-in-bounds", Some(gather));
}

/// The body of the concat kernel (kernel 1 of `PAD_CONCAT`), which ends with `neg`.
fn concat_body(p: &mut Program) -> &mut Body {
    match &mut p.kernels[1].kind {
        KernelKind::Elementwise { body, .. } => body,
        _ => panic!("kernel 1 is elementwise"),
    }
}

#[test]
fn operands_must_be_earlier_and_of_the_right_dtype() {
    let base = lowered(PAD_CONCAT);

    let mut p = base.clone();
    let body = concat_body(&mut p);
    let last = body.insts.len() - 1;
    let InstKind::Unary(_, x) = &mut body.insts[last].kind else {
        panic!("the concat kernel ends with neg")
    };
    *x = Val(last as u32); // uses itself
    assert_broken(&p, "ssa", Some(1));

    let mut p = base;
    let body = concat_body(&mut p);
    let last = body.insts.len() - 1;
    body.insts[last].dtype = DType::F64;
    assert_broken(&p, "dtype", Some(1));
}

#[test]
fn a_kernel_reading_its_own_output_is_caught() {
    let mut p = lowered(PAD_CONCAT);
    let out = p.kernels[0].out();
    let KernelKind::Elementwise { body, .. } = &mut p.kernels[0].kind else {
        panic!()
    };
    for inst in &mut body.insts {
        if let InstKind::Load { view, .. } = &mut inst.kind {
            view.buffer = out;
        }
    }
    assert_broken(&p, "in-place", Some(0));
}

#[test]
fn buffers_bindings_outputs_and_plan_are_checked() {
    let base = lowered(GATHER_GEMM);

    let mut p = base.clone();
    p.inputs[0].0 = "renamed".into();
    assert_broken(&p, "bindings", None);

    let mut p = base.clone();
    let out = p.outputs[0];
    p.buffers[out.index()].dtype = DType::F64;
    assert_broken(&p, "out-buffer", Some(p.kernels.len() - 1));

    let mut p = base.clone();
    let input = p.inputs[0].1;
    *p.kernels[0].out_mut() = input;
    assert_broken(&p, "out-buffer", Some(0));

    // Reading a temporary before it is written: run the last kernel first.
    let mut p = base.clone();
    p.kernels.reverse();
    assert_broken(&p, "def-before-use", Some(0));

    let mut p = base.clone();
    p.outputs.push(BufferId(p.buffers.len() as u32));
    assert_broken(&p, "buffers", None);

    // Two temporaries live at the same time in one slot.
    let g = parse(
        "%0 = input \"x\" : f32[8]\n%1 = exp %0 : f32[8]\n%2 = reduce.sum %1 axes=[0] : f32[1]\n\
         %3 = log %0 : f32[8]\n%4 = reduce.sum %3 axes=[0] : f32[1]\n%5 = add %2, %4 : f32[1]\nreturn %5\n",
    );
    let eager = lower(&g, g.outputs(), &LowerOptions::eager()).unwrap();
    let temps: Vec<usize> = (0..eager.buffers.len())
        .filter(|&i| eager.buffers[i].kind == BufferKind::Temp)
        .collect();
    assert!(temps.len() >= 2);
    let mut p = eager;
    let first = p.plan.offsets[temps[0]];
    for &t in &temps {
        p.plan.offsets[t] = first;
    }
    assert_broken(&p, "memory-plan", None);

    let mut p = base;
    if let Some(&t) = (0..p.buffers.len())
        .filter(|&i| p.buffers[i].kind == BufferKind::Temp)
        .collect::<Vec<_>>()
        .first()
    {
        p.plan.offsets[t] = Some(1);
        assert_broken(&p, "memory-plan", None);
    }
}

/// Found in review: an index space wider than the data outside the indexed axis let a gather
/// read, and a scatter-add write, outside their buffers.
#[test]
fn gather_and_scatter_index_spaces_must_fit_their_data() {
    let mut p = lowered(GATHER_GEMM);
    let gather = p
        .kernels
        .iter()
        .position(|k| k.kind_name() == "gather")
        .unwrap();
    let KernelKind::Gather { shape, .. } = &mut p.kernels[gather].kind else {
        panic!()
    };
    *shape = kiln_ir::Shape::new(&[4, 40]).unwrap();
    assert_broken(&p, "load-in-bounds", Some(gather));

    let g = parse(
        "%0 = input \"base\" : f32[3,5]\n%1 = input \"idx\" : i64[2,5]\n\
         %2 = input \"src\" : f32[2,5]\n%3 = scatter_add %0, %1, %2 axis=0 : f32[3,5]\nreturn %3\n",
    );
    let mut p = lower(&g, g.outputs(), &LowerOptions::default()).unwrap();
    let k = p
        .kernels
        .iter()
        .position(|k| k.kind_name() == "scatter_add")
        .unwrap();
    let KernelKind::ScatterAdd { shape, .. } = &mut p.kernels[k].kind else {
        panic!()
    };
    *shape = kiln_ir::Shape::new(&[2, 9]).unwrap();
    assert_broken(&p, "load-in-bounds", Some(k));
}

/// A mask the checker cannot bound is refused rather than trusted.
#[test]
fn a_load_under_an_unanalysable_mask_is_refused() {
    let mut p = lowered(PAD_CONCAT);
    let KernelKind::Elementwise { body, .. } = &mut p.kernels[0].kind else {
        panic!()
    };
    // Turn every range test of the pad's mask into the constant `true`: the mask still guards
    // the load, but says nothing about where it reads.
    let mut replaced = 0;
    for inst in &mut body.insts {
        if matches!(inst.kind, InstKind::InRange { .. }) {
            inst.kind = InstKind::Const(1.0);
            replaced += 1;
        }
    }
    assert!(replaced > 0, "the pad kernel tests ranges");
    assert_broken(&p, "load-in-bounds", Some(0));
}

/// The accumulator's dtype, bool reductions and unwritten updates.
#[test]
fn accumulator_dtypes_bool_reductions_and_unwritten_updates_are_caught() {
    let g = parse(
        "%0 = input \"x\" : f32[4,8]\n%1 = reduce.sum %0 axes=[1] : f32[4,1]\n\
         %2 = exp %1 : f32[4,1]\nreturn %2\n",
    );
    let base = lower(&g, g.outputs(), &LowerOptions::default()).unwrap();
    let mut p = base.clone();
    let KernelKind::Reduce { epilogue, .. } = &mut p.kernels[0].kind else {
        panic!("the reduction with its exp epilogue")
    };
    for inst in &mut epilogue.insts {
        if inst.kind == InstKind::Acc {
            inst.dtype = DType::F64;
        }
    }
    assert_broken(&p, "dtype", Some(0));

    let mut p = base;
    let KernelKind::Reduce { body, .. } = &mut p.kernels[0].kind else {
        panic!()
    };
    for inst in &mut body.insts {
        inst.dtype = DType::Bool;
    }
    assert_broken(&p, "dtype", Some(0));

    let g = parse(SGD_STEP);
    let outputs = g.outputs().to_vec();
    let mut step = lower_step(
        &g,
        &outputs[..1],
        &[("w".into(), outputs[1])],
        &LowerOptions::default(),
    )
    .unwrap();
    let w = step.updates[0].1;
    step.kernels.retain(|k| k.out() != w);
    assert_broken(&step, "def-before-use", None);
}
