// System: one atomistic structure (atoms, cell, periodicity) plus the per-frame and per-atom data
// that came with it in an extended-XYZ file, kept in raw form so that writing it back preserves it.
// Typed access to the training targets energy, forces and stress (ASE conventions, docs/descriptors.md).
//
// Notation: atoms i = 0..n_atoms-1 (file order); Cartesian components c = 0,1,2 (x, y, z);
// lattice vectors a_k = cell[k, :] (rows), k = 0,1,2. Lengths in Å, energies in eV.
#pragma once
#include <array>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "autodiff/tensor.hpp"

namespace desc {

/// One per-atom column of an extended-XYZ file other than species and pos, e.g. forces:R:3.
/// type: 'R' real, 'I' integer, 'L' logical (values 0/1), all stored in `values`;
///       'S' string, stored in `strings`. Both are row-major [n_atoms, n_cols].
struct AtomColumn {
    std::string name;
    char type = 'R';
    int n_cols = 1;
    std::vector<double> values;        ///< [n_atoms * n_cols] for R, I, L
    std::vector<std::string> strings;  ///< [n_atoms * n_cols] for S
};

struct System {
    std::vector<int> numbers;  ///< atomic numbers [n_atoms]
    ad::Tensor positions;      ///< [n_atoms, 3] Å, not necessarily wrapped into the cell
    ad::Tensor cell;           ///< [3, 3], rows = lattice vectors; zeros when absent
    std::array<bool, 3> pbc{};
    /// Per-frame keys other than Lattice, Properties and pbc, in file order: key -> value text
    /// (outer quotes removed, escapes decoded). energy and stress live here (see the accessors).
    std::vector<std::pair<std::string, std::string>> info_raw;
    /// Per-atom columns other than species and pos, in file order (forces among them).
    std::vector<AtomColumn> arrays;

    /// Where the frame came from, for error messages ("" / -1 when built in code).
    std::string source;
    long frame = -1;  ///< 0-based frame index in `source`
    long line = 0;    ///< 1-based line of the frame's atom-count line

    long n_atoms() const { return static_cast<long>(numbers.size()); }
    bool any_pbc() const { return pbc[0] || pbc[1] || pbc[2]; }
    /// det(cell) (signed); its absolute value is the volume in Å^3.
    double volume() const;
    /// "file.xyz frame 3 (line 45)", or "system" when built in code.
    std::string where() const;

    // ---- raw per-frame and per-atom data ----
    const std::string* find_info(const std::string& key) const;  ///< nullptr when absent
    void set_info(const std::string& key, const std::string& value);  ///< replaces or appends
    bool erase_info(const std::string& key);
    const AtomColumn* find_array(const std::string& name) const;  ///< nullptr when absent
    AtomColumn* find_array(const std::string& name);
    void set_array(AtomColumn column);  ///< replaces or appends; checks the length
    bool erase_array(const std::string& name);

    // ---- typed targets (errors name source, frame and key) ----
    /// Per-frame real number `key`; throws when absent or not a number.
    double require_energy(const std::string& key = "energy") const;
    std::optional<double> energy(const std::string& key = "energy") const;
    void set_energy(double value, const std::string& key = "energy");
    /// Per-atom real column `key` with 3 finite components -> [n_atoms, 3].
    ad::Tensor require_forces(const std::string& key = "forces") const;
    void set_forces(const ad::Tensor& forces, const std::string& key = "forces");
    /// Per-frame `key` with 9 numbers (row-major 3x3) or 6 (Voigt xx yy zz yz xz xy) -> [3, 3],
    /// ASE convention stress = (1/V) dE/d(strain), eV/Å^3.
    ad::Tensor require_stress(const std::string& key = "stress") const;
    void set_stress(const ad::Tensor& stress, const std::string& key = "stress");  ///< writes 9 numbers
};

/// Sorted distinct atomic numbers over all frames (the `species` list of specs/soap.md sec. 1).
std::vector<int> unique_numbers(const std::vector<System>& frames);

/// Element symbol ("Cu") -> atomic number (29); throws for an unknown symbol. Exact case.
int atomic_number(const std::string& symbol);
/// Like atomic_number, but returns 0 for an unknown symbol.
int atomic_number_or_zero(const char* symbol, size_t length);
/// Atomic number (1..118) -> symbol; throws outside that range.
const std::string& element_symbol(int number);

/// Shortest decimal text that reads back as the same double ("0.1", "1e-300", "-3.0").
std::string format_double(double value);

}  // namespace desc
