#include "engine/files.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <random>

#include "engine/errors.hpp"

namespace gradlab {

namespace {

// Opens a new file named "<dir>/.gradlab-<caller>-XXXXXX" (X random) that did not exist
// before (O_EXCL), with permissions `mode` less the umask; -1 with errno set on failure.
//
// Why not mkstemp: it makes the file 0600, and learning what a new file should get
// instead means reading the umask, which POSIX only allows by setting it — and setting it,
// even for an instant, changes the mode of files other threads create meanwhile. Passing
// the mode to open() lets the kernel apply the umask for us.
int create_temporary(const std::filesystem::path& dir, const char* caller, mode_t mode,
                     std::string& name) {
  static constexpr char letters[] =
      "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
  std::random_device random;
  std::uniform_int_distribution<std::size_t> pick(0, sizeof letters - 2);
  for (int attempt = 0; attempt < 100; ++attempt) {
    std::string suffix(6, ' ');
    for (char& c : suffix) c = letters[pick(random)];
    name = (dir / (std::string(".gradlab-") + caller + "-" + suffix)).string();
    const int fd = ::open(name.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
    if (fd >= 0 || errno != EEXIST) return fd;
  }
  return -1;  // errno is EEXIST: a hundred names in a row taken is not bad luck
}

}  // namespace

void write_file_atomically(const std::filesystem::path& path, std::string_view bytes,
                           const char* caller) {
  const auto fail = [&](const std::string& what) {
    return IOError(std::string(caller) + ": cannot write '" + path.string() + "': " + what + ": " +
                   std::strerror(errno));
  };
  // The file we replace keeps its permissions. The temporary starts with no more than
  // those (the umask can only narrow them), so its contents are never more readable than
  // the old file's were; fchmod below restores any bit the umask took away. A new file
  // gets 0666 less the umask, as any file the program creates would.
  struct stat existing;
  const bool replacing = ::stat(path.c_str(), &existing) == 0;
  const mode_t mode = replacing ? existing.st_mode & 0777 : 0666;

  const std::filesystem::path dir = path.has_parent_path() ? path.parent_path() : ".";
  std::string tmp;
  const int fd = create_temporary(dir, caller, mode, tmp);
  if (fd < 0) throw fail("cannot create a file in '" + dir.string() + "'");
  const auto abandon = [&](const std::string& what) {
    const IOError error = fail(what);
    ::close(fd);
    ::unlink(tmp.c_str());
    return error;
  };
  std::size_t written = 0;
  while (written < bytes.size()) {
    const ssize_t n = ::write(fd, bytes.data() + written, bytes.size() - written);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) throw abandon("writing failed");
    written += static_cast<std::size_t>(n);
  }
  if (replacing) ::fchmod(fd, existing.st_mode & 07777);
  // The data must be on the disk before the rename is: otherwise a power cut can leave the
  // new name pointing at a file whose blocks were never written.
  if (::fsync(fd) != 0) throw abandon("writing failed");
  if (::close(fd) != 0) {
    const IOError error = fail("writing failed");
    ::unlink(tmp.c_str());
    throw error;
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    const IOError error = fail("renaming the finished file into place failed");
    ::unlink(tmp.c_str());
    throw error;
  }
  // The rename itself lives in the directory: flushing the directory makes it survive a
  // power cut. Best effort only — the new file is complete and in place either way, and
  // some file systems refuse fsync on a directory.
  const int dir_fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir_fd >= 0) {
    ::fsync(dir_fd);
    ::close(dir_fd);
  }
}

std::string read_file(const std::filesystem::path& path, const char* caller) {
  const auto fail = [&] {
    return IOError(std::string(caller) + ": cannot read '" + path.string() +
                   "': " + std::strerror(errno));
  };
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw fail();
  std::string contents;
  struct stat info;
  if (::fstat(fd, &info) == 0 && info.st_size > 0)
    contents.reserve(static_cast<std::size_t>(info.st_size));
  char buffer[1 << 16];
  for (;;) {
    const ssize_t n = ::read(fd, buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const IOError error = fail();
      ::close(fd);
      throw error;
    }
    if (n == 0) break;
    contents.append(buffer, static_cast<std::size_t>(n));
  }
  ::close(fd);
  return contents;
}

}  // namespace gradlab
