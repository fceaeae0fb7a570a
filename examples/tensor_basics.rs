//! The tensor sections of the tutorials (seed 001's basics, seed 004's tensors, seed 000's
//! column selection), built as kiln graphs and printed as the tutorials print them.
//!
//! Run: `cargo run --release --example tensor_basics`

use kiln::{manual_seed, Graph, Idx, Result, Tensor};

/// A tensor of whole numbers 0..9 as f64 (the tutorial's `np.random.choice(range(10))`), drawn
/// from kiln's PyTorch-compatible generator.
fn random_digits(g: &Graph, shape: &[usize]) -> Result<Tensor> {
    g.tensor(kiln::rand(shape)?)?.mul(10.0)?.long()?.double()
}

fn main() -> Result<()> {
    let g = Graph::new();

    println!("# seed 001: one-dimensional tensors");
    let v123 = g.tensor([1i64, 2, 3])?;
    println!("{}", v123);
    println!("{}", (&v123 * 7)?);
    let v456 = g.tensor([4i64, 5, 6])?;
    let dot_basic = (&v123 * &v456)?.sum_all()?;
    let dot_elegant = v123.matmul(&v456)?;
    println!("dot by hand: 1*4 + 2*5 + 3*6 = {}", 1 * 4 + 2 * 5 + 3 * 6);
    println!("dot_basic   = {}", dot_basic);
    println!("dot_elegant = {}", dot_elegant);

    println!("\n# seed 001: random matrix (manual_seed(314); rand(2, 3))");
    manual_seed(314);
    println!("{}", g.rand(&[2, 3])?);

    println!("\n# seed 001: random indicator matrix (manual_seed(123); (rand(17, 3) < 0.2).int())");
    manual_seed(123);
    let indicator = g.rand(&[17, 3])?.lt(0.2)?.int()?;
    println!("{}", indicator);

    println!("\n# seed 004: tensors");
    let t = g.tensor([[1.0f32, 2.0, 3.0], [4.0, 5.0, 6.0]])?;
    println!("{}\n{:?}", t, t.dims());
    let t3 = g.tensor([
        [[1.0f32, 2.0, 3.0], [4.0, 5.0, 6.0]],
        [[7.0, 8.0, 9.0], [10.0, 11.0, 12.0]],
    ])?;
    println!("{}\n{:?}", t3, t3.dims());
    println!("{}", t3.at(&[0, 1, 0])?);

    println!("\n# seed 004: addition, scalar and coordinatewise multiplication (f64)");
    let t1 = random_digits(&g, &[3, 2, 2])?;
    let t2 = random_digits(&g, &[3, 2, 2])?;
    println!("{}\n{}\n{}", t1, t2, (&t1 + &t2)?);
    println!("{}", (5.0 * &t1)?);
    println!("{}", (&t1 * &t2)?);

    println!("\n# seed 004: matrix multiplication");
    let m1 = random_digits(&g, &[3, 2])?;
    let m2 = random_digits(&g, &[2, 4])?;
    println!("{}\n{}\n{}", m1, m2, m1.mm(&m2)?);

    println!("\n# seed 004: batch matrix multiplication");
    let b1 = random_digits(&g, &[5, 3, 2])?;
    let b2 = random_digits(&g, &[5, 2, 4])?;
    println!("{}", b1.bmm(&b2)?);

    println!("\n# seed 004: matmul with broadcasting");
    println!("{:?}", b1.matmul(&b2)?.dims());
    let big = random_digits(&g, &[10, 5, 3, 2, 4])?;
    let w = random_digits(&g, &[4, 10])?;
    println!("{:?}", big.matmul(&w)?.dims());

    println!("\n# seed 004: outer product");
    let a = g.arange(1, 4)?;
    let b = g.arange(1, 3)?;
    println!("{}\n{}\n{}", a, b, a.outer(&b)?);

    println!("\n# seed 000: basis vectors and column selection");
    let mbases = Tensor::cat(&[&g.zeros(&[2, 2])?, &g.eye(2)?], 0)?;
    println!("{}", mbases);
    let dataset = g.tensor([[0.0f32, 4.0, 0.1], [0.5, 5.0, 0.2]])?;
    println!("colors = {}", dataset.index(&[Idx::All, Idx::At(2)])?);
    println!(
        "points = {}",
        dataset.index(&[Idx::All, Idx::List(vec![0, 1])])?
    );

    println!("\n# a shape error, reported when the node is built");
    let x = g.zeros(&[64, 2])?;
    let y = g.zeros(&[3, 2])?;
    match x.matmul(&y) {
        Ok(_) => println!("unexpectedly multiplied"),
        Err(e) => println!("error: {e}"),
    }
    Ok(())
}
