// atomgrad: the command-line program. Dispatches subcommands; any ad::Error becomes one line
// "atomgrad: error: <message>" on stderr and exit code 1 (usage errors: exit code 2).
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "autodiff/blas.hpp"
#include "autodiff/error.hpp"
#include "cli/commands.hpp"

namespace {

const char* kUsage =
    "atomgrad: machine-learning potentials and uncertainty, from scratch in C++\n"
    "\n"
    "usage: atomgrad <command> [arguments]\n"
    "\n"
    "commands:\n"
    "  train OPTIONS.toml [-o model.ckpt] [--init WEIGHTS.ckpt] [--restart CKPT] [--run-dir DIR]\n"
    "                       train a model as the options file says (architecture.name = \"llpr\":\n"
    "                       wrap a soap_bpnn checkpoint with LLPR uncertainties and an ensemble)\n"
    "  eval MODEL.ckpt DATA.csv [-o predictions.csv] [--json] [--plot DIR]\n"
    "                       predictions and, with targets present, metrics (with a posterior:\n"
    "                       predictive variances, NLL, calibration)\n"
    "  eval MODEL.ckpt STRUCTURES.xyz [-o predictions.xyz] [--json] [--plot DIR]\n"
    "                       an atomistic model's energy, forces and stress as extended XYZ (the\n"
    "                       references kept as ref_energy, ref_forces, ref_stress) and, with\n"
    "                       references present, RMSE/MAE and atoms per second (an LLPR-wrapped\n"
    "                       model adds uncertainties, the ensemble and UQ metrics)\n"
    "  laplace OPTIONS.toml [--json]\n"
    "                       fit a Laplace approximation to a trained model; write the wrapped model\n"
    "  soap FILE.xyz [--cutoff R] [--width W] [--max-angular L] [--max-radial N] [--species 1,6,8]\n"
    "       [--gradients] [--strain] [--name NAME] [-o DIR]\n"
    "                       SOAP power spectrum (with --gradients/--strain its derivatives) as text\n"
    "                       in the layout of specs/soap_vectors: DIR/NAME.features.txt, ...; several\n"
    "                       frames: DIR/NAME.<frame>.features.txt, ... (frames counted from 0)\n"
    "\n"
    "See README.md for the options file.\n";

// Keeps a message on one line: newlines inside become "; ".
std::string one_line(std::string s) {
    while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
    std::string out;
    for (char c : s) {
        if (c == '\n') out += "; ";
        else out += c;
    }
    return out;
}

}  // namespace

int main(int argc, char** argv) {
    std::vector<std::string> args(argv + 1, argv + argc);
    if (args.empty() || args[0] == "-h" || args[0] == "--help" || args[0] == "help") {
        std::fputs(kUsage, args.empty() ? stderr : stdout);
        return args.empty() ? 2 : 0;
    }
    // The products here are small: OpenBLAS threads cost more than they give (2 threads made a
    // digits epoch several times slower). OPENBLAS_NUM_THREADS, when set, decides instead.
    if (std::getenv("OPENBLAS_NUM_THREADS") == nullptr) ad::blas::set_num_threads(1);
    const std::string command = args[0];
    args.erase(args.begin());
    try {
        if (command == "train") return cli::cmd_train(args);
        if (command == "eval") return cli::cmd_eval(args);
        if (command == "laplace") return cli::cmd_laplace(args);
        if (command == "soap") return cli::cmd_soap(args);
        std::fprintf(stderr, "atomgrad: error: unknown command '%s'\n%s", command.c_str(), kUsage);
        return 2;
    } catch (const cli::UsageError& e) {
        std::fprintf(stderr, "atomgrad %s: %s\n", command.c_str(), e.message.c_str());
        return 2;
    } catch (const ad::Error& e) {
        std::fprintf(stderr, "atomgrad: error: %s\n", one_line(e.what()).c_str());
        return 1;
    } catch (const std::bad_alloc&) {
        std::fprintf(stderr, "atomgrad: error: out of memory\n");
        return 1;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "atomgrad: error: %s\n", one_line(e.what()).c_str());
        return 1;
    }
}
