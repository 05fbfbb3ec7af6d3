// Loop helpers shared by the op files: elementwise maps with broadcasting. Internal to autodiff/.
#pragma once
#include <algorithm>

#include "autodiff/tensor.hpp"

namespace ad::kern {

/// A shape seen as [outer, n, inner] around one axis (row-major): element (o, k, i) sits at
/// (o n + k) inner + i.
struct Split {
    long outer = 1, n = 1, inner = 1;
};

inline Split split_at(const Shape& s, int axis) {
    Split p;
    for (int k = 0; k < axis; ++k) p.outer *= s[k];
    p.n = s[axis];
    for (size_t k = axis + 1; k < s.size(); ++k) p.inner *= s[k];
    return p;
}

/// Strides of `in` aligned to the broadcast shape `out` (0 on broadcast axes).
std::vector<long> broadcast_strides(const Shape& in, const Shape& out);

/// y[i] = f(x[i])
template <class F>
Tensor map(const Tensor& x, F f) {
    Tensor y = Tensor::empty(x.shape());
    const double* __restrict px = x.data();
    double* __restrict py = y.data();  // a fresh buffer: never overlaps x
    const long n = x.numel();
    for (long i = 0; i < n; ++i) py[i] = f(px[i]);
    return y;
}

/// out[idx] = f(a[idx_a], b[idx_b]) over the broadcast shape `out_shape`.
template <class F>
Tensor zip(const Tensor& a, const Tensor& b, const Shape& out_shape, F f) {
    Tensor y = Tensor::empty(out_shape);
    const double* __restrict pa = a.data();
    const double* __restrict pb = b.data();
    double* __restrict py = y.data();  // a fresh buffer: never overlaps a or b
    const long n = y.numel();
    const long na = a.numel(), nb = b.numel();
    if (na == n && nb == n) {
        for (long i = 0; i < n; ++i) py[i] = f(pa[i], pb[i]);
        return y;
    }
    if (na == n && nb == 1) {
        const double vb = pb[0];
        for (long i = 0; i < n; ++i) py[i] = f(pa[i], vb);
        return y;
    }
    if (nb == n && na == 1) {
        const double va = pa[0];
        for (long i = 0; i < n; ++i) py[i] = f(va, pb[i]);
        return y;
    }
    // b repeats over leading rows of a (bias-like: a [n, o], b [o] or [1, o]).
    if (na == n && nb > 0) {
        const Shape& bs = b.shape();
        size_t s = 0;
        while (s < bs.size() && bs[s] == 1) ++s;
        const size_t rb = bs.size() - s;
        if (rb <= out_shape.size() && std::equal(bs.begin() + static_cast<long>(s), bs.end(),
                                                 out_shape.end() - static_cast<long>(rb))) {
            for (long r = 0; r < n; r += nb)
                for (long j = 0; j < nb; ++j) py[r + j] = f(pa[r + j], pb[j]);
            return y;
        }
    }
    // General case: odometer over all axes but the last, inner loop over the last.
    const std::vector<long> sa = broadcast_strides(a.shape(), out_shape);
    const std::vector<long> sb = broadcast_strides(b.shape(), out_shape);
    const size_t nd = out_shape.size();
    if (nd == 0) {
        py[0] = f(pa[0], pb[0]);
        return y;
    }
    const long last = out_shape[nd - 1];
    const long la = sa[nd - 1], lb = sb[nd - 1];
    std::vector<long> counter(nd, 0);
    long oa = 0, ob = 0;
    for (long r = 0; r < n; r += last) {
        for (long j = 0; j < last; ++j) py[r + j] = f(pa[oa + j * la], pb[ob + j * lb]);
        for (size_t k = nd - 1; k-- > 0;) {
            ++counter[k];
            oa += sa[k];
            ob += sb[k];
            if (counter[k] < out_shape[k]) break;
            oa -= sa[k] * out_shape[k];
            ob -= sb[k] * out_shape[k];
            counter[k] = 0;
        }
    }
    return y;
}

}  // namespace ad::kern
