// Shared test helpers: AllClose matcher for tensors, a temporary directory, running the CLI.
#pragma once
#include <catch2/catch.hpp>

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <filesystem>
#include <sstream>
#include <string>

#include "autodiff/gradcheck.hpp"
#include "autodiff/ops.hpp"
#include "autodiff/random.hpp"
#include "descriptors/extxyz.hpp"

namespace testing {

/// The frames of tests/data/<name> (found from this header's path, whatever the working directory).
inline std::vector<desc::System> test_frames(const std::string& name) {
    return desc::read_extxyz((std::filesystem::path(__FILE__).parent_path() / "data" / name).string());
}

/// A fresh directory under /tmp, removed with its contents at scope exit.
struct TempDir {
    std::filesystem::path path;
    TempDir() {
        static std::atomic<int> counter{0};
        path = std::filesystem::temp_directory_path() /
               ("atomgrad_test_" + std::to_string(::getpid()) + "_" + std::to_string(counter++));
        std::filesystem::remove_all(path);
        std::filesystem::create_directories(path);
    }
    ~TempDir() {
        std::error_code ec;
        std::filesystem::remove_all(path, ec);
    }
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;
    std::string file(const std::string& name) const { return (path / name).string(); }
    std::string str() const { return path.string(); }
};

/// |actual - expected| <= atol + rtol |expected| elementwise, shapes equal.
class AllCloseMatcher : public Catch::MatcherBase<ad::Tensor> {
  public:
    AllCloseMatcher(ad::Tensor expected, double rtol, double atol)
        : expected_(std::move(expected)), rtol_(rtol), atol_(atol) {}
    bool match(const ad::Tensor& actual) const override {
        if (!actual.defined() || actual.shape() != expected_.shape()) return false;
        for (long i = 0; i < actual.numel(); ++i) {
            double a = actual[i], e = expected_[i];
            if (!(std::fabs(a - e) <= atol_ + rtol_ * std::fabs(e))) return false;
        }
        return true;
    }
    std::string describe() const override {
        std::ostringstream os;
        os << "is close to " << expected_ << " (rtol " << rtol_ << ", atol " << atol_ << ")";
        return os.str();
    }

  private:
    ad::Tensor expected_;
    double rtol_, atol_;
};

/// max_k |t[k]| (0 for an empty tensor).
inline double max_abs(const ad::Tensor& t) {
    double m = 0;
    for (long k = 0; k < t.numel(); ++k) m = std::max(m, std::fabs(t[k]));
    return m;
}

/// Default tolerance 1e-12: values computed in float64 by two different summation orders.
inline AllCloseMatcher AllClose(const ad::Tensor& expected, double rtol = 1e-12, double atol = 1e-12) {
    return AllCloseMatcher(expected, rtol, atol);
}

}  // namespace testing

namespace Catch {
template <>
struct StringMaker<ad::Tensor> {
    static std::string convert(const ad::Tensor& t) {
        std::ostringstream os;
        os << t;
        return os.str();
    }
};
}  // namespace Catch
