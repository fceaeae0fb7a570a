//! `state_dict` save and load in the safetensors format (the `safetensors` crate), so weights
//! move between kiln runs — and to and from PyTorch's `safetensors.torch.save_file`/`load_file`.
//! Loading is strict, as PyTorch's default: every parameter of the module must be in the file
//! with its dtype and shape, and the file must hold nothing else.

use super::Module;
use crate::{Error, Result};
use kiln_ir::{DType, HostTensor, Shape, TensorData};
use safetensors::tensor::{Dtype, TensorView};
use std::collections::HashMap;
use std::path::Path;

fn st_dtype(d: DType) -> Dtype {
    match d {
        DType::Bool => Dtype::BOOL,
        DType::I32 => Dtype::I32,
        DType::I64 => Dtype::I64,
        DType::F32 => Dtype::F32,
        DType::F64 => Dtype::F64,
    }
}

/// Little-endian bytes of the data (safetensors' layout).
fn to_bytes(t: &HostTensor) -> Vec<u8> {
    match t.data() {
        TensorData::Bool(v) => v.iter().map(|&b| u8::from(b)).collect(),
        TensorData::I32(v) => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
        TensorData::I64(v) => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
        TensorData::F32(v) => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
        TensorData::F64(v) => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
    }
}

fn from_view(name: &str, view: &TensorView<'_>) -> Result<HostTensor> {
    let bytes = view.data();
    let shape = Shape::new(view.shape())?;
    fn chunks<const N: usize, T>(b: &[u8], f: impl Fn([u8; N]) -> T) -> Vec<T> {
        b.chunks_exact(N)
            .map(|c| {
                let mut a = [0u8; N];
                a.copy_from_slice(c);
                f(a)
            })
            .collect()
    }
    let data = match view.dtype() {
        Dtype::BOOL => TensorData::Bool(bytes.iter().map(|&b| b != 0).collect()),
        Dtype::I32 => TensorData::I32(chunks(bytes, i32::from_le_bytes)),
        Dtype::I64 => TensorData::I64(chunks(bytes, i64::from_le_bytes)),
        Dtype::F32 => TensorData::F32(chunks(bytes, f32::from_le_bytes)),
        Dtype::F64 => TensorData::F64(chunks(bytes, f64::from_le_bytes)),
        other => {
            return Err(Error::api(
                "load_state_dict",
                format!("{name}: dtype {other:?} is not supported by kiln"),
            ))
        }
    };
    Ok(HostTensor::new(shape, data)?)
}

/// The module's parameters with their current values (`model.state_dict()`).
pub fn state_dict(module: &dyn Module) -> Result<Vec<(String, HostTensor)>> {
    module
        .named_parameters()
        .into_iter()
        .map(|(name, t)| {
            let value = t.to_host()?;
            Ok((name, value))
        })
        .collect()
}

/// Writes `state_dict(module)` to `path` in the safetensors format.
pub fn save(module: &dyn Module, path: impl AsRef<Path>) -> Result<()> {
    let path = path.as_ref();
    let dict = state_dict(module)?;
    let bytes: Vec<(String, Vec<u8>, &HostTensor)> = dict
        .iter()
        .map(|(n, t)| (n.clone(), to_bytes(t), t))
        .collect();
    let views = bytes
        .iter()
        .map(|(n, b, t)| {
            TensorView::new(st_dtype(t.dtype()), t.dims().to_vec(), b)
                .map(|v| (n.clone(), v))
                .map_err(|e| Error::api("save_state_dict", format!("{n}: {e}")))
        })
        .collect::<Result<Vec<_>>>()?;
    safetensors::serialize_to_file(views, None, path)
        .map_err(|e| Error::api("save_state_dict", format!("{}: {e}", path.display())))
}

/// Reads a safetensors file into the module's parameters (`model.load_state_dict(...)`, strict).
pub fn load(module: &dyn Module, path: impl AsRef<Path>) -> Result<()> {
    let path = path.as_ref();
    let bytes = std::fs::read(path)
        .map_err(|e| Error::api("load_state_dict", format!("{}: {e}", path.display())))?;
    let file = safetensors::SafeTensors::deserialize(&bytes)
        .map_err(|e| Error::api("load_state_dict", format!("{}: {e}", path.display())))?;
    let mut values: HashMap<String, HostTensor> = HashMap::new();
    for (name, view) in file.tensors() {
        let t = from_view(&name, &view)?;
        values.insert(name, t);
    }
    let params = module.named_parameters();
    let missing: Vec<&str> = params
        .iter()
        .map(|(n, _)| n.as_str())
        .filter(|n| !values.contains_key(*n))
        .collect();
    let unexpected: Vec<&str> = values
        .keys()
        .map(String::as_str)
        .filter(|k| !params.iter().any(|(n, _)| n == k))
        .collect();
    if !missing.is_empty() || !unexpected.is_empty() {
        return Err(Error::api(
            "load_state_dict",
            format!("missing keys {missing:?}, unexpected keys {unexpected:?}"),
        ));
    }
    // Check every entry before changing anything, so a failed load leaves the module as it was.
    for (name, p) in &params {
        let v = &values[name];
        if v.dtype() != p.dtype() || *v.shape() != p.shape() {
            return Err(Error::api(
                "load_state_dict",
                format!(
                    "{name}: the file holds {}{}, the module has {}{}",
                    v.dtype(),
                    v.shape(),
                    p.dtype(),
                    p.shape()
                ),
            ));
        }
    }
    for (name, p) in &params {
        p.set_data(values[name].clone())?;
    }
    Ok(())
}
