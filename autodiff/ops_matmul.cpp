// Matrix products through CBLAS. One kernel mm(a, b, ta, tb): y = op(a) op(b) with op = identity
// or transpose, on [n, k] matrices or batches [B, n, k]. With g = dL/dy:
//   ga = g op(b)^T  (ta = N)   or  op(b) g^T  (ta = T)
//   gb = op(a)^T g  (tb = N)   or  g^T op(a)  (tb = T)
// each again an mm, so products differentiate any number of times.
#include "autodiff/blas.hpp"
#include "autodiff/ops.hpp"

namespace ad {

namespace {

Tensor mm(const Tensor& a, const Tensor& b, bool ta, bool tb);
Tensor mm_or_add(const Tensor& a, const Tensor& b, bool ta, bool tb, double* into);

// y = op(a) op(b) + beta y, shapes as checked by mm (2-D or batched)
void mm_kernel(const Tensor& a, const Tensor& b, bool ta, bool tb, double beta, double* y) {
    const long nb = a.ndim() == 3 ? a.dim(0) : 1;
    const long ar = a.dim(-2), ac = a.dim(-1), br = b.dim(-2), bc = b.dim(-1);
    const long m = ta ? ac : ar, k = ta ? ar : ac, n = tb ? br : bc;
    for (long s = 0; s < nb; ++s)
        blas::gemm(ta, tb, m, n, k, 1.0, a.data() + s * ar * ac, ac, b.data() + s * br * bc, bc, beta, y + s * m * n, n);
}

const char* mm_name(bool ta, bool tb) {
    return ta ? (tb ? "matmul_tt" : "matmul_tn") : (tb ? "matmul_nt" : "matmul");
}

Tensor mm(const Tensor& a, const Tensor& b, bool ta, bool tb) {
    const char* name = mm_name(ta, tb);
    AD_CHECK((a.ndim() == 2 && b.ndim() == 2) || (a.ndim() == 3 && b.ndim() == 3 && a.dim(0) == b.dim(0)),
             name << ": expected two matrices or two batches of matrices, got " << a.shape() << " and " << b.shape());
    const bool batched = a.ndim() == 3;
    const long nb = batched ? a.dim(0) : 1;
    const long ar = a.dim(-2), ac = a.dim(-1), br = b.dim(-2), bc = b.dim(-1);
    const long m = ta ? ac : ar, k = ta ? ar : ac, kb = tb ? bc : br, n = tb ? br : bc;
    AD_CHECK(k == kb, name << ": inner sizes differ: " << a.shape() << (ta ? "^T" : "") << " times " << b.shape()
                           << (tb ? "^T" : ""));
    Tensor y = Tensor::empty(batched ? Shape{nb, m, n} : Shape{m, n});
    mm_kernel(a, b, ta, tb, 0.0, y.data());
    return record(name, y, {a, b}, [ta, tb](const Tensor& g, const Ctx& c) {
        const Tensor &A = c.in[0], &B = c.in[1];
        Tensor ga, gb;
        if (c.needs[0]) ga = ta ? mm_or_add(B, g, tb, true, c.accumulate_into(0)) : mm_or_add(g, B, false, !tb, c.accumulate_into(0));
        if (c.needs[1]) gb = tb ? mm_or_add(g, A, true, ta, c.accumulate_into(1)) : mm_or_add(A, g, !ta, false, c.accumulate_into(1));
        return Grads{ga, gb};
    });
}

// mm(a, b, ta, tb), or with `into` (Ctx::into: recording off, a running gradient sum) that
// product added to into[...] by the gemm itself (beta = 1) and an undefined result.
Tensor mm_or_add(const Tensor& a, const Tensor& b, bool ta, bool tb, double* into) {
    if (!into) return mm(a, b, ta, tb);
    mm_kernel(a, b, ta, tb, 1.0, into);
    return Tensor();
}

}  // namespace

Tensor matmul(const Tensor& a, const Tensor& b) { return mm(a, b, false, false); }
Tensor matmul_nt(const Tensor& a, const Tensor& b) { return mm(a, b, false, true); }
Tensor matmul_tn(const Tensor& a, const Tensor& b) { return mm(a, b, true, false); }

// y[n, o] = sum_i x[n, i] W[o, i] + b[o];  gx = g W,  gW = g^T x,  gb = sum_n g[n, :]
Tensor linear(const Tensor& x, const Tensor& W, const Tensor& b) {
    AD_CHECK(x.ndim() == 2 && W.ndim() == 2 && x.dim(1) == W.dim(1),
             "linear: expected x[n, in] and W[out, in], got x" << x.shape() << " and W" << W.shape());
    const long n = x.dim(0), in = x.dim(1), out = W.dim(0);
    const bool has_bias = b.defined();
    if (has_bias)
        AD_CHECK(b.ndim() == 1 && b.dim(0) == out, "linear: expected bias [" << out << "], got " << b.shape());
    Tensor y = Tensor::empty({n, out});
    double* py = y.data();
    if (has_bias)
        for (long r = 0; r < n; ++r) std::copy(b.data(), b.data() + out, py + r * out);
    blas::gemm(false, true, n, out, in, 1.0, x.data(), in, W.data(), in, has_bias ? 1.0 : 0.0, py, out);
    std::vector<Tensor> inputs{x, W};
    if (has_bias) inputs.push_back(b);
    return record("linear", y, inputs, [](const Tensor& g, const Ctx& c) {
        Grads gs(c.in.size());
        if (c.needs[0]) gs[0] = mm_or_add(g, c.in[1], false, false, c.accumulate_into(0));
        if (c.needs[1]) gs[1] = mm_or_add(g, c.in[0], true, false, c.accumulate_into(1));
        if (c.in.size() > 2 && c.needs[2]) gs[2] = sum_to(g, c.in[2].shape());
        return gs;
    });
}

// y[i, j] = a[i] b[j];  ga = g b,  gb = g^T a
Tensor outer(const Tensor& a, const Tensor& b) {
    AD_CHECK(a.ndim() == 1 && b.ndim() == 1, "outer: expected two vectors, got " << a.shape() << " and " << b.shape());
    return matmul(reshape(a, {a.dim(0), 1}), reshape(b, {1, b.dim(0)}));
}

}  // namespace ad
