#include "cli/files.hpp"

#include <sys/stat.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "autodiff/error.hpp"

namespace cli {

std::string read_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    AD_CHECK(in.good(), path << ": expected a readable file, got an error opening it");
    std::ostringstream os;
    os << in.rdbuf();
    return os.str();
}

void make_dirs(const std::string& path) {
    std::string cur;
    for (size_t i = 0; i <= path.size(); ++i) {
        if (i == path.size() || path[i] == '/') {
            if (!cur.empty() && cur != "." && !file_exists(cur))
                AD_CHECK(::mkdir(cur.c_str(), 0755) == 0 || errno == EEXIST,
                         cur << ": cannot create the directory (" << std::strerror(errno) << ")");
        }
        if (i < path.size()) cur += path[i];
    }
}

bool file_exists(const std::string& path) {
    struct stat st;
    return ::stat(path.c_str(), &st) == 0;
}

std::string dirname_of(const std::string& path) {
    size_t p = path.find_last_of('/');
    if (p == std::string::npos) return ".";
    return p == 0 ? "/" : path.substr(0, p);
}

std::string absolute_path(const std::string& path) {
    std::error_code ec;
    std::filesystem::path p = std::filesystem::absolute(path, ec);
    AD_CHECK(!ec, path << ": cannot resolve the path (" << ec.message() << ")");
    return p.lexically_normal().string();
}

std::string join_path(const std::string& a, const std::string& b) {
    if (b.empty()) return a;
    if (b[0] == '/' || a.empty() || a == ".") return b;
    return a.back() == '/' ? a + b : a + "/" + b;
}

}  // namespace cli
