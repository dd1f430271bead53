// Fuzzes the whole input of the command line: the bytes are the JSON document given to
// `gradlab grad` and to `gradlab check`, run in-process by cli::run exactly as the program
// runs them.
//
// The contract checked (README, "The gradlab command line"): exit status 0 with the output
// on stdout and nothing on stderr, or exit status 2 with nothing on stdout and exactly one
// line on stderr that starts with "gradlab <subcommand>: " — for a syntax error in an
// expression, that line and two more, the expression's line and a caret. A broken contract
// is __builtin_trap(); a crash, a sanitizer report, a leak or a hang libFuzzer reports itself.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>

#include "cli/commands.hpp"

namespace {

void require(bool condition) {
  if (!condition) __builtin_trap();
}

std::size_t count_lines(const std::string& text) {
  std::size_t n = 0;
  for (char c : text) n += c == '\n';
  return n;
}

void run(const std::string& subcommand, const std::string& document) {
  const gradlab::cli::Outcome outcome =
      gradlab::cli::run({subcommand}, [&](const std::string&, std::size_t) { return document; });
  if (outcome.status == 0) {
    require(outcome.err.empty() && !outcome.out.empty());
    return;
  }
  require(outcome.status == 2);  // not 1: that needs --strict
  require(outcome.out.empty());
  const std::string& err = outcome.err;
  const std::string prefix = "gradlab " + subcommand + ": ";
  require(err.rfind(prefix, 0) == 0 && !err.empty() && err.back() == '\n');
  for (const char c : err)  // no NUL to cut the line short, no carriage return to garble it
    require(c == '\n' || c == '\t' || static_cast<unsigned char>(c) >= 0x20);
  // "gradlab grad: syntax error at …" or, in a claim, "gradlab check: claims.W: syntax error
  // at …" (a name holds no ':' or space). Anything else with those words, such as JSON's own
  // syntax errors quoting the input, is not one.
  std::size_t at = prefix.size();
  if (err.compare(at, 7, "claims.") == 0) at = std::min(err.find(": ", at), err.size() - 2) + 2;
  const bool syntax = err.compare(at, 16, "syntax error at ") == 0;
  const std::size_t lines = count_lines(err);
  if (!syntax) {
    require(lines == 1);
    return;
  }
  require(lines == 3);
  const std::size_t caret_line = err.rfind('\n', err.size() - 2) + 1;
  require(err.compare(caret_line, 4, "    ") == 0 && err[err.size() - 2] == '^');
  require(err.find_first_not_of(" \t", caret_line) == err.size() - 2);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string document(reinterpret_cast<const char*>(data), size);
  run("grad", document);
  run("check", document);
  return 0;
}
