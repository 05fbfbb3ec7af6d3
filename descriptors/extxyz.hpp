// Extended XYZ (the format ase.io.write(..., format="extxyz") produces) <-> System.
// Frame: a line with the atom count; a comment line of key=value pairs holding Lattice="9 numbers"
// (rows a, b, c), Properties=name:type:count:... (type S string, R real, I integer, L logical) and
// pbc="T T T"; then one line per atom with the Properties columns. Conventions: docs/descriptors.md.
#pragma once
#include <string>
#include <vector>

#include "descriptors/system.hpp"

namespace desc {

/// Reads every frame of `path`. Each error is one line naming the file, the line and what was
/// expected (truncated frame, malformed number, bad Properties, unknown element, non-finite
/// position, singular cell with pbc, NaN/inf in the targets energy, stress or forces), or the
/// frame and both atoms for two atoms closer than kMinAtomDistance (neighbor_list.hpp).
/// Systems record source/frame/line for later messages.
std::vector<System> read_extxyz(const std::string& path);
/// Parses extended-XYZ `text`; `name` stands for the file in error messages.
std::vector<System> parse_extxyz(const std::string& text, const std::string& name);

/// Writes the frames as ASE does (Lattice when the cell is non-zero, Properties with species and
/// pos first, the other keys in stored order, pbc last) with every real number in its shortest
/// round-trip form, so read_extxyz(write_extxyz(x)) reproduces every value bit for bit.
/// Writes `path`.tmp first and renames it over `path`, so readers never see half a file.
void write_extxyz(const std::string& path, const std::vector<System>& frames);
/// The text write_extxyz puts in the file.
std::string format_extxyz(const std::vector<System>& frames);

}  // namespace desc
