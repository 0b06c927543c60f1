#include "common/file_util.h"

#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/syscall.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "absl/strings/str_cat.h"

namespace imagefeed {
namespace {

absl::Status ErrnoStatus(int err, absl::string_view what, const std::string& path) {
  std::string msg = absl::StrCat(what, " '", path, "': ", std::strerror(err));
  if (err == ENOENT) return absl::NotFoundError(msg);
  if (err == EACCES || err == EPERM) return absl::PermissionDeniedError(msg);
  if (err == ELOOP) return absl::FailedPreconditionError(absl::StrCat(msg, " (symlinks are not followed)"));
  return absl::UnavailableError(msg);
}

class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  Fd& operator=(Fd&& other) noexcept {
    std::swap(fd_, other.fd_);
    return *this;
  }
  int get() const { return fd_; }

 private:
  int fd_;
};

// Reads the open regular file `fd` (named `path` in errors) into `out`.
absl::Status ReadOpenFile(const Fd& fd, const std::string& path, std::vector<uint8_t>* out, uint64_t max_bytes);

}  // namespace

absl::Status ReadFileToBuffer(const std::string& path, std::vector<uint8_t>* out, uint64_t max_bytes) {
  Fd fd(open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
  if (fd.get() < 0) return ErrnoStatus(errno, "cannot open", path);
  return ReadOpenFile(fd, path, out, max_bytes);
}

absl::Status ReadFileBeneath(int dir_fd, const std::string& relative, std::vector<uint8_t>* out,
                             uint64_t max_bytes) {
  struct open_how how = {};
  how.flags = O_RDONLY | O_CLOEXEC | O_NOFOLLOW;
  how.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS;
  int raw = static_cast<int>(syscall(SYS_openat2, dir_fd, relative.c_str(), &how, sizeof(how)));
  if (raw < 0 && errno == ENOSYS) {
    // Walk the components ourselves, refusing symlinks and "..".
    Fd dir(dup(dir_fd));
    size_t begin = 0;
    for (;;) {
      size_t slash = relative.find('/', begin);
      std::string part = relative.substr(begin, slash == std::string::npos ? std::string::npos : slash - begin);
      if (part.empty() || part == "." || part == "..") {
        return absl::InvalidArgumentError(absl::StrCat("'", relative, "' is not a plain relative path"));
      }
      if (slash == std::string::npos) {
        raw = openat(dir.get(), part.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        break;
      }
      Fd next(openat(dir.get(), part.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_DIRECTORY));
      if (next.get() < 0) return ErrnoStatus(errno, "cannot open", relative);
      dir = std::move(next);
      begin = slash + 1;
    }
  }
  if (raw < 0) {
    if (errno == EXDEV) {
      return absl::PermissionDeniedError(absl::StrCat("'", relative, "' resolves outside the dataset root"));
    }
    return ErrnoStatus(errno, "cannot open", relative);
  }
  Fd fd(raw);
  return ReadOpenFile(fd, relative, out, max_bytes);
}

namespace {

absl::Status ReadOpenFile(const Fd& fd, const std::string& path, std::vector<uint8_t>* out, uint64_t max_bytes) {
  struct stat st;
  if (fstat(fd.get(), &st) != 0) return ErrnoStatus(errno, "cannot stat", path);
  if (!S_ISREG(st.st_mode)) {
    return absl::FailedPreconditionError(absl::StrCat("'", path, "' is not a regular file"));
  }
  if (static_cast<uint64_t>(st.st_size) > max_bytes) {
    return absl::FailedPreconditionError(
        absl::StrCat("'", path, "' is ", st.st_size, " bytes, above the limit of ", max_bytes));
  }
  // The file may change while we read it: read until EOF, bounded by max_bytes.
  // Once the size fstat gave is read, EOF is probed with a small buffer rather
  // than by growing `out` (a per-thread buffer, reused): growing it 64 KiB
  // past every file zero-filled those bytes, and reallocated and copied the
  // file whenever that passed its capacity (a third of the server's memset
  // bytes on photos).
  out->resize(static_cast<size_t>(st.st_size));
  size_t filled = 0;
  for (;;) {
    uint8_t probe[4096];
    const bool full = filled == out->size();
    if (full && filled >= max_bytes) break;
    uint8_t* dst = full ? probe : out->data() + filled;
    const size_t room = full ? std::min<uint64_t>(sizeof(probe), max_bytes - filled) : out->size() - filled;
    const ssize_t n = read(fd.get(), dst, room);
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoStatus(errno, "cannot read", path);
    }
    if (n == 0) break;
    if (full) out->insert(out->end(), probe, probe + n);  // the file grew since fstat
    filled += static_cast<size_t>(n);
  }
  out->resize(filled);
  return absl::OkStatus();
}

}  // namespace

absl::Status WriteFileAtomically(const std::string& path, absl::string_view data) {
  std::string tmp = absl::StrCat(path, ".tmp.", getpid());
  {
    Fd fd(open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
    if (fd.get() < 0) return ErrnoStatus(errno, "cannot create", tmp);
    size_t done = 0;
    while (done < data.size()) {
      ssize_t n = write(fd.get(), data.data() + done, data.size() - done);
      if (n < 0) {
        if (errno == EINTR) continue;
        int err = errno;
        unlink(tmp.c_str());
        return ErrnoStatus(err, "cannot write", tmp);
      }
      done += static_cast<size_t>(n);
    }
  }
  if (rename(tmp.c_str(), path.c_str()) != 0) {
    int err = errno;
    unlink(tmp.c_str());
    return ErrnoStatus(err, "cannot rename to", path);
  }
  return absl::OkStatus();
}

absl::Status MakeDirs(const std::string& path) {
  if (path.empty()) return absl::InvalidArgumentError("empty directory path");
  for (size_t pos = 1; pos <= path.size(); ++pos) {
    if (pos != path.size() && path[pos] != '/') continue;
    std::string prefix = path.substr(0, pos);
    if (mkdir(prefix.c_str(), 0755) != 0 && errno != EEXIST) {
      return ErrnoStatus(errno, "cannot create directory", prefix);
    }
  }
  struct stat st;
  if (stat(path.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
    return absl::FailedPreconditionError(absl::StrCat("'", path, "' is not a directory"));
  }
  return absl::OkStatus();
}

std::string DefaultCacheDir() {
  const char* xdg = std::getenv("XDG_CACHE_HOME");
  if (xdg != nullptr && xdg[0] == '/') return absl::StrCat(xdg, "/imagefeed");
  const char* home = std::getenv("HOME");
  if (home != nullptr && home[0] == '/') return absl::StrCat(home, "/.cache/imagefeed");
  return "/tmp/imagefeed-cache";
}

}  // namespace imagefeed
