// gradlab: an automatic-differentiation engine for learning how backpropagation works.
//
// Build tensors, combine them with ops, and the engine records the computation graph;
// backward() walks it in reverse and leaves ∂loss/∂parameter in each parameter's grad().
//
//   #include <gradlab/gradlab.hpp>
//   using namespace gradlab;
//
//   Tensor x = tensor({{0.5, -1.0, 2.0}});                    // 1×3 input
//   Tensor W = randn({3, 4}).set_requires_grad().name("W");   // 3×4 weights
//   Tensor V = randn({4, 2}).set_requires_grad().name("V");   // 4×2 weights
//   Tensor h = sigmoid(matmul(x, W));                         // hidden layer, 1×4
//   Tensor y = sigmoid(matmul(h, V));                         // output, 1×2
//   Tensor C = 0.5 * sum(pow(y - tensor({{1.0, 0.0}}), 2));   // C = ½‖ŷ − t‖²
//   C.backward();                                             // W.grad(), V.grad()
//   render(to_dot({C}), "network.svg");                       // the graph, drawn
//
// `*` is the Hadamard (elementwise) product; the matrix product is matmul().
//
// Where things are (under src/gradlab/, one folder per layer; each uses only those above it):
//   core/      the engine: no op, no loop over numbers
//     tensor.hpp      Tensor, making tensors, printing (tensor.cpp, random.cpp, print.cpp)
//     graph.hpp       Node, OpInfo, record(), backward(), grad(), no_grad, cluster (anomaly.cpp: detect_anomaly's checks)
//     reference_backward.hpp  reference::grad(): the plain backward pass, to read first
//     memory.hpp      Ref, small blocks, Storage: tensor memory, pooled and cached for reuse
//     parallel.hpp    set_num_threads(), parallel_for(): the one pool of threads
//     budget.hpp      limits on the elements a computation may allocate
//     errors.hpp      the exception types
//   kernels/   loops over numbers, which never record
//     loops.hpp       elementwise maps, broadcasts and reductions over a tensor's numbers, e^x
//     conv_kernels.hpp  the sliding-window reference kernel and the im2col + GEMM one
//   ops/       one file per family: shape checks, forward, OpInfo (the formula), backward
//     elementwise.hpp + − ∘ ÷, pow, exp, log, sigmoid, tanh, relu, abs
//     compare.hpp     > < >= <= == != (0/1 masks), where, sign, maximum, minimum, clamp
//     matmul.hpp      matmul, outer, kron
//     linalg.hpp      trace, diag, eye, inverse, det, solve, matrix_power
//     reduce.hpp      sum, mean, sum_to
//     reductions.hpp  max, min, argmax, logsumexp, var, std, norm, sqrt
//     shape.hpp       reshape, expand, transpose, flip, flatten, to(dtype)
//     join.hpp        concat, stack, upsample, narrow
//     indexing.hpp    slice, select, index (x[…]), gather, index_add, scatter_add, arange, one_hot
//     conv.hpp        conv2d, convolve2d, conv_transpose2d, conv2d_weight_grad
//     pad.hpp         pad (zeros, reflect, replicate, circular) and its gradient unpad
//     pool.hpp        max_pool2d, avg_pool2d
//     layers.hpp      sin, cos, leaky_relu, elu, gelu, softplus, layer_norm, batch_norm, dropout, embedding
//     loss.hpp        softmax, log_softmax, mse_loss, cross_entropy
//     optim.hpp       SGD, Adam
//     registry.hpp    all_ops(): every op's OpInfo, for the docs and the diagrams
//   tools/     what is built from ops
//     gradcheck.hpp   gradcheck() and gradgradcheck() against finite differences
//     check.hpp       check_gradient(): hand-derived gradients checked, mistakes named
//     dot.hpp         to_dot() diagrams of the graph and render() to SVG/PNG/PDF
//     checkpoint.hpp  save_checkpoint(), load_checkpoint(): parameters to a file and back
//     files.hpp       write_file_atomically(): a file replaced whole or not at all
#pragma once

#include "gradlab/core/budget.hpp"
#include "gradlab/tools/check.hpp"
#include "gradlab/tools/checkpoint.hpp"
#include "gradlab/tools/dot.hpp"
#include "gradlab/core/errors.hpp"
#include "gradlab/tools/files.hpp"
#include "gradlab/core/memory.hpp"
#include "gradlab/core/parallel.hpp"
#include "gradlab/core/reference_backward.hpp"
#include "gradlab/tools/gradcheck.hpp"
#include "gradlab/core/graph.hpp"
#include "gradlab/core/tensor.hpp"
#include "gradlab/ops/compare.hpp"
#include "gradlab/ops/conv.hpp"
#include "gradlab/ops/elementwise.hpp"
#include "gradlab/ops/indexing.hpp"
#include "gradlab/ops/join.hpp"
#include "gradlab/ops/layers.hpp"
#include "gradlab/ops/linalg.hpp"
#include "gradlab/ops/loss.hpp"
#include "gradlab/ops/matmul.hpp"
#include "gradlab/ops/optim.hpp"
#include "gradlab/ops/pad.hpp"
#include "gradlab/ops/pool.hpp"
#include "gradlab/ops/reduce.hpp"
#include "gradlab/ops/registry.hpp"
#include "gradlab/ops/reductions.hpp"
#include "gradlab/ops/shape.hpp"
