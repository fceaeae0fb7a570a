//! Seed 000: a random 2x2 linear map applied to 1000 Gaussian points, its SVD
//! (`W = U diag(S) V^T`: a rotation, a scaling, a reflection) checked by reconstruction, and the
//! same map as `Sequential(Linear(2, 2, bias=False))` evaluated under `no_grad`.
//!
//! Run: `cargo run --release --example svd_transform` (writes `plots/svd_*.png`).

mod common;

use common::{plot, Mark, Series};
use kiln::nn::{Linear, Module, Sequential};
use kiln::{linalg, manual_seed, no_grad, Graph, Idx, Result, Tensor};

fn columns(t: &Tensor) -> Result<Vec<(f64, f64)>> {
    let xs = t.index(&[Idx::All, Idx::At(0)])?.to_vec_f64()?;
    let ys = t.index(&[Idx::All, Idx::At(1)])?.to_vec_f64()?;
    Ok(xs.into_iter().zip(ys).collect())
}

/// The tutorial colours each point by its original x coordinate, to show where the map sends
/// it; here the points are split into five bands of that coordinate, one colour each.
fn coloured_by(points: &[(f64, f64)], colour: &[f64]) -> Vec<Series> {
    const BANDS: [(&str, f64, f64); 5] = [
        ("x < -1.5", f64::NEG_INFINITY, -1.5),
        ("-1.5 <= x < -0.5", -1.5, -0.5),
        ("-0.5 <= x < 0.5", -0.5, 0.5),
        ("0.5 <= x < 1.5", 0.5, 1.5),
        ("x >= 1.5", 1.5, f64::INFINITY),
    ];
    BANDS
        .iter()
        .map(|&(name, lo, hi)| Series {
            name: name.into(),
            points: points
                .iter()
                .zip(colour)
                .filter(|(_, &c)| c >= lo && c < hi)
                .map(|(&p, _)| p)
                .collect(),
            mark: Mark::Points,
        })
        .collect()
}

/// The basis vectors e1, e2 (and their images) as line segments from the origin.
fn bases(name_1: &str, name_2: &str, m: &Tensor) -> Result<Vec<Series>> {
    let v = m.to_vec_f64()?; // rows: the images of e1 and e2
    Ok(vec![
        Series {
            name: name_1.into(),
            points: vec![(0.0, 0.0), (v[0], v[1])],
            mark: Mark::Line,
        },
        Series {
            name: name_2.into(),
            points: vec![(0.0, 0.0), (v[2], v[3])],
            mark: Mark::Line,
        },
    ])
}

fn main() -> Result<()> {
    manual_seed(0);
    let g = Graph::new();
    let dataset = g.randn(&[1000, 2])?;
    let points = dataset.index(&[Idx::All, Idx::List(vec![0, 1])])?;
    let inside = points
        .square()?
        .sum(&[1], false)?
        .sqrt()?
        .lt(3.0)?
        .sum_all()?
        .item()?;
    println!("{inside} of 1000 points lie within 3 standard deviations of the origin");

    let weight = g.randn(&[2, 2])?;
    println!("Weight = {}", weight);
    let output = points.matmul(&weight.t()?)?;
    println!("Output.shape = {:?}", output.dims());

    let (u, s, v) = linalg::svd(&weight.to_host()?)?;
    println!("U = {u}\nS = {s}\nV = {v}");
    let (u, s, v) = (g.tensor(u)?, g.tensor(s)?, g.tensor(v)?);
    let rebuilt = u.matmul(&s.diag()?)?.matmul(&v.t()?)?;
    let ok = weight.to_host()?.allclose(&rebuilt.to_host()?, 1e-5, 1e-8);
    println!("Weight.allclose(U @ diag(S) @ V.t()) = {ok}");
    if !ok {
        return Err(kiln::Error::api(
            "svd_transform",
            "the SVD does not reconstruct the weight",
        ));
    }

    let eye = g.eye(2)?;
    let mbases = eye.matmul(&weight.t()?)?;
    println!("mbases @ Weight.t() = {}", mbases);

    // The same map as a model: Sequential(Linear(2, 2, bias=False)), weights set to Weight.
    let model = Sequential::new().add(Linear::new(&g, "0", 2, 2, false)?);
    g.set_parameter("0.weight", weight.to_host()?)?;
    let model_out = no_grad(|| model.forward(&dataset))?;
    let same = model_out
        .to_host()?
        .allclose(&output.to_host()?, 1e-6, 1e-6);
    println!("model(dataset) under no_grad equals points @ Weight.t(): {same}");

    std::fs::create_dir_all("plots").map_err(|e| kiln::Error::api("plot", e.to_string()))?;
    let colours = dataset.index(&[Idx::All, Idx::At(0)])?.to_vec_f64()?;
    let mut before = coloured_by(&columns(&points)?, &colours);
    before.extend(bases("e1", "e2", &eye)?);
    let mut after = coloured_by(&columns(&model_out)?, &colours);
    after.extend(bases("W e1", "W e2", &mbases)?);
    for (path, title, series) in [
        ("plots/svd_points.png", "ScatterPoint", before),
        ("plots/svd_transformed.png", "After the linear map W", after),
    ] {
        match plot(path, title, &series, false) {
            Ok(()) => println!("wrote {path}"),
            Err(e) => println!("could not write {path}: {e}"),
        }
    }
    Ok(())
}
