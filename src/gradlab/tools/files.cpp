#include "gradlab/tools/files.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <random>

#include "gradlab/core/errors.hpp"

namespace gradlab {

namespace {

// The hidden name of the temporaries of `target`: ".<target's name>.gradlab-<caller>-" and
// six random letters. Named after the target, so that a save can tell its own leftovers;
// a name near the system's limit of 255 bytes is cut to fit (targets whose names begin
// alike may then clean each other's leftovers, never a live save's file).
std::string temporary_prefix(const std::filesystem::path& target, const char* caller) {
  constexpr std::size_t longest_name = 255, random_letters = 6;
  std::string tail = ".gradlab-";
  tail.append(caller).append("-");
  std::string name = target.filename().string();
  const std::size_t room = longest_name - random_letters - 1 - std::min(tail.size(), longest_name - 7);
  if (name.size() > room) name.resize(room);
  return "." + name + tail;
}

// Opens a new file named "<dir>/<prefix>XXXXXX" (X random) that did not exist before
// (O_EXCL), with permissions `mode` less the umask, and locks it (flock) for as long as it
// is open, so that remove_stale_temporaries leaves it alone; -1 with errno set on failure.
//
// Why not mkstemp: it makes the file 0600, and learning what a new file should get
// instead means reading the umask, which POSIX only allows by setting it — and setting it,
// even for an instant, changes the mode of files other threads create meanwhile. Passing
// the mode to open() lets the kernel apply the umask for us.
int create_temporary(const std::filesystem::path& dir, const std::string& prefix, mode_t mode,
                     std::string& name) {
  static constexpr char letters[] =
      "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
  std::random_device random;
  std::uniform_int_distribution<std::size_t> pick(0, sizeof letters - 2);
  for (int attempt = 0; attempt < 100; ++attempt) {
    std::string suffix(6, ' ');
    for (char& c : suffix) c = letters[pick(random)];
    name = (dir / (prefix + suffix)).string();
    const int fd = ::open(name.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
    if (fd >= 0) ::flock(fd, LOCK_EX);  // new and ours: nobody else holds it
    if (fd >= 0 || errno != EEXIST) return fd;
  }
  return -1;  // errno is EEXIST: a hundred names in a row taken is not bad luck
}

// The temporaries of a save that was killed (kill -9, a power cut) stay behind, a whole
// checkpoint each: three kills of a large save left 700 MB. A temporary of the same target
// that nobody holds locked is such a leftover (a live writer holds its lock; a dead one's
// lock went with it), and goes. A writer that has created its file but not yet locked it,
// an instant, could lose it here: its rename then fails and the save reports an IOError.
void remove_stale_temporaries(const std::filesystem::path& dir, const std::string& prefix) {
  std::error_code ignored;
  for (const auto& entry : std::filesystem::directory_iterator(dir, ignored)) {
    const std::string name = entry.path().filename().string();
    if (!name.starts_with(prefix) || name.size() != prefix.size() + 6) continue;
    int fd = ::open(entry.path().c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) fd = ::open(entry.path().c_str(), O_WRONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) continue;
    if (::flock(fd, LOCK_EX | LOCK_NB) == 0) ::unlink(entry.path().c_str());
    ::close(fd);
  }
}

// Where a write to `path` lands: `path`, or through symbolic links their final target, as
// with cp and the shell's `>`: replacing the link itself would cut it from the file it
// names. A dangling link names the file to create.
std::filesystem::path through_links(std::filesystem::path path) {
  for (int hops = 0; hops < 40; ++hops) {  // Linux's own limit on a chain of links
    std::error_code error;
    if (!std::filesystem::is_symlink(std::filesystem::symlink_status(path, error))) return path;
    const std::filesystem::path link = std::filesystem::read_symlink(path, error);
    if (error) return path;
    path = link.is_absolute() ? link : path.parent_path() / link;
  }
  errno = ELOOP;
  return {};
}

// Writes all of `bytes` to `fd`; false with errno set if the system took less.
bool write_all(int fd, std::string_view bytes) {
  std::size_t written = 0;
  while (written < bytes.size()) {
    const ssize_t n = ::write(fd, bytes.data() + written, bytes.size() - written);
    if (n < 0 && errno == EINTR) continue;
    if (n == 0) errno = ENOSPC;
    if (n <= 0) return false;
    written += static_cast<std::size_t>(n);
  }
  return true;
}

}  // namespace

void write_file_atomically(const std::filesystem::path& link, std::string_view bytes,
                           const char* caller) {
  const auto fail = [&](const std::string& what) {
    return IOError(std::string(caller) + ": cannot write '" + link.string() + "': " + what + ": " +
                   std::strerror(errno));
  };
  const std::filesystem::path path = through_links(link);
  if (path.empty()) throw fail("following its symbolic links failed");
  // The file we replace keeps its permissions. The temporary starts with no more than
  // those (the umask can only narrow them), so its contents are never more readable than
  // the old file's were; fchmod below restores any bit the umask took away. A new file
  // gets 0666 less the umask, as any file the program creates would.
  struct stat existing;
  const bool replacing = ::stat(path.c_str(), &existing) == 0;
  const mode_t mode = replacing ? existing.st_mode & 0777 : 0666;

  // A device or a pipe (/dev/full, /dev/stdout, a FIFO) cannot be replaced, only written to.
  if (replacing && (S_ISCHR(existing.st_mode) || S_ISBLK(existing.st_mode) ||
                    S_ISFIFO(existing.st_mode) || S_ISSOCK(existing.st_mode))) {
    const int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
    if (fd < 0) throw fail("opening it failed");
    if (!write_all(fd, bytes)) {
      const IOError error = fail("writing failed");
      ::close(fd);
      throw error;
    }
    if (::close(fd) != 0) throw fail("writing failed");
    return;
  }
  // A file nobody may write to is refused, as cp refuses it, even by root: replacing it
  // would go round the protection its owner asked for.
  if (replacing && S_ISREG(existing.st_mode) &&
      ((existing.st_mode & 0222) == 0 || ::access(path.c_str(), W_OK) != 0)) {
    errno = EACCES;
    throw fail("the file is read-only (make it writable first, e.g. chmod u+w)");
  }

  const std::filesystem::path dir = path.has_parent_path() ? path.parent_path() : ".";
  const std::string prefix = temporary_prefix(path, caller);
  remove_stale_temporaries(dir, prefix);
  std::string tmp;
  const int fd = create_temporary(dir, prefix, mode, tmp);
  if (fd < 0) throw fail("cannot create a file in '" + dir.string() + "'");
  const auto abandon = [&](const std::string& what) {
    const IOError error = fail(what);
    ::close(fd);
    ::unlink(tmp.c_str());
    return error;
  };
  if (!write_all(fd, bytes)) throw abandon("writing failed");
  if (replacing) ::fchmod(fd, existing.st_mode & 07777);
  // The data must be on the disk before the rename is: otherwise a power cut can leave the
  // new name pointing at a file whose blocks were never written.
  if (::fsync(fd) != 0) throw abandon("writing failed");
  // Renamed while still open, so still locked: another save's remove_stale_temporaries
  // must not take a finished file. (After fsync, close has nothing left to report.)
  if (::rename(tmp.c_str(), path.c_str()) != 0)
    throw abandon("renaming the finished file into place failed");
  ::close(fd);
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
