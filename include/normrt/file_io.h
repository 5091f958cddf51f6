// Reading and writing whole files safely: every file normrt writes (.npy, checkpoints, metrics, plots) goes through
// write_file_atomic, and every file it parses is read through read_file, which refuses what is not a regular file.
#pragma once
#include <cstddef>
#include <limits>
#include <string>
#include <string_view>

namespace normrt {

// The whole content of the regular file at `path`. Throws normrt::Error naming the path and the reason when it
// cannot be opened, is a directory, a device or a FIFO (never blocks on one), or holds more than `max_bytes`.
std::string read_file(const std::string& path, std::size_t max_bytes = std::numeric_limits<std::size_t>::max());

// Replaces `path` with `bytes` so that readers see either the old file or the complete new one, never a torn one:
// the data goes to an unnamed file in the same directory (O_TMPFILE; a process killed meanwhile leaves nothing
// behind), is flushed to disk, linked under a fresh name (never following a planted symlink) and renamed over
// `path`, and the directory is flushed. A symlink at `path` is replaced, not written through. Where the file system
// has no O_TMPFILE, a hidden named temporary ".<name>.tmp-<pid>-<n>" created with O_EXCL stands in for it (a
// process killed while writing leaves that behind). On failure (disk full, no permission, not a directory, ...)
// throws normrt::Error naming `path` and the system's reason, and `path` is unchanged. Anything at `path` other
// than a regular file or a symlink (a directory, device, FIFO, socket) is refused, never replaced.
void write_file_atomic(const std::string& path, std::string_view bytes);

}  // namespace normrt
