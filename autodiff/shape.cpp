#include "autodiff/shape.hpp"

#include <ostream>
#include <sstream>

#include "autodiff/error.hpp"

namespace ad {

long numel(const Shape& s) {
    long n = 1;
    for (long d : s) n *= d;
    return n;
}

std::string to_string(const Shape& s) {
    std::ostringstream os;
    os << '[';
    for (size_t i = 0; i < s.size(); ++i) os << (i ? ", " : "") << s[i];
    os << ']';
    return os.str();
}

std::ostream& operator<<(std::ostream& os, const Shape& s) { return os << to_string(s); }

Shape broadcast_shapes(const Shape& a, const Shape& b, const char* op) {
    if (a == b) return a;
    size_t n = std::max(a.size(), b.size());
    Shape out(n);
    for (size_t k = 0; k < n; ++k) {
        long da = k < n - a.size() ? 1 : a[k - (n - a.size())];
        long db = k < n - b.size() ? 1 : b[k - (n - b.size())];
        AD_CHECK(da == db || da == 1 || db == 1, op << ": cannot broadcast " << a << " with " << b);
        out[k] = da == 1 ? db : da;
    }
    return out;
}

std::vector<long> strides_of(const Shape& s) {
    std::vector<long> st(s.size());
    long acc = 1;
    for (size_t k = s.size(); k-- > 0;) {
        st[k] = acc;
        acc *= s[k];
    }
    return st;
}

int normalize_axis(long axis, long ndim, const char* op) {
    AD_CHECK(axis >= -ndim && axis < ndim,
             op << ": expected an axis in [" << -ndim << ", " << ndim << "), got " << axis);
    return static_cast<int>(axis < 0 ? axis + ndim : axis);
}

}  // namespace ad
