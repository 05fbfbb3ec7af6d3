// atomgrad soap FILE.xyz [--cutoff R] [--width W] [--max-angular L] [--max-radial N] [--species 1,6,8]
//                        [--gradients] [--strain] [--name NAME] [-o DIR]
// Writes the SOAP power spectrum of every frame (and, when asked, its position and strain
// derivatives) as plain text in the layout of ../shared/specs/soap_vectors/ (README.md there):
//   <name>.features.txt   "# ..." header (5 lines), then N lines of D values p^(i)_k
//   <name>.gradients.txt  header (5 lines), then N*N*3 lines "i j a" + D values dp^(i)_k/dr_(j,a)
//   <name>.strain.txt     header (5 lines), then N*3*3 lines "i a b" + D values dp^(i)_k/deps_(a,b)
// With several frames, frame k (0-based) is written as <name>.<k>.features.txt and so on.
// Numbers are shortest round-trip decimals. The derivative files are dense (N^2 3 D numbers per
// frame): meant for small structures, inspection, teaching and comparison with other codes.
// Nothing is written before every frame is read and checked; files go to temporary names and are
// renamed at the end, so an error leaves no output behind.
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "autodiff/error.hpp"
#include "cli/commands.hpp"
#include "cli/files.hpp"
#include "descriptors/extxyz.hpp"
#include "descriptors/neighbor_list.hpp"
#include "descriptors/soap.hpp"
#include "descriptors/system.hpp"

namespace cli {
namespace {

const char* kSoapUsage =
    "usage: atomgrad soap FILE.xyz [--cutoff R] [--width W] [--max-angular L] [--max-radial N] "
    "[--species 1,6,8] [--gradients] [--strain] [--name NAME] [-o DIR]";

// A real number that fills the whole option value and is finite.
double parse_real(const std::string& flag, const std::string& text) {
    const char* s = text.c_str();
    char* end = nullptr;
    errno = 0;
    const double v = std::strtod(s, &end);
    AD_CHECK(!text.empty() && end == s + text.size() && errno == 0 && std::isfinite(v),
             "soap: " << flag << " expected a number, got '" << text << "'");
    return v;
}

// A non-negative integer that fills the whole option value.
long parse_count(const std::string& flag, const std::string& text, long max_value) {
    const char* s = text.c_str();
    char* end = nullptr;
    errno = 0;
    const long v = std::strtol(s, &end, 10);
    AD_CHECK(!text.empty() && end == s + text.size() && errno == 0 && v >= 0 && v <= max_value,
             "soap: " << flag << " expected an integer in 0.." << max_value << ", got '" << text << "'");
    return v;
}

// "1,6,8" (atomic numbers or element symbols) -> sorted distinct atomic numbers.
std::vector<int> parse_species(const std::string& text) {
    std::vector<int> out;
    size_t start = 0;
    while (start <= text.size()) {
        size_t comma = text.find(',', start);
        if (comma == std::string::npos) comma = text.size();
        const std::string item = text.substr(start, comma - start);
        AD_CHECK(!item.empty(), "soap: --species expected a comma-separated list of atomic numbers, got '" << text << "'");
        int z = 0;
        if (std::isalpha(static_cast<unsigned char>(item[0]))) {
            z = desc::atomic_number_or_zero(item.c_str(), item.size());
            AD_CHECK(z > 0, "soap: --species expected atomic numbers or element symbols, got '" << item << "'");
        } else {
            z = static_cast<int>(parse_count("--species", item, 118));
            AD_CHECK(z > 0, "soap: --species expected atomic numbers 1..118, got '" << item << "'");
        }
        out.push_back(z);
        start = comma + 1;
    }
    std::sort(out.begin(), out.end());
    out.erase(std::unique(out.begin(), out.end()), out.end());
    return out;
}

bool is_directory(const std::string& path) {
    struct stat st;
    return ::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

std::string basename_of(const std::string& path) {
    const size_t slash = path.find_last_of('/');
    return slash == std::string::npos ? path : path.substr(slash + 1);
}

// Output files are opened under <path>.tmp and renamed over <path> only when all are complete.
class PendingFiles {
  public:
    ~PendingFiles() { discard(); }
    /// Closes and removes the temporary files (nothing once committed).
    void discard() {
        if (current_ != nullptr) std::fclose(current_);
        current_ = nullptr;
        if (!committed_)
            for (const auto& p : paths_) std::remove((p + ".tmp").c_str());
        paths_.clear();
    }
    std::FILE* open(const std::string& path) {
        close_current();
        paths_.push_back(path);
        current_ = std::fopen((path + ".tmp").c_str(), "wb");
        AD_CHECK(current_ != nullptr, path << ": cannot write (" << std::strerror(errno) << ")");
        return current_;
    }
    void commit() {
        close_current();
        for (const auto& p : paths_)
            AD_CHECK(std::rename((p + ".tmp").c_str(), p.c_str()) == 0,
                     p << ": cannot rename the temporary file into place (" << std::strerror(errno) << ")");
        committed_ = true;
    }

  private:
    void close_current() {
        if (current_ == nullptr) return;
        const bool ok = std::ferror(current_) == 0;
        const bool closed = std::fclose(current_) == 0;
        current_ = nullptr;
        AD_CHECK(ok && closed, paths_.back() << ": write failed (" << std::strerror(errno) << ")");
    }
    std::vector<std::string> paths_;
    std::FILE* current_ = nullptr;
    bool committed_ = false;
};

void put_row(std::FILE* out, const std::string& prefix, const double* values, long n) {
    std::string line = prefix;
    for (long k = 0; k < n; ++k) {
        if (k > 0 || !prefix.empty()) line += ' ';
        line += desc::format_double(values[k]);
    }
    line += '\n';
    std::fputs(line.c_str(), out);
}

}  // namespace

int cmd_soap(const Args& args) {
    ParsedArgs p;
    try {
        p = parse_args(args, {"--cutoff", "--width", "--max-angular", "--max-radial", "--species", "--name", "-o"},
                       {"--gradients", "--strain"}, kSoapUsage);
    } catch (const UsageError& e) {  // keep the message on one line: "<problem>; usage: ..."
        throw UsageError{e.message.substr(0, e.message.find('\n')) + "; " + kSoapUsage};
    }
    for (size_t a = 0; a < p.flags.size(); ++a)
        for (size_t b = 0; b < a; ++b)
            if (p.flags[a].first == p.flags[b].first)
                throw UsageError{"option " + p.flags[a].first + " given twice; " + std::string(kSoapUsage)};
    if (p.positional.size() != 1) throw UsageError{"expected one structure file; " + std::string(kSoapUsage)};
    const std::string xyz_path = p.positional[0];

    desc::SoapHypers h;  // defaults of specs/soap.md
    if (p.has("--cutoff")) h.cutoff = parse_real("--cutoff", p.get("--cutoff"));
    if (p.has("--width")) h.width = parse_real("--width", p.get("--width"));
    AD_CHECK(h.cutoff > 0, "soap: --cutoff expected a positive number, got " << p.get("--cutoff"));
    AD_CHECK(h.width > 0 && h.width <= h.cutoff,
             "soap: --width expected 0 < width <= cutoff (" << desc::format_double(h.cutoff) << "), got "
                                                            << desc::format_double(h.width));
    if (p.has("--max-angular")) h.max_angular = static_cast<int>(parse_count("--max-angular", p.get("--max-angular"), 20));
    if (p.has("--max-radial")) h.max_radial = static_cast<int>(parse_count("--max-radial", p.get("--max-radial"), 50));
    const bool want_gradients = p.has("--gradients"), want_strain = p.has("--strain");
    std::string name = p.get("--name");
    if (name.empty()) {
        name = basename_of(xyz_path);
        const size_t dot = name.rfind('.');
        if (dot != std::string::npos && dot > 0) name = name.substr(0, dot);
    }
    AD_CHECK(name.find('/') == std::string::npos, "soap: --name expected a file name without '/', got '" << name << "'");
    const std::string dir = p.get("-o", ".");

    // ---- read and check everything before writing anything ----
    std::vector<desc::System> frames = desc::read_extxyz(xyz_path);
    AD_CHECK(!frames.empty(), xyz_path << ": expected at least one frame, got none");
    h.species = p.has("--species") ? parse_species(p.get("--species")) : desc::unique_numbers(frames);
    std::string species_text;
    for (size_t s = 0; s < h.species.size(); ++s) species_text += (s ? "," : "") + std::to_string(h.species[s]);
    for (const auto& f : frames)
        for (long i = 0; i < f.n_atoms(); ++i) {
            const int z = f.numbers[static_cast<size_t>(i)];
            AD_CHECK(std::binary_search(h.species.begin(), h.species.end(), z),
                     f.where() << ": atom " << i << " is " << desc::element_symbol(z) << " (Z = " << z
                               << "), not in --species " << species_text);
        }
    const desc::Soap soap(h);
    std::vector<desc::SoapPairs> pairs;
    pairs.reserve(frames.size());
    for (const auto& f : frames) pairs.push_back(desc::soap_pairs(desc::neighbor_list(f, h.cutoff), f));
    AD_CHECK(!file_exists(dir) || is_directory(dir), dir << ": expected a directory for -o, got a file");

    // ---- compute and write (temporary names, renamed at the end) ----
    const std::string hypers_line = "# hypers: cutoff=" + desc::format_double(h.cutoff) + " width=" +
                                    desc::format_double(h.width) + " max_angular=" + std::to_string(h.max_angular) +
                                    " max_radial=" + std::to_string(h.max_radial) + " species=" + species_text + "\n";
    const char* hypers = hypers_line.c_str();
    std::string n_per_l = "# n_per_l:";
    for (int n : soap.n_per_l()) n_per_l += " " + std::to_string(n);
    const long D = soap.n_features();
    const bool dir_existed = file_exists(dir);
    make_dirs(dir);
    PendingFiles files;
    long n_atoms_total = 0;
    try {
        for (size_t k = 0; k < frames.size(); ++k) {
            const desc::System& f = frames[k];
            const long n = f.n_atoms();
            n_atoms_total += n;
            const std::string stem = join_path(dir, frames.size() == 1 ? name : name + "." + std::to_string(k));
            const std::string structure = "# structure: " + basename_of(xyz_path) +
                                          (frames.size() == 1 ? "" : " frame " + std::to_string(k)) + "\n";
            desc::SoapJacobian J;
            ad::Tensor feats = soap.compute(f.numbers, f.positions.data(), pairs[k], nullptr,
                                            want_gradients || want_strain ? &J : nullptr);

            std::FILE* out = files.open(stem + ".features.txt");
            std::fputs("# SOAP power spectrum p^(i)_k (soap.md sec. 7)\n", out);
            std::fputs(structure.c_str(), out);
            std::fputs(hypers, out);
            std::fputs((n_per_l + "\n").c_str(), out);
            std::fprintf(out, "# shape: %ld %ld  (one line per atom in file order; column = feature index k)\n", n, D);
            for (long i = 0; i < n; ++i) put_row(out, "", feats.data() + i * D, D);

            // dense derivatives: J applied to unit directions d[n + 3, 3] (rows 0..n-1 positions,
            // rows n..n+2 strain), dp[j, a][i, k]
            auto directional = [&](long row, long col) {
                ad::Tensor d = ad::Tensor::zeros({n + 3, 3});
                d.data()[3 * row + col] = 1.0;
                return J.apply(d);
            };
            if (want_gradients) {
                std::vector<ad::Tensor> dp;
                for (long j = 0; j < n; ++j)
                    for (long a = 0; a < 3; ++a) dp.push_back(directional(j, a));
                out = files.open(stem + ".gradients.txt");
                std::fputs("# position derivatives d p^(i)_k / d r_(j,a) (soap.md sec. 8.2)\n", out);
                std::fputs(structure.c_str(), out);
                std::fputs(hypers, out);
                std::fprintf(out, "# shape: %ld %ld 3 %ld  (i = centre, j = moved atom, a = 0,1,2 for x,y,z)\n", n, n, D);
                std::fputs("# each line: i j a followed by D values; lines ordered by i, then j, then a\n", out);
                for (long i = 0; i < n; ++i)
                    for (long j = 0; j < n; ++j)
                        for (long a = 0; a < 3; ++a)
                            put_row(out, std::to_string(i) + " " + std::to_string(j) + " " + std::to_string(a),
                                    dp[static_cast<size_t>(3 * j + a)].data() + i * D, D);
            }
            if (want_strain) {
                std::vector<ad::Tensor> dp;
                for (long a = 0; a < 3; ++a)
                    for (long b = 0; b < 3; ++b) dp.push_back(directional(n + a, b));
                out = files.open(stem + ".strain.txt");
                std::fputs("# strain derivatives d p^(i)_k / d eps_(a,b) (soap.md sec. 8.4)\n", out);
                std::fputs(structure.c_str(), out);
                std::fputs(hypers, out);
                std::fprintf(out, "# shape: %ld 3 3 %ld\n", n, D);
                std::fputs("# each line: i a b followed by D values; lines ordered by i, then a, then b\n", out);
                for (long i = 0; i < n; ++i)
                    for (long a = 0; a < 3; ++a)
                        for (long b = 0; b < 3; ++b)
                            put_row(out, std::to_string(i) + " " + std::to_string(a) + " " + std::to_string(b),
                                    dp[static_cast<size_t>(3 * a + b)].data() + i * D, D);
            }
        }
        files.commit();
    } catch (...) {
        files.discard();
        if (!dir_existed) ::rmdir(dir.c_str());  // removes it only when empty
        throw;
    }
    std::printf("SOAP of %zu frame%s (%ld atoms, D = %ld) written to %s as %s%s.features.txt%s%s\n", frames.size(),
                frames.size() == 1 ? "" : "s", n_atoms_total, D, dir.c_str(), name.c_str(),
                frames.size() == 1 ? "" : ".<frame>", want_gradients ? ", .gradients.txt" : "",
                want_strain ? ", .strain.txt" : "");
    return 0;
}

}  // namespace cli
