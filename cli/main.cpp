// The `gradlab` program: cli/commands.cpp does the work; this reads stdin when asked and
// prints what it says.
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <iostream>
#include <string>
#include <vector>

#include "cli/commands.hpp"

int main(int argc, char** argv) {
  const gradlab::cli::Outcome outcome =
      gradlab::cli::run({argv + 1, argv + argc}, [](const std::string& subcommand, std::size_t max_bytes) {
        if (isatty(STDIN_FILENO))  // a learner who typed just `gradlab grad` should not wonder why it waits
          std::cerr << "gradlab " << subcommand
                    << ": reading the JSON document from stdin (end it with Ctrl-D; --help "
                       "shows an example)\n";
        return gradlab::cli::read_at_most(STDIN_FILENO, max_bytes, "stdin");
      });
  // Every byte of the output is written, or the program says it was not: `> /dev/full`, a
  // full disk or a closed pipe must not look like success with the JSON cut short.
  for (std::size_t written = 0; written < outcome.out.size();) {
    const ssize_t n = ::write(STDOUT_FILENO, outcome.out.data() + written, outcome.out.size() - written);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      std::cerr << outcome.prefix << ": cannot write the output to stdout: "
                << (n < 0 ? std::strerror(errno) : "nothing was written") << '\n';
      return 2;
    }
    written += static_cast<std::size_t>(n);
  }
  std::cerr << outcome.err;
  return outcome.status;
}
