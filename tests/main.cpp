// Catch2 runner. Besides Catch2's own summary it prints one closing line "N passed, N failed"
// (test cases), which CI reads.
#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>

#include <cstdio>

namespace {
int g_passed = 0, g_failed = 0;

struct CountingListener : Catch::TestEventListenerBase {
    using TestEventListenerBase::TestEventListenerBase;
    void testCaseEnded(const Catch::TestCaseStats& stats) override {
        if (stats.totals.assertions.failed > 0 || stats.totals.testCases.failed > 0)
            ++g_failed;
        else
            ++g_passed;
    }
};
}  // namespace

CATCH_REGISTER_LISTENER(CountingListener)

int main(int argc, char* argv[]) {
    int result = Catch::Session().run(argc, argv);
    std::printf("%d passed, %d failed\n", g_passed, g_failed);
    std::fflush(stdout);
    return result == 0 && g_failed == 0 ? 0 : 1;
}
