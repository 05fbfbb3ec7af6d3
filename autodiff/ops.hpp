// The public op list. Every op records its backward (built from these same ops, so it can be
// differentiated again) and checks its inputs. Shapes: [n, k] means a 2-D tensor; broadcasting is
// NumPy's. docs/ops.md lists forward, backward and second-order behaviour of each op.
#pragma once
#include <utility>
#include <vector>

#include "autodiff/graph.hpp"
#include "autodiff/tensor.hpp"

namespace ad {

// ----------------------------------------------------------------------------- elementwise
// Binary ops broadcast; their backward undoes broadcasting with sum_to.
Tensor add(const Tensor& a, const Tensor& b);  ///< a + b
Tensor sub(const Tensor& a, const Tensor& b);  ///< a - b
Tensor mul(const Tensor& a, const Tensor& b);  ///< a * b
Tensor div(const Tensor& a, const Tensor& b);  ///< a / b
Tensor add(const Tensor& a, double b);         ///< a + b
Tensor mul(const Tensor& a, double b);         ///< a * b
Tensor neg(const Tensor& x);                   ///< -x
Tensor pow(const Tensor& x, double p);         ///< x^p (x >= 0 unless p is a whole number)
Tensor square(const Tensor& x);                ///< x^2
Tensor exp(const Tensor& x);
Tensor log(const Tensor& x);                   ///< natural log, x >= 0 (log 0 = -inf)
Tensor sqrt(const Tensor& x);                  ///< x >= 0
Tensor abs(const Tensor& x);                   ///< subgradient sign(x), 0 at 0
Tensor tanh(const Tensor& x);
Tensor sigmoid(const Tensor& x);               ///< 1 / (1 + e^-x)
Tensor relu(const Tensor& x);                  ///< max(x, 0); subgradient 0 at 0
Tensor silu(const Tensor& x);                  ///< x sigmoid(x)
Tensor gelu(const Tensor& x);                  ///< x Phi(x), exact (erf) form
Tensor softplus(const Tensor& x);              ///< log(1 + e^x), computed stably
/// cond ? a : b elementwise (cond is a constant: nonzero = true); broadcasts all three.
Tensor where(const Tensor& cond, const Tensor& a, const Tensor& b);
/// 1 where a > b else 0 (constant, no gradient); broadcasts.
Tensor greater(const Tensor& a, const Tensor& b);

Tensor operator+(const Tensor& a, const Tensor& b);
Tensor operator-(const Tensor& a, const Tensor& b);
Tensor operator*(const Tensor& a, const Tensor& b);
Tensor operator/(const Tensor& a, const Tensor& b);
Tensor operator-(const Tensor& x);
Tensor operator+(const Tensor& a, double b);
Tensor operator+(double a, const Tensor& b);
Tensor operator-(const Tensor& a, double b);
Tensor operator-(double a, const Tensor& b);
Tensor operator*(const Tensor& a, double b);
Tensor operator*(double a, const Tensor& b);
Tensor operator/(const Tensor& a, double b);
Tensor operator/(double a, const Tensor& b);

// Fused derivative helpers (ops themselves, with their own backward), used by the backward of
// the activations so that first-order training makes one pass instead of several.
Tensor tanh_backward(const Tensor& g, const Tensor& y);     ///< g (1 - y^2), y = tanh(x)
Tensor sigmoid_backward(const Tensor& g, const Tensor& y);  ///< g y (1 - y), y = sigmoid(x)
Tensor relu_backward(const Tensor& g, const Tensor& x);     ///< g [x > 0]

// ----------------------------------------------------------------------------- normalisation
// Fused LayerNorm over the last axis (autodiff/ops_norm.cpp): x [..., n], w, b [n];
// xh = (x - mean) / sqrt(var + eps) per row (biased var), P(v) = d(xh)/dx^T v.
Tensor layer_norm(const Tensor& x, const Tensor& w, const Tensor& b, double eps);  ///< xh w + b
Tensor layer_norm_backward(const Tensor& g, const Tensor& x, const Tensor& w, double eps);  ///< P(g w) [..., n]
Tensor layer_norm_wgrad(const Tensor& g, const Tensor& x, double eps);  ///< sum over rows of g xh -> [n]

// ----------------------------------------------------------------------------- reductions
Tensor sum(const Tensor& x);                                                  ///< all elements -> []
Tensor sum(const Tensor& x, const std::vector<long>& axes, bool keepdim = false);
Tensor mean(const Tensor& x);
Tensor mean(const Tensor& x, const std::vector<long>& axes, bool keepdim = false);
/// Maximum along one axis; the gradient goes to the first maximal element.
Tensor max(const Tensor& x, long axis, bool keepdim = false);
/// Sums broadcast axes away so that the result has `shape` (reverse of expand).
Tensor sum_to(const Tensor& x, const Shape& shape);
/// Broadcasts x to `shape` (copying).
Tensor expand(const Tensor& x, const Shape& shape);
/// log(sum(exp(x), axis)), computed with the max subtracted.
Tensor logsumexp(const Tensor& x, long axis, bool keepdim = false);
/// x - logsumexp(x, axis, keepdim=true).
Tensor log_softmax(const Tensor& x, long axis);
Tensor softmax(const Tensor& x, long axis);

// ----------------------------------------------------------------------------- shape and indexing
/// Integer indices with a shape (for gather / scatter_add).
struct Index {
    Shape shape;
    std::vector<long> data;
};

Tensor reshape(const Tensor& x, const Shape& shape);  ///< one size may be -1
Tensor transpose(const Tensor& x);                    ///< [n, m] -> [m, n]
Tensor permute(const Tensor& x, const std::vector<long>& axes);
/// Elements start <= i < stop along `axis` (negative start/stop count from the end).
Tensor slice(const Tensor& x, long axis, long start, long stop);
Tensor concat(const std::vector<Tensor>& xs, long axis);
Tensor stack(const std::vector<Tensor>& xs, long axis);
/// y = x taken at indices idx along axis: y.shape[axis] = idx.size().
Tensor index_select(const Tensor& x, long axis, const std::vector<long>& idx);
/// y = x, then y[idx[i]] += src[i] along axis (segment sums when x is zeros).
Tensor index_add(const Tensor& x, long axis, const std::vector<long>& idx, const Tensor& src);
/// index_add(zeros(shape), axis, idx, src) without filling and copying a full-size buffer.
Tensor index_add_to_zeros(const Shape& shape, long axis, const std::vector<long>& idx, const Tensor& src);
/// y[i][j] = x[idx[i][j]][j] (axis 0), as torch.gather; idx has x's rank.
Tensor gather(const Tensor& x, long axis, const Index& idx);
/// y = x, then y[idx[i][j]][j] += src[i][j] (axis 0), as torch.scatter_add.
Tensor scatter_add(const Tensor& x, long axis, const Index& idx, const Tensor& src);

// ----------------------------------------------------------------------------- linear algebra
/// [n, k] x [k, m] -> [n, m]; also [b, n, k] x [b, k, m] -> [b, n, m].
Tensor matmul(const Tensor& a, const Tensor& b);
Tensor matmul_nt(const Tensor& a, const Tensor& b);  ///< a b^T: [n, k] x [m, k] -> [n, m]
Tensor matmul_tn(const Tensor& a, const Tensor& b);  ///< a^T b: [k, n] x [k, m] -> [n, m]
/// y[n, o] = sum_i x[n, i] W[o, i] + b[o]  (b may be undefined: no bias).
Tensor linear(const Tensor& x, const Tensor& W, const Tensor& b);
Tensor outer(const Tensor& a, const Tensor& b);  ///< [n] x [m] -> [n, m]
Tensor tril(const Tensor& x, long k = 0);         ///< zero above the k-th diagonal of [n, m]
Tensor diagonal(const Tensor& x);                 ///< [n, n] -> [n]
Tensor diag(const Tensor& v);                     ///< [n] -> [n, n]
Tensor trace(const Tensor& x);                    ///< [n, n] -> []
/// L with A = L L^T, lower triangular, for symmetric positive-definite A [n, n].
Tensor cholesky(const Tensor& A);
/// X = A^{-1} B given the Cholesky factor L of A; B is [n, m] or [n].
Tensor cholesky_solve(const Tensor& B, const Tensor& L);
enum class Triangle { lower, upper };
enum class Transpose { no, yes };
/// X with op(T) X = B, T triangular [n, n], op(T) = T or T^T; B is [n, m] or [n].
Tensor triangular_solve(const Tensor& B, const Tensor& T, Triangle tri, Transpose trans = Transpose::no);
Tensor inverse(const Tensor& A);  ///< A^{-1} of a square non-singular matrix
/// log det A for a matrix with positive determinant (LU); throws for det <= 0.
Tensor logdet(const Tensor& A);
/// Eigenvalues w (ascending, [n]) and eigenvectors V ([n, n], columns) of symmetric A.
/// The gradient assumes distinct eigenvalues.
std::pair<Tensor, Tensor> eigh(const Tensor& A);

}  // namespace ad
