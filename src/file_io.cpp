#include "normrt/file_io.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>

#include "normrt/error.h"

namespace normrt {

namespace {

std::string reason(int err) { return std::strerror(err); }

// Closes a descriptor on every path out of a function.
class Fd {
 public:
  explicit Fd(int fd = -1) : fd_(fd) {}
  ~Fd() { reset(); }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }
  void reset(int fd = -1) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = fd;
  }
  // Closes now and reports close's own failure (a deferred write error on some file systems).
  int close() {
    const int status = ::close(fd_);
    fd_ = -1;
    return status;
  }

 private:
  int fd_;
};

void split_path(const std::string& path, std::string& dir, std::string& base) {
  const auto slash = path.find_last_of('/');
  dir = slash == std::string::npos ? "." : (slash == 0 ? "/" : path.substr(0, slash));
  base = slash == std::string::npos ? path : path.substr(slash + 1);
}

bool write_all(int fd, std::string_view bytes) {
  std::size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      if (n == 0) errno = ENOSPC;
      return false;
    }
    done += static_cast<std::size_t>(n);
  }
  return true;
}

std::string fresh_temp_name(const std::string& dir, const std::string& base) {
  static std::atomic<unsigned> counter{0};
  return dir + "/." + base + ".tmp-" + std::to_string(::getpid()) + "-" + std::to_string(counter++);
}

}  // namespace

std::string read_file(const std::string& path, std::size_t max_bytes) {
  // O_NONBLOCK: opening a FIFO must not wait for a writer.
  Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK));
  NORMRT_CHECK(fd.get() >= 0, path, ": cannot open for reading (", reason(errno), ")");
  struct stat st;
  NORMRT_CHECK(::fstat(fd.get(), &st) == 0, path, ": cannot stat (", reason(errno), ")");
  NORMRT_CHECK(!S_ISDIR(st.st_mode), path, ": is a directory, not a file");
  NORMRT_CHECK(S_ISREG(st.st_mode), path, ": not a regular file (a device, FIFO or socket)");
  const auto size = static_cast<std::size_t>(st.st_size);
  NORMRT_CHECK(size <= max_bytes, path, ": ", size, " bytes, more than the ", max_bytes, " this file may have");
  std::string out(size, '\0');
  std::size_t done = 0;
  while (done < size) {
    const ssize_t n = ::read(fd.get(), out.data() + done, size - done);
    if (n < 0 && errno == EINTR) continue;
    NORMRT_CHECK(n >= 0, path, ": read failed (", reason(errno), ")");
    NORMRT_CHECK(n > 0, path, ": the file shrank while it was read");
    done += static_cast<std::size_t>(n);
  }
  return out;
}

void write_file_atomic(const std::string& path, std::string_view bytes) {
  NORMRT_CHECK(!path.empty() && path.back() != '/', "'", path, "': not a file name");
  // Only a regular file (or a symlink, which is replaced itself) may be replaced: renaming over a device, FIFO,
  // socket or directory would destroy it (as root, /dev/null itself).
  struct stat existing;
  if (::lstat(path.c_str(), &existing) == 0) {
    NORMRT_CHECK(S_ISREG(existing.st_mode) || S_ISLNK(existing.st_mode), path, ": ",
                 S_ISDIR(existing.st_mode) ? "is a directory" : "is a device, FIFO or socket",
                 ", not a file normrt may replace");
  }
  std::string dir, base;
  split_path(path, dir, base);
  Fd dir_fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  NORMRT_CHECK(dir_fd.get() >= 0, path, ": cannot write into directory '", dir, "' (", reason(errno), ")");

  std::string temp;  // set once the data has a name that must be removed on failure
  Fd fd(::open(dir.c_str(), O_TMPFILE | O_WRONLY | O_CLOEXEC, 0644));
  const bool unnamed = fd.get() >= 0;
  if (!unnamed) {
    NORMRT_CHECK(errno == EOPNOTSUPP || errno == EISDIR || errno == EINVAL, path, ": cannot create a file in '", dir,
                 "' (", reason(errno), ")");
    temp = fresh_temp_name(dir, base);
    fd.reset(::open(temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644));
    if (fd.get() < 0) {
      const int err = errno;
      temp.clear();
      NORMRT_THROW(path, ": cannot create a file in '", dir, "' (", reason(err), ")");
    }
  }
  auto fail = [&](const char* what) {
    const int err = errno;
    fd.reset();
    if (!temp.empty()) ::unlink(temp.c_str());
    NORMRT_THROW(path, ": ", what, " (", reason(err), "); the file is unchanged");
  };
  if (!write_all(fd.get(), bytes)) fail("write failed");
  if (::fsync(fd.get()) != 0) fail("write failed (fsync)");
  if (unnamed) {
    const std::string candidate = fresh_temp_name(dir, base);
    const std::string self = "/proc/self/fd/" + std::to_string(fd.get());
    // linkat never follows a symlink at the new name: it fails with EEXIST instead.
    if (::linkat(AT_FDCWD, self.c_str(), AT_FDCWD, candidate.c_str(), AT_SYMLINK_FOLLOW) != 0 &&
        ::linkat(fd.get(), "", AT_FDCWD, candidate.c_str(), AT_EMPTY_PATH) != 0)
      fail("cannot name the new file");
    temp = candidate;
  }
  if (fd.close() != 0) fail("write failed (close)");
  if (::rename(temp.c_str(), path.c_str()) != 0) fail("cannot replace the file");
  temp.clear();
  // The rename itself reaches the disk only when the directory is flushed.
  NORMRT_CHECK(::fsync(dir_fd.get()) == 0, path, ": written, but flushing directory '", dir, "' failed (",
               reason(errno), ")");
}

}  // namespace normrt
