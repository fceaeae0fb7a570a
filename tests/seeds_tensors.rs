//! The tensor sections of the tutorials, with the numbers they print.

use kiln::{manual_seed, Graph, Result};

/// All uses of the process-global generator live in this one test, so parallel tests cannot
/// interleave their draws.
#[test]
fn seeded_random_matrices_match_the_tutorial() -> Result<()> {
    let g = Graph::new();
    manual_seed(314);
    assert_eq!(
        g.rand(&[2, 3])?.to_host()?.to_string(),
        "tensor([[0.7196, 0.6295, 0.6667],\n        [0.3385, 0.8522, 0.3126]])"
    );
    manual_seed(123);
    let indicator = g.rand(&[17, 3])?.lt(0.2)?.int()?.to_host()?;
    let expected: [[i32; 3]; 17] = [
        [0, 0, 0],
        [0, 1, 0],
        [1, 1, 1],
        [0, 0, 0],
        [1, 1, 0],
        [0, 1, 0],
        [0, 0, 0],
        [0, 0, 0],
        [0, 0, 0],
        [0, 0, 1],
        [0, 0, 0],
        [0, 0, 0],
        [1, 0, 1],
        [0, 0, 0],
        [0, 0, 0],
        [0, 0, 0],
        [0, 0, 0],
    ];
    assert_eq!(indicator.as_i32()?, expected.concat().as_slice());
    // Seed 001's Y_hat = rand(4, 4) @ diag(1, 2, 3, 4) after manual_seed(314).
    manual_seed(314);
    let r = g.rand(&[4, 4])?;
    let m = g.tensor([1.0f32, 2.0, 3.0, 4.0])?.diag()?;
    assert_eq!(
        r.matmul(&m)?.to_host()?.to_string(),
        "tensor([[0.7196, 1.2590, 2.0002, 1.3540],\n        [0.8522, 0.6251, 1.5017, 1.8571],\n        \
         [0.0083, 0.8938, 2.4086, 2.2047],\n        [0.3556, 0.7420, 2.0490, 1.2297]])"
    );
    Ok(())
}

#[test]
fn dot_products_and_shapes() -> Result<()> {
    let g = Graph::new();
    let a = g.tensor([1i64, 2, 3])?;
    let b = g.tensor([4i64, 5, 6])?;
    assert_eq!((&a * &b)?.sum_all()?.item()?, 32.0);
    assert_eq!(a.matmul(&b)?.item()?, 32.0);
    assert_eq!(
        (&a * 7)?.to_host()?.to_string(),
        "tensor([ 7, 14, 21], dtype=i64)"
    );
    let t = g.tensor([
        [[1.0f32, 2.0, 3.0], [4.0, 5.0, 6.0]],
        [[7.0, 8.0, 9.0], [10.0, 11.0, 12.0]],
    ])?;
    assert_eq!(t.at(&[0, 1, 0])?.to_host()?.to_string(), "tensor(4.)");
    let outer = g.arange(1, 4)?.outer(&g.arange(1, 3)?)?;
    assert_eq!(
        outer.to_host()?.to_string(),
        "tensor([[1, 2],\n        [2, 4],\n        [3, 6]], dtype=i64)"
    );
    Ok(())
}
