// Checkpoints: named parameters saved to a file and loaded back, e.g. a CNN's weights
// between training runs.
//
//   Tensor W = randn({8, 1, 3, 3}).set_requires_grad().name("conv1.weight");
//   Tensor b = zeros({8}).set_requires_grad().name("conv1.bias");
//   save_checkpoint("model.ckpt", {W, b});   // … later, or in another program:
//   load_checkpoint("model.ckpt", {W, b});   // W and b hold the saved numbers again
//
// Saving is atomic: the file is written beside the target and renamed over it only when
// complete (src/gradlab/tools/files.hpp), so a crash while saving leaves the previous checkpoint as
// it was. Loading checks the whole file — its structure, its checksum, that it holds
// exactly the parameters given with their dtypes and shapes — before it changes any
// number: an error never leaves a half-loaded model behind.
//
// The file format, version 1. Every integer and every number is little-endian.
//
//   bytes  field
//   8      magic: "GRADLAB" and a zero byte, 47 52 41 44 4C 41 42 00
//   4      format version, u32: 1
//   4      parameter count, u32: P
//          then P parameters, one after another, each:
//   4        name length in bytes, u32: L (at least 1)
//   L        the name, UTF-8, without a terminating zero
//   1        dtype, u8: 0 = float32, 1 = float64
//   4        rank, u32: R (0 for a scalar)
//   8·R      the dimensions, i64 each (≥ 0)
//   E·N      the numbers, row-major, IEEE 754 binary32 (E = 4) or binary64 (E = 8), where
//            N is the product of the dimensions (1 for a scalar, 0 if any dimension is 0)
//   4      CRC-32 of every byte before it, u32 (the IEEE polynomial, as zlib.crc32 and
//          PNG compute it)
//
// So a float32 parameter "w" of shape [2] holding 1 and −2 is this file of 46 bytes:
//   47 52 41 44 4C 41 42 00 | 01 00 00 00 | 01 00 00 00 | 01 00 00 00 | 77 | 00 |
//   01 00 00 00 | 02 00 00 00 00 00 00 00 | 00 00 80 3F | 00 00 00 C0 | DE 5C BB 0E
//
// Errors: IOError when the file cannot be read or written; FormatError when its contents
// are not a checkpoint, are truncated (the message says where: "truncated in parameter
// 'conv1.weight'") or corrupted (the checksum disagrees); ValueError for unnamed or
// duplicate names and for a file that holds other parameters than those given; ShapeError
// and DTypeError for a parameter saved with another shape or dtype. Each message begins
// with the function's name and names the file and the parameter.
#pragma once

#include <filesystem>
#include <vector>

#include "gradlab/core/tensor.hpp"

namespace gradlab {

// Writes the parameters, in the order given, to `path`, replacing any file there. Each
// must be defined and have a name (Tensor::name) no other parameter has.
void save_checkpoint(const std::filesystem::path& path, const std::vector<Tensor>& parameters);

// Copies the saved numbers into the parameters, matching them by name. The file must hold
// exactly these parameters (in any order), each with the dtype and shape it has here. The
// parameters must be leaves (made by you, not by an op); they may require grad: loading
// writes their numbers in place and is not recorded in any graph. Their grad() is left
// as it was.
void load_checkpoint(const std::filesystem::path& path, const std::vector<Tensor>& parameters);

// Everything in a checkpoint, as new leaf tensors in the file's order, each with its name;
// save_checkpoint(other_path, read_checkpoint(path)) copies a checkpoint.
std::vector<Tensor> read_checkpoint(const std::filesystem::path& path);

}  // namespace gradlab
