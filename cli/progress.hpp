// Progress reporting for long work: a redrawn bar when stderr is a terminal, plain lines
// otherwise (logs, CI), never both.
#pragma once
#include <chrono>
#include <string>

namespace cli {

class Progress {
  public:
    /// `total` steps of `what`. Every `line_every` steps (and at the end) a permanent line with the
    /// status is printed (the log); on a terminal a bar is redrawn in between. line_every = 0:
    /// no permanent lines (the caller prints its own log), only the bar on a terminal.
    Progress(std::string what, long total, long line_every);
    /// Marks `done` steps finished, with a short status ("loss 0.12 val_rmse 0.31").
    void update(long done, const std::string& status);
    /// Ends the bar line (terminal) so later output starts on a fresh line.
    void finish();
    bool is_terminal() const { return tty_; }

  private:
    std::string what_;
    long total_, line_every_;
    bool tty_;
    bool open_ = false;
    std::chrono::steady_clock::time_point start_, last_draw_;
};

}  // namespace cli
