// Test helpers for SOAP (no Catch2 dependency, so bench/ may use them too): a minimal xyz reader
// (species, pos; Lattice and pbc from the comment line), an O(N^2 x images) neighbour search
// (specs/soap.md sec. 2), readers for the reference vectors in tests/reference/soap/.
// Notation: atoms i j, pairs p, lattice translations T = t . cell.
#pragma once
#include <array>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "autodiff/tensor.hpp"
#include "descriptors/soap.hpp"

namespace soap_testing {

struct Frame {
    std::vector<int> numbers;
    std::vector<double> positions;  ///< [n][3]
    std::array<double, 9> cell{};   ///< rows = lattice vectors
    std::array<bool, 3> pbc{};
    long n_atoms() const { return static_cast<long>(numbers.size()); }
    ad::Tensor positions_tensor() const { return ad::tensor({n_atoms(), 3}, positions); }
};

inline int symbol_to_number(const std::string& s) {
    static const char* names[] = {"X", "H", "He", "Li", "Be", "B", "C", "N", "O", "F", "Ne", "Na", "Mg", "Al", "Si",
                                  "P", "S", "Cl", "Ar", "K", "Ca", "Sc", "Ti", "V", "Cr", "Mn", "Fe", "Co", "Ni", "Cu", "Zn"};
    for (int z = 1; z < static_cast<int>(sizeof(names) / sizeof(names[0])); ++z)
        if (s == names[z]) return z;
    throw std::runtime_error("soap_test_helpers: unknown element " + s);
}

/// Reads up to max_frames frames of an (ext)xyz file: the first four columns are species, x, y, z.
inline std::vector<Frame> read_xyz(const std::string& path, long max_frames = -1) {
    std::ifstream in(path);
    if (!in) throw std::runtime_error("soap_test_helpers: cannot open " + path);
    std::vector<Frame> frames;
    std::string line;
    while ((max_frames < 0 || static_cast<long>(frames.size()) < max_frames) && std::getline(in, line)) {
        if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
        long n = std::stol(line);
        std::string comment;
        std::getline(in, comment);
        Frame f;
        auto lat = comment.find("Lattice=\"");
        if (lat != std::string::npos) {
            std::istringstream ls(comment.substr(lat + 9));
            for (double& v : f.cell) ls >> v;
        }
        auto pb = comment.find("pbc=\"");
        if (pb != std::string::npos) {
            std::istringstream ps(comment.substr(pb + 5));
            for (bool& b : f.pbc) {
                std::string t;
                ps >> t;
                b = t[0] == 'T';
            }
        }
        for (long i = 0; i < n; ++i) {
            std::getline(in, line);
            std::istringstream as(line);
            std::string sym;
            double x, y, z;
            as >> sym >> x >> y >> z;
            f.numbers.push_back(symbol_to_number(sym));
            f.positions.insert(f.positions.end(), {x, y, z});
        }
        frames.push_back(std::move(f));
    }
    return frames;
}

/// Full pair list with 0 < |x_j - x_i + T| < cutoff, (i, i, T = 0) excluded (spec sec. 2).
/// Translation ranges: t_k in [ceil(-r_c |b_k| - df_k), floor(r_c |b_k| - df_k)], b_k the columns
/// of cell^-1, f = x cell^-1.
inline desc::SoapPairs naive_pairs(const Frame& f, double cutoff) {
    const long n = f.n_atoms();
    const bool periodic = f.pbc[0] || f.pbc[1] || f.pbc[2];
    const auto& h = f.cell;
    double inv[9] = {0};
    if (periodic) {
        const double det = h[0] * (h[4] * h[8] - h[5] * h[7]) - h[1] * (h[3] * h[8] - h[5] * h[6]) +
                           h[2] * (h[3] * h[7] - h[4] * h[6]);
        inv[0] = (h[4] * h[8] - h[5] * h[7]) / det;
        inv[1] = (h[2] * h[7] - h[1] * h[8]) / det;
        inv[2] = (h[1] * h[5] - h[2] * h[4]) / det;
        inv[3] = (h[5] * h[6] - h[3] * h[8]) / det;
        inv[4] = (h[0] * h[8] - h[2] * h[6]) / det;
        inv[5] = (h[2] * h[3] - h[0] * h[5]) / det;
        inv[6] = (h[3] * h[7] - h[4] * h[6]) / det;
        inv[7] = (h[1] * h[6] - h[0] * h[7]) / det;
        inv[8] = (h[0] * h[4] - h[1] * h[3]) / det;
    }
    std::vector<long> first, second;
    std::vector<double> shifts;
    for (long i = 0; i < n; ++i) {
        for (long j = 0; j < n; ++j) {
            const double* xi = &f.positions[static_cast<size_t>(3 * i)];
            const double* xj = &f.positions[static_cast<size_t>(3 * j)];
            double d[3] = {xj[0] - xi[0], xj[1] - xi[1], xj[2] - xi[2]};
            int lo[3] = {0, 0, 0}, hi[3] = {0, 0, 0};
            for (int k = 0; k < 3 && periodic; ++k) {
                if (!f.pbc[static_cast<size_t>(k)]) continue;
                const double bk = std::sqrt(inv[k] * inv[k] + inv[3 + k] * inv[3 + k] + inv[6 + k] * inv[6 + k]);
                const double dfk = d[0] * inv[k] + d[1] * inv[3 + k] + d[2] * inv[6 + k];
                lo[k] = static_cast<int>(std::ceil(-cutoff * bk - dfk));
                hi[k] = static_cast<int>(std::floor(cutoff * bk - dfk));
            }
            for (int t0 = lo[0]; t0 <= hi[0]; ++t0)
                for (int t1 = lo[1]; t1 <= hi[1]; ++t1)
                    for (int t2 = lo[2]; t2 <= hi[2]; ++t2) {
                        if (i == j && t0 == 0 && t1 == 0 && t2 == 0) continue;
                        double T[3];
                        for (int a = 0; a < 3; ++a) T[a] = t0 * h[static_cast<size_t>(a)] + t1 * h[static_cast<size_t>(3 + a)] + t2 * h[static_cast<size_t>(6 + a)];
                        if (!periodic) T[0] = T[1] = T[2] = 0.0;
                        const double v[3] = {d[0] + T[0], d[1] + T[1], d[2] + T[2]};
                        const double r = std::sqrt(v[0] * v[0] + v[1] * v[1] + v[2] * v[2]);
                        if (r > 0 && r < cutoff) {
                            first.push_back(i);
                            second.push_back(j);
                            shifts.insert(shifts.end(), T, T + 3);
                        }
                    }
        }
    }
    const long P = static_cast<long>(first.size());
    return desc::SoapPairs{first, second, ad::tensor({P, 3}, shifts)};
}

/// Numeric lines of a reference file (comment lines starting with '#' skipped).
inline std::vector<std::vector<double>> read_rows(const std::string& path) {
    std::ifstream in(path);
    if (!in) throw std::runtime_error("soap_test_helpers: cannot open " + path);
    std::vector<std::vector<double>> rows;
    std::string line;
    while (std::getline(in, line)) {
        if (line.empty() || line[0] == '#') continue;
        std::vector<double> row;
        const char* s = line.c_str();
        char* end = nullptr;
        for (;;) {
            double v = std::strtod(s, &end);
            if (end == s) break;
            row.push_back(v);
            s = end;
        }
        rows.push_back(std::move(row));
    }
    return rows;
}

/// max |a - b| over equally long arrays, and max(1, max |b|) (the spec's M).
inline std::pair<double, double> max_diff_and_scale(const std::vector<double>& a, const std::vector<double>& b) {
    double diff = 0.0, scale = 1.0;
    for (size_t k = 0; k < a.size() && k < b.size(); ++k) {
        diff = std::max(diff, std::fabs(a[k] - b[k]));
        scale = std::max(scale, std::fabs(b[k]));
    }
    if (a.size() != b.size()) diff = INFINITY;
    return {diff, scale};
}

}  // namespace soap_testing
