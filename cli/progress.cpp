#include "cli/progress.hpp"

#include <unistd.h>

#include <cstdio>

namespace cli {

Progress::Progress(std::string what, long total, long line_every)
    : what_(std::move(what)), total_(total), line_every_(line_every < 0 ? 0 : line_every),
      tty_(::isatty(STDERR_FILENO) != 0), start_(std::chrono::steady_clock::now()), last_draw_(start_) {}

void Progress::update(long done, const std::string& status) {
    auto now = std::chrono::steady_clock::now();
    double elapsed = std::chrono::duration<double>(now - start_).count();
    const bool keep = line_every_ > 0 && (done % line_every_ == 0 || done == total_);
    if (keep) {
        // a permanent line (the log), replacing the bar on a terminal
        std::fprintf(stderr, "%s%s %ld/%ld %s (%.1fs)%s\n", tty_ ? "\r" : "", what_.c_str(), done, total_,
                     status.c_str(), elapsed, tty_ ? "\033[K" : "");
        open_ = false;
    }
    if (tty_ && done < total_ && (keep || std::chrono::duration<double>(now - last_draw_).count() >= 0.05)) {
        // redraw the bar at most 20 times a second
        last_draw_ = now;
        const int width = 30;
        int filled = total_ > 0 ? static_cast<int>(width * done / total_) : width;
        std::string bar(static_cast<size_t>(filled), '#');
        bar.resize(width, '.');
        double eta = done > 0 ? elapsed * static_cast<double>(total_ - done) / static_cast<double>(done) : 0.0;
        std::fprintf(stderr, "\r%s [%s] %ld/%ld %s  %.1fs (eta %.1fs)\033[K", what_.c_str(), bar.c_str(), done,
                     total_, status.c_str(), elapsed, eta);
        open_ = true;
    }
    std::fflush(stderr);
}

void Progress::finish() {
    if (tty_ && open_) {
        std::fputc('\n', stderr);
        open_ = false;
    }
}

}  // namespace cli
