// Reductions and broadcasting. A single-axis reduction sees x as [outer, n, inner] (row-major),
// y[o, i] = sum_k x[o, k, i]; multi-axis reductions repeat it axis by axis.
#include <algorithm>
#include <cmath>
#include <limits>

#include "autodiff/kernels.hpp"
#include "autodiff/ops.hpp"

namespace ad {

namespace {

using kern::Split;
using kern::split_at;

Shape reduced_shape(const Shape& s, const std::vector<int>& axes, bool keepdim) {
    Shape out;
    for (size_t k = 0; k < s.size(); ++k) {
        bool reduced = std::find(axes.begin(), axes.end(), static_cast<int>(k)) != axes.end();
        if (!reduced)
            out.push_back(s[k]);
        else if (keepdim)
            out.push_back(1);
    }
    return out;
}

std::vector<int> normalize_axes(const std::vector<long>& axes, long ndim, const char* op) {
    std::vector<int> out;
    for (long a : axes) {
        int k = normalize_axis(a, ndim, op);
        AD_CHECK(std::find(out.begin(), out.end(), k) == out.end(), op << ": expected distinct axes, got axis "
                                                                       << a << " twice");
        out.push_back(k);
    }
    std::sort(out.begin(), out.end());
    return out;
}

// Plain sum over the sorted axes (keepdim shape), no graph.
Tensor sum_kernel(const Tensor& x, const std::vector<int>& axes) {
    Shape shape = x.shape();
    Tensor cur = x;
    for (int axis : axes) {
        Split p = split_at(shape, axis);
        shape[axis] = 1;
        Tensor y = Tensor::zeros(shape);
        const double* px = cur.data();
        double* py = y.data();
        for (long o = 0; o < p.outer; ++o)
            for (long k = 0; k < p.n; ++k) {
                const double* row = px + (o * p.n + k) * p.inner;
                double* dst = py + o * p.inner;
                for (long i = 0; i < p.inner; ++i) dst[i] += row[i];
            }
        cur = y;
    }
    return cur;
}

}  // namespace

// y = sum_i x[i];  gx = g broadcast to x's shape
Tensor sum(const Tensor& x) {
    const double* px = x.data();
    double acc = 0;
    for (long i = 0; i < x.numel(); ++i) acc += px[i];
    Tensor y = Tensor::scalar(acc);
    return record("sum", y, {x}, [](const Tensor& g, const Ctx& c) { return Grads{expand(g, c.in[0].shape())}; });
}

// y = sum over `axes`;  gx = g (with reduced axes kept as 1) broadcast to x's shape
Tensor sum(const Tensor& x, const std::vector<long>& axes, bool keepdim) {
    std::vector<int> ax = normalize_axes(axes, x.ndim(), "sum");
    Tensor y = sum_kernel(x, ax);
    Shape keep = y.shape();
    // always a fresh handle: with no axes sum_kernel returns x itself, and recording on it would
    // make x its own graph node
    y = Tensor::view_of(y, keepdim ? keep : reduced_shape(x.shape(), ax, false));
    return record("sum_axes", y, {x}, [keep](const Tensor& g, const Ctx& c) {
        return Grads{expand(reshape(g, keep), c.in[0].shape())};
    });
}

Tensor mean(const Tensor& x) {
    AD_CHECK(x.numel() > 0, "mean: expected a non-empty tensor, got shape " << x.shape());
    return mul(sum(x), 1.0 / static_cast<double>(x.numel()));
}

Tensor mean(const Tensor& x, const std::vector<long>& axes, bool keepdim) {
    std::vector<int> ax = normalize_axes(axes, x.ndim(), "mean");
    long count = 1;
    for (int a : ax) count *= x.shape()[a];
    AD_CHECK(count > 0, "mean: expected non-empty reduced axes, got shape " << x.shape());
    return mul(sum(x, axes, keepdim), 1.0 / static_cast<double>(count));
}

// y = max_k x[o, k, i];  gx = g at the first maximal element, 0 elsewhere
Tensor max(const Tensor& x, long axis, bool keepdim) {
    int ax = normalize_axis(axis, x.ndim(), "max");
    Split p = split_at(x.shape(), ax);
    AD_CHECK(p.n > 0, "max: expected a non-empty axis " << axis << ", got shape " << x.shape());
    Shape keep = x.shape();
    keep[ax] = 1;
    Tensor y = Tensor::empty(keep);
    Tensor mask = Tensor::zeros(x.shape());  // one-hot position of the maximum (a constant)
    const double* px = x.data();
    double* py = y.data();
    double* pm = mask.data();
    for (long o = 0; o < p.outer; ++o)
        for (long i = 0; i < p.inner; ++i) {
            long best = 0;
            double v = px[o * p.n * p.inner + i];
            for (long k = 1; k < p.n; ++k) {
                double u = px[(o * p.n + k) * p.inner + i];
                if (u > v || (std::isnan(u) && !std::isnan(v))) {
                    v = u;
                    best = k;
                }
            }
            py[o * p.inner + i] = v;
            pm[(o * p.n + best) * p.inner + i] = 1.0;
        }
    if (!keepdim) y = Tensor::view_of(y, reduced_shape(x.shape(), {ax}, false));
    return record("max", y, {x}, [keep, mask](const Tensor& g, const Ctx& c) {
        return Grads{mul(expand(reshape(g, keep), c.in[0].shape()), mask)};
    });
}

// y = x summed over the axes where `shape` is 1 or absent;  gx = expand(g, x.shape)
Tensor sum_to(const Tensor& x, const Shape& shape) {
    AD_CHECK(broadcast_shapes(shape, x.shape(), "sum_to") == x.shape(),
             "sum_to: expected a shape that broadcasts to " << x.shape() << ", got " << shape);
    if (x.shape() == shape) return x;
    Tensor y = Tensor::zeros(shape);
    const double* px = x.data();
    double* py = y.data();
    const long n = x.numel(), ny = y.numel();
    if (ny == 1) {
        double acc = 0;
        for (long i = 0; i < n; ++i) acc += px[i];
        py[0] = acc;
    } else {
        // trailing-block case ([n, o] -> [o] or [1, o]): row sums
        size_t s = 0;
        while (s < shape.size() && shape[s] == 1) ++s;
        size_t r = shape.size() - s;
        if (r <= x.shape().size() && std::equal(shape.begin() + static_cast<long>(s), shape.end(),
                                                x.shape().end() - static_cast<long>(r))) {
            for (long row = 0; row < n; row += ny)
                for (long j = 0; j < ny; ++j) py[j] += px[row + j];
        } else {
            const std::vector<long> st = kern::broadcast_strides(shape, x.shape());
            const Shape& xs = x.shape();
            std::vector<long> counter(xs.size(), 0);
            long off = 0;
            for (long i = 0; i < n; ++i) {
                py[off] += px[i];
                for (size_t k = xs.size(); k-- > 0;) {
                    ++counter[k];
                    off += st[k];
                    if (counter[k] < xs[k]) break;
                    off -= st[k] * xs[k];
                    counter[k] = 0;
                }
            }
        }
    }
    return record("sum_to", y, {x}, [](const Tensor& g, const Ctx& c) { return Grads{expand(g, c.in[0].shape())}; });
}

// y = x broadcast to `shape`;  gx = sum_to(g, x.shape)
Tensor expand(const Tensor& x, const Shape& shape) {
    AD_CHECK(broadcast_shapes(x.shape(), shape, "expand") == shape,
             "expand: expected a shape that " << x.shape() << " broadcasts to, got " << shape);
    if (x.shape() == shape) return x;
    Tensor y = kern::zip(x, x, shape, [](double u, double) { return u; });
    return record("expand", y, {x}, [](const Tensor& g, const Ctx& c) { return Grads{sum_to(g, c.in[0].shape())}; });
}

// y = m + log sum_k exp(x_k - m), m = max_k x_k (so exp never overflows);
// gx = g softmax(x) = g exp(x - y)
Tensor logsumexp(const Tensor& x, long axis, bool keepdim) {
    int ax = normalize_axis(axis, x.ndim(), "logsumexp");
    Split p = split_at(x.shape(), ax);
    AD_CHECK(p.n > 0, "logsumexp: expected a non-empty axis " << axis << ", got shape " << x.shape());
    Shape keep = x.shape();
    keep[ax] = 1;
    Tensor y = Tensor::empty(keep);
    const double* px = x.data();
    double* py = y.data();
    for (long o = 0; o < p.outer; ++o)
        for (long i = 0; i < p.inner; ++i) {
            double m = -std::numeric_limits<double>::infinity();
            for (long k = 0; k < p.n; ++k) m = std::max(m, px[(o * p.n + k) * p.inner + i]);
            double acc = 0;
            if (std::isinf(m)) {
                py[o * p.inner + i] = m;
                continue;
            }
            for (long k = 0; k < p.n; ++k) acc += std::exp(px[(o * p.n + k) * p.inner + i] - m);
            py[o * p.inner + i] = m + std::log(acc);
        }
    if (!keepdim) y = Tensor::view_of(y, reduced_shape(x.shape(), {ax}, false));
    return record("logsumexp", y, {x}, [keep](const Tensor& g, const Ctx& c) {
        Tensor soft = exp(sub(c.in[0], reshape(c.out, keep)));
        return Grads{mul(reshape(g, keep), soft)};
    });
}

// y = x - logsumexp(x, axis);  gx = g - exp(y) sum_k g_k
Tensor log_softmax(const Tensor& x, long axis) {
    int ax = normalize_axis(axis, x.ndim(), "log_softmax");
    Tensor lse;
    {
        NoGrad ng;
        lse = logsumexp(x, ax, true);
    }
    Tensor y = kern::zip(x, lse, x.shape(), [](double u, double v) { return u - v; });
    return record("log_softmax", y, {x}, [ax](const Tensor& g, const Ctx& c) {
        return Grads{sub(g, mul(exp(c.out), sum(g, {ax}, true)))};
    });
}

Tensor softmax(const Tensor& x, long axis) {
    normalize_axis(axis, x.ndim(), "softmax");  // so that a bad axis names softmax, not log_softmax
    return exp(log_softmax(x, axis));
}

}  // namespace ad
