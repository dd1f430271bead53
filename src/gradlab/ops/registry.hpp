// Every op's OpInfo (src/gradlab/core/graph.hpp), for the op reference docs/ops.md, the command line's
// help and a program's own listing.
#pragma once

#include <vector>

#include "gradlab/core/graph.hpp"

namespace gradlab {

// Every OpInfo of the library, and those a program declared itself (tutorial 8's
// my_softplus), sorted by name. The library's are there whatever the program calls: this
// function names a function of each op file, so linking it links all of them, and their
// OpInfo constructors run before main (no whole-archive linking needed).
std::vector<const OpInfo*> all_ops();

}  // namespace gradlab
