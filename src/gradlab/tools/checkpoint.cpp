// Checkpoints: the format is described byte by byte in checkpoint.hpp.
#include "gradlab/tools/checkpoint.hpp"

#include <array>
#include <bit>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <limits>
#include <map>
#include <set>
#include <string>
#include <string_view>

#include "gradlab/tools/files.hpp"

namespace gradlab {

namespace {

constexpr std::string_view magic{"GRADLAB\0", 8};
constexpr std::uint32_t format_version = 1;
constexpr std::size_t header_size = 8 + 4 + 4;  // magic, version, parameter count
constexpr std::size_t checksum_size = 4;

// CRC-32 as zlib, PNG and Ethernet compute it. The checksum is the remainder of dividing
// the message, read as a polynomial over GF(2), by 0x04C11DB7; bits go in least significant
// first, so the divisor appears bit-reversed as 0xEDB88320. table[b] is what shifting the
// eight bits of b through the division leaves behind, which lets the loop eat a byte at a
// time. Starting from all ones and inverting at the end make leading and trailing zero
// bytes count. A single flipped bit (indeed any burst of up to 32) always changes it.
std::uint32_t crc32(std::string_view bytes) {
  static constexpr std::array<std::uint32_t, 256> table = [] {
    std::array<std::uint32_t, 256> t{};
    for (std::uint32_t b = 0; b < 256; ++b) {
      std::uint32_t r = b;
      for (int bit = 0; bit < 8; ++bit) r = (r & 1) ? (r >> 1) ^ 0xEDB88320u : r >> 1;
      t[b] = r;
    }
    return t;
  }();
  std::uint32_t crc = 0xFFFFFFFFu;
  for (const unsigned char byte : bytes) crc = table[(crc ^ byte) & 0xFFu] ^ (crc >> 8);
  return crc ^ 0xFFFFFFFFu;
}

std::uint8_t dtype_code(DType dtype) { return dtype == DType::float32 ? 0 : 1; }

// ---- writing ----

// An unsigned integer, least significant byte first, whatever the machine's byte order.
template <class U>
void put(std::string& out, U value) {
  for (std::size_t i = 0; i < sizeof(U); ++i)
    out.push_back(static_cast<char>((value >> (8 * i)) & 0xFFu));
}

template <class T>
void put_numbers(std::string& out, const Tensor& t) {
  const T* numbers = t.data<T>();
  const auto count = static_cast<std::size_t>(t.numel());
  if constexpr (std::endian::native == std::endian::little) {
    out.append(reinterpret_cast<const char*>(numbers), count * sizeof(T));  // already in order
  } else {
    using Bits = std::conditional_t<sizeof(T) == 4, std::uint32_t, std::uint64_t>;
    for (std::size_t i = 0; i < count; ++i) put(out, std::bit_cast<Bits>(numbers[i]));
  }
}

// ---- reading ----

// What the file says about one parameter; `numbers` points into the file's bytes.
struct Entry {
  std::string name;
  DType dtype;
  Shape shape;
  std::string_view numbers;
};

// Reads fixed-size fields front to back. Callers check remaining() before each take():
// no length from the file is trusted before it is compared with the bytes really there.
class Cursor {
 public:
  explicit Cursor(std::string_view bytes) : bytes_(bytes) {}
  std::size_t at() const { return at_; }
  std::size_t remaining() const { return bytes_.size() - at_; }
  std::string_view take(std::size_t n) {
    const std::string_view part = bytes_.substr(at_, n);
    at_ += n;
    return part;
  }
  template <class U>
  U take() {
    U value = 0;
    for (std::size_t i = 0; i < sizeof(U); ++i)
      value |= static_cast<U>(static_cast<unsigned char>(bytes_[at_ + i])) << (8 * i);
    at_ += sizeof(U);
    return value;
  }

 private:
  std::string_view bytes_;
  std::size_t at_ = 0;
};

// Built by appending: GCC 12 warns, wrongly, about "'" + string (-Wrestrict).
std::string quoted(const std::filesystem::path& path) {
  std::string text(1, '\'');
  text += path.string();
  text += '\'';
  return text;
}

// Checks the whole file — structure, sizes, checksum — and returns what it holds. Every
// problem is a FormatError "<caller>: '<path>' is …".
std::vector<Entry> parse(std::string_view bytes, const std::filesystem::path& path,
                         const char* caller) {
  const std::string file = std::string(caller) + ": " + quoted(path);
  const auto bad = [&](const std::string& what) { return FormatError(file + " " + what); };
  Cursor in(bytes);

  // A file cut off inside the magic is still recognisably ours: call it truncated.
  if (bytes.size() < magic.size() && magic.starts_with(bytes))
    throw bad("is truncated in the header: it has " + std::to_string(bytes.size()) +
              " bytes, a checkpoint has at least " + std::to_string(header_size + checksum_size));
  if (!bytes.starts_with(magic))
    throw bad("is not a gradlab checkpoint: it does not begin with \"GRADLAB\\0\"");
  in.take(magic.size());
  if (in.remaining() < 8)
    throw bad("is truncated in the header: it has " + std::to_string(bytes.size()) +
              " bytes, a checkpoint has at least " + std::to_string(header_size + checksum_size));
  // The version comes before anything else is interpreted: a later version may lay out
  // everything after it differently, the checksum included.
  const auto version = in.take<std::uint32_t>();
  if (version != format_version)
    throw bad("has format version " + std::to_string(version) + "; this gradlab reads version " +
              std::to_string(format_version));
  const auto count = in.take<std::uint32_t>();

  // `where` names the parameter being read: by position until its name is known.
  std::string where;
  const auto need = [&](std::uint64_t n, const std::string& what) {
    if (in.remaining() < n)
      throw bad("is truncated in " + where + ": the file has " + std::to_string(bytes.size()) +
                " bytes; " + what + " would end at byte " + std::to_string(in.at() + n));
  };
  std::vector<Entry> entries;  // grows only as entries are read: never sized by `count`
  for (std::uint32_t i = 0; i < count; ++i) {
    where = "parameter " + std::to_string(i);
    need(4, "the length of its name");
    const auto name_length = in.take<std::uint32_t>();
    if (name_length == 0) throw bad("is corrupted: " + where + " has an empty name");
    need(name_length, "its name");
    Entry entry;
    entry.name = in.take(name_length);
    where = "parameter '" + entry.name + "'";

    need(1, "its dtype");
    const auto code = in.take<std::uint8_t>();
    if (code > 1)
      throw bad("is corrupted: " + where + " has dtype code " + std::to_string(code) +
                " (0 is float32, 1 is float64)");
    entry.dtype = code == 0 ? DType::float32 : DType::float64;

    need(4, "its rank");
    const auto rank = in.take<std::uint32_t>();
    need(8 * std::uint64_t{rank}, "its " + std::to_string(rank) + " dimensions");
    entry.shape.resize(rank);
    for (std::int64_t& d : entry.shape) d = static_cast<std::int64_t>(in.take<std::uint64_t>());
    // The element count must fit, in bytes, in an int64, as it must for any tensor
    // (tensor.cpp checks the same); then the byte count below cannot overflow.
    const auto element_size = static_cast<std::int64_t>(size_of(entry.dtype));
    std::int64_t elements = 1;
    for (const std::int64_t d : entry.shape) {
      if (d < 0 ||
          (d > 0 && elements > std::numeric_limits<std::int64_t>::max() / element_size / d))
        throw bad("is corrupted: " + where + " has the impossible shape " + to_string(entry.shape));
      elements *= d;
    }
    const auto size = static_cast<std::uint64_t>(elements * element_size);
    need(size, "its numbers (" + to_string(entry.shape) + ", " + to_string(entry.dtype) + ")");
    entry.numbers = in.take(size);
    entries.push_back(std::move(entry));
  }

  where = "the checksum";
  need(checksum_size, "the checksum");
  if (in.remaining() > checksum_size)
    throw bad("is corrupted: " + std::to_string(in.remaining() - checksum_size) +
              " bytes follow the last parameter, where only the checksum belongs");
  const std::string_view content = bytes.substr(0, in.at());
  const auto stored = in.take<std::uint32_t>();
  if (const std::uint32_t computed = crc32(content); computed != stored) {
    char numbers[64];
    std::snprintf(numbers, sizeof numbers, "0x%08X, the contents give 0x%08X", stored, computed);
    throw bad(std::string("is corrupted: its checksum says ") + numbers);
  }

  // The checksum is right, so the file is as it was written; save_checkpoint never writes
  // two parameters of one name, so this file was not made by it.
  std::map<std::string_view, std::size_t> seen;
  for (std::size_t i = 0; i < entries.size(); ++i)
    if (!seen.emplace(entries[i].name, i).second)
      throw bad("is corrupted: parameters " + std::to_string(seen[entries[i].name]) + " and " +
                std::to_string(i) + " are both named '" + entries[i].name + "'");
  return entries;
}

// Decodes an entry's little-endian numbers into a tensor's storage (of the same dtype).
template <class T>
void get_numbers(const Entry& entry, Tensor& to) {
  T* numbers = to.data<T>();
  if constexpr (std::endian::native == std::endian::little) {
    std::memcpy(numbers, entry.numbers.data(), entry.numbers.size());
  } else {
    using Bits = std::conditional_t<sizeof(T) == 4, std::uint32_t, std::uint64_t>;
    Cursor in(entry.numbers);
    for (std::size_t i = 0; in.remaining() > 0; ++i) numbers[i] = std::bit_cast<T>(in.take<Bits>());
  }
}
void get_numbers(const Entry& entry, Tensor& to) {
  if (entry.dtype == DType::float32)
    get_numbers<float>(entry, to);
  else
    get_numbers<double>(entry, to);
}

// Both save and load need parameters that are defined and named, each name once.
void check_names(const std::vector<Tensor>& parameters, const std::string& context) {
  std::map<std::string_view, std::size_t> seen;
  for (std::size_t i = 0; i < parameters.size(); ++i) {
    const Tensor& p = parameters[i];
    const std::string which = "parameter " + std::to_string(i);
    if (!p.defined()) throw ValueError(context + which + " is undefined");
    if (p.name().empty())
      throw ValueError(context + which + " (" + to_string(p.shape()) + ", " + to_string(p.dtype()) +
                       ") has no name: a checkpoint finds parameters by name, so give each "
                       "one, e.g. W.name(\"fc1.weight\")");
    if (const auto [earlier, fresh] = seen.emplace(p.name(), i); !fresh)
      throw ValueError(context + "parameters " + std::to_string(earlier->second) + " and " +
                       std::to_string(i) + " are both named '" + p.name() +
                       "': a checkpoint finds parameters by name, so each needs its own");
  }
}

std::string listed(const std::vector<std::string>& names) {
  std::string text;
  for (const std::string& name : names) text += (text.empty() ? "'" : ", '") + name + "'";
  return text;
}

}  // namespace

void save_checkpoint(const std::filesystem::path& path, const std::vector<Tensor>& parameters) {
  const std::string context = "save_checkpoint: cannot save " + quoted(path) + ": ";
  check_names(parameters, context);
  if (parameters.size() > std::numeric_limits<std::uint32_t>::max())
    throw ValueError(context + "a checkpoint holds at most 2³² − 1 parameters");

  std::size_t size = header_size + checksum_size;
  for (const Tensor& p : parameters)
    size += 4 + p.name().size() + 1 + 4 + 8 * p.shape().size() +
            static_cast<std::size_t>(p.numel()) * size_of(p.dtype());
  std::string out;
  out.reserve(size);
  out.append(magic);
  put(out, format_version);
  put(out, static_cast<std::uint32_t>(parameters.size()));
  for (const Tensor& p : parameters) {
    if (p.name().size() > std::numeric_limits<std::uint32_t>::max())
      throw ValueError(context + "the name of a parameter is longer than 2³² − 1 bytes");
    put(out, static_cast<std::uint32_t>(p.name().size()));
    out.append(p.name());
    put(out, dtype_code(p.dtype()));
    put(out, static_cast<std::uint32_t>(p.shape().size()));
    for (const std::int64_t d : p.shape()) put(out, static_cast<std::uint64_t>(d));
    if (p.dtype() == DType::float32)
      put_numbers<float>(out, p);
    else
      put_numbers<double>(out, p);
  }
  put(out, crc32(out));
  write_file_atomically(path, out, "save_checkpoint");
}

void load_checkpoint(const std::filesystem::path& path, const std::vector<Tensor>& parameters) {
  const char* caller = "load_checkpoint";
  check_names(parameters, "load_checkpoint: cannot load " + quoted(path) + ": ");
  for (std::size_t i = 0; i < parameters.size(); ++i)
    if (!parameters[i].is_leaf())
      throw GraphError("load_checkpoint: cannot load " + quoted(path) + ": parameter " +
                       std::to_string(i) + " ('" + parameters[i].name() +
                       "') was made by an op; load into the leaves it was computed from");

  const std::string bytes = read_file(path, caller);
  const std::vector<Entry> entries = parse(bytes, path, caller);

  // The file must hold exactly the parameters given: a name in one and not the other is
  // most often a renamed layer, and showing both lists at once makes that plain.
  std::map<std::string_view, const Entry*> in_file;
  for (const Entry& entry : entries) in_file.emplace(entry.name, &entry);
  std::vector<std::string> missing, extra;
  std::set<std::string_view> given;
  for (const Tensor& p : parameters) {
    given.insert(p.name());
    if (!in_file.contains(p.name())) missing.push_back(p.name());
  }
  for (const Entry& entry : entries)
    if (!given.contains(entry.name)) extra.push_back(entry.name);
  if (!missing.empty() || !extra.empty()) {
    std::string what;
    if (!missing.empty()) what += "; not in the file: " + listed(missing);
    if (!extra.empty()) what += "; in the file but not given: " + listed(extra);
    throw ValueError("load_checkpoint: " + quoted(path) + " does not hold the parameters given" +
                     what);
  }
  for (const Tensor& p : parameters) {
    const Entry& entry = *in_file.at(p.name());
    if (entry.dtype != p.dtype())
      throw DTypeError("load_checkpoint: parameter '" + p.name() + "' is " +
                       to_string(entry.dtype) + " in " + quoted(path) + " but " +
                       to_string(p.dtype()) + " in the tensor given");
    if (entry.shape != p.shape())
      throw ShapeError("load_checkpoint: parameter '" + p.name() + "' has shape " +
                       to_string(entry.shape) + " in " + quoted(path) + " but " +
                       to_string(p.shape()) + " in the tensor given");
  }

  // Everything checked: only now does any number change.
  for (Tensor p : parameters) get_numbers(*in_file.at(p.name()), p);
}

std::vector<Tensor> read_checkpoint(const std::filesystem::path& path) {
  const char* caller = "read_checkpoint";
  const std::string bytes = read_file(path, caller);
  std::vector<Tensor> tensors;
  for (const Entry& entry : parse(bytes, path, caller)) {
    Tensor t = empty(entry.shape, entry.dtype);
    get_numbers(entry, t);
    tensors.push_back(t.name(entry.name));
  }
  return tensors;
}

}  // namespace gradlab
