// Shape and indexing ops. Each moves values without arithmetic, so each backward is the
// "opposite" move: reshape <-> reshape, permute <-> inverse permute, slice <-> pad (via
// index_add), index_select <-> index_add, gather <-> scatter_add.
#include <numeric>

#include "autodiff/kernels.hpp"
#include "autodiff/ops.hpp"

namespace ad {

namespace {

using kern::Split;
using kern::split_at;

}  // namespace

// y = x with a new shape (shares storage);  gx = reshape(g, x.shape)
Tensor reshape(const Tensor& x, const Shape& shape) {
    Shape s = shape;
    long known = 1, unknown = -1;
    for (size_t k = 0; k < s.size(); ++k) {
        if (s[k] == -1) {
            AD_CHECK(unknown < 0, "reshape: expected at most one -1 in " << shape);
            unknown = static_cast<long>(k);
        } else {
            AD_CHECK(s[k] >= 0, "reshape: expected sizes >= 0 or -1, got " << shape);
            known *= s[k];
        }
    }
    if (unknown >= 0) {
        AD_CHECK(known > 0 && x.numel() % known == 0,
                 "reshape: cannot reshape " << x.shape() << " to " << shape);
        s[unknown] = x.numel() / known;
    }
    AD_CHECK(numel(s) == x.numel(), "reshape: cannot reshape " << x.shape() << " (" << x.numel()
                                                               << " elements) to " << shape);
    if (s == x.shape()) return x;
    Tensor y = Tensor::view_of(x, s);
    return record("reshape", y, {x}, [](const Tensor& g, const Ctx& c) { return Grads{reshape(g, c.in[0].shape())}; });
}

// y[j, i] = x[i, j];  gx = transpose(g)
Tensor transpose(const Tensor& x) {
    AD_CHECK(x.ndim() == 2, "transpose: expected a 2-D tensor, got shape " << x.shape() << "; use permute");
    return permute(x, {1, 0});
}

// y.shape[k] = x.shape[axes[k]];  gx = permute(g, inverse(axes))
Tensor permute(const Tensor& x, const std::vector<long>& axes) {
    const long nd = x.ndim();
    AD_CHECK(static_cast<long>(axes.size()) == nd,
             "permute: expected " << nd << " axes for shape " << x.shape() << ", got " << axes.size());
    std::vector<long> perm(nd), inv(nd, -1);
    for (long k = 0; k < nd; ++k) {
        perm[k] = normalize_axis(axes[k], nd, "permute");
        AD_CHECK(inv[perm[k]] < 0, "permute: expected a permutation, got axis " << axes[k] << " twice");
        inv[perm[k]] = k;
    }
    Shape ys(nd);
    for (long k = 0; k < nd; ++k) ys[k] = x.shape()[perm[k]];
    Tensor y = Tensor::empty(ys);
    const std::vector<long> xst = strides_of(x.shape());
    const double* px = x.data();
    double* py = y.data();
    const long n = y.numel();
    if (nd == 2 && perm[0] == 1) {
        const long r = x.dim(0), cc = x.dim(1);
        for (long i = 0; i < r; ++i)
            for (long j = 0; j < cc; ++j) py[j * r + i] = px[i * cc + j];
    } else if (n > 0 && perm[nd - 1] == nd - 1) {
        // the last axis stays last (attention heads: [B, T, H, e] <-> [B, H, T, e]): copy whole
        // contiguous rows, stepping the odometer once per row instead of once per element
        const long inner = ys[nd - 1], rows = n / inner, od = nd - 1;
        std::vector<long> st(static_cast<size_t>(od)), counter(static_cast<size_t>(od), 0);
        for (long k = 0; k < od; ++k) st[k] = xst[perm[k]];
        long off = 0;
        for (long i = 0; i < rows; ++i) {
            std::copy_n(px + off, inner, py + i * inner);
            for (long k = od; k-- > 0;) {
                ++counter[k];
                off += st[k];
                if (counter[k] < ys[k]) break;
                off -= st[k] * ys[k];
                counter[k] = 0;
            }
        }
    } else if (n > 0) {
        std::vector<long> st(nd), counter(nd, 0);
        for (long k = 0; k < nd; ++k) st[k] = xst[perm[k]];
        long off = 0;
        for (long i = 0; i < n; ++i) {
            py[i] = px[off];
            for (long k = nd; k-- > 0;) {
                ++counter[k];
                off += st[k];
                if (counter[k] < ys[k]) break;
                off -= st[k] * ys[k];
                counter[k] = 0;
            }
        }
    }
    return record("permute", y, {x}, [inv](const Tensor& g, const Ctx&) { return Grads{permute(g, inv)}; });
}

// y = x[..., start:stop, ...] along axis;  gx = g placed back at start..stop, zeros elsewhere
Tensor slice(const Tensor& x, long axis, long start, long stop) {
    int ax = normalize_axis(axis, x.ndim(), "slice");
    const long n = x.shape()[ax];
    long b = start < 0 ? start + n : start, e = stop < 0 ? stop + n : stop;
    AD_CHECK(0 <= b && b <= e && e <= n, "slice: expected 0 <= start <= stop <= " << n << " on axis " << axis
                                                                                   << " of " << x.shape() << ", got "
                                                                                   << start << ":" << stop);
    std::vector<long> idx(e - b);
    std::iota(idx.begin(), idx.end(), b);
    return index_select(x, ax, idx);
}

// y = x_0, x_1, ... joined along axis;  gx_k = slice of g
Tensor concat(const std::vector<Tensor>& xs, long axis) {
    AD_CHECK(!xs.empty(), "concat: expected at least one tensor, got none");
    int ax = normalize_axis(axis, xs[0].ndim(), "concat");
    Shape ys = xs[0].shape();
    long total = 0;
    for (size_t t = 0; t < xs.size(); ++t) {
        Shape s = xs[t].shape();
        AD_CHECK(s.size() == ys.size(), "concat: expected tensors of rank " << ys.size() << ", got " << s
                                                                           << " at position " << t);
        s[ax] = ys[ax];
        AD_CHECK(s == ys, "concat: expected shapes that differ only on axis " << axis << ", got " << xs[0].shape()
                                                                              << " and " << xs[t].shape());
        total += xs[t].shape()[ax];
    }
    ys[ax] = total;
    Tensor y = Tensor::empty(ys);
    Split p = split_at(ys, ax);
    long off = 0;
    std::vector<long> offsets;
    for (const Tensor& x : xs) {
        const long nk = x.shape()[ax];
        const double* px = x.data();
        double* py = y.data();
        for (long o = 0; o < p.outer; ++o)
            std::copy(px + o * nk * p.inner, px + (o + 1) * nk * p.inner, py + (o * total + off) * p.inner);
        offsets.push_back(off);
        off += nk;
    }
    return record("concat", y, xs, [ax, offsets](const Tensor& g, const Ctx& c) {
        Grads gs(c.in.size());
        for (size_t t = 0; t < c.in.size(); ++t)
            if (c.needs[t]) gs[t] = slice(g, ax, offsets[t], offsets[t] + c.in[t].shape()[ax]);
        return gs;
    });
}

Tensor stack(const std::vector<Tensor>& xs, long axis) {
    AD_CHECK(!xs.empty(), "stack: expected at least one tensor, got none");
    int ax = normalize_axis(axis, xs[0].ndim() + 1, "stack");
    std::vector<Tensor> ys;
    for (const Tensor& x : xs) {
        AD_CHECK(x.shape() == xs[0].shape(), "stack: expected tensors of one shape, got " << xs[0].shape() << " and "
                                                                                          << x.shape());
        Shape s = x.shape();
        s.insert(s.begin() + ax, 1);
        ys.push_back(reshape(x, s));
    }
    return concat(ys, ax);
}

// y[o, k, i] = x[o, idx[k], i];  gx = index_add(zeros, axis, idx, g)
Tensor index_select(const Tensor& x, long axis, const std::vector<long>& idx) {
    int ax = normalize_axis(axis, x.ndim(), "index_select");
    Split p = split_at(x.shape(), ax);
    for (size_t k = 0; k < idx.size(); ++k)
        AD_CHECK(idx[k] >= 0 && idx[k] < p.n, "index_select: expected indices in [0, " << p.n << "), got " << idx[k]
                                                                                        << " at position " << k);
    Shape ys = x.shape();
    ys[ax] = static_cast<long>(idx.size());
    Tensor y = Tensor::empty(ys);
    const double* px = x.data();
    double* py = y.data();
    const long m = static_cast<long>(idx.size());
    for (long o = 0; o < p.outer; ++o)
        for (long k = 0; k < m; ++k)
            std::copy(px + (o * p.n + idx[k]) * p.inner, px + (o * p.n + idx[k] + 1) * p.inner,
                      py + (o * m + k) * p.inner);
    return record("index_select", y, {x}, [ax, idx](const Tensor& g, const Ctx& c) {
        return Grads{index_add_to_zeros(c.in[0].shape(), ax, idx, g)};
    });
}

// y = zeros(shape);  y[o, idx[k], i] += src[o, k, i];  gsrc = index_select(g, axis, idx).
// index_add(zeros, ...) without the zero fill and copy of a full-size buffer: rows that idx
// selects once are written once, the others zeroed (the backward of index_select).
Tensor index_add_to_zeros(const Shape& shape, long axis, const std::vector<long>& idx, const Tensor& src) {
    int ax = normalize_axis(axis, static_cast<long>(shape.size()), "index_add");
    Split p = split_at(shape, ax);
    Shape expect = shape;
    expect[ax] = static_cast<long>(idx.size());
    AD_CHECK(src.shape() == expect, "index_add: expected src of shape " << expect << ", got " << src.shape());
    for (size_t k = 0; k < idx.size(); ++k)
        AD_CHECK(idx[k] >= 0 && idx[k] < p.n, "index_add: expected indices in [0, " << p.n << "), got " << idx[k]
                                                                                    << " at position " << k);
    Tensor y = Tensor::empty(shape);
    const double* ps = src.data();
    double* py = y.data();
    const long m = static_cast<long>(idx.size());
    std::vector<char> seen(static_cast<size_t>(p.n), 0);
    for (long k = 0; k < m; ++k) seen[static_cast<size_t>(idx[k])] = 1;
    for (long o = 0; o < p.outer; ++o) {
        for (long r = 0; r < p.n; ++r)
            if (!seen[static_cast<size_t>(r)]) std::fill_n(py + (o * p.n + r) * p.inner, p.inner, 0.0);
        for (long k = 0; k < m; ++k) {  // seen: 1 = first visit copies, 2 = later visits add
            double* dst = py + (o * p.n + idx[k]) * p.inner;
            const double* sp = ps + (o * m + k) * p.inner;
            char& first = seen[static_cast<size_t>(idx[k])];
            if (first == 1) {
                std::copy_n(sp, p.inner, dst);
                first = 2;
            } else {
                for (long i = 0; i < p.inner; ++i) dst[i] += sp[i];
            }
        }
        for (long k = 0; k < m; ++k) seen[static_cast<size_t>(idx[k])] = 1;
    }
    return record("index_add", y, {src}, [ax, idx](const Tensor& g, const Ctx&) {
        return Grads{index_select(g, ax, idx)};
    });
}

// y = x;  y[o, idx[k], i] += src[o, k, i];  gx = g,  gsrc = index_select(g, axis, idx)
Tensor index_add(const Tensor& x, long axis, const std::vector<long>& idx, const Tensor& src) {
    int ax = normalize_axis(axis, x.ndim(), "index_add");
    Split p = split_at(x.shape(), ax);
    Shape expect = x.shape();
    expect[ax] = static_cast<long>(idx.size());
    AD_CHECK(src.shape() == expect, "index_add: expected src of shape " << expect << ", got " << src.shape());
    for (size_t k = 0; k < idx.size(); ++k)
        AD_CHECK(idx[k] >= 0 && idx[k] < p.n, "index_add: expected indices in [0, " << p.n << "), got " << idx[k]
                                                                                    << " at position " << k);
    Tensor y = x.clone();
    const double* ps = src.data();
    double* py = y.data();
    const long m = static_cast<long>(idx.size());
    for (long o = 0; o < p.outer; ++o)
        for (long k = 0; k < m; ++k) {
            double* dst = py + (o * p.n + idx[k]) * p.inner;
            const double* s = ps + (o * m + k) * p.inner;
            for (long i = 0; i < p.inner; ++i) dst[i] += s[i];
        }
    return record("index_add", y, {x, src}, [ax, idx](const Tensor& g, const Ctx& c) {
        return Grads{c.needs[0] ? g : Tensor(), c.needs[1] ? index_select(g, ax, idx) : Tensor()};
    });
}

namespace {
// Visits every position of idx (same rank as x), calling f(flat position in idx, flat position in
// x with the axis coordinate replaced by idx's value).
template <class F>
void for_each_indexed(const Shape& xs, int ax, const Index& idx, const char* op, F f) {
    AD_CHECK(idx.shape.size() == xs.size(), op << ": expected an index of rank " << xs.size() << ", got "
                                               << idx.shape);
    AD_CHECK(static_cast<long>(idx.data.size()) == numel(idx.shape),
             op << ": expected " << numel(idx.shape) << " index values for shape " << idx.shape << ", got "
                << idx.data.size());
    for (size_t k = 0; k < xs.size(); ++k)
        AD_CHECK(static_cast<int>(k) == ax || idx.shape[k] <= xs[k],
                 op << ": expected index size <= " << xs[k] << " on axis " << k << ", got " << idx.shape);
    const std::vector<long> xst = strides_of(xs);
    const long n = numel(idx.shape);
    std::vector<long> counter(xs.size(), 0);
    for (long i = 0; i < n; ++i) {
        long v = idx.data[i];
        AD_CHECK(v >= 0 && v < xs[ax], op << ": expected indices in [0, " << xs[ax] << "), got " << v);
        long off = 0;
        for (size_t k = 0; k < xs.size(); ++k) off += (static_cast<int>(k) == ax ? v : counter[k]) * xst[k];
        f(i, off);
        for (size_t k = xs.size(); k-- > 0;) {
            if (++counter[k] < idx.shape[k]) break;
            counter[k] = 0;
        }
    }
}
}  // namespace

// y[..] = x[.., idx[..], ..] (torch.gather);  gx = scatter_add(zeros, axis, idx, g)
Tensor gather(const Tensor& x, long axis, const Index& idx) {
    int ax = normalize_axis(axis, x.ndim(), "gather");
    Tensor y = Tensor::empty(idx.shape);
    const double* px = x.data();
    double* py = y.data();
    for_each_indexed(x.shape(), ax, idx, "gather", [&](long i, long off) { py[i] = px[off]; });
    return record("gather", y, {x}, [ax, idx](const Tensor& g, const Ctx& c) {
        return Grads{scatter_add(Tensor::zeros(c.in[0].shape()), ax, idx, g)};
    });
}

// y = x;  y[.., idx[..], ..] += src[..] (torch.scatter_add);  gx = g,  gsrc = gather(g, axis, idx)
Tensor scatter_add(const Tensor& x, long axis, const Index& idx, const Tensor& src) {
    int ax = normalize_axis(axis, x.ndim(), "scatter_add");
    AD_CHECK(src.shape() == idx.shape, "scatter_add: expected src of the index's shape " << idx.shape << ", got "
                                                                                         << src.shape());
    Tensor y = x.clone();
    const double* ps = src.data();
    double* py = y.data();
    for_each_indexed(x.shape(), ax, idx, "scatter_add", [&](long i, long off) { py[off] += ps[i]; });
    return record("scatter_add", y, {x, src}, [ax, idx](const Tensor& g, const Ctx& c) {
        return Grads{c.needs[0] ? g : Tensor(), c.needs[1] ? gather(g, ax, idx) : Tensor()};
    });
}

}  // namespace ad
