// Atomic file writes (see io.hpp).
#include "autodiff/io.hpp"

#include <sys/stat.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>

#include "autodiff/error.hpp"

namespace ad {

void write_file_atomic(const std::string& path, const std::string& content) {
    struct stat st;
    if (::stat(path.c_str(), &st) == 0 && !S_ISREG(st.st_mode)) {
        // /dev/null, /dev/stdout, a pipe: write in place (renaming over it would replace the device).
        AD_CHECK(!S_ISDIR(st.st_mode), path << ": cannot write, it is a directory");
        std::ofstream out(path, std::ios::binary);
        out.write(content.data(), static_cast<std::streamsize>(content.size()));
        out.flush();
        AD_CHECK(out.good(), path << ": write failed (" << std::strerror(errno) << ")");
        return;
    }
    const std::string tmp = path + ".tmp";
    {
        std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
        AD_CHECK(out.good(), path << ": cannot write (" << std::strerror(errno) << ")");
        out.write(content.data(), static_cast<std::streamsize>(content.size()));
        out.flush();
        if (!out.good()) {
            std::remove(tmp.c_str());
            AD_FAIL(path << ": write failed (" << std::strerror(errno) << ")");
        }
    }
    if (std::rename(tmp.c_str(), path.c_str()) != 0) {
        std::remove(tmp.c_str());
        AD_FAIL(path << ": cannot rename the temporary file into place (" << std::strerror(errno) << ")");
    }
}

}  // namespace ad
