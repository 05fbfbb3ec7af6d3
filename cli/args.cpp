#include "cli/commands.hpp"

#include <algorithm>

namespace cli {

bool ParsedArgs::has(const std::string& flag) const {
    for (const auto& f : flags)
        if (f.first == flag) return true;
    return false;
}

std::string ParsedArgs::get(const std::string& flag, const std::string& fallback) const {
    for (const auto& f : flags)
        if (f.first == flag) return f.second;
    return fallback;
}

ParsedArgs parse_args(const Args& args, const std::vector<std::string>& with_value,
                      const std::vector<std::string>& without_value, const std::string& usage) {
    ParsedArgs p;
    for (size_t i = 0; i < args.size(); ++i) {
        const std::string& a = args[i];
        if (a.size() > 1 && a[0] == '-') {
            if (std::find(with_value.begin(), with_value.end(), a) != with_value.end()) {
                if (i + 1 >= args.size()) throw UsageError{"option " + a + " expects a value\n" + usage};
                p.flags.push_back({a, args[++i]});
            } else if (std::find(without_value.begin(), without_value.end(), a) != without_value.end()) {
                p.flags.push_back({a, ""});
            } else {
                throw UsageError{"unknown option " + a + "\n" + usage};
            }
        } else {
            p.positional.push_back(a);
        }
    }
    return p;
}

}  // namespace cli
