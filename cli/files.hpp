// File helpers: atomic writes (temporary name, then rename) so that no command leaves a partial
// output behind, and directory creation.
#pragma once
#include <string>

namespace cli {

/// Writes `content` to path + ".tmp" and renames it over path; throws naming the path on failure.
/// A path that exists and is not a regular file (/dev/null, /dev/stdout, a pipe) is written in place.
void write_file_atomic(const std::string& path, const std::string& content);
/// mkdir -p
void make_dirs(const std::string& path);
bool file_exists(const std::string& path);
/// The directory part of a path ("." when there is none).
std::string dirname_of(const std::string& path);
/// The absolute, lexically normalised form of a path (the file need not exist).
std::string absolute_path(const std::string& path);
/// Joins two path pieces with '/'. An absolute `b` is returned as is.
std::string join_path(const std::string& a, const std::string& b);

}  // namespace cli
