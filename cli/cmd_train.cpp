// atomgrad train OPTIONS.toml [-o model.ckpt] [--init WEIGHTS.ckpt] [--restart CKPT] [--run-dir DIR]
#include <algorithm>
#include <cstdio>

#include "cli/bpnn_options.hpp"
#include "cli/commands.hpp"
#include "cli/llpr_options.hpp"
#include "cli/train_bpnn.hpp"
#include "cli/train_llpr.hpp"
#include "cli/train_tabular.hpp"

namespace cli {

int cmd_train(const Args& args) {
    const std::string usage =
        "usage: atomgrad train OPTIONS.toml [-o model.ckpt] [--init WEIGHTS.ckpt] [--restart CHECKPOINT.ckpt] "
        "[--run-dir DIR]";
    ParsedArgs p = parse_args(args, {"-o", "--init", "--restart", "--run-dir"}, {}, usage);
    if (p.positional.size() != 1) throw UsageError{"expected one options file\n" + usage};
    if (p.has("--init") && p.has("--restart")) throw UsageError{"--init and --restart exclude each other\n" + usage};
    TrainRun run;
    run.output_path = p.get("-o", "model.ckpt");
    run.init_path = p.get("--init");
    run.restart_path = p.get("--restart");
    run.run_dir = p.get("--run-dir");
    const std::string architecture = Options::from_file(p.positional[0]).get_string("architecture.name", "");
    const std::vector<std::string> atomistic = architecture_option_names();
    if (architecture == "llpr")
        train_llpr(read_llpr_options(p.positional[0]), run);
    else if (std::count(atomistic.begin(), atomistic.end(), architecture))
        train_atomistic(read_atomistic_options(p.positional[0]), run);
    else
        train_tabular(read_train_options(p.positional[0]), run);
    return 0;
}

}  // namespace cli
