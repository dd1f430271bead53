// Reading and writing whole files, shared by render() and the checkpoints.
//
// Writing is atomic: the bytes go to a fresh temporary file beside the target, are flushed
// to the disk, and only then renamed over the target. rename() within one directory is
// atomic, so a reader — or the program restarted after a crash or power cut — finds the old
// file or the whole new one, never half of either. (A crash can leave the temporary behind,
// a hidden ".<name>.gradlab-<caller>-…" file beside the target <name>; it is never mistaken
// for the target, and the next save of the same target removes it.)
#pragma once

#include <filesystem>
#include <string>
#include <string_view>

namespace gradlab {

// Replaces (or creates) `path` with `bytes`, atomically as above. A symbolic link stays a
// link: the file it names is replaced. The new file keeps the permissions of the file it
// replaces; a new one gets the usual 0666 less the umask. A read-only file (no write
// permission for anyone, or not for us) is refused, as cp refuses it. A device or a pipe
// (/dev/stdout) is written to as it is, not replaced. Throws
// IOError "<caller>: cannot write '<path>': <what failed>: <the system's reason>"; on failure
// nothing is left behind and an existing file at `path` is untouched.
void write_file_atomically(const std::filesystem::path& path, std::string_view bytes,
                           const char* caller);

// The whole contents of `path`. Throws IOError "<caller>: cannot read '<path>': <reason>".
std::string read_file(const std::filesystem::path& path, const char* caller);

}  // namespace gradlab
