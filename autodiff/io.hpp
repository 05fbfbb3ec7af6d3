// Writing files so that a reader never sees a partial one: the content goes to `path.tmp`, which
// is renamed over `path` only when every byte is written (a failure removes the temporary and
// leaves `path` as it was). Paths that exist and are not regular files (/dev/null, /dev/stdout,
// a pipe) are written in place, since renaming over them would replace the device.
#pragma once
#include <string>

namespace ad {

/// Writes `content` to `path` as above. Errors (ad::Error) name `path` and the cause:
/// "<path>: cannot write (<errno text>)", "<path>: write failed (...)", "<path>: cannot rename
/// the temporary file into place (...)", "<path>: cannot write, it is a directory".
void write_file_atomic(const std::string& path, const std::string& content);

}  // namespace ad
