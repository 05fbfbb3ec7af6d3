// File helpers: atomic writes (temporary name, then rename) so that no command leaves a partial
// output behind, and directory creation.
#pragma once
#include <string>

#include "autodiff/io.hpp"

namespace cli {

/// Writes `content` to path + ".tmp" and renames it over path (autodiff/io.hpp).
using ad::write_file_atomic;
/// The whole file as bytes; one-line error naming the path when it cannot be opened.
std::string read_file(const std::string& path);
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
