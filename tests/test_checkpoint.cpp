#define BOOST_TEST_MODULE checkpoint
#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <stdlib.h>  // mkdtemp
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <boost/test/unit_test.hpp>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <gradlab/gradlab.hpp>
#include <iterator>
#include <limits>
#include <optional>
#include <string>
#include <vector>

#include "testing.hpp"

using namespace gradlab;
using namespace gradlab::testing;
namespace fs = std::filesystem;

namespace {

// ---- files ----


std::string read(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}
// A new file each time, not the old one truncated: ext4 flushes a file rewritten in place
// to the disk when it is closed (auto_da_alloc), which made the loops below take seconds.
void write(const fs::path& path, const std::string& bytes) {
  fs::remove(path);
  std::ofstream(path, std::ios::binary) << bytes;
}
bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

// ---- tensors ----

// The bytes of a tensor's numbers: equal bytes are equal bit for bit, NaN payloads and
// the sign of zero included, which == on the values would not show.
std::string bits(const Tensor& t) {
  return {static_cast<const char*>(t.impl()->storage->data()),
          static_cast<std::size_t>(t.numel()) * size_of(t.dtype())};
}
std::vector<std::string> bits(const std::vector<Tensor>& ts) {
  std::vector<std::string> all;
  for (const Tensor& t : ts) all.push_back(bits(t));
  return all;
}

Tensor named(Tensor t, const char* name) { return t.name(name); }

// For BOOST_CHECK_EXCEPTION: the message contains every one of `texts`.
auto says_all(std::vector<std::string> texts) {
  return [texts](const std::exception& e) {
    bool all = true;
    for (const std::string& text : texts) all = says(text)(e) && all;
    return all;
  };
}

// A small CNN: 6×6 image → conv 3×3 (4 channels) → relu → 2×2 max pool → linear to 3.
struct SmallCnn {
  Tensor conv_weight, conv_bias, fc_weight, fc_bias;
  explicit SmallCnn(std::uint64_t seed) {
    Generator gen(seed);
    conv_weight = randn({4, 1, 3, 3}, gen).set_requires_grad().name("conv1.weight");
    conv_bias = randn({4}, gen).set_requires_grad().name("conv1.bias");
    fc_weight = randn({16, 3}, gen).set_requires_grad().name("fc.weight");
    fc_bias = randn({3}, gen).set_requires_grad().name("fc.bias");
  }
  std::vector<Tensor> parameters() const { return {conv_weight, conv_bias, fc_weight, fc_bias}; }
  Tensor forward(const Tensor& image) const {
    const Tensor features = max_pool2d(relu(conv2d(image, conv_weight, conv_bias)), 2);
    return matmul(flatten(features), fc_weight) + fc_bias;  // [1, 3]
  }
};

// Three parameters of both dtypes, one a scalar: small enough to cut and corrupt at every
// byte, varied enough to reach every field of the format.
std::vector<Tensor> three_parameters(double offset) {
  return {named(from_vector({1 + offset, 2, 3, 4, 5, 6, 7, 8}, {2, 1, 2, 2}, DType::float32),
                "conv1.weight"),
          named(from_vector({-1 + offset, 0.5}, {2}), "conv1.bias"),
          named(scalar(0.25 + offset, DType::float32), "scale")};
}

// CRC-32 a bit at a time, straight from the definition (reflected polynomial 0xEDB88320):
// an independent check of the library's table-driven one, and the way to forge files whose
// checksum is right but whose contents are not.
std::uint32_t crc32_bitwise(std::string_view bytes) {
  std::uint32_t crc = 0xFFFFFFFFu;
  for (const unsigned char byte : bytes) {
    crc ^= byte;
    for (int bit = 0; bit < 8; ++bit) crc = (crc >> 1) ^ (0xEDB88320u & (0u - (crc & 1u)));
  }
  return ~crc;
}
// Recomputes the checksum at the end of a (modified) checkpoint.
std::string with_checksum(std::string file) {
  const std::uint32_t crc = crc32_bitwise(std::string_view(file).substr(0, file.size() - 4));
  for (int i = 0; i < 4; ++i) file[file.size() - 4 + i] = static_cast<char>(crc >> (8 * i));
  return file;
}
void put_u32(std::string& file, std::size_t at, std::uint32_t value) {
  for (int i = 0; i < 4; ++i) file[at + i] = static_cast<char>(value >> (8 * i));
}
void put_i64(std::string& file, std::size_t at, std::int64_t value) {
  for (int i = 0; i < 8; ++i)
    file[at + i] = static_cast<char>(static_cast<std::uint64_t>(value) >> (8 * i));
}

// Sets RLIMIT_FSIZE for its lifetime: a write past `bytes` into any file then fails with
// EFBIG, as on a full disk (SIGXFSZ, which would kill the process, is ignored meanwhile).
struct FileSizeLimit {
  rlimit before{};
  struct sigaction old_action {};
  explicit FileSizeLimit(rlim_t bytes) {
    getrlimit(RLIMIT_FSIZE, &before);
    struct sigaction ignore {};
    ignore.sa_handler = SIG_IGN;
    sigaction(SIGXFSZ, &ignore, &old_action);
    rlimit limit = before;
    limit.rlim_cur = bytes;
    setrlimit(RLIMIT_FSIZE, &limit);
  }
  ~FileSizeLimit() {
    setrlimit(RLIMIT_FSIZE, &before);
    sigaction(SIGXFSZ, &old_action, nullptr);
  }
};

}  // namespace

// ---- 1. round trips ----

BOOST_AUTO_TEST_CASE(a_cnn_loaded_from_a_checkpoint_computes_what_the_saved_one_did) {
  TempDir dir("gradlab-test-checkpoint");
  const fs::path path = dir.path / "cnn.ckpt";
  const SmallCnn trained(1);
  save_checkpoint(path, trained.parameters());

  SmallCnn fresh(2);  // other weights, same layers
  Generator gen(3);
  const Tensor image = randn({1, 1, 6, 6}, gen);
  BOOST_TEST(max_abs_diff(fresh.forward(image), trained.forward(image)) > 0.0);
  load_checkpoint(path, fresh.parameters());
  BOOST_TEST(bits(fresh.parameters()) == bits(trained.parameters()));
  BOOST_TEST(bits(fresh.forward(image)) == bits(trained.forward(image)));

  // The parameters are still leaves that require grad, with no gradient yet, and train.
  for (const Tensor& p : fresh.parameters()) {
    BOOST_TEST(p.is_leaf());
    BOOST_TEST(p.requires_grad());
    BOOST_TEST(!p.grad().defined());
  }
  sum(fresh.forward(image)).backward();
  BOOST_TEST(to_string(fresh.conv_weight.grad().shape()) == "[4, 1, 3, 3]");
  BOOST_TEST(dir.files() == std::vector<std::string>{"cnn.ckpt"});
}

BOOST_AUTO_TEST_CASE(every_shape_and_dtype_comes_back_bit_for_bit) {
  constexpr double inf = std::numeric_limits<double>::infinity();
  const double nan = std::nan("0x5ca1ab1e");  // a payload, which must survive too
  const float tiny = std::numeric_limits<float>::denorm_min();
  const std::vector<Tensor> saved = {
      named(scalar(-0.0), "σ"),                       // 0-dimensional
      named(zeros({0, 3}, DType::float32), "empty"),  // no numbers at all
      named(from_vector({nan, -inf, inf, -0.0, 1e-310, std::numeric_limits<double>::max()}, {2, 3}),
            "ŷ.weight"),
      named(from_vector({tiny, -1.0f / 3, 16777217.0, std::numeric_limits<float>::lowest(), 0.1},
                        {5}, DType::float32),
            "β₁"),
      named(rand({2, 3, 4}, DType::float32), "layer 2/conv"),
      named(empty({3, 0, 2}), "also empty"),
  };
  TempDir dir("gradlab-test-checkpoint");
  const fs::path path = dir.path / "all.ckpt";
  save_checkpoint(path, saved);

  // read_checkpoint: everything, in the file's order, as new leaves.
  const std::vector<Tensor> read_back = read_checkpoint(path);
  BOOST_TEST_REQUIRE(read_back.size() == saved.size());
  for (std::size_t i = 0; i < saved.size(); ++i) {
    BOOST_TEST(read_back[i].name() == saved[i].name());
    BOOST_TEST(read_back[i].dtype() == saved[i].dtype());
    BOOST_TEST(to_string(read_back[i].shape()) == to_string(saved[i].shape()));
    BOOST_TEST(bits(read_back[i]) == bits(saved[i]), "parameter " << saved[i].name());
    BOOST_TEST(read_back[i].is_leaf());
    BOOST_TEST(!read_back[i].requires_grad());
  }

  // load_checkpoint: in place, matched by name whatever the order.
  std::vector<Tensor> targets;
  for (auto it = saved.rbegin(); it != saved.rend(); ++it)
    targets.push_back(named(full(it->shape(), 42.0, it->dtype()), it->name().c_str()));
  load_checkpoint(path, targets);
  for (std::size_t i = 0; i < saved.size(); ++i)
    BOOST_TEST(bits(targets[saved.size() - 1 - i]) == bits(saved[i]));

  // What read_checkpoint returns saves again to the same bytes.
  save_checkpoint(dir.path / "copy.ckpt", read_back);
  BOOST_TEST(read(dir.path / "copy.ckpt") == read(path));
}

BOOST_AUTO_TEST_CASE(no_parameters_at_all_is_a_checkpoint_too) {
  TempDir dir("gradlab-test-checkpoint");
  save_checkpoint(dir.path / "none.ckpt", {});
  BOOST_TEST(read(dir.path / "none.ckpt").size() == 20u);  // header and checksum
  BOOST_TEST(read_checkpoint(dir.path / "none.ckpt").empty());
  load_checkpoint(dir.path / "none.ckpt", {});
}

// The example in checkpoint.hpp, byte for byte; its checksum is Python's zlib.crc32.
BOOST_AUTO_TEST_CASE(the_format_byte_by_byte) {
  TempDir dir("gradlab-test-checkpoint");
  save_checkpoint(dir.path / "w.ckpt", {named(from_vector({1.0, -2.0}, {2}, DType::float32), "w")});
  const unsigned char want[] = {
      0x47, 0x52, 0x41, 0x44, 0x4C, 0x41, 0x42, 0x00,  // "GRADLAB\0"
      0x01, 0x00, 0x00, 0x00,                          // version 1
      0x01, 0x00, 0x00, 0x00,                          // 1 parameter
      0x01, 0x00, 0x00, 0x00, 0x77,                    // name: 1 byte, "w"
      0x00,                                            // float32
      0x01, 0x00, 0x00, 0x00,                          // rank 1
      0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,  // shape [2]
      0x00, 0x00, 0x80, 0x3F, 0x00, 0x00, 0x00, 0xC0,  // 1.0f, −2.0f
      0xDE, 0x5C, 0xBB, 0x0E,                          // CRC-32 0x0EBB5CDE
  };
  BOOST_TEST(read(dir.path / "w.ckpt") == std::string(std::begin(want), std::end(want)));
  BOOST_TEST(crc32_bitwise("123456789") == 0xCBF43926u);  // the standard check value
}

// ---- 2. saving: what can go wrong ----

BOOST_AUTO_TEST_CASE(save_needs_a_unique_name_for_each_defined_parameter) {
  TempDir dir("gradlab-test-checkpoint");
  const fs::path path = dir.path / "model.ckpt";
  const Tensor W = named(ones({2, 2}), "W");
  BOOST_CHECK_EXCEPTION(
      save_checkpoint(path, {W, ones({3})}), ValueError,
      says_all({"save_checkpoint: ", path.string(), "parameter 1 ([3], float64)", "has no name"}));
  BOOST_CHECK_EXCEPTION(save_checkpoint(path, {W, named(zeros({1}), "b"), named(zeros({2}), "W")}),
                        ValueError, says_all({"parameters 0 and 2", "'W'"}));
  BOOST_CHECK_EXCEPTION(save_checkpoint(path, {W, Tensor()}), ValueError,
                        says("parameter 1 is undefined"));
  BOOST_TEST(dir.files().empty());
}

BOOST_AUTO_TEST_CASE(saving_over_a_checkpoint_replaces_it_whole_and_keeps_its_mode) {
  TempDir dir("gradlab-test-checkpoint");
  const fs::path path = dir.path / "model.ckpt";
  save_checkpoint(path, three_parameters(0));
  // A new file gets what open() gives any new file: 0666 less the umask.
  const mode_t umask_now = ::umask(0);
  ::umask(umask_now);
  BOOST_TEST((static_cast<mode_t>(fs::status(path).permissions()) & 0777) == (0666 & ~umask_now));

  fs::permissions(path, fs::perms::owner_read | fs::perms::owner_write);
  save_checkpoint(path, three_parameters(100));
  std::vector<Tensor> loaded = three_parameters(-5);
  load_checkpoint(path, loaded);
  BOOST_TEST(bits(loaded) == bits(three_parameters(100)));
  const bool owner_only = (fs::status(path).permissions() & fs::perms::all) ==
                          (fs::perms::owner_read | fs::perms::owner_write);
  BOOST_TEST(owner_only);
  BOOST_TEST(dir.files() == std::vector<std::string>{"model.ckpt"});
}

// The process dies (SIGXFSZ: the file grew past its limit) halfway through writing: the
// previous checkpoint is untouched. The half-written temporary stays, as after any crash,
// under a hidden name nobody will load by mistake.
BOOST_AUTO_TEST_CASE(a_crash_while_saving_leaves_the_previous_checkpoint_intact) {
  TempDir dir("gradlab-test-checkpoint");
  const fs::path path = dir.path / "cnn.ckpt";
  const SmallCnn first(1), second(2);
  save_checkpoint(path, first.parameters());
  const std::string before = read(path);

  const pid_t child = fork();
  BOOST_TEST_REQUIRE(child >= 0);
  if (child == 0) {  // dies in write(): SIGXFSZ's default action ends the process
    signal(SIGXFSZ, SIG_DFL);
    const rlimit no_core{0, 0}, small{100, 100};
    setrlimit(RLIMIT_CORE, &no_core);
    setrlimit(RLIMIT_FSIZE, &small);
    try {
      save_checkpoint(path, second.parameters());
    } catch (...) {
    }
    _exit(0);  // not reached
  }
  int status = 0;
  BOOST_TEST_REQUIRE(waitpid(child, &status, 0) == child);
  BOOST_TEST_REQUIRE(WIFSIGNALED(status));
  BOOST_TEST(WTERMSIG(status) == SIGXFSZ);

  BOOST_TEST(read(path) == before);
  SmallCnn restored(3);
  load_checkpoint(path, restored.parameters());
  BOOST_TEST(bits(restored.parameters()) == bits(first.parameters()));
  const auto files = dir.files();
  BOOST_TEST_REQUIRE(files.size() == 2u);
  BOOST_TEST(files[0].starts_with(".cnn.ckpt.gradlab-save_checkpoint-"));
  BOOST_TEST(read(dir.path / files[0]).size() == 100u);  // cut off at the limit
  BOOST_TEST(files[1] == "cnn.ckpt");
  // The next save of the same checkpoint removes what the dead one left.
  save_checkpoint(path, second.parameters());
  BOOST_TEST(dir.files() == std::vector<std::string>{"cnn.ckpt"});
}

// Leftovers of killed saves piled up, a whole checkpoint each: a save removes those of its
// own target that no live save holds, and nothing else.
BOOST_AUTO_TEST_CASE(a_save_removes_the_stale_temporaries_of_its_target_only) {
  TempDir dir("gradlab-test-checkpoint");
  const fs::path path = dir.path / "model.ckpt";
  const std::string stale = ".model.ckpt.gradlab-save_checkpoint-abcdef";
  const std::string live = ".model.ckpt.gradlab-save_checkpoint-ghijkl";
  const std::string other = ".other.ckpt.gradlab-save_checkpoint-abcdef";
  for (const std::string& name : {stale, live, other}) write(dir.path / name, "half a checkpoint");
  const int held = ::open((dir.path / live).c_str(), O_RDONLY);  // a save in progress
  BOOST_TEST_REQUIRE(held >= 0);
  BOOST_TEST_REQUIRE(::flock(held, LOCK_EX) == 0);
  save_checkpoint(path, three_parameters(0));
  ::close(held);
  BOOST_TEST(dir.files() == (std::vector<std::string>{live, other, "model.ckpt"}));
}

// A checkpoint saved through a symbolic link: the link stays, the file it names is replaced
// (it was the link that was replaced by a regular file, cutting it from its target).
BOOST_AUTO_TEST_CASE(saving_through_a_symbolic_link_replaces_the_file_it_names) {
  TempDir dir("gradlab-test-checkpoint");
  fs::create_directory(dir.path / "runs");
  const fs::path target = dir.path / "runs" / "model-v2.ckpt", link = dir.path / "latest.ckpt";
  save_checkpoint(target, three_parameters(0));
  fs::create_symlink("runs/model-v2.ckpt", link);  // relative, as ln -s makes them
  save_checkpoint(link, three_parameters(100));
  BOOST_TEST(fs::is_symlink(link));
  BOOST_TEST(fs::read_symlink(link) == fs::path("runs/model-v2.ckpt"));
  std::vector<Tensor> loaded = three_parameters(-5);
  load_checkpoint(target, loaded);
  BOOST_TEST(bits(loaded) == bits(three_parameters(100)));
  BOOST_TEST(dir.files() == (std::vector<std::string>{"latest.ckpt", "runs"}));

  // A dangling link names the file to create.
  fs::create_symlink("runs/new.ckpt", dir.path / "next.ckpt");
  save_checkpoint(dir.path / "next.ckpt", three_parameters(7));
  BOOST_TEST(fs::is_symlink(dir.path / "next.ckpt"));
  BOOST_TEST(fs::is_regular_file(dir.path / "runs" / "new.ckpt"));
}

// A read-only checkpoint (0444) was silently replaced; now it is refused as cp refuses it,
// even for root, and left as it was.
BOOST_AUTO_TEST_CASE(a_read_only_checkpoint_is_refused_and_untouched) {
  TempDir dir("gradlab-test-checkpoint");
  const fs::path path = dir.path / "model.ckpt";
  save_checkpoint(path, three_parameters(0));
  const std::string before = read(path);
  fs::permissions(path, fs::perms::owner_read | fs::perms::group_read | fs::perms::others_read);
  BOOST_CHECK_EXCEPTION(save_checkpoint(path, three_parameters(100)), IOError,
                        says_all({"save_checkpoint: cannot write '" + path.string() + "'", "read-only",
                                  std::strerror(EACCES)}));
  BOOST_TEST(read(path) == before);
  BOOST_TEST((static_cast<mode_t>(fs::status(path).permissions()) & 0777) == 0444u);
  BOOST_TEST(dir.files() == std::vector<std::string>{"model.ckpt"});
}

// The same, but the program survives: write() fails with EFBIG as on a full disk. The
// error says so, and this time the temporary is cleaned up.
BOOST_AUTO_TEST_CASE(a_failed_write_is_an_io_error_and_leaves_no_temporary) {
  TempDir dir("gradlab-test-checkpoint");
  const fs::path path = dir.path / "cnn.ckpt";
  const SmallCnn first(1), second(2);
  save_checkpoint(path, first.parameters());
  const std::string before = read(path);
  std::optional<std::string> error;
  {
    const FileSizeLimit limit(100);  // nothing below may write to a file: report afterwards
    try {
      save_checkpoint(path, second.parameters());
    } catch (const IOError& e) {
      error = e.what();
    }
  }
  BOOST_TEST_REQUIRE(error.has_value());
  BOOST_TEST(error->starts_with("save_checkpoint: cannot write '" + path.string() + "'"));
  BOOST_TEST(contains(*error, "writing failed"), *error);
  BOOST_TEST(read(path) == before);
  BOOST_TEST(dir.files() == std::vector<std::string>{"cnn.ckpt"});
}

// A directory in the way: everything is written, then the rename fails. Nothing changes.
BOOST_AUTO_TEST_CASE(saving_onto_a_directory_fails_at_the_rename_and_leaves_no_temporary) {
  TempDir dir("gradlab-test-checkpoint");
  const fs::path path = dir.path / "model.ckpt";
  fs::create_directory(path);
  write(path / "inside", "untouched");
  BOOST_CHECK_EXCEPTION(save_checkpoint(path, three_parameters(0)), IOError,
                        says_all({"save_checkpoint: ", path.string(), "renaming"}));
  BOOST_TEST(fs::is_directory(path));
  BOOST_TEST(read(path / "inside") == "untouched");
  BOOST_TEST(dir.files() == std::vector<std::string>{"model.ckpt"});

  const fs::path nowhere = dir.path / "no such directory" / "model.ckpt";
  BOOST_CHECK_EXCEPTION(save_checkpoint(nowhere, three_parameters(0)), IOError,
                        says(nowhere.string()));
}

// ---- 3. loading: files that are not right ----

BOOST_AUTO_TEST_CASE(loading_a_missing_file_is_an_io_error) {
  TempDir dir("gradlab-test-checkpoint");
  const fs::path path = dir.path / "never saved.ckpt";
  BOOST_CHECK_EXCEPTION(
      load_checkpoint(path, three_parameters(0)), IOError,
      says_all({"load_checkpoint: cannot read '" + path.string() + "'", "No such file"}));
  BOOST_CHECK_EXCEPTION(read_checkpoint(path), IOError, says("read_checkpoint: "));
  BOOST_CHECK_EXCEPTION(load_checkpoint(dir.path, three_parameters(0)), IOError,
                        says("Is a directory"));
}

BOOST_AUTO_TEST_CASE(a_file_that_is_not_a_checkpoint_says_so) {
  TempDir dir("gradlab-test-checkpoint");
  const fs::path path = dir.path / "notes.txt";
  write(path, "These are not the weights you are looking for.");
  BOOST_CHECK_EXCEPTION(
      load_checkpoint(path, three_parameters(0)), FormatError,
      says_all({"load_checkpoint: '" + path.string() + "'", "is not a gradlab checkpoint"}));
  write(path, "\x89PNG\r\n");  // shorter than the magic, and not a beginning of it
  BOOST_CHECK_EXCEPTION(load_checkpoint(path, {}), FormatError, says("not a gradlab checkpoint"));
}

BOOST_AUTO_TEST_CASE(a_later_format_version_is_refused_by_number) {
  TempDir dir("gradlab-test-checkpoint");
  const fs::path path = dir.path / "model.ckpt";
  save_checkpoint(path, three_parameters(0));
  std::string file = read(path);
  put_u32(file, 8, 2);
  write(path, file);
  BOOST_CHECK_EXCEPTION(load_checkpoint(path, three_parameters(0)), FormatError,
                        says("has format version 2; this gradlab reads version 1"));
}

// Cut the file after every possible number of bytes: each cut is reported as truncation,
// saying where, and no target changes.
BOOST_AUTO_TEST_CASE(a_file_truncated_at_any_length_is_refused_saying_where) {
  TempDir dir("gradlab-test-checkpoint");
  const fs::path path = dir.path / "model.ckpt";
  save_checkpoint(path, three_parameters(0));
  const std::string file = read(path);

  // Where each parameter begins, and where its name ends, worked out from the format.
  struct Span {
    std::string name;
    std::size_t begin, name_end, end;
  };
  std::vector<Span> spans;
  std::size_t at = 16;
  for (const Tensor& p : three_parameters(0)) {
    const std::size_t name_end = at + 4 + p.name().size();
    const std::size_t end =
        name_end + 1 + 4 + 8 * p.shape().size() + p.numel() * size_of(p.dtype());
    spans.push_back({p.name(), at, name_end, end});
    at = end;
  }
  BOOST_TEST_REQUIRE(at + 4 == file.size());

  std::vector<Tensor> targets = three_parameters(1000);
  const std::vector<std::string> untouched = bits(targets);
  for (std::size_t length = 0; length < file.size(); ++length) {
    write(path, file.substr(0, length));
    std::string where = length < 16 ? "in the header" : "in the checksum";
    for (std::size_t i = 0; i < spans.size(); ++i) {
      if (length >= spans[i].begin && length < spans[i].name_end)
        where = "in parameter " + std::to_string(i) + ":";
      if (length >= spans[i].name_end && length < spans[i].end)
        where = "in parameter '" + spans[i].name + "'";
    }
    BOOST_CHECK_EXCEPTION(
        load_checkpoint(path, targets), FormatError,
        says_all({"load_checkpoint: '" + path.string() + "' is truncated " + where}));
    BOOST_TEST(bits(targets) == untouched, "cut at " << length);
  }
}

// Flip each bit of the file in turn: the checksum (or, in a size field, the structure)
// catches every one, and no target changes.
BOOST_AUTO_TEST_CASE(every_single_bit_flip_is_detected) {
  TempDir dir("gradlab-test-checkpoint");
  const fs::path path = dir.path / "model.ckpt";
  save_checkpoint(path, three_parameters(0));
  const std::string file = read(path);
  std::vector<Tensor> targets = three_parameters(1000);
  const std::vector<std::string> untouched = bits(targets);
  int by_checksum = 0;
  for (std::size_t byte = 0; byte < file.size(); ++byte)
    for (int bit = 0; bit < 8; ++bit) {
      std::string flipped = file;
      flipped[byte] = static_cast<char>(flipped[byte] ^ (1 << bit));
      write(path, flipped);
      try {
        load_checkpoint(path, targets);
        BOOST_ERROR("flipping bit " << bit << " of byte " << byte << " went unnoticed");
      } catch (const FormatError& e) {
        by_checksum += contains(e.what(), "checksum") ? 1 : 0;
      } catch (const std::exception& e) {
        BOOST_ERROR("flipping bit " << bit << " of byte " << byte << ": not a FormatError but \""
                                    << e.what() << "\"");
      }
      BOOST_TEST(bits(targets) == untouched, "bit " << bit << " of byte " << byte);
    }
  // Most bytes are names and numbers, which only the checksum can vouch for.
  BOOST_TEST(by_checksum > static_cast<int>(file.size()) * 8 / 2);
}

// Sizes that cannot be: each is refused before anything is allocated for it.
BOOST_AUTO_TEST_CASE(absurd_sizes_are_refused_without_allocating) {
  TempDir dir("gradlab-test-checkpoint");
  const fs::path path = dir.path / "model.ckpt";
  save_checkpoint(path, {named(from_vector({1.0, 2.0}, {2}), "v")});
  // Name length at byte 16, name at 20, dtype at 21, rank at 22, shape at 26, numbers at
  // 34, checksum at 50.
  const std::string file = read(path);
  BOOST_TEST_REQUIRE(file.size() == 54u);
  const auto refused = [&](std::string bad, const std::string& text) {
    write(path, with_checksum(std::move(bad)));
    BOOST_CHECK_EXCEPTION(read_checkpoint(path), FormatError, says(text));
  };
  std::string bad = file;
  put_u32(bad, 16, 0xFFFFFFFF);
  refused(bad,
          "truncated in parameter 0: the file has 54 bytes; its name would end at byte "
          "4294967315");
  bad = file;
  put_u32(bad, 16, 0);
  refused(bad, "parameter 0 has an empty name");
  bad = file;
  put_u32(bad, 12, 0xFFFFFFFF);
  refused(bad, "truncated in parameter 1:");
  bad = file;
  bad[21] = 7;
  refused(bad, "parameter 'v' has dtype code 7");
  bad = file;
  put_u32(bad, 22, 0xFFFFFFFF);
  refused(bad,
          "truncated in parameter 'v': the file has 54 bytes; its 4294967295 dimensions "
          "would end at byte 34359738386");
  bad = file;
  put_i64(bad, 26, std::int64_t{1} << 62);
  refused(bad, "parameter 'v' has the impossible shape [4611686018427387904]");
  bad = file;
  put_i64(bad, 26, -2);
  refused(bad, "parameter 'v' has the impossible shape [-2]");
  bad = file;
  put_i64(bad, 26, 1000);
  refused(bad,
          "truncated in parameter 'v': the file has 54 bytes; its numbers ([1000], float64) "
          "would end at byte 8034");
  refused(file.substr(0, file.size() - 4) + "junk" + file.substr(file.size() - 4),
          "4 bytes follow the last parameter");
}

// Two parameters of one name with a correct checksum: not something save_checkpoint writes.
BOOST_AUTO_TEST_CASE(a_forged_file_with_a_name_twice_is_refused) {
  TempDir dir("gradlab-test-checkpoint");
  const fs::path path = dir.path / "model.ckpt";
  save_checkpoint(path, {named(scalar(1.0), "a"), named(scalar(2.0), "b")});
  std::string file = read(path);
  BOOST_TEST_REQUIRE(file[38] == 'b');  // 16 header + 18 for "a" (4 + 1 + 1 + 4 + 8) + 4
  file[38] = 'a';
  write(path, with_checksum(file));
  BOOST_CHECK_EXCEPTION(read_checkpoint(path), FormatError,
                        says("parameters 0 and 1 are both named 'a'"));
}

// ---- 4. loading: a file that does not fit the model ----

BOOST_AUTO_TEST_CASE(a_shape_or_dtype_mismatch_names_the_parameter_and_changes_nothing) {
  TempDir dir("gradlab-test-checkpoint");
  const fs::path path = dir.path / "cnn.ckpt";
  save_checkpoint(path, SmallCnn(1).parameters());

  SmallCnn other(2);
  other.conv_weight = randn({4, 1, 5, 5}).set_requires_grad().name("conv1.weight");
  std::vector<Tensor> targets = other.parameters();
  std::swap(targets[0], targets[3]);  // the good ones come first: they must not be loaded
  const std::vector<std::string> untouched = bits(targets);
  BOOST_CHECK_EXCEPTION(
      load_checkpoint(path, targets), ShapeError,
      says_all({"load_checkpoint: parameter 'conv1.weight'",
                "[4, 1, 3, 3] in '" + path.string() + "'", "[4, 1, 5, 5] in the tensor given"}));
  BOOST_TEST(bits(targets) == untouched);

  SmallCnn single(2);
  single.fc_bias = randn({3}, DType::float32).name("fc.bias");
  BOOST_CHECK_EXCEPTION(load_checkpoint(path, single.parameters()), DTypeError,
                        says_all({"parameter 'fc.bias' is float64 in '" + path.string() + "'",
                                  "float32 in the tensor given"}));
}

BOOST_AUTO_TEST_CASE(missing_and_extra_parameters_are_named) {
  TempDir dir("gradlab-test-checkpoint");
  const fs::path path = dir.path / "cnn.ckpt";
  save_checkpoint(path, SmallCnn(1).parameters());
  SmallCnn model(2);
  const std::vector<std::string> untouched = bits(model.parameters());

  BOOST_CHECK_EXCEPTION(load_checkpoint(path, {model.conv_weight, model.conv_bias}), ValueError,
                        says_all({"load_checkpoint: '" + path.string() + "'",
                                  "in the file but not given: 'fc.weight', 'fc.bias'"}));
  auto more = model.parameters();
  more.push_back(named(zeros({2}), "fc2.bias"));
  BOOST_CHECK_EXCEPTION(load_checkpoint(path, more), ValueError,
                        says("not in the file: 'fc2.bias'"));
  model.fc_weight.name("fc.W");  // a renamed layer shows up on both sides
  BOOST_CHECK_EXCEPTION(load_checkpoint(path, model.parameters()), ValueError,
                        says_all({"not in the file: 'fc.W'", "not given: 'fc.weight'"}));
  BOOST_TEST(bits(model.parameters()) == untouched);
}

BOOST_AUTO_TEST_CASE(load_checks_its_arguments_like_save) {
  TempDir dir("gradlab-test-checkpoint");
  const fs::path path = dir.path / "model.ckpt";
  const Tensor a = named(ones({2}), "a");
  save_checkpoint(path, {a});
  BOOST_CHECK_EXCEPTION(load_checkpoint(path, {a, a}), ValueError,
                        says("load_checkpoint: cannot load '" + path.string() + "'"));
  BOOST_CHECK_EXCEPTION(load_checkpoint(path, {ones({2})}), ValueError, says("has no name"));
  // Writing into an op's output would not change what it was computed from.
  const Tensor x = ones({2}).set_requires_grad();
  BOOST_CHECK_EXCEPTION(load_checkpoint(path, {named(x * 2.0, "a")}), GraphError,
                        says("made by an op"));
}

// Loading writes the parameters in place: a graph recorded before the load must not
// back-propagate through the loaded numbers as if they were the ones it saw.
BOOST_AUTO_TEST_CASE(loading_into_a_parameter_a_pending_graph_kept_is_caught) {
  TempDir dir;
  Tensor w = tensor({1.0, 2.0}).set_requires_grad().name("w");
  save_checkpoint(dir.path / "w.ckpt", {w});
  const Tensor loss = sum(w * w);
  load_checkpoint(dir.path / "w.ckpt", {w});
  BOOST_CHECK_EXCEPTION(loss.backward(), GraphError,
                        says("the input 0 ('w') [2] of 'hadamard' was at version"));
}
