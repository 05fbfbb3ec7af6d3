// Shape: the sizes of a tensor's axes, row-major. Broadcasting follows NumPy: shapes are aligned
// at their last axis; two sizes match when equal or when one of them is 1.
#pragma once
#include <iosfwd>
#include <string>
#include <vector>

namespace ad {

using Shape = std::vector<long>;

/// Number of elements of a shape (1 for the scalar shape []).
long numel(const Shape& s);
/// "[3, 4]"; "[]" for a scalar.
std::string to_string(const Shape& s);
std::ostream& operator<<(std::ostream& os, const Shape& s);
/// Broadcast result of a and b; throws "<op>: cannot broadcast [3, 4] with [2, 4]".
Shape broadcast_shapes(const Shape& a, const Shape& b, const char* op);
/// Row-major strides of a shape, in elements.
std::vector<long> strides_of(const Shape& s);
/// Normalises a possibly negative axis against ndim; throws naming `op` when out of range.
int normalize_axis(long axis, long ndim, const char* op);

}  // namespace ad
