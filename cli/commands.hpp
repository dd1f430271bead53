// What the `gradlab` program does, as a function: the arguments and the document in, the
// exit status and the text for stdout and stderr out. cli/main.cpp is a thin shell around
// it; the fuzzers (fuzz/) call it directly, thousands of times a second, without a process.
#pragma once

#include <cstddef>
#include <functional>
#include <string>
#include <vector>

namespace gradlab::cli {

// The exit status (0 done, 1 a wrong claim under `check --strict`, 2 bad input or usage, or
// output that could not be written) and what the program prints.
struct Outcome {
  int status = 0;
  std::string out;  // the JSON, the DOT text or the help
  std::string err;  // empty, or one line "gradlab <subcommand>: …" (a syntax error adds the
                    // expression and a caret)
  std::string prefix = "gradlab";  // "gradlab <subcommand>", which starts every message
};

// Reads the document from stdin; given the subcommand, for a hint while it waits, and the
// most bytes the document may have (--max-input-bytes): more than one byte past them need
// not be read. Called only when the document does not come from --input FILE.
using ReadStdin = std::function<std::string(const std::string& subcommand, std::size_t max_bytes)>;

// The bytes of the open file `fd` up to its end, or up to max_bytes + 1 if it goes on (so
// that the caller can tell it is too long without reading /dev/zero until memory runs out).
// A failed read is an error naming `name` ("stdin", "'doc.json'") and the system's reason.
std::string read_at_most(int fd, std::size_t max_bytes, const std::string& name);

// `gradlab args…` (args without the program's name). Every error, of any kind, ends in
// `Outcome::err`; nothing is thrown.
Outcome run(const std::vector<std::string>& args, const ReadStdin& read_stdin);

}  // namespace gradlab::cli
