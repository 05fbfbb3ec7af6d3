// The subcommands of the `atomgrad` program. Each takes its arguments (after the subcommand
// name), prints to stdout/stderr and returns the exit code; errors are thrown as ad::Error and
// turned into one line by main().
#pragma once
#include <string>
#include <vector>

namespace cli {

using Args = std::vector<std::string>;

int cmd_train(const Args& args);
int cmd_eval(const Args& args);
int cmd_laplace(const Args& args);
int cmd_soap(const Args& args);

/// Thrown for wrong command-line usage (exit code 2).
struct UsageError {
    std::string message;
};

/// Splits args into positionals and --flags (with values for the flags in `with_value`).
struct ParsedArgs {
    std::vector<std::string> positional;
    std::vector<std::pair<std::string, std::string>> flags;
    bool has(const std::string& flag) const;
    std::string get(const std::string& flag, const std::string& fallback = "") const;
};
ParsedArgs parse_args(const Args& args, const std::vector<std::string>& with_value,
                      const std::vector<std::string>& without_value, const std::string& usage);

}  // namespace cli
