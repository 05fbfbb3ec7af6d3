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
    ad::Tensor h = w_in_->forward(x);  // [..., d_ff] or [..., 2 d_ff]
    if (kind_ == FeedForwardKind::plain) {
        h = activate(activation_, h);
    } else {
        const long last = h.ndim() - 1;
        h = ad::mul(ad::slice(h, last, 0, d_ff_), activate(activation_, ad::slice(h, last, d_ff_, 2 * d_ff_)));
    }
    return w_out_->forward(h);
}

}  // namespace nn
