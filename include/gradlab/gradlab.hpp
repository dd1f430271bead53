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
// Where things are:
//   engine/tensor.hpp     Tensor, making tensors, printing
//   engine/graph.hpp      Node, OpInfo, record(), backward(), grad(), no_grad, cluster
//   engine/reference_backward.hpp  reference::grad(): the plain backward pass, to read first
//   engine/dot.hpp        to_dot() diagrams of the graph and render() to SVG/PNG/PDF
//   engine/gradcheck.hpp  gradcheck() and gradgradcheck() against finite differences
//   engine/check.hpp      check_gradient(): hand-derived gradients checked, mistakes named
//   engine/checkpoint.hpp save_checkpoint(), load_checkpoint(): parameters to a file and back
//   engine/files.hpp      write_file_atomically(): a file replaced whole or not at all
//   engine/memory.hpp     Ref, small blocks, Storage: tensor memory, pooled and cached for reuse
//   engine/parallel.hpp   set_num_threads(), parallel_for(): the one pool of threads
//   ops/elementwise.hpp   + − ∘ ÷, pow, exp, log, sigmoid, tanh, relu, abs
//   ops/compare.hpp       > < >= <= == != (0/1 masks), where, sign, maximum, minimum, clamp
//   ops/matmul.hpp        matmul, outer, kron
//   ops/linalg.hpp        trace, diag, eye, inverse, det, solve, matrix_power
//   ops/conv.hpp          conv2d, convolve2d, conv_transpose2d, conv2d_weight_grad
//   ops/conv_kernels.hpp  the sliding-window reference kernel and the im2col + GEMM one
//   ops/pad.hpp           pad (zeros, reflect, replicate, circular) and its gradient unpad
//   ops/pool.hpp          max_pool2d, avg_pool2d
//   ops/join.hpp          concat, stack, upsample, narrow
//   ops/indexing.hpp      slice, select, index (x[…]), gather, index_add, scatter_add, arange, one_hot
//   ops/reduce.hpp        sum, mean, sum_to
//   ops/shape.hpp         reshape, expand, transpose, flip, flatten, to(dtype)
//   ops/loss.hpp          softmax, log_softmax, mse_loss, cross_entropy
//   ops/optim.hpp         SGD, Adam
#pragma once

#include "engine/budget.hpp"
#include "engine/check.hpp"
#include "engine/checkpoint.hpp"
#include "engine/dot.hpp"
#include "engine/errors.hpp"
#include "engine/files.hpp"
#include "engine/memory.hpp"
#include "engine/parallel.hpp"
#include "engine/reference_backward.hpp"
#include "engine/gradcheck.hpp"
#include "engine/graph.hpp"
#include "engine/tensor.hpp"
#include "ops/compare.hpp"
#include "ops/conv.hpp"
#include "ops/elementwise.hpp"
#include "ops/indexing.hpp"
#include "ops/join.hpp"
#include "ops/layers.hpp"
#include "ops/linalg.hpp"
#include "ops/loss.hpp"
#include "ops/matmul.hpp"
#include "ops/optim.hpp"
#include "ops/pad.hpp"
#include "ops/pool.hpp"
#include "ops/reduce.hpp"
#include "ops/registry.hpp"
#include "ops/reductions.hpp"
#include "ops/shape.hpp"
