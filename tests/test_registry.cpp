#define BOOST_TEST_MODULE registry
#include <boost/test/unit_test.hpp>
#include <gradlab/gradlab.hpp>
#include <set>
#include <string>

using namespace gradlab;

// This program calls no op. all_ops() must still list every op of the library: a static
// library links only the files a program refers to, and the op files register their
// OpInfo as they are linked in (src/gradlab/ops/registry.cpp names one function of each).
BOOST_AUTO_TEST_CASE(all_ops_lists_the_ops_of_every_file_without_calling_one) {
  std::set<std::string> names;
  for (const OpInfo* op : all_ops()) names.insert(op->name);
  for (const char* op : {"add", "sigmoid", "matmul", "outer", "sum", "mean", "reshape", "softmax",
                         "cross_entropy", "conv2d", "conv_transpose2d", "pad", "unpad", "gather",
                         "trace", "det", "inverse", "where", "maximum", "clamp", "logsumexp",
                         "norm", "gelu", "embedding", "slice", "index", "scatter_add"})
    BOOST_TEST(names.count(op) == 1u, op);
}
