#include "util/fs.h"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <fcntl.h>
#include <unistd.h>
#include <zlib.h>

#include "medenc/error.h"

namespace medenc {

std::string read_text_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(ErrorKind::Io, path + ": cannot open: " + std::strerror(errno));
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad()) throw Error(ErrorKind::Io, path + ": read error");
  return ss.str();
}

void write_file_atomic(const std::string& path, const std::string& contents) {
  const std::string tmp = path + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0) throw Error(ErrorKind::Io, tmp + ": cannot create: " + std::strerror(errno));
  size_t done = 0;
  while (done < contents.size()) {
    ssize_t n = ::write(fd, contents.data() + done, contents.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      int e = errno;
      ::close(fd);
      throw Error(ErrorKind::Io, tmp + ": write failed: " + std::strerror(e));
    }
    done += static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0 || ::close(fd) != 0) throw Error(ErrorKind::Io, tmp + ": cannot flush: " + std::strerror(errno));
  if (std::rename(tmp.c_str(), path.c_str()) != 0)
    throw Error(ErrorKind::Io, path + ": cannot rename from " + tmp + ": " + std::strerror(errno));
}

std::string read_maybe_gzip_file(const std::string& path) {
  gzFile f = gzopen(path.c_str(), "rb");  // zlib reads plain files through unchanged
  if (!f) throw Error(ErrorKind::Io, path + ": cannot open: " + std::strerror(errno));
  std::string out;
  char buf[1 << 16];
  for (;;) {
    int n = gzread(f, buf, sizeof buf);
    if (n < 0) {
      int code = 0;
      std::string msg = gzerror(f, &code);
      gzclose(f);
      throw Error(ErrorKind::Io, path + ": read error: " + msg);
    }
    if (n == 0) break;
    out.append(buf, (size_t)n);
  }
  gzclose(f);
  return out;
}

bool file_exists(const std::string& path) { return std::filesystem::is_regular_file(path); }

std::string join_path(const std::string& dir, const std::string& name) {
  return (std::filesystem::path(dir) / name).string();
}

}  // namespace medenc
