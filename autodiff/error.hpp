// ad::Error and AD_CHECK: the one way library code reports bad input.
// Messages read "<where>: expected <what>, got <actual>[; <hint>]" (STYLE.md section 5).
#pragma once
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace ad {

// Shapes (std::vector<long>) print as "[3, 4]". Declared here so that AD_CHECK messages anywhere
// can stream shapes: ADL alone would not find an operator<< for a std:: type in namespace ad.
std::ostream& operator<<(std::ostream& os, const std::vector<long>& shape);

class Error : public std::runtime_error {
  public:
    explicit Error(const std::string& message) : std::runtime_error(message) {}
};

/// Throws ad::Error(message); [[noreturn]] so that AD_FAIL may end a function returning a value.
[[noreturn]] inline void fail(const std::string& message) { throw Error(message); }

}  // namespace ad

/// Throws ad::Error with a streamed message when `cond` is false:
///   AD_CHECK(a.ndim() == 2, "matmul: expected a 2-D tensor, got " << a.shape());
#define AD_CHECK(cond, msg)                      \
    do {                                         \
        if (!(cond)) {                           \
            using ::ad::operator<<;              \
            std::ostringstream ad_check_os_;     \
            ad_check_os_ << msg;                 \
            throw ::ad::Error(ad_check_os_.str()); \
        }                                        \
    } while (0)

/// Throws ad::Error unconditionally with a streamed message.
#define AD_FAIL(msg)                     \
    do {                                 \
        using ::ad::operator<<;          \
        std::ostringstream ad_fail_os_;  \
        ad_fail_os_ << msg;              \
        ::ad::fail(ad_fail_os_.str());   \
    } while (0)
