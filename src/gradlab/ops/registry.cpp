#include "gradlab/ops/registry.hpp"

#include <algorithm>
#include <string>

#include "gradlab/ops/compare.hpp"
#include "gradlab/ops/conv.hpp"
#include "gradlab/ops/elementwise.hpp"
#include "gradlab/ops/indexing.hpp"
#include "gradlab/ops/join.hpp"
#include "gradlab/ops/layers.hpp"
#include "gradlab/ops/linalg.hpp"
#include "gradlab/ops/loss.hpp"
#include "gradlab/ops/matmul.hpp"
#include "gradlab/ops/pad.hpp"
#include "gradlab/ops/pool.hpp"
#include "gradlab/ops/reduce.hpp"
#include "gradlab/ops/reductions.hpp"
#include "gradlab/ops/shape.hpp"

namespace gradlab {

namespace {

using Unary = Tensor (*)(const Tensor&, Here);
using Binary = Tensor (*)(const Tensor&, const Tensor&, Here);

// One function of each file of ops/ that declares OpInfo objects. A static library links
// only the files a program refers to; referring to these from all_ops() brings in every one
// (and with it its OpInfo objects). A new op file adds a line here; the test `registry`
// fails when an op is missing from all_ops() in a program that calls no op.
[[gnu::used]] const void* const every_op_file[] = {
    reinterpret_cast<const void*>(static_cast<Unary>(&sign)),              // compare
    reinterpret_cast<const void*>(&conv2d),                                // conv
    reinterpret_cast<const void*>(static_cast<Unary>(&sigmoid)),           // elementwise
    reinterpret_cast<const void*>(&one_hot),                               // indexing
    reinterpret_cast<const void*>(&upsample),                              // join
    reinterpret_cast<const void*>(static_cast<Unary>(&gelu)),              // layers
    reinterpret_cast<const void*>(static_cast<Unary>(&det)),               // linalg
    reinterpret_cast<const void*>(static_cast<Binary>(&mse_loss)),         // loss
    reinterpret_cast<const void*>(static_cast<Binary>(&outer)),            // matmul
    reinterpret_cast<const void*>(&pad),                                   // pad
    reinterpret_cast<const void*>(&avg_pool2d),                            // pool
    reinterpret_cast<const void*>(static_cast<Unary>(&mean)),              // reduce
    reinterpret_cast<const void*>(static_cast<Unary>(&sqrt)),              // reductions
    reinterpret_cast<const void*>(static_cast<Unary>(&transpose)),         // shape
};

}  // namespace

std::vector<const OpInfo*> all_ops() {
  std::vector<const OpInfo*> ops = registered_ops();
  (void)every_op_file;
  std::sort(ops.begin(), ops.end(),
            [](const OpInfo* a, const OpInfo* b) { return std::string(a->name) < b->name; });
  return ops;
}

}  // namespace gradlab
