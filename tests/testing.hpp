// Helpers shared by the test programs.
#pragma once

#include <stdlib.h>  // mkdtemp

#include <algorithm>
#include <boost/test/unit_test.hpp>
#include <cmath>
#include <exception>
#include <filesystem>
#include <gradlab/gradlab.hpp>
#include <string>
#include <vector>

namespace gradlab::testing {

// Checks t's shape, then each value (row-major) against numbers worked out by hand.
inline void check_values(const Tensor& t, const std::string& shape, const std::vector<double>& want,
                         double tol = 1e-12) {
  BOOST_TEST(to_string(t.shape()) == shape);
  const std::vector<double> got = t.values();
  BOOST_TEST_REQUIRE(got.size() == want.size());
  for (std::size_t i = 0; i < got.size(); ++i)
    BOOST_TEST(std::abs(got[i] - want[i]) <= tol,
               "element " << i << ": got " << got[i] << ", want " << want[i]);
}

// For BOOST_CHECK_EXCEPTION: the error message contains `text`.
inline auto says(std::string text) {
  return [text](const std::exception& e) {
    const std::string what = e.what();
    const bool found = what.find(text) != std::string::npos;
    BOOST_CHECK_MESSAGE(found, "message \"" << what << "\" lacks \"" << text << "\"");
    return found;
  };
}

// gradcheck and gradgradcheck in float64 both pass.
inline void check_first_and_second_derivatives(const Function& f,
                                               const std::vector<Tensor>& inputs) {
  const GradcheckResult r = gradcheck(f, inputs);
  BOOST_TEST(r.ok, r.message);
  const GradcheckResult rr = gradgradcheck(f, inputs);
  BOOST_TEST(rr.ok, rr.message);
}

// A fresh directory under the system's temporary one, removed with everything in it.
struct TempDir {
  std::filesystem::path path;
  explicit TempDir(const std::string& prefix = "gradlab-test") {
    std::string name = (std::filesystem::temp_directory_path() / (prefix + "-XXXXXX")).string();
    BOOST_TEST_REQUIRE(mkdtemp(name.data()) != nullptr);
    path = name;
  }
  ~TempDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path, ignored);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  // The names of the files in it, sorted.
  std::vector<std::string> files() const {
    std::vector<std::string> names;
    for (const auto& entry : std::filesystem::directory_iterator(path))
      names.push_back(entry.path().filename());
    std::sort(names.begin(), names.end());
    return names;
  }
};

}  // namespace gradlab::testing
