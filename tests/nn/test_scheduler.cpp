#include <limits>

#include "nn/scheduler.hpp"
#include "tests/nn/nn_helpers.hpp"

using ad::Tensor;

TEST_CASE("scheduler: linear warm-up then constant", "[nn][unit]") {
    nn::LrSchedule s = nn::warmup_then(1e-3, 10, nn::ScheduleKind::constant, 100);
    CHECK(s.lr_at(0) == Approx(1e-4).epsilon(1e-15));  // (0 + 1) / 10 of the base: never exactly 0
    CHECK(s.lr_at(4) == Approx(5e-4).epsilon(1e-15));
    CHECK(s.lr_at(9) == 1e-3);
    CHECK(s.lr_at(10) == 1e-3);
    CHECK(s.lr_at(1000) == 1e-3);  // past total_steps a constant schedule stays constant
    nn::LrSchedule none = nn::warmup_then(0.1, 0, nn::ScheduleKind::constant, 10);
    CHECK(none.lr_at(0) == 0.1);
    REQUIRE_THROWS_WITH(s.lr_at(-1), "lr schedule: expected step >= 0, got -1");
}

// Cosine over the 100 steps after a 10-step warm-up: base at 10, half at 60, 0 at 110 and after;
// at 35 (a quarter) base (1 + cos(pi/4)) / 2.
TEST_CASE("scheduler: cosine decays to eta_min at total_steps", "[nn][unit]") {
    const double base = 0.2;
    nn::LrSchedule s = nn::warmup_then(base, 10, nn::ScheduleKind::cosine, 110);
    CHECK(s.lr_at(9) == base);
    CHECK(s.lr_at(10) == base);
    CHECK(s.lr_at(35) == Approx(base * (1 + std::sqrt(0.5)) / 2).epsilon(1e-14));
    CHECK(s.lr_at(60) == Approx(base / 2).epsilon(1e-14));
    CHECK(s.lr_at(109) > 0);
    CHECK(s.lr_at(110) == 0.0);
    CHECK(s.lr_at(500) == 0.0);
    nn::ScheduleOptions o;
    o.eta_min = 0.01;
    nn::LrSchedule floor = nn::warmup_then(base, 0, nn::ScheduleKind::cosine, 100, o);
    CHECK(floor.lr_at(50) == Approx(0.01 + (base - 0.01) / 2).epsilon(1e-14));
    CHECK(floor.lr_at(100) == 0.01);
    REQUIRE_THROWS_WITH(nn::warmup_then(base, 10, nn::ScheduleKind::cosine, 10),
                        "lr schedule: expected total_steps > warmup_steps for cosine, got 10 and 10");
}

TEST_CASE("scheduler: step decay multiplies by gamma every step_size steps after warm-up", "[nn][unit]") {
    nn::ScheduleOptions o;
    o.step_size = 5;
    o.gamma = 0.5;
    nn::LrSchedule s = nn::warmup_then(1.0, 2, nn::ScheduleKind::step, 100, o);
    CHECK(s.lr_at(0) == 0.5);
    CHECK(s.lr_at(2) == 1.0);
    CHECK(s.lr_at(6) == 1.0);
    CHECK(s.lr_at(7) == 0.5);
    CHECK(s.lr_at(16) == 0.25);
    CHECK(s.lr_at(17) == 0.125);
    o.step_size = 0;
    REQUIRE_THROWS_WITH(nn::warmup_then(1.0, 0, nn::ScheduleKind::step, 10, o),
                        "lr schedule: expected step_size > 0, got 0");
}

TEST_CASE("scheduler: kind names and state round trip", "[nn][unit]") {
    for (const char* name : {"constant", "cosine", "step"})
        CHECK(nn::to_string(nn::parse_schedule_kind(name)) == name);
    REQUIRE_THROWS_WITH(nn::parse_schedule_kind("linear"),
                        "lr schedule: expected one of constant, cosine, step, got 'linear'");
    nn::ScheduleOptions o;
    o.eta_min = 1e-5;
    nn::LrSchedule a = nn::warmup_then(3e-3, 7, nn::ScheduleKind::cosine, 70, o);
    nn::LrSchedule b = nn::warmup_then(1.0, 0, nn::ScheduleKind::constant, 1);
    b.load_state(a.state());
    for (long step : {0L, 3L, 7L, 20L, 69L, 70L}) CHECK(b.lr_at(step) == a.lr_at(step));
    nn::NamedTensors st = a.state();
    st.pop_back();
    REQUIRE_THROWS_WITH(b.load_state(st), "lr schedule load_state: missing 'eta_min'");
}

// patience 2: the third bad call in a row reduces. Metrics: 1.0 (best), 0.9 (best), then three
// calls at 0.95 -> reduce on the fifth call.
TEST_CASE("scheduler: ReduceOnPlateau reduces after patience bad calls", "[nn][unit]") {
    nn::PlateauOptions o;
    o.patience = 2;
    nn::ReduceOnPlateau p(0.1, o);
    std::vector<bool> reduced;
    for (double m : {1.0, 0.9, 0.95, 0.95, 0.95, 0.95}) reduced.push_back(p.step(m));
    CHECK(reduced == std::vector<bool>{false, false, false, false, true, false});
    CHECK(p.lr() == Approx(0.05).epsilon(1e-15));
    CHECK(p.best() == 0.9);
    CHECK(p.num_bad_epochs() == 1);  // the counter restarted after the reduction
}

TEST_CASE("scheduler: ReduceOnPlateau threshold is relative", "[nn][unit]") {
    nn::PlateauOptions o;
    o.patience = 0;
    nn::ReduceOnPlateau p(1.0, o);
    p.step(1.0);
    // Better means < best (1 - 1e-4) = 0.9999: 0.99995 is an improvement too small to count.
    CHECK(p.step(0.99995));
    CHECK(p.best() == 1.0);
    CHECK_FALSE(p.step(0.9998));
    CHECK(p.best() == 0.9998);
    CHECK(p.step(std::numeric_limits<double>::quiet_NaN()));  // NaN is never better
}

TEST_CASE("scheduler: ReduceOnPlateau cooldown and min_lr", "[nn][unit]") {
    nn::PlateauOptions o;
    o.patience = 0;
    o.cooldown = 2;
    o.min_lr = 0.3;
    nn::ReduceOnPlateau p(1.0, o);
    p.step(1.0);
    std::vector<bool> reduced;
    for (int k = 0; k < 7; ++k) reduced.push_back(p.step(2.0));
    // Reduce, two cooldown calls, reduce (to 0.3 = min_lr, not 0.25), cooldown x2, then stuck.
    CHECK(reduced == std::vector<bool>{true, false, false, true, false, false, false});
    CHECK(p.lr() == 0.3);
    REQUIRE_THROWS_WITH(nn::ReduceOnPlateau(1.0, nn::PlateauOptions{1.5}),
                        "ReduceOnPlateau: expected 0 < factor < 1, got 1.5");
}

TEST_CASE("scheduler: ReduceOnPlateau state round trip continues identically", "[nn][unit]") {
    nn::PlateauOptions o;
    o.patience = 1;
    o.cooldown = 1;
    nn::ReduceOnPlateau a(1.0, o), b(0.5, o);
    for (double m : {3.0, 2.0, 2.5, 2.5}) a.step(m);
    b.load_state(a.state());
    CHECK(b.lr() == a.lr());
    for (double m : {2.5, 2.5, 2.5, 1.0, 1.5, 1.5, 1.5}) {
        CHECK(a.step(m) == b.step(m));
        CHECK(a.lr() == b.lr());
    }
    nn::NamedTensors st = a.state();
    st.emplace_back("factor", Tensor::scalar(0.5));
    REQUIRE_THROWS_WITH(b.load_state(st), "ReduceOnPlateau load_state: unexpected 'factor'");
}
