// Feed-forward blocks (math in feedforward.hpp).
#include "nn/feedforward.hpp"

#include "autodiff/ops.hpp"

namespace nn {

using ad::operator<<;  // Shape is a std::vector: bring its printer into scope

namespace {
long checked(long n, const char* what) {
    AD_CHECK(n > 0, "FeedForward: expected " << what << " > 0, got " << n);
    return n;
}
}  // namespace

FeedForward::FeedForward(long d, long d_ff, FeedForwardKind kind, Activation activation, ad::Rng& rng, bool bias)
    : d_(checked(d, "d")), d_ff_(checked(d_ff, "d_ff")), kind_(kind), activation_(activation) {
    const long n_in = kind == FeedForwardKind::gated ? 2 * d_ff : d_ff;
    w_in_ = register_module("w_in", std::make_shared<Linear>(d, n_in, rng, bias));
    w_out_ = register_module("w_out", std::make_shared<Linear>(d_ff, d, rng, bias));
}

ad::Tensor FeedForward::forward(const ad::Tensor& x) const {
    AD_CHECK(x.ndim() >= 1 && x.dim(-1) == d_, "FeedForward: expected x[..., " << d_ << "], got " << x.shape());
    ad::Tensor h;
    if (kind_ == FeedForwardKind::plain) {
        h = activate(activation_, w_in_->forward(x));  // [..., d_ff]
    } else {
        // the two halves of W_in x (+ b_in) as two products with row slices of W_in [2 d_ff, d]:
        // no activation-sized slice of a [..., 2 d_ff] product (nor its zero-padded backward)
        const ad::Tensor x2 = x.ndim() == 2 ? x : ad::reshape(x, {-1, d_});
        const ad::Tensor &W = w_in_->weight(), &b = w_in_->bias();
        auto half = [&](long k) {
            return ad::linear(x2, ad::slice(W, 0, k * d_ff_, (k + 1) * d_ff_),
                              b.defined() ? ad::slice(b, 0, k * d_ff_, (k + 1) * d_ff_) : ad::Tensor());
        };
        h = ad::mul(half(0), activate(activation_, half(1)));  // [rows, d_ff]
        if (x.ndim() != 2) {
            ad::Shape shape = x.shape();
            shape.back() = d_ff_;
            h = ad::reshape(h, shape);
        }
    }
    return w_out_->forward(h);
}

}  // namespace nn
