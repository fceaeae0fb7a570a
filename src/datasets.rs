//! Small real data sets shipped with kiln (see `data/README.md` for sources and licences), so
//! that examples and tests run on a fresh machine with no download.

use crate::data::{parse_csv, TensorDataset};
use crate::Result;
use kiln_ir::{DType, HostTensor};

const DIGITS_CSV: &str = include_str!("../data/digits.csv");
const IRIS_CSV: &str = include_str!("../data/iris.csv");

/// The UCI handwritten digits (E. Alpaydin, C. Kaynak, 1998; CC BY 4.0), as scikit-learn ships
/// them: 1,797 images of 8x8 pixels. Returns `[pixels f32 [1797, 64] scaled to 0..1,
/// labels i64 [1797]]`.
pub fn digits() -> Result<TensorDataset> {
    let table = parse_csv(DIGITS_CSV, false)?;
    let pixels = table.columns_f32(0..64)?;
    let scaled: Vec<f64> = pixels.to_f64_vec().iter().map(|v| v / 16.0).collect();
    let pixels = HostTensor::from_f64(DType::F32, pixels.shape().clone(), &scaled)?;
    TensorDataset::new(vec![pixels, table.column_i64(64)?])
}

/// Fisher's iris data (UCI), as scikit-learn ships it: 150 flowers, 4 measurements each.
/// Returns `[features f32 [150, 4], species i64 [150]]` (0 setosa, 1 versicolor, 2 virginica).
pub fn iris() -> Result<TensorDataset> {
    let table = parse_csv(IRIS_CSV, true)?;
    TensorDataset::new(vec![table.columns_f32(0..4)?, table.column_i64(4)?])
}

#[cfg(test)]
mod tests {
    use crate::data::Dataset;

    #[test]
    fn shipped_data_sets_load() {
        let d = super::digits().unwrap();
        assert_eq!(d.len(), 1797);
        assert_eq!(d.tensors()[0].dims(), &[1797, 64]);
        let px = d.tensors()[0].to_f64_vec();
        assert!(px.iter().all(|&v| (0.0..=1.0).contains(&v)));
        let labels = d.tensors()[1].as_i64().unwrap();
        assert!(labels.iter().all(|&l| (0..10).contains(&l)));
        let iris = super::iris().unwrap();
        assert_eq!(iris.len(), 150);
        assert_eq!(iris.tensors()[1].as_i64().unwrap()[149], 2);
    }
}
